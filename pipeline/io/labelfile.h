/* labelfile.h -- a CSV or JSONL file mapping image paths to labels, split and group.
**
** One row per image: a path column (relative to the source), one column per
** label task, and optional split and group columns.  Rows that cannot be
** read are reported with their line number and skipped; the rest load:
** a row that is not valid UTF-8, a CSV row with the wrong number of fields,
** a JSONL line that is not one object, holds a key twice, or gives a label
** that is not a string (an array, an object, a boolean; a number unless
** spec.numbers).  There is no limit on the number of columns.
*/
#ifndef CURATE_LABELFILE_H
#define CURATE_LABELFILE_H

#include <stddef.h>

typedef struct cur_labelspec {
  const char *path_column;    /* NULL: path, image, file or filename, else the first */
  const char *split_column;   /* NULL: "split" when present */
  const char *group_column;   /* NULL: "group" when present */
  const char *const *task_names;   /* n_tasks task names ... */
  const char *const *task_columns; /* ... read from these columns */
  int n_tasks;                /* 0: task "label" from column "label" (or the only other column) */
  int numbers;                /* JSONL: a number is a value (a teacher's probability); else
                              ** only strings are, and a number is reported */
} cur_labelspec;

typedef struct cur_labelrow {
  int line;                   /* 1-based line in the file */
  char *path;                 /* the path column, display form (pathutil.h) */
  char *split, *group;        /* NULL when absent or empty */
  char **values;              /* one per task; NULL when empty */
} cur_labelrow;

typedef struct cur_labelfile cur_labelfile;
typedef void (*cur_report_fn)(void *ctx, const char *message);

int cur_labelfile_load(const char *path, const cur_labelspec *spec, cur_report_fn report,
                       void *ctx, cur_labelfile **out);
void cur_labelfile_free(cur_labelfile *lf);
/* The row for PATH (display form, see pathutil.h), or NULL. */
const cur_labelrow *cur_labelfile_find(const cur_labelfile *lf, const char *path);
/* The rows in file order: cur_labelfile_row(lf, i) for i < cur_labelfile_count(lf). */
size_t cur_labelfile_count(const cur_labelfile *lf);
const cur_labelrow *cur_labelfile_row(const cur_labelfile *lf, size_t i);
int cur_labelfile_n_tasks(const cur_labelfile *lf);
const char *cur_labelfile_task(const cur_labelfile *lf, int i);
const char *cur_labelfile_path(const cur_labelfile *lf);

#endif
