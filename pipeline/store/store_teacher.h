/* store_teacher.h -- what the pseudolabel stage reads: every original image of
** a split with its trusted label (if any) and its embedding (if any). */
#ifndef CURATE_STORE_TEACHER_H
#define CURATE_STORE_TEACHER_H

#include "store.h"

/* One ok original image of the split.  TRUSTED is the class idx of its
** current human or review label that no pending flag holds back, else -1.
** UNLABELLED is 1 when it never had a human or review label for the task (a
** flagged or review-dropped row has had one: it is neither trusted nor
** unlabelled) and is not a scene box crops were cut from (a scene is where
** objects were found, not an example of one class).  VECTOR (DIM half floats) is NULL when the image has no
** embedding under the model; all pointers are valid during the call. */
typedef struct cur_teacher_row {
  int64_t image_id;
  const char *sha256, *source_path;
  int trusted;
  int unlabelled;
  const void *vector;
  int dim;
} cur_teacher_row;

typedef int (*cur_teacher_fn)(void *ctx, const cur_teacher_row *row);

/* Calls FN in image id order for the ok original images of SPLIT, with
** their labels for TASK_ID and embeddings under MODEL (NULL: none). */
int cur_store_teacher_rows(cur_store *st, int64_t task_id, const char *split, const char *model,
                           cur_teacher_fn fn, void *ctx);

#endif
