/* store_labels.c -- SQL for tasks, classes, labels and flags. */
#include "internal.h"
#include "store_labels.h"

int cur_store_task_ensure(cur_store *st, const char *name, int64_t *id) {
  int found;
  int rc = cur__exec(st, "INSERT OR IGNORE INTO tasks(name) VALUES (?1)", "t", name);
  if (rc) return rc;
  rc = cur_store_task_find(st, name, id, &found);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_EDB, "%s: task %s vanished", st->path, name);
  return rc;
}

int cur_store_task_find(cur_store *st, const char *name, int64_t *id, int *found) {
  return cur__query_i64(st, "SELECT id FROM tasks WHERE name = ?1", id, found, "t", name);
}

int cur_store_class_find(cur_store *st, int64_t task_id, const char *name, int64_t *id, int *found) {
  return cur__query_i64(st, "SELECT id FROM classes WHERE task_id = ?1 AND name = ?2", id, found,
                        "it", task_id, name);
}

int cur_store_class_count(cur_store *st, int64_t task_id, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(*) FROM classes WHERE task_id = ?1", n, &found, "i",
                        task_id);
}

int cur_store_class_add(cur_store *st, int64_t task_id, const char *name, int64_t *id) {
  int rc = cur__exec(st,
                     "INSERT INTO classes(task_id, idx, name) VALUES "
                     "(?1, (SELECT count(*) FROM classes WHERE task_id = ?1), ?2)",
                     "it", task_id, name);
  if (rc) return rc;
  *id = sqlite3_last_insert_rowid(st->db);
  return CUR_OK;
}

int cur_store_label_latest(cur_store *st, int64_t image_id, int64_t task_id, const char *source,
                           int64_t *class_id, int *found) {
  *class_id = 0;
  return cur__query_i64(st,
                        "SELECT coalesce(class_id, 0) FROM labels WHERE image_id = ?1 "
                        "AND task_id = ?2 AND source = ?3 ORDER BY id DESC LIMIT 1",
                        class_id, found, "iit", image_id, task_id, source);
}

int cur_store_label_add(cur_store *st, int64_t image_id, int64_t task_id, int64_t class_id,
                        const char *source, double confidence, int64_t run_id) {
  return cur__exec(st,
                   "INSERT INTO labels(image_id, task_id, class_id, source, confidence, run_id) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                   "iioteo", image_id, task_id, class_id, source, confidence, run_id);
}

int cur_store_flag_exists(cur_store *st, int64_t image_id, int64_t task_id, const char *reason,
                          int64_t suggested_class_id, int *found) {
  int64_t one;
  return cur__query_i64(st,
                        "SELECT 1 FROM flags WHERE image_id = ?1 AND task_id = ?2 AND reason = ?3 "
                        "AND suggested_class_id IS ?4",
                        &one, found, "iito", image_id, task_id, reason, suggested_class_id);
}

int cur_store_flag_add(cur_store *st, int64_t run_id, const char *reason, int64_t image_id,
                       int64_t task_id, double score, int64_t suggested_class_id,
                       const char *detail) {
  return cur__exec(st,
                   "INSERT OR IGNORE INTO flags(run_id, reason, image_id, task_id, score, "
                   "suggested_class_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                   "itiieot", run_id, reason, image_id, task_id, score, suggested_class_id, detail);
}
