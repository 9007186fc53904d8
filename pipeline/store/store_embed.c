/* store_embed.c -- SQL for embeddings and learned blobs. */
#include "internal.h"
#include "store_embed.h"

#include <string.h>

int cur_store_blob_get(cur_store *st, const char *key, unsigned char **data, size_t *len, int *found) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT data FROM model_blobs WHERE key = ?1");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", key), step = rc ? SQLITE_DONE : sqlite3_step(s);
  *found = step == SQLITE_ROW;
  if (*found) {
    *len = (size_t)sqlite3_column_bytes(s, 0);
    if ((*data = cur_malloc(*len))) memcpy(*data, sqlite3_column_blob(s, 0), *len);
    else rc = CUR_ENOMEM;
  } else if (rc == CUR_OK && step != SQLITE_DONE) {
    rc = cur__db_error(st, "reading a model blob");
  }
  sqlite3_reset(s);
  return rc;
}

int cur_store_blob_put(cur_store *st, const char *key, const char *kind, const char *config,
                       const void *data, size_t len, int64_t run_id) {
  return cur__exec(st, "INSERT INTO model_blobs(key, kind, config, data, run_id) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
                   "tttbi", key, kind, config, data, (int64_t)len, run_id);
}

int cur_store_embed_pending(cur_store *st, const char *model, cur_share share, int64_t *n) {
  int found;
  return cur__query_i64(st,
                        "SELECT count(*) FROM images i WHERE i.status = 'ok' AND i.id % ?2 = ?3 "
                        "AND NOT EXISTS "
                        "(SELECT 1 FROM embeddings e WHERE e.model = ?1 AND e.image_id = i.id)",
                        n, &found, "tii", model, share.count, share.index);
}

/* Runs S (bound) and calls FN on (id, blob) rows. */
static int each_image(cur_store *st, sqlite3_stmt *s,
                      int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len), void *ctx) {
  int rc = CUR_OK, step;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_blob(s, 1),
            (size_t)sqlite3_column_bytes(s, 1));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading images");
  sqlite3_reset(s);
  return rc;
}

int cur_store_embed_next(cur_store *st, const char *model, cur_share share, int64_t after_id,
                         int limit, int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                         void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT i.id, i.bytes FROM images i WHERE i.status = 'ok' AND i.id > ?2 AND i.id % ?4 = ?5 "
      "AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.model = ?1 AND e.image_id = i.id) "
      "ORDER BY i.id LIMIT ?3");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "tiiii", model, after_id, (int64_t)limit, share.count, share.index);
  return rc ? rc : each_image(st, s, fn, ctx);
}

int cur_store_embeddings_next(cur_store *st, const char *model, int64_t after_id, int limit,
                              int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                              void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT e.image_id, e.vector FROM embeddings e JOIN images i ON i.id = e.image_id "
      "WHERE e.model = ?1 AND e.image_id > ?2 AND i.status = 'ok' AND i.parent_id IS NULL "
      "ORDER BY e.image_id LIMIT ?3");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "tii", model, after_id, (int64_t)limit);
  return rc ? rc : each_image(st, s, fn, ctx);
}

int cur_store_embedding_put(cur_store *st, int64_t image_id, const char *model, int dim,
                            const void *vector, size_t len, int64_t run_id) {
  return cur__exec(st, "INSERT INTO embeddings(image_id, model, dim, vector, run_id) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
                   "itibi", image_id, model, (int64_t)dim, vector, (int64_t)len, run_id);
}

int cur_store_embedding_of(cur_store *st, const char *model, int64_t id,
                           int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                           void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT image_id, vector FROM embeddings "
                                   "WHERE model = ?1 AND image_id = ?2");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "ti", model, id);
  return rc ? rc : each_image(st, s, fn, ctx);
}

int cur_store_embedding_model_default(cur_store *st, char **model, int *found) {
  /* the newest embed run's model (what cur_embedder_fill_newest embeds variants
  ** with), else the model with the most embeddings */
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT coalesce((SELECT m.text FROM metrics m WHERE m.name = 'model' AND m.run_id = "
      "                   (SELECT max(id) FROM runs WHERE stage = 'embed' AND status = 'complete')), "
      "                (SELECT model FROM embeddings GROUP BY model "
      "                 ORDER BY count(*) DESC, model LIMIT 1))");
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step = sqlite3_step(s);
  *found = step == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL;
  *model = NULL;
  if (*found) *model = cur__column_dup(s, 0, &rc);
  else if (step != SQLITE_ROW && step != SQLITE_DONE) rc = cur__db_error(st, "reading embedding models");
  sqlite3_reset(s);
  return rc;
}

int cur_store_embedding_count(cur_store *st, const char *model, int64_t run_id, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(*) FROM embeddings WHERE model = ?1 AND run_id = ?2",
                        n, &found, "ti", model, run_id);
}

int cur_store_split_ids(cur_store *st, const char *split, int64_t **ids, size_t *n) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT id FROM images WHERE status = 'ok' AND split = ?1 "
                                   "AND parent_id IS NULL ORDER BY id");
  size_t cap = 0, count = 0;
  int64_t *out = NULL;
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", split), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    if (count == cap) {
      int64_t *grown = cur_reallocarray(out, cap = cap ? cap * 2 : 1024, sizeof *out);
      if (!grown) { rc = CUR_ENOMEM; break; }
      out = grown;
    }
    out[count++] = sqlite3_column_int64(s, 0);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading image ids");
  sqlite3_reset(s);
  if (rc) {
    cur_free(out);
    return rc;
  }
  *ids = out;
  *n = count;
  return CUR_OK;
}

int cur_store_image_bytes(cur_store *st, int64_t id,
                          int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                          void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT id, bytes FROM images WHERE id = ?1");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", id);
  return rc ? rc : each_image(st, s, fn, ctx);
}
