/* store_review.h -- the reviewer's surface: flags worst first, and review decisions. */
#ifndef CURATE_STORE_REVIEW_H
#define CURATE_STORE_REVIEW_H

#include <cjson/cJSON.h>

#include "store.h"

/* Appends rows of the flagged view to ARR, lowest score first (flags
** without a score last): TASK and REASON NULL match any; PENDING_ONLY keeps
** flags awaiting review; LIMIT < 0 means all. */
int cur_store_flagged(cur_store *st, const char *task, const char *reason, int pending_only,
                      int64_t limit, cJSON *arr);

int cur_store_image_exists(cur_store *st, int64_t image_id, int *found);
/* The number of tasks the image has a current label in, and (when exactly
** one) that task. */
int cur_store_image_tasks(cur_store *st, int64_t image_id, int64_t *task_id, int64_t *n_tasks);
/* The current class of an image and task: *found 0 without any label,
** *class_id 0 when a review dropped it. */
int cur_store_current_class(cur_store *st, int64_t image_id, int64_t task_id, int64_t *class_id,
                            int *found);
/* Records a decision: a review label (CLASS_ID 0: dropped) and STATUS
** (accepted, dropped, relabelled) on the pending flags of the image and task. */
int cur_store_review_record(cur_store *st, int64_t image_id, int64_t task_id, int64_t class_id,
                            const char *status);

/* Takes back the newest review decision of the image and task that still
** stands: a label_retractions row for its label (*label_id), so the current
** label falls back to what it was before, whatever its source; when no
** decision of the image and task is left standing its flags are pending
** again.  *found is 0, and nothing is written, when there is none. */
int cur_store_review_retract(cur_store *st, int64_t image_id, int64_t task_id, int64_t *label_id,
                             int *found);

#endif
