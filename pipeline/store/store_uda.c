/* store_uda.c -- the (unlabelled original, augmented variant) pairs UDA's consistency loss trains on. */
#include "store_uda.h"

#include "curate.h"
#include "internal.h"

int cur_store_uda_pairs(cur_store *st, int64_t task_id, cur_uda_pair **pairs, size_t *n) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT p.id, v.id FROM images v JOIN images p ON p.id = v.parent_id "
      "WHERE v.status = 'ok' AND p.status = 'ok' AND p.split = 'train' AND p.parent_id IS NULL "
      "  AND NOT EXISTS (SELECT 1 FROM current_labels cl WHERE cl.image_id = p.id "
      "                  AND cl.task_id = ?1 AND cl.source IN ('human', 'review')) "
      "ORDER BY v.id");
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
