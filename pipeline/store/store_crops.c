/* store_crops.c -- SQL for ingest's box crops: the parent image's row; which images are scenes. */
#include <string.h>

#include "internal.h"
#include "store_crops.h"

int cur_store_crop_parent(cur_store *st, int64_t id, cur_crop_parent *out, int *found) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT sha256, coalesce(width, 0), coalesce(height, 0), "
                                   "status = 'ok', split, split_source, group_key "
                                   "FROM images WHERE id = ?1");
  if (!s) return CUR_EDB;
  memset(out, 0, sizeof *out);
  int rc = cur__bind(st, s, "i", id), step = SQLITE_DONE;
  *found = 0;
  if (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    *found = 1;
    out->sha256 = cur__column_dup(s, 0, &rc);
    out->width = sqlite3_column_int(s, 1);
    out->height = sqlite3_column_int(s, 2);
    out->ok = sqlite3_column_int(s, 3);
    out->split = cur__column_dup(s, 4, &rc);
    out->split_source = cur__column_dup(s, 5, &rc);
    out->group_key = cur__column_dup(s, 6, &rc);
    step = sqlite3_step(s);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading an image to crop");
  sqlite3_reset(s);
  if (rc) cur_store_crop_parent_clear(out);
  return rc;
}

void cur_store_crop_parent_clear(cur_crop_parent *p) {
  cur_free(p->sha256);
  cur_free(p->split);
  cur_free(p->split_source);
  cur_free(p->group_key);
  memset(p, 0, sizeof *p);
}

int cur_store_crop_group(cur_store *st, int64_t id, const char *key) {
  return cur__exec(st, "UPDATE images SET group_key = ?2 WHERE id = ?1 AND group_key IS NULL",
                   "it", id, key);
}

int cur_store_image_is_scene(cur_store *st, int64_t id, int *scene) {
  int found;
  int64_t v = 0;
  int rc = cur__query_i64(st, "SELECT " CUR__CROP_SCENE("i") " FROM images i WHERE i.id = ?1", &v,
                          &found, "i", id);
  *scene = rc == CUR_OK && found && v;
  return rc;
}
