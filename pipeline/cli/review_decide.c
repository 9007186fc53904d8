/* review_decide.c -- one reviewer decision on one image (accept, drop,
** relabel, undo), shared by `curate review` and `curate serve`. */
#include "review_decide.h"

#include <string.h>

#include "curate.h"
#include "store_labels.h"
#include "store_review.h"

/* The task a decision on IMAGE is about: TASK, else the image's only one. */
static int review_task(cur_store *st, const char *task, int64_t image, int64_t *task_id) {
  int found, rc = cur_store_image_exists(st, image, &found);
  int64_t n;
  if (rc) return rc;
  if (!found) return cur_errorc(CUR_EINPUT, "review: image %lld: no such image", (long long)image);
  if (task) {
    if ((rc = cur_store_task_find(st, task, task_id, &found))) return rc;
    return found ? CUR_OK : cur_errorc(CUR_EINPUT, "review: no task named '%s'", task);
  }
  if ((rc = cur_store_image_tasks(st, image, task_id, &n))) return rc;
  if (n == 1) return CUR_OK;
  return cur_errorc(CUR_EINPUT, "review: image %lld has labels in %lld tasks; name one with --task",
                    (long long)image, (long long)n);
}

/* The id of class NAME of TASK_ID, or CUR_EINPUT naming it. */
static int review_class(cur_store *st, int64_t image, const char *task, int64_t task_id,
                        const char *name, int64_t *class_id) {
  int found, rc = cur_store_class_find(st, task_id, name, class_id, &found);
  if (rc) return rc;
  if (!found)
    return cur_errorc(CUR_EINPUT, "review: image %lld: '%s' is not a class of task %s",
                      (long long)image, name, task ? task : "(its only task)");
  return CUR_OK;
}

/* Takes back the newest standing decision on IMAGE in TASK_ID. */
static int review_undo(cur_store *st, int64_t image, int64_t task_id) {
  int64_t label_id;
  int found, rc = cur_store_review_retract(st, image, task_id, &label_id, &found);
  if (rc == CUR_OK && !found)
    rc = cur_errorc(CUR_EINPUT, "review: image %lld: no review decision to undo (none was "
                    "recorded, or every one was undone already)", (long long)image);
  return rc;
}

int cur_review_decide(cur_store *st, const char *action, const char *task, int64_t image,
                      const char *class_name) {
  int64_t task_id, class_id = 0;
  int found, rc = review_task(st, task, image, &task_id);
  if (rc) return rc;
  if (strcmp(action, "undo") == 0) return review_undo(st, image, task_id);
  if (strcmp(action, "accept") == 0) {
    if ((rc = cur_store_current_class(st, image, task_id, &class_id, &found))) return rc;
    if (!found || !class_id)
      return cur_errorc(CUR_EINPUT, "review: image %lld has no current label to accept (it was "
                        "dropped, or never labelled in that task)", (long long)image);
    return cur_store_review_record(st, image, task_id, class_id, "accepted");
  }
  if (strcmp(action, "drop") == 0) return cur_store_review_record(st, image, task_id, 0, "dropped");
  if (strcmp(action, "relabel") != 0)
    return cur_errorc(CUR_EINPUT, "review: unknown decision '%s': accept, drop, relabel or undo",
                      action);
  if (!class_name) return cur_errorc(CUR_EINPUT, "review: relabel needs a class");
  if ((rc = review_class(st, image, task, task_id, class_name, &class_id))) return rc;
  return cur_store_review_record(st, image, task_id, class_id, "relabelled");
}
