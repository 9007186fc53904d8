/* store_export.h -- the rows of the cleaned manifest, and the manifests
** table the export stage records its files in. */
#ifndef CURATE_STORE_EXPORT_H
#define CURATE_STORE_EXPORT_H

#include <stddef.h>

#include "store.h"

/* The current label of one exported image for one task. */
typedef struct cur_export_label {
  int64_t task_id;
  char *task;              /* task name */
  char *class_name;
  int class_idx;           /* the class's stable 0-based index */
  char *source;            /* human, zeroshot, teacher or review */
  double confidence;       /* NaN when the label has none */
  double weight;           /* the balance weight (1 for unbalanced rows) */
} cur_export_label;

/* One exported image with its labels, in task id order. */
typedef struct cur_export_row {
  int64_t image_id;
  char *sha256, *split;
  char *format;            /* NULL when unknown */
  char *parent_sha256;     /* NULL for an original */
  char *source_path;       /* the path it was read from inside its source (a variant: its own) */
  char *group_key;         /* NULL without one */
  char *crop;              /* a box crop (ingest --boxes): its transform's "crop" object
                           ** as JSON text (parent, box, padding, rect, ...); else NULL */
  cur_export_label *labels;
  int n_labels;
} cur_export_row;

/* The manifest's rows, in image id order (docs/stages/export.md, "Which rows"):
** for each task, the training rows of the newest complete balance run
** (training_rows) or, for a task it did not balance, every labelled
** original of the train split (weight 1), plus the labelled originals of the
** val and test splits.  Only ok images with a current class, without a
** pending or dropped flag for the task (of the audit stage's flags, only
** the newest complete audit run's leak flags).  TASKS_JSON is a JSON array of task
** names to keep, or NULL for every task.  *rows is a new array freed with
** cur_export_rows_free. */
int cur_store_export_rows(cur_store *st, const char *tasks_json, cur_export_row **rows,
                          size_t *n);
void cur_export_rows_free(cur_export_row *rows, size_t n);
/* The same rows one at a time, in the same order, without holding them
** all: FN gets each; the row is freed after FN returns, unless FN takes it
** (copies the struct and zeroes *row).  A non-zero return from FN stops
** the reading and is returned.  FN may read the store; it must not write
** the tables the manifest reads, nor read the manifest's rows again. */
typedef int (*cur_export_row_fn)(void *ctx, cur_export_row *row);
int cur_store_export_rows_each(cur_store *st, const char *tasks_json, cur_export_row_fn fn,
                               void *ctx);

/* Deletes the manifests rows of RUN_ID (a rerun records its files anew). */
int cur_store_manifest_clear(cur_store *st, int64_t run_id);
int cur_store_manifest_add(cur_store *st, int64_t run_id, const char *format, const char *path,
                           const char *sha256, int64_t rows);
/* The path of the newest complete export run's manifest of FORMAT; the
** caller frees *path.  *found is 0 (and *path NULL) when there is none. */
int cur_store_manifest_last(cur_store *st, const char *format, char **path, int *found);

#endif
