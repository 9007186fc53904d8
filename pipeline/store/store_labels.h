/* store_labels.h -- label tasks, classes, labels (history) and flags. */
#ifndef CURATE_STORE_LABELS_H
#define CURATE_STORE_LABELS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "store.h"

/* The id of task NAME, created when absent. */
int cur_store_task_ensure(cur_store *st, const char *name, int64_t *id);
/* The id of task NAME; *found 0 when absent. */
int cur_store_task_find(cur_store *st, const char *name, int64_t *id, int *found);
/* The id of class NAME of TASK_ID; *found 0 when absent. */
int cur_store_class_find(cur_store *st, int64_t task_id, const char *name, int64_t *id, int *found);
/* Adds class NAME at the next index of the task. */
int cur_store_class_add(cur_store *st, int64_t task_id, const char *name, int64_t *id);
/* Calls FN for every task (id order) with its id and name. */
int cur_store_tasks_each(cur_store *st, int (*fn)(void *ctx, int64_t id, const char *name), void *ctx);
/* Calls FN for each task NAMES (a JSON array of strings, a stage's "tasks"
** option) lists, in its order; a name that is no task is an error naming
** OPTION.  An empty list calls FN for no task: the caller picks the default. */
int cur_store_tasks_listed(cur_store *st, const cJSON *names, const char *option,
                           int (*fn)(void *ctx, int64_t id, const char *name), void *ctx);
/* The class names of a task in index order; free with cur_store_names_free. */
int cur_store_class_names(cur_store *st, int64_t task_id, char ***names, int *n);
void cur_store_names_free(char **names, int n);
/* The name of class CLASS_ID, copied into BUF (cut to CAP). */
int cur_store_class_name(cur_store *st, int64_t class_id, char *buf, size_t cap);
/* Number of classes of a task. */
int cur_store_class_count(cur_store *st, int64_t task_id, int64_t *n);

/* The class of the newest label of SOURCE for an image and task. */
int cur_store_label_latest(cur_store *st, int64_t image_id, int64_t task_id, const char *source,
                           int64_t *class_id, int *found);
/* The label an image and task were given, as current_labels ranks them
** but without the teacher's (a later stage's): review, then human, then
** zeroshot, newest first.  Its class (0 when a review dropped it) and
** source (at most 15 bytes). */
int cur_store_label_given(cur_store *st, int64_t image_id, int64_t task_id, int64_t *class_id,
                          char source[16], int *found);
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

/* Records a score of a run; recording the same one again is ignored. */
int cur_store_score_add(cur_store *st, int64_t run_id, const char *kind, int64_t image_id,
                        int64_t task_id, double value, int64_t suggested_class_id);
/* Rows of the run: labels of SOURCE, flags of REASON, scores of KIND
** (pass NULL for the two others). */
int cur_store_run_rows(cur_store *st, int64_t run_id, const char *label_source,
                       const char *flag_reason, const char *score_kind, int64_t *n);

#endif
