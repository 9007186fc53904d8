/* store_uda.c -- UDA's variants of unlabelled rows and the (unlabelled original, augmented variant) pairs. */
#include "store_uda.h"

#include "curate.h"
#include "internal.h"

/* The unlabelled pile of task ?1: ok train originals without a person's
** label, box crops' scenes left out.  NOT IN, not a correlated NOT EXISTS,
** for the labels: SQLite then evaluates the current_labels view (a window
** over every label) once, not once per image (CIFAR-10, 4,500 pairs: 0.1 s
** instead of 69 s); the scene test is one lookup in images_crop_scene. */
#define UNLABELLED(p)                                                                   \
  p ".status = 'ok' AND " p ".split = 'train' AND " p ".parent_id IS NULL "           \
  "AND " p ".id NOT IN (SELECT cl.image_id FROM current_labels cl "                    \
  "                     WHERE cl.task_id = ?1 AND cl.source IN ('human', 'review')) "  \
  "AND NOT " CUR__CROP_SCENE(p) " "

int cur_store_uda_plan_size(cur_store *st, int64_t task_id, int per, int64_t *n) {
  int found;
  int rc = cur__query_i64(st, "SELECT count(*) FROM images p WHERE " UNLABELLED("p"), n, &found,
                          "i", task_id);
  if (rc == CUR_OK) *n *= per;
  return rc;
}

int cur_store_uda_pending(cur_store *st, int64_t task_id, int per, int64_t run_id, int limit,
                          int (*fn)(void *ctx, const cur_variant_job *job), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "WITH RECURSIVE k(n) AS (SELECT 1 WHERE ?2 >= 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?2) "
      "SELECT p.id, -k.n, p.bytes, p.format, p.source_path, p.split, p.group_key, "
      "coalesce(p.width, 0), coalesce(p.height, 0), coalesce(p.bands, 0) "
      "FROM images p JOIN k WHERE " UNLABELLED("p")
      "AND NOT EXISTS (SELECT 1 FROM augment_variants v WHERE v.run_id = ?3 "
      "                AND v.parent_id = p.id AND v.variant = -k.n) "
      "ORDER BY p.id, k.n LIMIT ?4");
  int rc = s ? cur__bind(st, s, "iiii", task_id, (int64_t)per, run_id, (int64_t)limit) : CUR_EDB;
  return rc ? rc : cur__variant_jobs(st, s, "reading the unlabelled rows", fn, ctx);
}

int cur_store_uda_pairs(cur_store *st, int64_t task_id, cur_uda_pair **pairs, size_t *n) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT p.id, i.id FROM augment_variants v "
      "JOIN images p ON p.id = v.parent_id JOIN images i ON i.id = v.image_id "
      "WHERE v.run_id = (SELECT max(id) FROM runs WHERE stage = 'augment' AND status = 'complete') "
      "  AND v.variant < 0 AND i.status = 'ok' AND " UNLABELLED("p")
      "ORDER BY i.id, p.id");
  size_t cap = 0, count = 0;
  cur_uda_pair *out = NULL;
  *pairs = NULL;
  *n = 0;
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", task_id), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    if (count == cap) {
      cur_uda_pair *grown = cur_reallocarray(out, cap = cap ? cap * 2 : 256, sizeof *out);
      if (!grown) { rc = CUR_ENOMEM; break; }
      out = grown;
    }
    out[count++] = (cur_uda_pair){sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)};
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading UDA pairs");
  sqlite3_reset(s);
  if (rc) {
    cur_free(out);
    return rc;
  }
  *pairs = out;
  *n = count;
  return CUR_OK;
}
