/* store_metrics.c -- SQL for the metrics and predictions tables. */
#include "internal.h"
#include "store_metrics.h"

#include <math.h>

int cur_store_metrics_clear(cur_store *st, int64_t run_id) {
  return cur__exec(st, "DELETE FROM metrics WHERE run_id = ?1", "i", run_id);
}

int cur_store_metric_put(cur_store *st, int64_t run_id, const char *name, double value,
                         const char *text) {
  return cur__exec(st, "INSERT OR REPLACE INTO metrics(run_id, name, value, text) VALUES (?1, ?2, ?3, ?4)",
                   "itet", run_id, name, value, text);
}

int cur_store_predictions_clear(cur_store *st, int64_t run_id) {
  return cur__exec(st, "DELETE FROM predictions WHERE run_id = ?1", "i", run_id);
}

int cur_store_prediction_put(cur_store *st, int64_t run_id, int64_t task_id, const char *head,
                             int64_t image_id, const char *split, int true_idx, int predicted_idx,
                             double confidence) {
  return cur__exec(st,
                   "INSERT INTO predictions(run_id, task_id, head, image_id, split, true_class_id, "
                   "predicted_class_id, confidence) VALUES (?1, ?2, ?3, ?4, ?5, "
                   "(SELECT id FROM classes WHERE task_id = ?2 AND idx = ?6), "
                   "(SELECT id FROM classes WHERE task_id = ?2 AND idx = ?7), ?8)",
                   "iititiie", run_id, task_id, head, image_id, split, (int64_t)true_idx,
                   (int64_t)predicted_idx, confidence);
}

int cur_store_metric_exists(cur_store *st, int64_t run_id, const char *name, int *found) {
  int64_t one;
  return cur__query_i64(st, "SELECT 1 FROM metrics WHERE run_id = ?1 AND name = ?2", &one, found,
                        "it", run_id, name);
}


int cur_store_metrics_each(cur_store *st, int64_t run_id,
                           int (*fn)(void *ctx, const char *name, double value, const char *text),
                           void *ctx, int *found) {
  int64_t one;
  int rc = cur__query_i64(st, "SELECT 1 FROM runs WHERE id = ?1", &one, found, "i", run_id);
  if (rc || !*found) return rc;
  sqlite3_stmt *s = cur__stmt(st, "SELECT name, value, text FROM metrics WHERE run_id = ?1 "
                                  "ORDER BY name");
  if (!s) return CUR_EDB;
  int step = SQLITE_DONE;
  rc = cur__bind(st, s, "i", run_id);
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, (const char *)sqlite3_column_text(s, 0),
            sqlite3_column_type(s, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 1),
            (const char *)sqlite3_column_text(s, 2));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading metrics");
  sqlite3_reset(s);
  return rc;
}
