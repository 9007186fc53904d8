/* store_web.c -- the SQL behind the pages of `curate serve` and `curate report`. */
#include "internal.h"
#include "store_web.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The gallery's two orders differ only in direction; the keyset condition
** continues strictly after the last row shown, ties broken by flag id.  The
** split filter goes through the images_split index: reading images.split
** from the row would walk the overflow pages of the bytes stored before it
** (0.64 s against 0.05 s for a page of 107k flags). */
#define FLAGS_SELECT                                                                          \
  "SELECT flag_id, image_id, task, label, suggested, reason, score, "                        \
  "ifnull(score, 1e308) AS sort_key, review_status, "                                        \
  "(SELECT split FROM images i WHERE i.id = image_id) AS split, detail FROM flagged "        \
  "WHERE (?1 IS NULL OR task = ?1) AND (?2 IS NULL OR label = ?2) "                          \
  "AND (?3 IS NULL OR reason = ?3) "                                                          \
  "AND (?4 IS NULL OR image_id IN (SELECT id FROM images WHERE split = ?4)) "                \
  "AND (?5 IS NULL OR review_status = ?5) "

int cur_store_web_flags(cur_store *st, const cur_web_filter *f, cJSON *arr) {
  sqlite3_stmt *s = cur__stmt(st, f->descending
      ? FLAGS_SELECT "AND (?6 = 0 OR ifnull(score, 1e308) < ?7 "
                     "OR (ifnull(score, 1e308) = ?7 AND flag_id < ?8)) "
                     "ORDER BY sort_key DESC, flag_id DESC LIMIT ?9"
      : FLAGS_SELECT "AND (?6 = 0 OR ifnull(score, 1e308) > ?7 "
                     "OR (ifnull(score, 1e308) = ?7 AND flag_id > ?8)) "
                     "ORDER BY sort_key, flag_id LIMIT ?9");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "tttttidii", f->task, f->class_name, f->reason, f->split, f->status,
                     (int64_t)f->has_after, f->after_key, f->after_flag, f->limit);
  return rc ? rc : cur__rows_json(st, s, arr);
}

/* Runs SQL with FMT's parameters and appends its rows to ARR. */
static int rows(cur_store *st, cJSON *arr, const char *sql, const char *fmt, ...) {
  sqlite3_stmt *s = cur__stmt(st, sql);
  if (!s) return CUR_EDB;
  int rc = CUR_OK;
  va_list ap;
  va_start(ap, fmt);
  /* cur__bind takes varargs, so bind the one or two parameters by kind here */
  for (int i = 0; fmt[i] && rc == CUR_OK; i++) {
    int r;
    if (fmt[i] == 'i') r = sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
    else {
      const char *t = va_arg(ap, const char *);
      r = t ? sqlite3_bind_text(s, i + 1, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i + 1);
    }
    if (r != SQLITE_OK) rc = cur__db_error(st, "cannot bind");
  }
  va_end(ap);
  if (rc) {
    sqlite3_reset(s);
    return rc;
  }
  return cur__rows_json(st, s, arr);
}

int cur_store_web_classes(cur_store *st, cJSON *arr) {
  return rows(st, arr, "SELECT t.name AS task, c.name AS class, c.idx FROM classes c "
              "JOIN tasks t ON t.id = c.task_id ORDER BY t.name, c.idx", "");
}

int cur_store_web_reasons(cur_store *st, cJSON *arr) {
  return rows(st, arr, "SELECT DISTINCT reason FROM flags ORDER BY reason", "");
}

int cur_store_web_image(cur_store *st, int64_t image_id, cJSON *arr) {
  return rows(st, arr, "SELECT id, sha256, byte_size, format, width, height, split, source_path, "
              "status, status_reason, parent_id, transform, group_key FROM images WHERE id = ?1",
              "i", image_id);
}

int cur_store_web_label_history(cur_store *st, int64_t image_id, cJSON *arr) {
  return rows(st, arr, "SELECT l.id AS label_id, t.name AS task, c.name AS class, l.source, "
              "l.confidence, l.run_id, l.created_at, r.created_at AS retracted_at "
              "FROM labels l JOIN tasks t ON t.id = l.task_id "
              "LEFT JOIN classes c ON c.id = l.class_id "
              "LEFT JOIN label_retractions r ON r.label_id = l.id WHERE l.image_id = ?1 ORDER BY l.id",
              "i", image_id);
}

int cur_store_web_current(cur_store *st, int64_t image_id, cJSON *arr) {
  return rows(st, arr, "SELECT task, class, source FROM current_labels WHERE image_id = ?1 "
              "ORDER BY task", "i", image_id);
}

int cur_store_web_scores(cur_store *st, int64_t image_id, cJSON *arr) {
  return rows(st, arr, "SELECT s.kind, t.name AS task, s.value, c.name AS suggested, s.run_id "
              "FROM scores s JOIN tasks t ON t.id = s.task_id "
              "LEFT JOIN classes c ON c.id = s.suggested_class_id "
              "WHERE s.image_id = ?1 AND s.run_id = (SELECT max(run_id) FROM scores s2 "
              "WHERE s2.image_id = s.image_id AND s2.kind = s.kind AND s2.task_id = s.task_id) "
              "ORDER BY t.name, s.kind", "i", image_id);
}

int cur_store_web_image_flags(cur_store *st, int64_t image_id, cJSON *arr) {
  return rows(st, arr, "SELECT task, reason, score, suggested, review_status, detail "
              "FROM flagged WHERE image_id = ?1 ORDER BY task, reason", "i", image_id);
}

int cur_store_web_variants(cur_store *st, int64_t image_id, cJSON *arr) {
  return rows(st, arr, "SELECT id, transform FROM images WHERE parent_id = ?1 ORDER BY id",
              "i", image_id);
}

int cur_store_web_image_bytes(cur_store *st, int64_t image_id, unsigned char **bytes, size_t *len,
                              char sha256[65]) {
  *bytes = NULL;
  *len = 0;
  sqlite3_stmt *s = cur__stmt(st, "SELECT bytes, sha256 FROM images WHERE id = ?1 "
                                  "AND status = 'ok' AND format IS NOT NULL");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", image_id);
  if (rc) return rc;
  int step = sqlite3_step(s);
  if (step == SQLITE_ROW) {
    const void *blob = sqlite3_column_blob(s, 0);
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    const char *sha = (const char *)sqlite3_column_text(s, 1);
    snprintf(sha256, 65, "%s", sha ? sha : "");
    *bytes = cur_malloc(n ? n : 1);
    if (!*bytes) rc = CUR_ENOMEM;
    else if (n) memcpy(*bytes, blob, n);
    *len = n;
  } else if (step != SQLITE_DONE) {
    rc = cur__db_error(st, "cannot read an image");
  }
  sqlite3_reset(s);
  return rc;
}

int cur_store_web_image_sha(cur_store *st, int64_t image_id, char sha256[65], int *found) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT sha256 FROM images WHERE id = ?1 "
                                  "AND status = 'ok' AND format IS NOT NULL");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", image_id);
  if (rc) return rc;
  int step = sqlite3_step(s);
  *found = step == SQLITE_ROW;
  if (*found) snprintf(sha256, 65, "%s", (const char *)sqlite3_column_text(s, 0));
  else if (step != SQLITE_DONE) rc = cur__db_error(st, "cannot read an image");
  sqlite3_reset(s);
  return rc;
}

int cur_store_web_embed_model(cur_store *st, int64_t image_id, char **model) {
  *model = NULL;
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT model FROM embeddings WHERE image_id = ?1 ORDER BY model = (SELECT text FROM metrics "
      "WHERE name = 'model' AND run_id = (SELECT max(id) FROM runs WHERE stage = 'embed' "
      "AND status = 'complete')) DESC, model LIMIT 1");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", image_id), err = 0;
  if (rc) return rc;
  int step = sqlite3_step(s);
  if (step == SQLITE_ROW) *model = cur__column_dup(s, 0, &err);
  else if (step != SQLITE_DONE) rc = cur__db_error(st, "cannot read embeddings");
  sqlite3_reset(s);
  return rc ? rc : err ? CUR_ENOMEM : CUR_OK;
}

int cur_store_web_embedding(cur_store *st, const char *model, int64_t image_id, void **half,
                            int64_t *dim) {
  *half = NULL;
  *dim = 0;
  sqlite3_stmt *s = cur__stmt(st, "SELECT dim, vector FROM embeddings WHERE model = ?1 "
                                  "AND image_id = ?2");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "ti", model, image_id);
  if (rc) return rc;
  int step = sqlite3_step(s);
  if (step == SQLITE_ROW) {
    int64_t d = sqlite3_column_int64(s, 0);
    const void *v = sqlite3_column_blob(s, 1);
    if (d > 0 && v && sqlite3_column_bytes(s, 1) == d * 2) {
      *half = cur_malloc((size_t)d * 2);
      if (*half) memcpy(*half, v, (size_t)d * 2), *dim = d;
      else rc = CUR_ENOMEM;
    }
  } else if (step != SQLITE_DONE) {
    rc = cur__db_error(st, "cannot read embeddings");
  }
  sqlite3_reset(s);
  return rc;
}

int cur_store_web_embeddings(cur_store *st, const char *model,
                             int (*fn)(void *ctx, int64_t image_id, const void *half, int64_t dim),
                             void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT image_id, dim, vector FROM embeddings WHERE model = ?1");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", model), step;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    int64_t dim = sqlite3_column_int64(s, 1);
    const void *v = sqlite3_column_blob(s, 2);
    /* a vector whose size disagrees with its dim is skipped, never read past */
    if (dim > 0 && v && sqlite3_column_bytes(s, 2) == dim * 2)
      rc = fn(ctx, sqlite3_column_int64(s, 0), v, dim);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "cannot read embeddings");
  sqlite3_reset(s);
  return rc;
}

int cur_store_web_metric(cur_store *st, const char *stage, const char *name, char **text,
                         double *value) {
  *text = NULL;
  *value = NAN;
  sqlite3_stmt *s = cur__stmt(st, "SELECT value, text FROM metrics WHERE name = ?2 AND run_id = "
                                  "(SELECT max(id) FROM runs WHERE stage = ?1 AND status = 'complete')");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "tt", stage, name), err = 0;
  if (rc) return rc;
  int step = sqlite3_step(s);
  if (step == SQLITE_ROW) {
    if (sqlite3_column_type(s, 0) != SQLITE_NULL) *value = sqlite3_column_double(s, 0);
    *text = cur__column_dup(s, 1, &err);
  } else if (step != SQLITE_DONE) {
    rc = cur__db_error(st, "cannot read metrics");
  }
  sqlite3_reset(s);
  return rc ? rc : err ? CUR_ENOMEM : CUR_OK;
}

int cur_store_web_score_values(cur_store *st, const char *kind, cJSON *arr) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT value FROM scores WHERE kind = ?1 AND run_id = "
                                  "(SELECT max(run_id) FROM scores WHERE kind = ?1)");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", kind), step;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    if (!cJSON_AddItemToArray(arr, cJSON_CreateNumber(sqlite3_column_double(s, 0))))
      rc = cur_errorc(CUR_ENOMEM, "out of memory");
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "cannot read scores");
  sqlite3_reset(s);
  return rc;
}

int cur_store_web_flag_rates(cur_store *st, cJSON *arr) {
  return rows(st, arr,
      "SELECT cl.task, cl.class, count(*) AS images, "
      "sum(EXISTS (SELECT 1 FROM flagged f WHERE f.image_id = cl.image_id "
      "AND f.task_id = cl.task_id)) AS flagged "
      "FROM current_labels cl JOIN images i ON i.id = cl.image_id "
      "WHERE i.split = 'train' AND i.status = 'ok' AND i.parent_id IS NULL "
      "AND cl.class_id IS NOT NULL GROUP BY cl.task, cl.class ORDER BY cl.task, cl.class", "");
}

int cur_store_web_pseudo(cur_store *st, cJSON *arr) {
  return rows(st, arr,
      "SELECT t.name AS task, c.name AS class, count(*) AS n, avg(l.confidence) AS mean_confidence, "
      "min(l.confidence) AS min_confidence FROM labels l JOIN tasks t ON t.id = l.task_id "
      "JOIN classes c ON c.id = l.class_id WHERE l.source = 'teacher' AND l.run_id = "
      "(SELECT max(id) FROM runs WHERE stage = 'pseudolabel' AND status = 'complete') "
      "GROUP BY t.name, c.name ORDER BY t.name, c.idx", "");
}

int cur_store_web_pseudo_samples(cur_store *st, int64_t per_class, cJSON *arr) {
  return rows(st, arr,
      "SELECT image_id, task, class, confidence FROM (SELECT l.image_id, t.name AS task, "
      "c.name AS class, c.idx, l.confidence, ROW_NUMBER() OVER (PARTITION BY l.task_id, l.class_id "
      "ORDER BY l.confidence DESC, l.image_id) AS k FROM labels l JOIN tasks t ON t.id = l.task_id "
      "JOIN classes c ON c.id = l.class_id WHERE l.source = 'teacher' AND l.run_id = "
      "(SELECT max(id) FROM runs WHERE stage = 'pseudolabel' AND status = 'complete')) "
      "WHERE k <= ?1 ORDER BY task, idx, k", "i", per_class);
}

int cur_store_web_cell(cur_store *st, const char *head, int true_idx, int pred_idx, int64_t limit,
                       cJSON *arr) {
  /* the run whose metrics the confusion page shows (cur_store_web_metric) */
  return rows(st, arr,
      "SELECT p.image_id, p.confidence, count(*) OVER () AS total FROM predictions p "
      "JOIN classes tc ON tc.id = p.true_class_id JOIN classes pc ON pc.id = p.predicted_class_id "
      "WHERE p.run_id = (SELECT max(id) FROM runs WHERE stage = 'train' AND status = 'complete') "
      "AND p.head = ?1 AND p.split = 'test' AND tc.idx = ?2 AND pc.idx = ?3 "
      "ORDER BY p.confidence DESC, p.image_id LIMIT ?4",
      "tiii", head, (int64_t)true_idx, (int64_t)pred_idx, limit);
}

int cur_store_web_runs(cur_store *st, cJSON *arr) {
  return rows(st, arr, "SELECT stage, status, id, finished_at, message FROM runs r "
              "WHERE id = (SELECT max(id) FROM runs r2 WHERE r2.stage = r.stage) ORDER BY id", "");
}
