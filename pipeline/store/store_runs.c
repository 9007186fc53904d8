/* store_runs.c -- SQL for the runs table. */
#include "internal.h"
#include "store_runs.h"

#include <stdio.h>
#include <string.h>

static void copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col) {
  const char *t = (const char *)sqlite3_column_text(s, col);
  snprintf(dst, cap, "%s", t ? t : "");
}

int cur_store_run_last(cur_store *st, const char *stage, int complete_only,
                       cur_run_info *out, int *found) {
  static const char *any_sql =
      "SELECT id, status, config_hash, input_fingerprint, coalesce(seconds, 0) FROM runs "
      "WHERE stage = ?1 ORDER BY id DESC LIMIT 1";
  static const char *complete_sql =
      "SELECT id, status, config_hash, input_fingerprint, coalesce(seconds, 0) FROM runs "
      "WHERE stage = ?1 AND status = 'complete' ORDER BY id DESC LIMIT 1";
  sqlite3_stmt *s = cur__stmt(st, complete_only ? complete_sql : any_sql);
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", stage);
  if (rc) return rc;
  int step = sqlite3_step(s);
  *found = step == SQLITE_ROW;
  if (step == SQLITE_ROW) {
    out->id = sqlite3_column_int64(s, 0);
    copy_text(out->status, sizeof out->status, s, 1);
    copy_text(out->config_hash, sizeof out->config_hash, s, 2);
    copy_text(out->fingerprint, sizeof out->fingerprint, s, 3);
    out->seconds = sqlite3_column_double(s, 4);
  } else if (step != SQLITE_DONE) {
    rc = cur__db_error(st, "reading runs");
  }
  sqlite3_reset(s);
  return rc;
}

int cur_store_run_start(cur_store *st, const char *stage, const char *config_hash,
                        const char *fingerprint, const char *inputs_json, int64_t seed,
                        const char *config_json, int64_t *id) {
  int rc = cur__exec(st,
                     "INSERT INTO runs(stage, status, config_hash, input_fingerprint, inputs, seed, "
                     "config) VALUES (?1, 'running', ?2, ?3, ?4, ?5, ?6)",
                     "ttttit", stage, config_hash, fingerprint, inputs_json, seed, config_json);
  if (rc) return rc;
  *id = sqlite3_last_insert_rowid(st->db);
  return CUR_OK;
}

int cur_store_run_resume(cur_store *st, int64_t id) {
  return cur__exec(st, "UPDATE runs SET status = 'running', message = NULL, finished_at = NULL "
                       "WHERE id = ?1", "i", id);
}

int cur_store_run_finish(cur_store *st, int64_t id, const char *status, const char *message,
                         const char *counts_json, double seconds) {
  return cur__exec(st,
                   "UPDATE runs SET status = ?2, message = ?3, counts = coalesce(?4, counts), "
                   "seconds = coalesce(seconds, 0) + ?5, "
                   "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
                   "itttd", id, status, message, counts_json, seconds);
}

int cur_store_run_inputs(cur_store *st, int64_t id, char **json) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT inputs FROM runs WHERE id = ?1");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", id), step = rc ? SQLITE_DONE : sqlite3_step(s);
  *json = NULL;
  if (step == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) *json = cur__column_dup(s, 0, &rc);
  else if (rc == CUR_OK && step != SQLITE_ROW && step != SQLITE_DONE) rc = cur__db_error(st, "reading runs");
  sqlite3_reset(s);
  return rc;
}

int cur_store_review_versions(cur_store *st, cur_review_version_fn each, void *ctx) {
  /* run_id IS NULL: augment copies a parent's review label onto its variants
  ** under its own run id, and that is not a new review decision. */
  sqlite3_stmt *s = cur__stmt(st, "SELECT t.name, count(*), max(l.id) FROM standing_labels l "
                                   "JOIN tasks t ON t.id = l.task_id "
                                   "WHERE l.source = 'review' AND l.run_id IS NULL "
                                   "GROUP BY t.name ORDER BY t.name");
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = each(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
              sqlite3_column_int64(s, 2));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading review decisions");
  sqlite3_reset(s);
  return rc;
}

/* The first row's NCOL integer columns of SQL into OUT. */
static int first_row(cur_store *st, const char *sql, int ncol, int64_t *out) {
  sqlite3_stmt *s = cur__stmt(st, sql);
  if (!s) return CUR_EDB;
  int rc = CUR_OK;
  if (sqlite3_step(s) == SQLITE_ROW)
    for (int i = 0; i < ncol; i++) out[i] = sqlite3_column_int64(s, i);
  else rc = cur__db_error(st, "reading what ingest stored");
  sqlite3_reset(s);
  return rc;
}

int cur_store_ingest_version(cur_store *st, int64_t version[CUR_INGEST_VERSION_LEN]) {
  /* Ingest only adds rows, and a re-checked image takes the run's id: so
  ** counts, newest ids and the newest run id change exactly when it changed
  ** something.  Variants (parent_id) and the labels they copy are
  ** augment's; quarantines by embed leave run_id alone.  A copy with
  ** another label adds no label but a duplicate_conflict flag, which takes
  ** the row out of training; and a source registered or removed can change
  ** which file an image is said to come from. */
  int rc = first_row(st, "SELECT count(*), coalesce(max(id), 0), coalesce(max(run_id), 0) "
                         "FROM images WHERE parent_id IS NULL", 3, version);
  if (rc == CUR_OK)
    rc = first_row(st, "SELECT count(*), coalesce(max(l.id), 0) FROM labels l "
                       "JOIN images o ON o.id = l.image_id "
                       "WHERE l.source = 'human' AND o.parent_id IS NULL", 2, version + 3);
  if (rc == CUR_OK)
    rc = first_row(st, "SELECT count(*), coalesce(max(id), 0) FROM flags "
                       "WHERE reason = 'duplicate_conflict'", 2, version + 5);
  if (rc == CUR_OK)
    rc = first_row(st, "SELECT count(*), coalesce(max(id), 0) FROM sources", 2, version + 7);
  return rc;
}

int cur_store_run_config(cur_store *st, const char *stage, char **json, int *found) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT config FROM runs WHERE stage = ?1 AND status = 'complete' "
                                   "ORDER BY id DESC LIMIT 1");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", stage), step = rc ? SQLITE_DONE : sqlite3_step(s);
  *found = step == SQLITE_ROW;
  *json = NULL;
  if (*found) *json = cur__column_dup(s, 0, &rc);
  else if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading runs");
  sqlite3_reset(s);
  return rc;
}
