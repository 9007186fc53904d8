/* store_balance.c -- SQL for balance_classes, training_set, augment_plan and
** augment_variants, and the rows the balance and augment stages read. */
#include "internal.h"
#include "store_balance.h"

#include <math.h>

int cur_store_tasks_labelled(cur_store *st, int (*fn)(void *ctx, int64_t id, const char *name),
                             void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT id, name FROM tasks t WHERE EXISTS "
                                   "(SELECT 1 FROM labels l WHERE l.task_id = t.id) ORDER BY id");
  int rc = CUR_OK, step = SQLITE_DONE;
  if (!s) return CUR_EDB;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading tasks");
  sqlite3_reset(s);
  return rc;
}

/* Eligible rows: the AUM score comes from the newest run that scored the
** task, so an older run's scores never mix in.  The audit stage's flags are
** advice for review and hold no row back (docs/stages/audit.md). */
static const char balance_rows_sql[] =
    "WITH aum AS (SELECT image_id, value FROM scores WHERE kind = 'aum' AND task_id = ?1 "
    "  AND run_id = (SELECT max(run_id) FROM scores WHERE kind = 'aum' AND task_id = ?1)) "
    "SELECT i.id, cl.class_id, aum.value FROM images i "
    "JOIN current_labels cl ON cl.image_id = i.id AND cl.task_id = ?1 "
    "LEFT JOIN aum ON aum.image_id = i.id "
    "WHERE i.split = ?2 AND i.status = 'ok' AND i.parent_id IS NULL AND cl.class_id IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM flags f JOIN runs fr ON fr.id = f.run_id "
    "                WHERE f.image_id = i.id AND f.task_id = ?1 AND fr.stage <> 'audit' "
    "                AND f.review_status IN ('pending', 'dropped')) "
    "ORDER BY cl.class_id, i.id";

int cur_store_balance_rows(cur_store *st, int64_t task_id, const char *split,
                           cur_balance_row **rows, size_t *n) {
  sqlite3_stmt *s = cur__stmt(st, balance_rows_sql);
  cur_balance_row *out = NULL;
  size_t count = 0, cap = 0;
  int rc = s ? cur__bind(st, s, "it", task_id, split) : CUR_EDB, step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    if (count == cap) {
      cur_balance_row *grown = cur_reallocarray(out, cap = cap ? cap * 2 : 256, sizeof *out);
      if (!grown) { rc = CUR_ENOMEM; break; }
      out = grown;
    }
    cur_balance_row *r = &out[count++];
    r->image_id = sqlite3_column_int64(s, 0);
    r->class_id = sqlite3_column_int64(s, 1);
    r->aum = sqlite3_column_type(s, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 2);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading rows to balance");
  if (s) sqlite3_reset(s);
  if (rc) {
    cur_free(out);
    return rc;
  }
  *rows = out;
  *n = count;
  return CUR_OK;
}

int cur_store_balance_clear(cur_store *st, int64_t run_id, int64_t task_id) {
  int rc = cur__exec(st, "DELETE FROM balance_classes WHERE run_id = ?1 AND task_id = ?2", "ii",
                     run_id, task_id);
  if (rc == CUR_OK)
    rc = cur__exec(st, "DELETE FROM training_set WHERE run_id = ?1 AND task_id = ?2", "ii",
                   run_id, task_id);
  if (rc == CUR_OK)
    rc = cur__exec(st, "DELETE FROM augment_plan WHERE run_id = ?1 AND task_id = ?2", "ii",
                   run_id, task_id);
  return rc;
}

int cur_store_balance_class_add(cur_store *st, int64_t run_id, int64_t task_id,
                                const cur_balance_class *c) {
  return cur__exec(st,
                   "INSERT INTO balance_classes(run_id, task_id, class_id, before, target, kept, "
                   "variants, after, weight) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                   "iiiiiiiid", run_id, task_id, c->class_id, c->before, c->target, c->kept,
                   c->variants, c->after, c->weight);
}

int cur_store_training_add(cur_store *st, int64_t run_id, int64_t task_id, int64_t image_id,
                           int64_t class_id, double weight) {
  return cur__exec(st,
                   "INSERT INTO training_set(run_id, task_id, image_id, class_id, weight) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   "iiiid", run_id, task_id, image_id, class_id, weight);
}

int cur_store_plan_add(cur_store *st, int64_t run_id, int64_t task_id, int64_t parent_id,
                       int variant, int64_t class_id) {
  return cur__exec(st,
                   "INSERT INTO augment_plan(run_id, task_id, parent_id, variant, class_id) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   "iiiii", run_id, task_id, parent_id, (int64_t)variant, class_id);
}

int cur_store_balance_totals(cur_store *st, int64_t run_id, int64_t *kept, int64_t *dropped,
                             int64_t *planned) {
  int found;
  int rc = cur__query_i64(st, "SELECT count(*) FROM training_set WHERE run_id = ?1", kept, &found,
                          "i", run_id);
  if (rc == CUR_OK)
    rc = cur__query_i64(st, "SELECT coalesce(sum(before - kept), 0) FROM balance_classes "
                            "WHERE run_id = ?1", dropped, &found, "i", run_id);
  if (rc == CUR_OK) rc = cur_store_plan_size(st, run_id, planned);
  return rc;
}

int cur_store_plan_size(cur_store *st, int64_t plan_run_id, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(*) FROM (SELECT DISTINCT parent_id, variant "
                            "FROM augment_plan WHERE run_id = ?1)", n, &found, "i", plan_run_id);
}

int cur__variant_jobs(cur_store *st, sqlite3_stmt *s, const char *what,
                      int (*fn)(void *ctx, const cur_variant_job *job), void *ctx) {
  int rc = CUR_OK, step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    cur_variant_job job = {
        .parent_id = sqlite3_column_int64(s, 0), .variant = sqlite3_column_int(s, 1),
        .bytes = sqlite3_column_blob(s, 2), .len = (size_t)sqlite3_column_bytes(s, 2),
        .format = (const char *)sqlite3_column_text(s, 3),
        .source_path = (const char *)sqlite3_column_text(s, 4),
        .split = (const char *)sqlite3_column_text(s, 5),
        .group_key = (const char *)sqlite3_column_text(s, 6),
        .width = sqlite3_column_int(s, 7), .height = sqlite3_column_int(s, 8),
        .bands = sqlite3_column_int(s, 9)};
    if ((rc = fn(ctx, &job)) != CUR_OK) break;
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, what);
  sqlite3_reset(s);
  return rc;
}

/* GROUP BY walks the plan's primary key in order and stops at LIMIT; a
** SELECT DISTINCT subquery was materialised whole (every pair after AFTER)
** for each batch: 0.4 s a batch for 58,569 pairs at 10^6 images. */
int cur_store_plan_pending(cur_store *st, int64_t plan_run_id, int64_t run_id, cur_plan_pos after,
                           int limit, int (*fn)(void *ctx, const cur_variant_job *job), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT p.parent_id, p.variant, i.bytes, i.format, i.source_path, i.split, i.group_key, "
      "coalesce(i.width, 0), coalesce(i.height, 0), coalesce(i.bands, 0) "
      "FROM augment_plan p JOIN images i ON i.id = p.parent_id "
      "WHERE p.run_id = ?1 AND (p.parent_id > ?4 OR (p.parent_id = ?4 AND p.variant > ?5)) "
      "AND NOT EXISTS (SELECT 1 FROM augment_variants v WHERE v.run_id = ?2 "
      "                AND v.parent_id = p.parent_id AND v.variant = p.variant) "
      "GROUP BY p.parent_id, p.variant ORDER BY p.parent_id, p.variant LIMIT ?3");
  int rc = s ? cur__bind(st, s, "iiiii", plan_run_id, run_id, (int64_t)limit, after.parent_id,
                         (int64_t)after.variant) : CUR_EDB;
  return rc ? rc : cur__variant_jobs(st, s, "reading the augment plan", fn, ctx);
}

int cur_store_plan_at(cur_store *st, int64_t plan_run_id, int64_t rank, cur_plan_pos *pos, int *found) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT DISTINCT parent_id, variant FROM augment_plan WHERE run_id = ?1 "
                                  "ORDER BY parent_id, variant LIMIT 1 OFFSET ?2");
  int rc = s ? cur__bind(st, s, "ii", plan_run_id, rank) : CUR_EDB, step = SQLITE_DONE;
  *found = 0;
  if (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    *pos = (cur_plan_pos){sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1)};
    *found = 1;
  } else if (rc == CUR_OK && step != SQLITE_DONE) {
    rc = cur__db_error(st, "reading the augment plan");
  }
  if (s) sqlite3_reset(s);
  return rc;
}

int cur_store_variant_recorded(cur_store *st, int64_t run_id, int64_t parent_id, int variant, int *found) {
  int64_t n = 0;
  int rc = cur__query_i64(st, "SELECT count(*) FROM augment_variants WHERE run_id = ?1 AND parent_id = ?2 "
                              "AND variant = ?3", &n, found, "iii", run_id, parent_id, (int64_t)variant);
  *found = rc == CUR_OK && n > 0;
  return rc;
}

int cur_store_variant_add(cur_store *st, int64_t run_id, int64_t plan_run_id, int64_t parent_id,
                          int variant, int64_t image_id, const char *outcome, const char *reason) {
  return cur__exec(st,
                   "INSERT INTO augment_variants(run_id, plan_run_id, parent_id, variant, "
                   "image_id, outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                   "iiiiott", run_id, plan_run_id, parent_id, (int64_t)variant, image_id, outcome,
                   reason);
}

int cur_store_labels_inherit(cur_store *st, int64_t parent_id, int64_t image_id, int64_t run_id) {
  return cur__exec(st,
      "INSERT INTO labels(image_id, task_id, class_id, source, confidence, run_id) "
      "SELECT ?2, p.task_id, p.class_id, p.source, p.confidence, ?3 FROM current_labels p "
      "WHERE p.image_id = ?1 AND p.class_id IS NOT NULL "
      "AND EXISTS (SELECT 1 FROM images WHERE id = ?2 AND parent_id = ?1) "
      "AND NOT EXISTS (SELECT 1 FROM current_labels v WHERE v.image_id = ?2 "
      "                AND v.task_id = p.task_id AND v.class_id = p.class_id) "
      "ORDER BY p.task_id",
      "iii", parent_id, image_id, run_id);
}

int cur_store_variant_counts(cur_store *st, int64_t run_id,
                             void (*fn)(void *ctx, const char *outcome, int64_t n), void *ctx) {
  return cur__group_counts(st, "SELECT outcome, count(*) FROM augment_variants WHERE run_id = ?1 "
                               "GROUP BY outcome ORDER BY outcome", run_id, fn, ctx);
}
