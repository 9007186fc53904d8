/* store_labels.h -- label tasks, classes, labels (history) and flags. */
#ifndef CURATE_STORE_LABELS_H
#define CURATE_STORE_LABELS_H

#include "store.h"

/* The id of task NAME, created when absent. */
int cur_store_task_ensure(cur_store *st, const char *name, int64_t *id);
/* The id of task NAME; *found 0 when absent. */
int cur_store_task_find(cur_store *st, const char *name, int64_t *id, int *found);
/* The id of class NAME of TASK_ID; *found 0 when absent. */
int cur_store_class_find(cur_store *st, int64_t task_id, const char *name, int64_t *id, int *found);
/* Adds class NAME at the next index of the task. */
int cur_store_class_add(cur_store *st, int64_t task_id, const char *name, int64_t *id);
/* Number of classes of a task. */
int cur_store_class_count(cur_store *st, int64_t task_id, int64_t *n);

/* The class of the newest label of SOURCE for an image and task. */
int cur_store_label_latest(cur_store *st, int64_t image_id, int64_t task_id, const char *source,
                           int64_t *class_id, int *found);
/* Appends a label (history is never rewritten).  CONFIDENCE NaN = none;
** RUN_ID 0 = recorded by hand; CLASS_ID 0 = dropped by a review. */
int cur_store_label_add(cur_store *st, int64_t image_id, int64_t task_id, int64_t class_id,
                        const char *source, double confidence, int64_t run_id);

/* Whether a flag of REASON suggesting SUGGESTED already exists (any run). */
int cur_store_flag_exists(cur_store *st, int64_t image_id, int64_t task_id, const char *reason,
                          int64_t suggested_class_id, int *found);
/* Adds a flag; a second flag of the same run, reason, image and task is ignored. */
int cur_store_flag_add(cur_store *st, int64_t run_id, const char *reason, int64_t image_id,
                       int64_t task_id, double score, int64_t suggested_class_id,
                       const char *detail);

#endif
