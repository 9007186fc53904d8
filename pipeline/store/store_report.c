/* store_report.c -- SQL for the closing report: counts before and after curation, the policy, the figures. */
#include "internal.h"
#include "store_report.h"


/* Per class of the task: the raw labels of train (human and review, as the
** raw-label baseline trains on), the curated training rows (the newest policy
** run's, variants included; without one, the rows training_labels keeps),
** and the labelled val and test originals. */
static const char classes_sql[] =
    "WITH t AS (SELECT id FROM tasks WHERE name = ?1), "
    "p AS (SELECT max(id) AS id FROM runs WHERE stage = 'policy' AND status = 'complete'), "
    "pr AS (SELECT pr.image_id FROM policy_rows pr JOIN p ON pr.run_id = p.id JOIN t ON pr.task_id = t.id), "
    "cur AS (SELECT cl.image_id, cl.class_id, cl.source, i.split, i.parent_id FROM current_labels cl "
    "        JOIN t ON cl.task_id = t.id JOIN images i ON i.id = cl.image_id "
    "        WHERE i.status = 'ok' AND cl.class_id IS NOT NULL) "
    "SELECT c.name AS class, "
    " (SELECT count(*) FROM cur WHERE cur.class_id = c.id AND split = 'train' AND parent_id IS NULL "
    "    AND source IN ('human', 'review')) AS raw_train, "
    " CASE WHEN EXISTS (SELECT 1 FROM pr) "
    "   THEN (SELECT count(*) FROM cur JOIN pr ON pr.image_id = cur.image_id WHERE cur.class_id = c.id) "
    "   ELSE (SELECT count(*) FROM training_labels tl JOIN t ON tl.task_id = t.id "
    "         JOIN images i ON i.id = tl.image_id WHERE tl.class_id = c.id AND i.split = 'train' "
    "         AND i.status = 'ok' AND i.parent_id IS NULL) END AS curated_train, "
    " (SELECT count(*) FROM cur WHERE cur.class_id = c.id AND split = 'val' AND parent_id IS NULL "
    "    AND source IN ('human', 'review')) AS val, "
    " (SELECT count(*) FROM cur WHERE cur.class_id = c.id AND split = 'test' AND parent_id IS NULL "
    "    AND source IN ('human', 'review')) AS test "
    "FROM classes c JOIN t ON c.task_id = t.id ORDER BY c.idx";

static const char flags_sql[] =
    "SELECT f.reason, r.stage, count(*) AS pending FROM flagged f JOIN runs r ON r.id = f.run_id "
    "WHERE f.task = ?1 AND f.review_status = 'pending' GROUP BY f.reason, r.stage "
    "ORDER BY f.reason";

static const char policy_sql[] =
    "SELECT d.decision, d.rows, d.changed, d.macro_f1, d.before_f1, d.kept, d.method, d.why "
    "FROM policy_decisions d JOIN tasks t ON t.id = d.task_id "
    "WHERE t.name = ?1 AND d.run_id = (SELECT max(id) FROM runs WHERE stage = 'policy' "
    "                                  AND status = 'complete') ORDER BY d.step";

static const char metrics_sql[] =
    "SELECT m.name, m.value FROM metrics m WHERE m.run_id = ?1 AND m.value IS NOT NULL "
    "AND m.name NOT LIKE 'precision/%' AND m.name NOT LIKE 'recall/%' "
    "AND m.name NOT LIKE 'f1/%' ORDER BY m.name";

/* Runs SQL with TEXT bound as ?1 into array KEY of OUT. */
static int rows_into(cur_store *st, const char *sql, const char *text, cJSON *out, const char *key) {
  sqlite3_stmt *s = cur__stmt(st, sql);
  cJSON *arr = cJSON_AddArrayToObject(out, key);
  if (!s) return CUR_EDB;
  if (!arr) return cur_errorc(CUR_ENOMEM, "out of memory");
  int rc = cur__bind(st, s, "t", text);
  return rc ? rc : cur__rows_json(st, s, arr);
}

/* The newest complete train run's figures, as an object name -> value. */
static int metrics_into(cur_store *st, cJSON *out) {
  int64_t run = 0;
  int found, rc = cur__query_i64(st, "SELECT max(id) FROM runs WHERE stage = 'train' AND status = 'complete'",
                                 &run, &found, "");
  if (rc || !found || run <= 0) return rc;
  sqlite3_stmt *s = cur__stmt(st, metrics_sql);
  cJSON *m = cJSON_AddObjectToObject(out, "metrics");
  if (!s) return CUR_EDB;
  if (!m || !cJSON_AddNumberToObject(out, "train_run", (double)run)) return cur_errorc(CUR_ENOMEM, "out of memory");
  rc = cur__bind(st, s, "i", run);
  int step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    if (!cJSON_AddNumberToObject(m, (const char *)sqlite3_column_text(s, 0), sqlite3_column_double(s, 1)))
      rc = cur_errorc(CUR_ENOMEM, "out of memory");
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading metrics");
  sqlite3_reset(s);
  return rc;
}

int cur_store_report(cur_store *st, const char *task, cJSON *out) {
  int64_t n = 0;
  int found, rc = rows_into(st, classes_sql, task, out, "classes");
  if (rc == CUR_OK) rc = rows_into(st, flags_sql, task, out, "flags");
  if (rc == CUR_OK) rc = rows_into(st, policy_sql, task, out, "policy");
  if (rc == CUR_OK)
    rc = cur__query_i64(st, "SELECT count(*) FROM current_labels cl JOIN images i ON i.id = cl.image_id "
                            "WHERE cl.task = ?1 AND cl.source = 'teacher' AND i.split = 'train'",
                        &n, &found, "t", task);
  if (rc == CUR_OK && !cJSON_AddNumberToObject(out, "pseudolabels", (double)n))
    rc = cur_errorc(CUR_ENOMEM, "out of memory");
  if (rc == CUR_OK) rc = metrics_into(st, out);
  if (rc == CUR_OK)
    rc = cur__query_i64(st, "SELECT m.rows FROM manifests m JOIN runs r ON r.id = m.run_id "
                            "WHERE r.stage = 'export' AND r.status = 'complete' AND m.format = 'jsonl' "
                            "ORDER BY m.run_id DESC LIMIT 1", &n, &found, "");
  if (rc == CUR_OK && found && !cJSON_AddNumberToObject(out, "manifest_rows", (double)n))
    rc = cur_errorc(CUR_ENOMEM, "out of memory");
  return rc;
}
