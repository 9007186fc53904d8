/* store_images.c -- SQL for sources, source_entries and images. */
#include "internal.h"
#include "store_images.h"

int cur_store_source_put(cur_store *st, const char *uri, const char *kind, const char *options,
                         int64_t *id) {
  int found;
  int rc = cur__exec(st,
                     "INSERT INTO sources(uri, kind, options) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT(uri) DO UPDATE SET kind = excluded.kind, options = excluded.options "
                     "WHERE kind IS NOT excluded.kind OR options IS NOT excluded.options",
                     "ttt", uri, kind, options);
  if (rc) return rc;
  rc = cur__query_i64(st, "SELECT id FROM sources WHERE uri = ?1", id, &found, "t", uri);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_EDB, "%s: source %s vanished", st->path, uri);
  return rc;
}

void cur_store_sources_free(cur_source_row *rows, int n) {
  for (int i = 0; rows && i < n; i++) {
    cur_free(rows[i].uri);
    cur_free(rows[i].kind);
    cur_free(rows[i].options);
  }
  cur_free(rows);
}

int cur_store_sources(cur_store *st, cur_source_row **rows, int *n) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT id, uri, kind, options FROM sources ORDER BY id");
  cur_source_row *out = NULL;
  int count = 0, cap = 0, rc = CUR_OK, step;
  if (!s) return CUR_EDB;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    if (count == cap) {
      cur_source_row *grown = cur_reallocarray(out, (size_t)(cap = cap ? cap * 2 : 8), sizeof *out);
      if (!grown) { rc = CUR_ENOMEM; break; }
      out = grown;
    }
    cur_source_row *r = &out[count++];
    r->id = sqlite3_column_int64(s, 0);
    r->uri = cur__column_dup(s, 1, &rc);
    r->kind = cur__column_dup(s, 2, &rc);
    r->options = cur__column_dup(s, 3, &rc);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading sources");
  sqlite3_reset(s);
  if (rc) {
    cur_store_sources_free(out, count);
    return rc;
  }
  *rows = out;
  *n = count;
  return CUR_OK;
}

int cur_store_source_state(cur_store *st, int64_t source_id, const char *state, const char *reason) {
  return cur__exec(st, "UPDATE sources SET state = ?2, state_reason = ?3 WHERE id = ?1 AND "
                       "(state IS NOT ?2 OR state_reason IS NOT ?3)",
                   "itt", source_id, state, reason);
}

int cur_store_entries_of(cur_store *st, int64_t source_id, int retry,
                         int (*fn)(void *ctx, const char *path, int64_t image_id), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT path, coalesce(image_id, 0) FROM source_entries "
                                   "WHERE source_id = ?1 AND retry = ?2");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "ii", source_id, (int64_t)retry), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading source entries");
  sqlite3_reset(s);
  return rc;
}

int cur_store_entry_add(cur_store *st, int64_t source_id, const char *path, int64_t image_id,
                        const char *outcome, const char *reason, int retry, int64_t run_id) {
  return cur__exec(st,
                   "INSERT INTO source_entries(source_id, path, image_id, outcome, reason, retry, run_id) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(source_id, path) DO UPDATE SET "
                   "image_id = excluded.image_id, outcome = excluded.outcome, reason = excluded.reason, "
                   "retry = excluded.retry, run_id = excluded.run_id",
                   "itottii", source_id, path, image_id, outcome, reason, (int64_t)(retry != 0), run_id);
}

int cur_store_entry_counts(cur_store *st, int64_t run_id,
                           void (*fn)(void *ctx, const char *outcome, int64_t n), void *ctx) {
  return cur__group_counts(st, "SELECT outcome, count(*) FROM source_entries WHERE run_id = ?1 "
                               "GROUP BY outcome ORDER BY outcome", run_id, fn, ctx);
}

int cur_store_image_add(cur_store *st, const cur_image_row *r, int64_t *id, int *added) {
  /* the UNIQUE index on sha256 does the duplicate check the insert needs
  ** anyway; only when it finds one is the existing id looked up */
  sqlite3_stmt *s = cur__stmt(st,
      "INSERT INTO images(sha256, bytes, byte_size, format, width, height, bands, source_id, "
      "source_path, split, group_key, parent_id, transform, status, status_reason, run_id, "
      "split_source) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
      "ON CONFLICT(sha256) DO NOTHING");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "tbitooootttotttit", r->sha256, r->bytes, r->bytes_len, r->byte_size,
                     r->format, (int64_t)r->width, (int64_t)r->height, (int64_t)r->bands,
                     r->source_id, r->source_path, r->split, r->group_key, r->parent_id,
                     r->transform, r->status, r->status_reason, r->run_id, r->split_source);
  if (rc) return rc;
  if (sqlite3_step(s) != SQLITE_DONE) rc = cur__db_error(st, "inserting an image");
  *added = rc == CUR_OK && sqlite3_changes(st->db) == 1;
  if (*added) *id = sqlite3_last_insert_rowid(st->db);
  sqlite3_reset(s);
  if (rc == CUR_OK && !*added) {
    int found;
    rc = cur__query_i64(st, "SELECT id FROM images WHERE sha256 = ?1", id, &found, "t", r->sha256);
    if (rc == CUR_OK && !found) rc = cur_errorc(CUR_EDB, "%s: image %s vanished", st->path, r->sha256);
  }
  return rc;
}

int cur_store_image_quarantine(cur_store *st, int64_t id, const char *reason, char **source_path) {
  sqlite3_stmt *s = cur__stmt(st, "UPDATE images SET status = 'quarantined', status_reason = ?2 "
                                   "WHERE id = ?1 RETURNING source_path");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "it", id, reason), step = SQLITE_DONE;
  *source_path = NULL;
  if (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) *source_path = cur__column_dup(s, 0, &rc);
  if (rc == CUR_OK && step == SQLITE_ROW) step = sqlite3_step(s);
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "quarantining an image");
  if (rc == CUR_OK && !*source_path) rc = cur_errorc(CUR_EDB, "%s: image %lld vanished", st->path, (long long)id);
  sqlite3_reset(s);
  if (rc) {
    cur_free(*source_path);
    *source_path = NULL;
  }
  return rc;
}

int cur_store_image_recheck(cur_store *st, int64_t id, const cur_image_row *r) {
  return cur__exec(st,
                   "UPDATE images SET bytes = ?2, format = ?3, width = ?4, height = ?5, bands = ?6, "
                   "status = ?7, status_reason = ?8, run_id = ?9 WHERE id = ?1 AND status = "
                   "'quarantined' AND (status IS NOT ?7 OR status_reason IS NOT ?8 OR "
                   "length(bytes) <> length(?2))",
                   "ibtoootti", id, r->bytes, r->bytes_len, r->format, (int64_t)r->width,
                   (int64_t)r->height, (int64_t)r->bands, r->status, r->status_reason, r->run_id);
}
