/* review_decide.h -- one reviewer decision on one image, as `curate review`
** and `curate serve` both record it. */
#ifndef CURATE_REVIEW_DECIDE_H
#define CURATE_REVIEW_DECIDE_H

#include <stdint.h>

#include "store.h"

/* Records ACTION ("accept", "drop" or "relabel" to CLASS_NAME) on IMAGE in
** TASK (NULL: the image's only task) through cur_store_review_record: a
** review label and the status of the image's pending flags of that task.
** CUR_EINPUT (message names the image, task or class) when it cannot be
** recorded.  The caller holds the writer lock and owns the transaction. */
int cur_review_decide(cur_store *st, const char *action, const char *task, int64_t image,
                      const char *class_name);

/* Undoes a decision on IMAGE in TASK: appends a review label giving back
** CLASS_NAME (the class in force before it; NULL or "": none) and returns
** the image's reviewed flags of that task to pending.  Labels are history,
** so both the decision and its undoing stay in the labels table. */
int cur_review_undo(cur_store *st, const char *task, int64_t image, const char *class_name);

#endif
