/* store_export.c -- SQL for the cleaned manifest's rows and the manifests table. */
#include "internal.h"
#include "store_export.h"

#include <math.h>

/* One row per exported image and task, in (image, task) order.  A task the
** newest complete policy run decided takes its train rows from policy_rows;
** else a task the newest complete balance run balanced takes them from
** training_rows (variants included, a reused variant listed once); any other
** task takes every labelled original of the train split.  Val and test rows
** are the labelled originals of those splits.  Outside the policy's rows,
** rows with a pending or dropped flag are left out; of the audit stage's
** flags only the newest complete audit run's leak flags count (a val or test
** image whose near-duplicate is in train stays out of the curated figures),
** the others being advice for review.  The policy's rows are joined through
** their primary key: as a CTE, SQLite scanned them whole for every label
** row (quadratic: train at 10,000 images spent 60% of its time there). */
static const char export_rows_sql[] =
    "WITH b AS (SELECT max(id) AS id FROM runs WHERE stage = 'balance' AND status = 'complete'), "
    "balanced AS (SELECT DISTINCT bc.task_id FROM balance_classes bc JOIN b ON bc.run_id = b.id), "
    "tr AS (SELECT task_id, image_id, max(weight) AS weight FROM training_rows "
    "       GROUP BY task_id, image_id), "
    "p AS (SELECT max(id) AS id FROM runs WHERE stage = 'policy' AND status = 'complete'), "
    "decided AS (SELECT DISTINCT d.task_id FROM policy_decisions d JOIN p ON d.run_id = p.id) "
    "SELECT i.id, i.sha256, i.split, i.format, par.sha256, cl.task_id, cl.task, cl.class, c.idx, "
    "       cl.source, cl.confidence, coalesce(pr.weight, tr.weight, 1.0), i.source_path, i.group_key, "
    "       CASE WHEN i.parent_id IS NULL THEN json_extract(i.transform, '$.crop') END "
    "FROM current_labels cl "
    "JOIN images i ON i.id = cl.image_id "
    "JOIN classes c ON c.id = cl.class_id "
    "LEFT JOIN images par ON par.id = i.parent_id "
    "LEFT JOIN tr ON tr.task_id = cl.task_id AND tr.image_id = cl.image_id "
    "LEFT JOIN policy_rows pr ON pr.run_id = (SELECT id FROM p) AND pr.task_id = cl.task_id "
    "                        AND pr.image_id = cl.image_id "
    "WHERE i.status = 'ok' "
    "AND (?1 IS NULL OR cl.task IN (SELECT value FROM json_each(?1))) "
    "AND CASE WHEN i.split = 'train' AND cl.task_id IN (SELECT task_id FROM decided) "
    "         THEN pr.image_id IS NOT NULL "
    "    ELSE (tr.image_id IS NOT NULL OR (i.parent_id IS NULL AND (i.split <> 'train' "
    "          OR cl.task_id NOT IN (SELECT task_id FROM balanced)))) "
    "     AND NOT EXISTS (SELECT 1 FROM flags f JOIN runs fr ON fr.id = f.run_id "
    "                     WHERE f.image_id = i.id AND f.task_id = cl.task_id "
    "                     AND f.review_status IN ('pending', 'dropped') "
    "                     AND (fr.stage <> 'audit' OR (f.reason = 'leak' AND f.run_id = "
    "                          (SELECT max(id) FROM runs WHERE stage = 'audit' "
    "                           AND status = 'complete')))) END "
    "ORDER BY i.id, cl.task_id";

static void row_clear(cur_export_row *r) {
  for (int i = 0; i < r->n_labels; i++) {
    cur_free(r->labels[i].task);
    cur_free(r->labels[i].class_name);
    cur_free(r->labels[i].source);
  }
  cur_free(r->labels);
  cur_free(r->sha256);
  cur_free(r->split);
  cur_free(r->format);
  cur_free(r->parent_sha256);
  cur_free(r->source_path);
  cur_free(r->group_key);
  cur_free(r->crop);
  *r = (cur_export_row){0}; /* cleared twice frees nothing twice */
}

void cur_export_rows_free(cur_export_row *rows, size_t n) {
  for (size_t i = 0; rows && i < n; i++) row_clear(&rows[i]);
  cur_free(rows);
}

/* Starts a new image row from the statement's columns 0-4 and 12-14. */
static int image_start(sqlite3_stmt *s, cur_export_row *r) {
  int err = CUR_OK;
  *r = (cur_export_row){.image_id = sqlite3_column_int64(s, 0)};
  r->sha256 = cur__column_dup(s, 1, &err);
  r->split = cur__column_dup(s, 2, &err);
  r->format = cur__column_dup(s, 3, &err);
  r->parent_sha256 = cur__column_dup(s, 4, &err);
  r->source_path = cur__column_dup(s, 12, &err);
  r->group_key = cur__column_dup(s, 13, &err);
  r->crop = cur__column_dup(s, 14, &err);
  return err;
}

/* Appends the label in columns 5-11 to R. */
static int label_add(sqlite3_stmt *s, cur_export_row *r) {
  int err = CUR_OK;
  cur_export_label *grown = cur_reallocarray(r->labels, (size_t)r->n_labels + 1, sizeof *grown);
  if (!grown) return CUR_ENOMEM;
  r->labels = grown;
  cur_export_label *l = &r->labels[r->n_labels++];
  *l = (cur_export_label){.task_id = sqlite3_column_int64(s, 5)};
  l->task = cur__column_dup(s, 6, &err);
  l->class_name = cur__column_dup(s, 7, &err);
  l->class_idx = sqlite3_column_int(s, 8);
  l->source = cur__column_dup(s, 9, &err);
  l->confidence = sqlite3_column_type(s, 10) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 10);
  l->weight = sqlite3_column_double(s, 11);
  return err;
}

/* Steps the bound statement, assembling one image's row at a time from its
** label rows, and hands each complete row to FN. */
static int each_row(cur_store *st, sqlite3_stmt *s, cur_export_row_fn fn, void *ctx) {
  cur_export_row row = {0};
  int rc = CUR_OK, step = SQLITE_DONE, open = 0;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    if (open && row.image_id != sqlite3_column_int64(s, 0)) {
      rc = fn(ctx, &row);
      row_clear(&row);
      open = 0;
    }
    if (rc == CUR_OK && !open) {
      open = 1;
      rc = image_start(s, &row);
    }
    if (rc == CUR_OK) rc = label_add(s, &row);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading the manifest rows");
  if (rc == CUR_OK && open) rc = fn(ctx, &row);
  row_clear(&row);
  return rc;
}

int cur_store_export_rows_each(cur_store *st, const char *tasks_json, cur_export_row_fn fn,
                               void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, export_rows_sql);
  int rc = s ? cur__bind(st, s, "t", tasks_json) : CUR_EDB;
  if (rc == CUR_OK) rc = each_row(st, s, fn, ctx);
  if (s) sqlite3_reset(s);
  return rc;
}

/* The rows collected into an array (cur_store_export_rows). */
typedef struct row_array {
  cur_export_row *rows;
  size_t n, cap;
} row_array;

static int take_row(void *ctx, cur_export_row *row) {
  row_array *a = ctx;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 256;
    cur_export_row *grown = cur_reallocarray(a->rows, cap, sizeof *grown);
    if (!grown) return CUR_ENOMEM;
    a->rows = grown;
    a->cap = cap;
  }
  a->rows[a->n++] = *row;
  *row = (cur_export_row){0}; /* the array owns its strings now */
  return CUR_OK;
}

int cur_store_export_rows(cur_store *st, const char *tasks_json, cur_export_row **rows,
                          size_t *n) {
  row_array a = {0};
  int rc = cur_store_export_rows_each(st, tasks_json, take_row, &a);
  if (rc) {
    cur_export_rows_free(a.rows, a.n);
    return rc;
  }
  *rows = a.rows;
  *n = a.n;
  return CUR_OK;
}

int cur_store_manifest_clear(cur_store *st, int64_t run_id) {
  return cur__exec(st, "DELETE FROM manifests WHERE run_id = ?1", "i", run_id);
}

int cur_store_manifest_add(cur_store *st, int64_t run_id, const char *format, const char *path,
                           const char *sha256, int64_t rows) {
  return cur__exec(st, "INSERT INTO manifests(run_id, format, path, sha256, rows) "
                       "VALUES (?1, ?2, ?3, ?4, ?5)",
                   "ittti", run_id, format, path, sha256, rows);
}


int cur_store_manifest_last(cur_store *st, const char *format, char **path, int *found) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT m.path FROM manifests m JOIN runs r ON r.id = m.run_id "
      "WHERE r.stage = 'export' AND r.status = 'complete' AND m.format = ?1 "
      "ORDER BY m.run_id DESC, m.id LIMIT 1");
  *path = NULL;
  *found = 0;
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "t", format), step = rc ? SQLITE_DONE : sqlite3_step(s);
  *found = step == SQLITE_ROW;
  if (*found) *path = cur__column_dup(s, 0, &rc);
  else if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading manifests");
  sqlite3_reset(s);
  return rc;
}
