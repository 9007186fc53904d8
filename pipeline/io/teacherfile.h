/* teacherfile.h -- an external teacher's class probabilities, read from a CSV or JSONL file.
**
** One row per image: a key column (path, image, file or filename: the
** image's path inside its source; or sha256: its content hash, lower-case
** hex) and one column per class of the task, named by the class, holding the
** class probability.  The probabilities of a row must lie in [0, 1] and sum
** to 1 within 0.01 (they are renormalised).  A row that breaks a rule is
** reported with its line number and skipped; the rest load.
*/
#ifndef CURATE_TEACHERFILE_H
#define CURATE_TEACHERFILE_H

#include "labelfile.h"

typedef struct cur_teacherfile cur_teacherfile;

/* Loads PATH for the K classes CLASSES; REPORT receives each bad row. */
int cur_teacherfile_load(const char *path, char *const *classes, int k, cur_report_fn report,
                         void *ctx, cur_teacherfile **out);
void cur_teacherfile_free(cur_teacherfile *tf);
/* The K probabilities of the image at PATH (display form), else of the
** image whose content hash is SHA256; NULL when the file has no valid row.
** Counts the row as used. */
const float *cur_teacherfile_find(cur_teacherfile *tf, const char *path, const char *sha256);
/* Valid rows, and how many of them a find returned (rows naming no image are the rest). */
size_t cur_teacherfile_valid(const cur_teacherfile *tf);
size_t cur_teacherfile_used(const cur_teacherfile *tf);

#endif
