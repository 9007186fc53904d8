/* store_audit.c -- SQL for the audit stage: image statistics, the rows it audits, pairs and groups. */
#include "internal.h"
#include "store_audit.h"

int cur_store_audit_pending(cur_store *st, int64_t *n) {
  int found;
  return cur__query_i64(st,
      "SELECT count(*) FROM images i WHERE i.status = 'ok' AND i.parent_id IS NULL "
      "AND NOT EXISTS (SELECT 1 FROM image_stats s WHERE s.image_id = i.id)", n, &found, "");
}

int cur_store_audit_next(cur_store *st, int64_t after_id, int limit,
                         int (*fn)(void *ctx, int64_t id, int width, int height,
                                   const void *bytes, size_t len),
                         void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT i.id, coalesce(i.width, 0), coalesce(i.height, 0), i.bytes FROM images i "
      "WHERE i.status = 'ok' AND i.parent_id IS NULL AND i.id > ?1 "
      "AND NOT EXISTS (SELECT 1 FROM image_stats s WHERE s.image_id = i.id) ORDER BY i.id LIMIT ?2");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "ii", after_id, (int64_t)limit), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), sqlite3_column_int(s, 2),
            sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading images to audit");
  sqlite3_reset(s);
  return rc;
}

/* The views after the whole image's, 8 bytes each, little-endian. */
#define VIEWS_BYTES (8 * (CUR_PHASH_VIEWS - 1))

int cur_store_audit_stats_put(cur_store *st, int64_t image_id, const cur_image_stats *s,
                              int64_t run_id) {
  uint8_t views[VIEWS_BYTES];
  for (int v = 1; v < CUR_PHASH_VIEWS; v++)
    for (int b = 0; b < 8; b++) views[8 * (v - 1) + b] = (uint8_t)(s->phash[v] >> (8 * b));
  return cur__exec(st,
      "INSERT INTO image_stats(image_id, phash, phash_views, sharpness, sharpness_reblur, "
      "bright_p01, bright_p99, entropy, colourfulness, run_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
      "iibddddddi", image_id, (int64_t)s->phash[0], (const void *)views, (int64_t)VIEWS_BYTES,
      s->sharpness, s->sharpness_reblur, s->bright_p01, s->bright_p99, s->entropy,
      s->colourfulness, run_id);
}

/* Reads the views of column COL into S; CUR_EDB naming the image when the
** blob does not hold CUR_PHASH_VIEWS - 1 hashes. */
static int read_views(cur_store *st, sqlite3_stmt *q, int col, int64_t id, cur_image_stats *s) {
  const uint8_t *b = sqlite3_column_blob(q, col);
  if (sqlite3_column_bytes(q, col) != VIEWS_BYTES || !b)
    return cur_errorc(CUR_EDB, "%s: image_stats of image %lld: phash_views has %d bytes, not %d",
                      st->path, (long long)id, sqlite3_column_bytes(q, col), VIEWS_BYTES);
  for (int v = 1; v < CUR_PHASH_VIEWS; v++) {
    s->phash[v] = 0;
    for (int k = 0; k < 8; k++) s->phash[v] |= (uint64_t)b[8 * (v - 1) + k] << (8 * k);
  }
  return CUR_OK;
}

int cur_store_audit_rows(cur_store *st, const char *model,
                         int (*fn)(void *ctx, const cur_audit_row *row), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT i.id, i.split, i.source_path, coalesce(i.width, 0), coalesce(i.height, 0), "
      "s.phash, s.phash_views, s.sharpness, s.sharpness_reblur, s.bright_p01, s.bright_p99, "
      "s.entropy, s.colourfulness, e.dim, e.vector "
      "FROM images i JOIN image_stats s ON s.image_id = i.id "
      "LEFT JOIN embeddings e ON e.image_id = i.id AND e.model = ?1 "
      "WHERE i.status = 'ok' AND i.parent_id IS NULL ORDER BY i.id");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", model), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    cur_audit_row r = {
        .id = sqlite3_column_int64(s, 0),
        .split = (const char *)sqlite3_column_text(s, 1),
        .path = (const char *)sqlite3_column_text(s, 2),
        .width = sqlite3_column_int(s, 3),
        .height = sqlite3_column_int(s, 4),
        .stats = {.phash = {(uint64_t)sqlite3_column_int64(s, 5)},
                  .sharpness = sqlite3_column_double(s, 7),
                  .sharpness_reblur = sqlite3_column_double(s, 8),
                  .bright_p01 = sqlite3_column_double(s, 9),
                  .bright_p99 = sqlite3_column_double(s, 10),
                  .entropy = sqlite3_column_double(s, 11),
                  .colourfulness = sqlite3_column_double(s, 12)},
        .dim = sqlite3_column_int(s, 13),
        .vector = sqlite3_column_type(s, 14) == SQLITE_NULL ? NULL : sqlite3_column_blob(s, 14)};
    if ((rc = read_views(st, s, 6, r.id, &r.stats))) break;
    if (r.vector && sqlite3_column_bytes(s, 14) != 2 * r.dim) {
      rc = cur_errorc(CUR_EDB, "%s: embedding of image %lld under %s has %d bytes for %d values",
                      st->path, (long long)r.id, model, sqlite3_column_bytes(s, 14), r.dim);
      break;
    }
    rc = fn(ctx, &r);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading image statistics");
  sqlite3_reset(s);
  return rc;
}

int cur_store_audit_labels(cur_store *st, int64_t task_id,
                           int (*fn)(void *ctx, int64_t image_id, int class_idx, int64_t class_id),
                           void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      /* the label given (review over human, newest first), not a later
      ** stage's zeroshot or teacher label: audit runs before them */
      "SELECT l.image_id, c.idx, c.id FROM standing_labels l JOIN classes c ON c.id = l.class_id "
      "JOIN images i ON i.id = l.image_id "
      "WHERE l.task_id = ?1 AND i.status = 'ok' AND i.parent_id IS NULL "
      "AND l.id = (SELECT g.id FROM standing_labels g WHERE g.image_id = l.image_id "
      "            AND g.task_id = l.task_id AND g.source IN ('human', 'review') "
      "            ORDER BY CASE g.source WHEN 'review' THEN 0 ELSE 1 END, g.id DESC LIMIT 1) "
      "ORDER BY l.image_id");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", task_id), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), sqlite3_column_int64(s, 2));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading current labels");
  sqlite3_reset(s);
  return rc;
}

int cur_store_duplicate_pair_put(cur_store *st, int64_t run_id, int64_t a, int64_t b, double cosine,
                                 int hamming) {
  return cur__exec(st, "INSERT OR IGNORE INTO duplicate_pairs(run_id, image_a, image_b, cosine, "
                       "hash_distance) VALUES (?1, ?2, ?3, ?4, ?5)",
                   "iiiei", run_id, a, b, cosine, (int64_t)hamming);
}

int cur_store_duplicate_member_put(cur_store *st, int64_t run_id, int64_t image_id, int64_t group_id) {
  return cur__exec(st, "INSERT OR IGNORE INTO duplicate_members(run_id, image_id, group_id) "
                       "VALUES (?1, ?2, ?3)", "iii", run_id, image_id, group_id);
}
