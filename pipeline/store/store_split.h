/* store_split.h -- the rows the split stage places, and `curate split`'s
** before/after bookkeeping. */
#ifndef CURATE_STORE_SPLIT_H
#define CURATE_STORE_SPLIT_H

#include "store.h"

/* One original image as the split stage sees it. */
typedef struct cur_split_row {
  int64_t id;
  const char *key;          /* group key, else the content hash: a group of one */
  int grouped;              /* key is a group key */
  const char *split;        /* train | val | test */
  const char *source;       /* pinned | stratified | provisional */
  int ok;                   /* status is ok */
  int64_t class_id;         /* its human or reviewed class in the stratified task; 0: none */
} cur_split_row;

/* The task the split stage stratifies: NAME, or when NAME is empty the
** first task (lowest id) with a human or reviewed label.  *found is 0 when
** there is none (then every group is balanced by its size only). */
int cur_store_split_task(cur_store *st, const char *name, int64_t *task_id, int *found);
/* Calls FN for every original (not derived) image in id order.  ROW's
** strings live until FN returns. */
int cur_store_split_rows(cur_store *st, int64_t task_id,
                         int (*fn)(void *ctx, const cur_split_row *row), void *ctx);
/* Gives image ID its split, chosen by the split stage. */
int cur_store_split_set(cur_store *st, int64_t id, const char *split);
/* Derived rows take their parent's split again (after a re-split). */
int cur_store_split_follow_parents(cur_store *st);
/* Original images still waiting for the split stage. */
int cur_store_split_unplaced(cur_store *st, int64_t *n);
/* Hands every stratified image back to the split stage (`curate split`);
** pinned ones stay.  *n gets how many. */
int cur_store_split_release(cur_store *st, int64_t *n);
/* Images with a decision recorded by `curate review`. */
int cur_store_split_reviewed(cur_store *st, int64_t *n);
/* Remembers every original image's split in a temporary table of this
** connection, for cur_store_split_moved. */
int cur_store_split_snapshot(cur_store *st);
/* Since the snapshot: images whose split changed, and how many of them
** carry a review decision. */
int cur_store_split_moved(cur_store *st, int64_t *moved, int64_t *moved_reviewed);

#endif
