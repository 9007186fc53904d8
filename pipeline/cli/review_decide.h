/* review_decide.h -- one reviewer decision on one image, as `curate review`
** and `curate serve` both record it. */
#ifndef CURATE_REVIEW_DECIDE_H
#define CURATE_REVIEW_DECIDE_H

#include <stdint.h>

#include "store.h"

/* Records ACTION on IMAGE in TASK (NULL: the image's only task):
** "accept", "drop" or "relabel" to CLASS_NAME through
** cur_store_review_record (a review label and the status of the image's
** pending flags of that task); "undo" takes back the newest decision still
** standing through cur_store_review_retract (the current label falls back
** to the one before it).  Labels are history: a decision and its undoing
** both stay in the tables.  CUR_EINPUT (message names the image, task or
** class) when it cannot be recorded, or there is nothing to undo.  The
** caller holds the writer lock and owns the transaction. */
int cur_review_decide(cur_store *st, const char *action, const char *task, int64_t image,
                      const char *class_name);

#endif
