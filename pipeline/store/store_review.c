/* store_review.c -- SQL behind `curate flagged` and `curate review`. */
#include "internal.h"
#include "store_labels.h"
#include "store_review.h"

#include <math.h>

int cur_store_flagged(cur_store *st, const char *task, const char *reason, int pending_only,
                      int64_t limit, cJSON *arr) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT image_id, task, label, suggested, reason, score, review_status, source_path, detail "
      "FROM flagged WHERE (?1 IS NULL OR task = ?1) AND (?2 IS NULL OR reason = ?2) "
      "AND (?3 = 0 OR review_status = 'pending') "
      "ORDER BY score IS NULL, score, image_id, task LIMIT ?4");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "ttii", task, reason, (int64_t)pending_only, limit);
  return rc ? rc : cur__rows_json(st, s, arr);
}

int cur_store_image_exists(cur_store *st, int64_t image_id, int *found) {
  int64_t one;
  return cur__query_i64(st, "SELECT 1 FROM images WHERE id = ?1", &one, found, "i", image_id);
}

int cur_store_image_tasks(cur_store *st, int64_t image_id, int64_t *task_id, int64_t *n_tasks) {
  int found;
  int rc = cur__query_i64(st, "SELECT count(DISTINCT task_id) FROM labels WHERE image_id = ?1",
                          n_tasks, &found, "i", image_id);
  if (rc == CUR_OK && *n_tasks == 1)
    rc = cur__query_i64(st, "SELECT task_id FROM labels WHERE image_id = ?1 LIMIT 1", task_id,
                        &found, "i", image_id);
  return rc;
}

int cur_store_current_class(cur_store *st, int64_t image_id, int64_t task_id, int64_t *class_id,
                            int *found) {
  *class_id = 0;
  return cur__query_i64(st,
                        "SELECT coalesce(class_id, 0) FROM current_labels "
                        "WHERE image_id = ?1 AND task_id = ?2",
                        class_id, found, "ii", image_id, task_id);
}

int cur_store_review_record(cur_store *st, int64_t image_id, int64_t task_id, int64_t class_id,
                            const char *status) {
  int rc = cur_store_label_add(st, image_id, task_id, class_id, "review", NAN, 0);
  if (rc) return rc;
  return cur__exec(st,
                   "UPDATE flags SET review_status = ?3 WHERE image_id = ?1 AND task_id = ?2 "
                   "AND review_status = 'pending'",
                   "iit", image_id, task_id, status);
}

int cur_store_review_retract(cur_store *st, int64_t image_id, int64_t task_id, int64_t *label_id,
                             int *found) {
  /* run_id IS NULL: a reviewer's own decision, not a review label augment
  ** copied onto a variant */
  int rc = cur__query_i64(st,
                          "SELECT max(id) FROM standing_labels WHERE image_id = ?1 AND task_id = ?2 "
                          "AND source = 'review' AND run_id IS NULL HAVING count(*) > 0",
                          label_id, found, "ii", image_id, task_id);
  if (rc || !*found) return rc;
  rc = cur__exec(st, "INSERT INTO label_retractions(label_id) VALUES (?1)", "i", *label_id);
  /* with no decision left standing the image's flags await review again;
  ** an earlier decision still standing already set them */
  if (rc == CUR_OK)
    rc = cur__exec(st,
                   "UPDATE flags SET review_status = 'pending' WHERE image_id = ?1 AND task_id = ?2 "
                   "AND review_status <> 'pending' AND NOT EXISTS (SELECT 1 FROM standing_labels "
                   "WHERE image_id = ?1 AND task_id = ?2 AND source = 'review' AND run_id IS NULL)",
                   "ii", image_id, task_id);
  return rc;
}
