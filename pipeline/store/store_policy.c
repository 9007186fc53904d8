/* store_policy.c -- SQL for the policy stage's candidate rows, decisions and chosen rows. */
#include "internal.h"
#include "store_policy.h"

#include <string.h>

/* Labelled originals of the task, then the variants the newest balance and
** augment runs made; a variant's group is its parent's.  A row is flagged
** when a stage other than audit holds a pending flag on it (audit's flags
** are advice for review, as in training_labels). */
static const char policy_rows_sql[] =
    "WITH b AS (SELECT max(id) AS id FROM runs WHERE stage = 'balance' AND status = 'complete'), "
    "w AS (SELECT bc.class_id, bc.weight FROM balance_classes bc JOIN b ON bc.run_id = b.id "
    "      WHERE bc.task_id = ?1) "
    "SELECT i.id, 0, c.idx, i.split, CASE cl.source WHEN 'teacher' THEN 'p' ELSE 'h' END, "
    "       EXISTS (SELECT 1 FROM flagged f JOIN runs fr ON fr.id = f.run_id "
    "               WHERE f.image_id = i.id AND f.task_id = ?1 "
    "               AND f.review_status = 'pending' AND fr.stage <> 'audit'), "
    "       coalesce(w.weight, 1.0), coalesce(i.group_key, 'image:' || i.id) "
    "FROM current_labels cl JOIN images i ON i.id = cl.image_id "
    "JOIN classes c ON c.id = cl.class_id LEFT JOIN w ON w.class_id = cl.class_id "
    "WHERE cl.task_id = ?1 AND i.status = 'ok' AND i.parent_id IS NULL "
    "  AND i.split IN ('train', 'val') "
    "  AND cl.source IN ('human', 'review', 'teacher') "
    "UNION ALL "
    "SELECT tr.image_id, i.parent_id, c.idx, 'train', 'a', 0, tr.weight, "
    "       coalesce(p.group_key, 'image:' || p.id) "
    "FROM (SELECT task_id, image_id, max(class_id) AS class_id, max(weight) AS weight "
    "      FROM training_rows WHERE derived = 1 AND task_id = ?1 GROUP BY task_id, image_id) tr "
    "JOIN images i ON i.id = tr.image_id JOIN images p ON p.id = i.parent_id "
    "JOIN classes c ON c.id = tr.class_id WHERE i.status = 'ok' "
    "ORDER BY 1";

static uint64_t key_hash(const unsigned char *s) {
  uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a: only needs to spread groups over folds */
  for (; s && *s; s++) h = (h ^ *s) * 0x100000001b3ull;
  return h;
}

static char split_code(const unsigned char *split) {
  if (!split) return '?';
  return strcmp((const char *)split, "train") == 0 ? 't'
         : strcmp((const char *)split, "val") == 0 ? 'v' : 'e';
}

int cur_store_policy_rows(cur_store *st, int64_t task_id, cur_policy_row **rows, size_t *n) {
  sqlite3_stmt *s = cur__stmt(st, policy_rows_sql);
  cur_policy_row *out = NULL;
  size_t count = 0, cap = 0;
  int rc = s ? cur__bind(st, s, "i", task_id) : CUR_EDB, step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    if (count == cap) {
      cur_policy_row *grown = cur_reallocarray(out, cap = cap ? cap * 2 : 1024, sizeof *grown);
      if (!grown) { rc = CUR_ENOMEM; break; }
      out = grown;
    }
    const unsigned char *kind = sqlite3_column_text(s, 4);
    out[count++] = (cur_policy_row){
        .image_id = sqlite3_column_int64(s, 0),
        .parent_id = sqlite3_column_int64(s, 1),
        .class_idx = sqlite3_column_int(s, 2),
        .split = split_code(sqlite3_column_text(s, 3)),
        .kind = kind ? (char)kind[0] : 'h',
        .flagged = sqlite3_column_int(s, 5),
        .weight = sqlite3_column_double(s, 6),
        .group = key_hash(sqlite3_column_text(s, 7))};
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading the policy's rows");
  if (s) sqlite3_reset(s);
  if (rc) {
    cur_free(out);
    return rc;
  }
  *rows = out;
  *n = count;
  return CUR_OK;
}

int cur_store_policy_clear(cur_store *st, int64_t run_id) {
  int rc = cur__exec(st, "DELETE FROM policy_decisions WHERE run_id = ?1", "i", run_id);
  return rc ? rc : cur__exec(st, "DELETE FROM policy_rows WHERE run_id = ?1", "i", run_id);
}

int cur_store_policy_decision_put(cur_store *st, int64_t run_id, int64_t task_id, int step,
                                  const char *decision, int64_t rows, int64_t changed,
                                  double macro_f1, double before_f1, double low_delta, int kept,
                                  const char *method, const char *why) {
  return cur__exec(st,
                   "INSERT INTO policy_decisions(run_id, task_id, step, decision, rows, changed, "
                   "macro_f1, before_f1, low_delta, kept, method, why) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                   "iiitiieeeitt", run_id, task_id, (int64_t)step, decision, rows, changed, macro_f1,
                   before_f1, low_delta, (int64_t)kept, method, why);
}

int cur_store_policy_row_put(cur_store *st, int64_t run_id, int64_t task_id, int64_t image_id,
                             double weight) {
  return cur__exec(st, "INSERT INTO policy_rows(run_id, task_id, image_id, weight) "
                       "VALUES (?1, ?2, ?3, ?4)", "iiid", run_id, task_id, image_id, weight);
}

int cur_store_policy_verdict(cur_store *st, int64_t task_id, const char *decision, int *decided,
                             int *kept) {
  int64_t kept_rows = 0;
  int found = 0;
  *decided = *kept = 0;
  int rc = cur__query_i64(st,
      "SELECT coalesce(sum(d.decision = ?2 AND d.kept), 0) FROM policy_decisions d "
      "WHERE d.task_id = ?1 AND d.run_id = (SELECT max(id) FROM runs WHERE stage = 'policy' "
      "AND status = 'complete') HAVING count(*) > 0", &kept_rows, &found, "it", task_id, decision);
  *decided = found;
  *kept = found && kept_rows > 0;
  return rc;
}
