/* store_teacher.c -- SQL for the pseudolabel stage: images with trusted labels and embeddings. */
#include "internal.h"
#include "store_teacher.h"

int cur_store_teacher_rows(cur_store *st, int64_t task_id, const char *split, const char *model,
                           cur_teacher_fn fn, void *ctx) {
  /* training_labels already leaves out rows a pending flag holds back */
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT i.id, i.sha256, i.source_path, coalesce(tl.idx, -1), "
      "       NOT EXISTS (SELECT 1 FROM standing_labels l WHERE l.image_id = i.id AND l.task_id = ?1 "
      "                   AND l.source IN ('human', 'review')) AND NOT " CUR__CROP_SCENE("i") ", "
      "       e.dim, e.vector "
      "FROM images i "
      "LEFT JOIN (SELECT t.image_id, c.idx FROM training_labels t "
      "           JOIN classes c ON c.id = t.class_id "
      "           WHERE t.task_id = ?1 AND t.source IN ('human', 'review')) tl "
      "       ON tl.image_id = i.id "
      "LEFT JOIN embeddings e ON e.image_id = i.id AND e.model = ?3 "
      "WHERE i.split = ?2 AND i.status = 'ok' AND i.parent_id IS NULL "
      "ORDER BY i.id");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "itt", task_id, split, model), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    cur_teacher_row row = {
        .image_id = sqlite3_column_int64(s, 0),
        .sha256 = (const char *)sqlite3_column_text(s, 1),
        .source_path = (const char *)sqlite3_column_text(s, 2),
        .trusted = sqlite3_column_int(s, 3),
        .unlabelled = sqlite3_column_int(s, 4),
        .dim = sqlite3_column_int(s, 5),
        .vector = sqlite3_column_blob(s, 6),
    };
    if (!row.sha256 || !row.source_path) {
      rc = CUR_ENOMEM;
      break;
    }
    if (row.vector && sqlite3_column_bytes(s, 6) != 2 * row.dim) {
      rc = cur_errorc(CUR_EDB, "%s: embedding of image %lld under %s has %d bytes for %d values",
                      st->path, (long long)row.image_id, model, sqlite3_column_bytes(s, 6), row.dim);
      break;
    }
    rc = fn(ctx, &row);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading the teacher's rows");
  sqlite3_reset(s);
  return rc;
}
