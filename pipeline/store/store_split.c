/* store_split.c -- SQL for the split stage and `curate split`. */
#include "internal.h"
#include "store_split.h"

int cur_store_split_task(cur_store *st, const char *name, int64_t *task_id, int *found) {
  if (name && name[0])
    return cur__query_i64(st, "SELECT id FROM tasks WHERE name = ?1", task_id, found, "t", name);
  /* labels the data or a reviewer gave: teacher and zero-shot guesses do not
  ** decide where an image is evaluated */
  return cur__query_i64(st, "SELECT min(task_id) FROM labels WHERE source = 'human' OR "
                            "source = 'review' HAVING count(*) > 0", task_id, found, "");
}

int cur_store_split_rows(cur_store *st, int64_t task_id,
                         int (*fn)(void *ctx, const cur_split_row *row), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT i.id, coalesce(i.group_key, i.sha256), i.group_key IS NOT NULL, i.split, "
      "coalesce(i.split_source, 'provisional'), i.status = 'ok', "
      "(SELECT l.class_id FROM standing_labels l WHERE l.image_id = i.id AND l.task_id = ?1 AND "
      "(l.source = 'human' OR l.source = 'review') "
      "ORDER BY l.source = 'review' DESC, l.id DESC LIMIT 1) "
      "FROM images i WHERE i.parent_id IS NULL ORDER BY i.id");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", task_id), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    cur_split_row r = {.id = sqlite3_column_int64(s, 0),
                       .key = (const char *)sqlite3_column_text(s, 1),
                       .grouped = sqlite3_column_int(s, 2),
                       .split = (const char *)sqlite3_column_text(s, 3),
                       .source = (const char *)sqlite3_column_text(s, 4),
                       .ok = sqlite3_column_int(s, 5),
                       .class_id = sqlite3_column_int64(s, 6)};  /* NULL reads as 0 */
    if (!r.key || !r.split || !r.source) rc = cur_errorc(CUR_ENOMEM, "out of memory reading images");
    else rc = fn(ctx, &r);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading images for the split");
  sqlite3_reset(s);
  return rc;
}

int cur_store_split_set(cur_store *st, int64_t id, const char *split) {
  return cur__exec(st, "UPDATE images SET split = ?2, split_source = 'stratified' WHERE id = ?1",
                   "it", id, split);
}

int cur_store_split_follow_parents(cur_store *st) {
  return cur__exec(st,
                   "UPDATE images SET split = p.split FROM images p "
                   "WHERE images.parent_id = p.id AND images.split <> p.split", "");
}

int cur_store_split_unplaced(cur_store *st, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(*) FROM images WHERE parent_id IS NULL AND "
                            "split_source = 'provisional'", n, &found, "");
}

int cur_store_split_release(cur_store *st, int64_t *n) {
  int rc = cur__exec(st, "UPDATE images SET split_source = 'provisional' "
                         "WHERE split_source = 'stratified'", "");
  *n = rc == CUR_OK ? sqlite3_changes(st->db) : 0;
  return rc;
}

int cur_store_split_reviewed(cur_store *st, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(DISTINCT image_id) FROM standing_labels "
                            "WHERE source = 'review' AND run_id IS NULL", n, &found, "");
}

int cur_store_split_snapshot(cur_store *st) {
  int rc = cur__exec(st, "CREATE TEMP TABLE IF NOT EXISTS split_before("
                         "id INTEGER PRIMARY KEY, split TEXT NOT NULL)", "");
  if (rc == CUR_OK) rc = cur__exec(st, "DELETE FROM temp.split_before", "");
  if (rc == CUR_OK)
    rc = cur__exec(st, "INSERT INTO temp.split_before SELECT id, split FROM images "
                       "WHERE parent_id IS NULL", "");
  return rc;
}

int cur_store_split_moved(cur_store *st, int64_t *moved, int64_t *moved_reviewed) {
  int found;
  int rc = cur__query_i64(st, "SELECT count(*) FROM images i JOIN temp.split_before b "
                              "ON b.id = i.id WHERE b.split <> i.split", moved, &found, "");
  if (rc == CUR_OK)
    rc = cur__query_i64(st, "SELECT count(*) FROM images i JOIN temp.split_before b ON b.id = i.id "
                            "WHERE b.split <> i.split AND EXISTS (SELECT 1 FROM standing_labels l WHERE "
                            "l.image_id = i.id AND l.source = 'review' AND l.run_id IS NULL)",
                        moved_reviewed, &found, "");
  return rc;
}
