/* store_scores.c -- SQL for the aum stage: labelled vectors in, scores and metrics out. */
#include "internal.h"
#include "store_labels.h"
#include "store_scores.h"

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

