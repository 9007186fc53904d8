/* store_policy.h -- the rows a policy run weighs, and what it decides (policy_decisions, policy_rows). */
#ifndef CURATE_STORE_POLICY_H
#define CURATE_STORE_POLICY_H

#include <stddef.h>

#include "store.h"

/* One labelled row of a task, as the policy and the raw-label baseline see it. */
typedef struct cur_policy_row {
  int64_t image_id;
  int64_t parent_id;       /* a variant's original; 0 for originals */
  int class_idx;           /* the current class's stable index */
  char split;              /* 't' train, 'v' val, 'e' test */
  char kind;               /* 'h' human or review label, 'p' pseudo-label, 'a' augmented variant */
  int flagged;             /* a pending flag asks a reviewer about it */
  double weight;           /* its class's weight in the newest balance run (1 without one) */
  uint64_t group;          /* hash of its group key (a variant: its parent's), for folds */
} cur_policy_row;

/* The ok rows of TASK_ID with a current class, in image id order: labelled
** originals of the train and val splits (human, review, and pseudo-labels
** of the newest pseudolabel run; never a test row, which no decision may
** see), plus the augmented variants in training_rows.  *rows is
** a new array the caller frees with cur_free. */
int cur_store_policy_rows(cur_store *st, int64_t task_id, cur_policy_row **rows, size_t *n);

/* Deletes RUN_ID's decisions and rows (a resumed run writes them anew). */
int cur_store_policy_clear(cur_store *st, int64_t run_id);
int cur_store_policy_decision_put(cur_store *st, int64_t run_id, int64_t task_id, int step,
                                  const char *decision, int64_t rows, int64_t changed,
                                  double macro_f1, double before_f1, double low_delta, int kept,
                                  const char *method, const char *why);
int cur_store_policy_row_put(cur_store *st, int64_t run_id, int64_t task_id, int64_t image_id,
                             double weight);
/* What the newest complete policy run said of DECISION for TASK_ID: *decided
** is 1 when that run decided the task at all (it has a row of it), and then
** *kept is 1 when DECISION was tried and kept (0 when refused or not tried). */
int cur_store_policy_verdict(cur_store *st, int64_t task_id, const char *decision, int *decided,
                             int *kept);

#endif
