/* store_sources.c -- SQL for listing sources and for unregistering and purging one.
**
** A purge works on a temporary table of image ids: the images only the
** source holds, closed over derived images (parent_id), so that every
** DELETE names the same set and the foreign keys hold at each statement's
** end.  labels are history and only ever inserted, but deleting the rows
** of a purged image is allowed: the trigger guards updates only.
*/
#include "internal.h"
#include "store_sources.h"

int cur_store_source_list(cur_store *st, cJSON *arr) {
  sqlite3_stmt *s = cur__stmt(st,
      "SELECT s.id, s.kind, s.state, "
      "coalesce(sum(e.outcome = 'ingested'), 0) AS ingested, "
      "coalesce(sum(e.outcome = 'duplicate'), 0) AS duplicate, "
      "coalesce(sum(e.outcome = 'quarantined'), 0) AS quarantined, "
      "coalesce(sum(e.outcome = 'rejected'), 0) AS rejected, "
      "s.uri, s.state_reason AS reason "
      "FROM sources s LEFT JOIN source_entries e ON e.source_id = s.id GROUP BY s.id ORDER BY s.id");
  return s ? cur__rows_json(st, s, arr) : CUR_EDB;
}

/* Fills temp.purge_images with the images only source ID holds and every
** image derived from them. */
static int collect_purge(cur_store *st, int64_t id) {
  int rc = cur__exec(st, "CREATE TEMP TABLE IF NOT EXISTS purge_images(id INTEGER PRIMARY KEY)", "");
  if (rc == CUR_OK) rc = cur__exec(st, "DELETE FROM temp.purge_images", "");
  if (rc == CUR_OK)
    rc = cur__exec(st,
        "INSERT INTO temp.purge_images(id) "
        "WITH RECURSIVE doomed(id) AS ("
        " SELECT image_id FROM source_entries WHERE source_id = ?1 AND image_id IS NOT NULL"
        "  AND image_id NOT IN (SELECT image_id FROM source_entries"
        "                       WHERE source_id <> ?1 AND image_id IS NOT NULL)"
        " UNION SELECT i.id FROM images i JOIN doomed d ON i.parent_id = d.id) "
        "SELECT id FROM doomed",
        "i", id);
  return rc;
}

/* Deletes every row referring to the images in temp.purge_images but the
** source's own entries. */
static int delete_purged(cur_store *st) {
  static const char *const sql[] = {
      ("DELETE FROM label_retractions WHERE label_id IN (SELECT id FROM labels "
       "WHERE image_id IN (SELECT id FROM temp.purge_images))"),
      "DELETE FROM labels WHERE image_id IN (SELECT id FROM temp.purge_images)",
      "DELETE FROM predictions WHERE image_id IN (SELECT id FROM temp.purge_images)",
      "DELETE FROM flags WHERE image_id IN (SELECT id FROM temp.purge_images)",
      "DELETE FROM scores WHERE image_id IN (SELECT id FROM temp.purge_images)",
      "DELETE FROM embeddings WHERE image_id IN (SELECT id FROM temp.purge_images)",
      "DELETE FROM training_set WHERE image_id IN (SELECT id FROM temp.purge_images)",
      "DELETE FROM policy_rows WHERE image_id IN (SELECT id FROM temp.purge_images)",
      "DELETE FROM augment_plan WHERE parent_id IN (SELECT id FROM temp.purge_images)",
      /* one statement over two lines (parenthesised: clang reads adjacent
      ** literals in an array as a missing comma) */
      ("DELETE FROM augment_variants WHERE parent_id IN (SELECT id FROM temp.purge_images) "
       "OR image_id IN (SELECT id FROM temp.purge_images)"),
  };
  int rc = CUR_OK;
  for (size_t i = 0; rc == CUR_OK && i < CUR_ARRAY_LEN(sql); i++) rc = cur__exec(st, sql[i], "");
  return rc;
}

/* Credits the images source ID first produced (and that stay) to the
** lowest other source holding the same content, else to no source. */
static int rehome_images(cur_store *st, int64_t id) {
  int rc = cur__exec(st, "CREATE TEMP TABLE IF NOT EXISTS rehome(id INTEGER PRIMARY KEY, "
                         "source_id INTEGER, path TEXT)", "");
  if (rc == CUR_OK) rc = cur__exec(st, "DELETE FROM temp.rehome", "");
  if (rc == CUR_OK)
    rc = cur__exec(st,
        "INSERT OR IGNORE INTO temp.rehome(id, source_id, path) "
        "SELECT image_id, source_id, path FROM source_entries WHERE source_id <> ?1 "
        "AND image_id IN (SELECT id FROM images WHERE source_id = ?1) ORDER BY source_id, path",
        "i", id);
  if (rc == CUR_OK)
    rc = cur__exec(st, "UPDATE images SET source_id = r.source_id, source_path = r.path "
                       "FROM temp.rehome r WHERE r.id = images.id", "");
  if (rc == CUR_OK) rc = cur__exec(st, "UPDATE images SET source_id = NULL WHERE source_id = ?1", "i", id);
  return rc;
}

static int remove_source(cur_store *st, int64_t id, int purge, int force, int64_t *purged) {
  int64_t n = 0;
  int found, rc = cur__query_i64(st, "SELECT id FROM sources WHERE id = ?1", &n, &found, "i", id);
  if (rc == CUR_OK && !found)
    return cur_errorc(CUR_EINPUT, "no source %lld (`curate sources` lists them)", (long long)id);
  *purged = 0;
  if (rc == CUR_OK && purge && (rc = collect_purge(st, id)) == CUR_OK)
    rc = cur__query_i64(st, "SELECT count(DISTINCT image_id) FROM labels WHERE source = 'review' "
                            "AND image_id IN (SELECT id FROM temp.purge_images)", &n, &found, "");
  if (rc == CUR_OK && purge && n > 0 && !force)
    return cur_errorc(CUR_ESTATE, "source %lld: %lld of the images to purge carry review decisions; "
                      "add --force to delete them too", (long long)id, (long long)n);
  if (rc == CUR_OK && purge)
    rc = cur__query_i64(st, "SELECT count(*) FROM temp.purge_images", purged, &found, "");
  if (rc == CUR_OK && purge) rc = delete_purged(st);
  if (rc == CUR_OK) rc = cur__exec(st, "DELETE FROM source_entries WHERE source_id = ?1", "i", id);
  if (rc == CUR_OK && purge)
    rc = cur__exec(st, "DELETE FROM images WHERE id IN (SELECT id FROM temp.purge_images)", "");
  if (rc == CUR_OK) rc = rehome_images(st, id);
  if (rc == CUR_OK) rc = cur__exec(st, "DELETE FROM sources WHERE id = ?1", "i", id);
  return rc;
}

int cur_store_source_remove(cur_store *st, int64_t id, int purge, int force, int64_t *purged) {
  int rc = cur_store_begin(st);
  if (rc) return rc;
  if ((rc = remove_source(st, id, purge, force, purged)) == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}
