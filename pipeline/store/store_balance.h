/* store_balance.h -- SQL of the balance and augment stages: the rows eligible
** for training, what balance decides (training_set, augment_plan,
** balance_classes) and the variants augment makes from the plan. */
#ifndef CURATE_STORE_BALANCE_H
#define CURATE_STORE_BALANCE_H

#include <stddef.h>

#include "store.h"

/* An original image eligible for the balanced training set of a task. */
typedef struct cur_balance_row {
  int64_t image_id;
  int64_t class_id;   /* its current class */
  double aum;         /* its newest AUM score for the task; NaN when none */
} cur_balance_row;

/* One class's decision, as stored in balance_classes. */
typedef struct cur_balance_class {
  int64_t class_id;
  int64_t before, target, kept, variants, after;
  double weight;
} cur_balance_class;

/* A planned variant and what augment needs of its parent.  The pointers are
** valid only during the callback that receives it. */
typedef struct cur_variant_job {
  int64_t parent_id;
  int variant;
  const void *bytes;            /* the parent's encoded file */
  size_t len;
  const char *format, *source_path, *split, *group_key;  /* group_key may be NULL */
  int width, height, bands;
} cur_variant_job;

/* Calls FN with the id and name of every task that has labels, in id order. */
int cur_store_tasks_labelled(cur_store *st, int (*fn)(void *ctx, int64_t id, const char *name),
                             void *ctx);

/* The ok original (not derived) images of SPLIT with a current class for
** TASK_ID, leaving out those with a pending or dropped flag for the task,
** ordered by class and image id.  *rows is a new array the caller frees
** with cur_free (NULL when *n is 0). */
int cur_store_balance_rows(cur_store *st, int64_t task_id, const char *split,
                           cur_balance_row **rows, size_t *n);

/* Deletes what balance run RUN_ID wrote for TASK_ID (a resumed run redoes it). */
int cur_store_balance_clear(cur_store *st, int64_t run_id, int64_t task_id);
int cur_store_balance_class_add(cur_store *st, int64_t run_id, int64_t task_id,
                                const cur_balance_class *c);
int cur_store_training_add(cur_store *st, int64_t run_id, int64_t task_id, int64_t image_id,
                           int64_t class_id, double weight);
int cur_store_plan_add(cur_store *st, int64_t run_id, int64_t task_id, int64_t parent_id,
                       int variant, int64_t class_id);
/* Totals of a balance run: training rows kept, rows dropped by
** undersampling, distinct variants planned. */
int cur_store_balance_totals(cur_store *st, int64_t run_id, int64_t *kept, int64_t *dropped,
                             int64_t *planned);

/* Distinct (parent, variant) pairs in the plan of balance run PLAN_RUN_ID. */
int cur_store_plan_size(cur_store *st, int64_t plan_run_id, int64_t *n);
/* A place in the plan's (parent, variant) order; {0, 0} is before the first. */
typedef struct cur_plan_pos {
  int64_t parent_id;
  int variant;
} cur_plan_pos;
/* Calls FN, in (parent, variant) order, for up to LIMIT planned pairs after
** AFTER that augment run RUN_ID has not recorded yet (0: none recorded).  FN
** returns CUR_OK or an error that stops the walk.  A caller walking the plan
** passes the last pair it got, so each batch reads from there on instead of
** passing over every pair recorded before it (which made augment quadratic
** in the plan's size). */
int cur_store_plan_pending(cur_store *st, int64_t plan_run_id, int64_t run_id, cur_plan_pos after,
                           int limit, int (*fn)(void *ctx, const cur_variant_job *job), void *ctx);
/* The pair at 0-based RANK in the plan's order (*found 0 past its end). */
int cur_store_plan_at(cur_store *st, int64_t plan_run_id, int64_t rank, cur_plan_pos *pos, int *found);
/* Whether augment run RUN_ID recorded the pair (PARENT_ID, VARIANT). */
int cur_store_variant_recorded(cur_store *st, int64_t run_id, int64_t parent_id, int variant, int *found);
/* Records what became of a planned pair: OUTCOME made, reused or failed,
** IMAGE_ID 0 when failed, REASON may be NULL. */
int cur_store_variant_add(cur_store *st, int64_t run_id, int64_t plan_run_id, int64_t parent_id,
                          int variant, int64_t image_id, const char *outcome, const char *reason);
/* Gives derived image IMAGE_ID its parent's current labels (same class and
** source, RUN_ID as the writer) for every task where its own current label
** differs.  Does nothing unless PARENT_ID is the image's parent. */
int cur_store_labels_inherit(cur_store *st, int64_t parent_id, int64_t image_id, int64_t run_id);
/* Calls FN for each outcome of augment run RUN_ID with its count. */
int cur_store_variant_counts(cur_store *st, int64_t run_id,
                             void (*fn)(void *ctx, const char *outcome, int64_t n), void *ctx);

#endif
