/* store_scores.c -- SQL for the aum stage: labelled vectors in, scores and metrics out. */
#include "internal.h"
#include "store_labels.h"
#include "store_scores.h"

int cur_store_embed_model_top(cur_store *st, char **model) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT e.model FROM embeddings e JOIN images i ON i.id = e.image_id WHERE i.status = 'ok' "
      "GROUP BY e.model ORDER BY count(*) DESC, e.model LIMIT 1");
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step = sqlite3_step(s);
  *model = NULL;
  if (step == SQLITE_ROW) *model = cur__column_dup(s, 0, &rc);
  else if (step != SQLITE_DONE) rc = cur__db_error(st, "finding the embeddings model");
  sqlite3_reset(s);
  return rc;
}

int cur_store_tasks(cur_store *st, int (*fn)(void *ctx, int64_t id, const char *name), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT id, name FROM tasks ORDER BY id");
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading tasks");
  sqlite3_reset(s);
  return rc;
}

int cur_store_class_ids(cur_store *st, int64_t task_id, int64_t **ids, int *n) {
  int64_t count;
  int found, rc = cur_store_class_count(st, task_id, &count);
  if (rc) return rc;
  int64_t *out = cur_calloc((size_t)count + 1, sizeof *out);
  if (!out) return CUR_ENOMEM;
  for (int64_t i = 0; rc == CUR_OK && i < count; i++) {
    rc = cur__query_i64(st, "SELECT id FROM classes WHERE task_id = ?1 AND idx = ?2", &out[i],
                        &found, "ii", task_id, i);
    if (rc == CUR_OK && !found)
      rc = cur_errorc(CUR_EDB, "%s: task %lld has no class of index %lld", st->path,
                      (long long)task_id, (long long)i);
  }
  if (rc) {
    cur_free(out);
    return rc;
  }
  *ids = out;
  *n = (int)count;
  return CUR_OK;
}

int cur_store_labelled_vectors(cur_store *st, int64_t task_id, const char *split,
                               const char *model, cur_labelled_fn fn, void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT cl.image_id, c.idx, cl.source = 'review', e.dim, e.vector "
      "FROM current_labels cl JOIN classes c ON c.id = cl.class_id "
      "JOIN images i ON i.id = cl.image_id "
      "JOIN embeddings e ON e.image_id = cl.image_id AND e.model = ?3 "
      "WHERE cl.task_id = ?1 AND i.split = ?2 AND i.status = 'ok' AND i.parent_id IS NULL "
      "ORDER BY cl.image_id");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "itt", task_id, split, model), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    int dim = sqlite3_column_int(s, 3);
    if (sqlite3_column_bytes(s, 4) != 2 * dim) {
      rc = cur_errorc(CUR_EDB, "%s: embedding of image %lld under %s has %d bytes for %d values",
                      st->path, (long long)sqlite3_column_int64(s, 0), model,
                      sqlite3_column_bytes(s, 4), dim);
      break;
    }
    rc = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), sqlite3_column_int(s, 2),
            sqlite3_column_blob(s, 4), dim);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading labelled embeddings");
  sqlite3_reset(s);
  return rc;
}

int cur_store_score_put(cur_store *st, int64_t run_id, const char *kind, int64_t image_id,
                        int64_t task_id, double value, int64_t suggested_class_id) {
  return cur__exec(st,
                   "INSERT INTO scores(run_id, kind, image_id, task_id, value, suggested_class_id) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                   "itiido", run_id, kind, image_id, task_id, value, suggested_class_id);
}

int cur_store_metric_put(cur_store *st, int64_t run_id, const char *name, double value) {
  return cur__exec(st, "INSERT INTO metrics(run_id, name, value) VALUES (?1, ?2, ?3)", "ite",
                   run_id, name, value);
}

int cur_store_metric_exists(cur_store *st, int64_t run_id, const char *name, int *found) {
  int64_t one;
  return cur__query_i64(st, "SELECT 1 FROM metrics WHERE run_id = ?1 AND name = ?2", &one, found,
                        "it", run_id, name);
}

int cur_store_score_count(cur_store *st, int64_t run_id, const char *kind, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(*) FROM scores WHERE run_id = ?1 AND kind = ?2", n,
                        &found, "it", run_id, kind);
}

int cur_store_flag_count(cur_store *st, int64_t run_id, const char *reason, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(*) FROM flags WHERE run_id = ?1 AND reason = ?2", n,
                        &found, "it", run_id, reason);
}
