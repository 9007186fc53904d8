/* test_store.c -- the SQLite store (pipeline/store/, schema.sql).
**
** store-1.*: creation, schema version, refusing other versions.
** store-2.*: labels are history; current_labels precedence; class_balance.
** store-3.*: WAL: a reader sees committed batches while a writer holds a transaction.
** store-4.*: the writer lock excludes a second curate writer.
** store-5.*: the statement cache: keyed by text, never evicting a statement
**            in use, refusing to reset one its caller is still stepping.
*/
#include <sqlite3.h>

#include "store.h"
#include "store_images.h"
#include "store_labels.h"
#include "store_review.h"
#include "store_runs.h"
#include "internal.h"  /* the statement cache, cur__stmt */
#include "testlib.h"

static cur_store *fresh(const char *name) {
  char *path = test_scratch_path(name);
  cur_store *st = NULL;
  int created = 0;
  test_sh("rm -f '%s' '%s-wal' '%s-shm'", path, path, path);
  if (cur_store_init(path, &st, &created) != CUR_OK || !created) st = NULL;
  cur_free(path);
  return st;
}

static int64_t sql_int(const char *db_name, const char *sql) {
  char *path = test_scratch_path(db_name);
  sqlite3 *db;
  sqlite3_stmt *s;
  int64_t v = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  cur_free(path);
  return v;
}

/* Runs SQL on the database; returns sqlite3_exec's code and, when MESSAGE
** is not NULL, copies its error message there (empty on success). */
static int sql_exec_msg(const char *db_name, const char *sql, char *message, size_t size) {
  char *path = test_scratch_path(db_name), *err = NULL;
  sqlite3 *db;
  int rc = sqlite3_open(path, &db) == SQLITE_OK ? sqlite3_exec(db, sql, NULL, NULL, &err) : -1;
  if (message) snprintf(message, size, "%s", err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
  cur_free(path);
  return rc;
}

static int sql_exec(const char *db_name, const char *sql) {
  return sql_exec_msg(db_name, sql, NULL, 0);
}

TEST(init_creates_schema_in_wal_mode_with_version) {
  cur_store *st = fresh("a.db");
  REQUIRE(st);
  cur_store_close(st);
  CHECK_INT(sql_int("a.db", "PRAGMA user_version"), CUR_SCHEMA_VERSION);
  CHECK_INT(sql_int("a.db", "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
  CHECK_INT(sql_int("a.db", "SELECT count(*) FROM sqlite_schema WHERE name IN "
                            "('images','labels','current_labels','class_balance','runs','flags')"), 6);
  /* a second init keeps the database */
  char *path = test_scratch_path("a.db");
  int created = 1;
  CHECK_OK(cur_store_init(path, &st, &created));
  CHECK_INT(created, 0);
  cur_store_close(st);
  cur_free(path);
}

TEST(other_schema_version_is_refused_with_a_clear_message) {
  cur_store *st = fresh("old.db");
  REQUIRE(st);
  cur_store_close(st);
  REQUIRE(sql_exec("old.db", "PRAGMA user_version = 0") == SQLITE_OK);
  char *path = test_scratch_path("old.db");
  CHECK_INT(cur_store_open(path, &st), CUR_ESCHEMA);
  CHECK(strstr(cur_error(), "no curate schema version") != NULL);
  REQUIRE(sql_exec("old.db", "PRAGMA user_version = 99") == SQLITE_OK);
  CHECK_INT(cur_store_open(path, &st), CUR_ESCHEMA);
  CHECK(strstr(cur_error(), "version 99") != NULL);
  CHECK(strstr(cur_error(), "newer curate") != NULL);
  cur_free(path);
  path = test_scratch_path("missing.db");
  CHECK_INT(cur_store_open(path, &st), CUR_ESTATE);
  CHECK(strstr(cur_error(), "curate init") != NULL);
  cur_free(path);
}

/* What version 7 added, taken away again: a version 6 database. */
#define TO_VERSION_6 "DROP INDEX images_crop_scene; PRAGMA user_version = 6; "

/* What versions 5 to 7 added, taken away again: a version 4 database, with
** the version 4 current_labels (over labels, not standing_labels). */
static const char to_version_4[] =
    TO_VERSION_6 "DROP TABLE predictions; DROP VIEW current_labels; DROP VIEW standing_labels; "
    "DROP TABLE label_retractions; "
    "CREATE VIEW current_labels AS "
    "SELECT image_id, task_id, task, class_id, class, source, confidence, run_id, label_id FROM ("
    "  SELECT l.image_id, l.task_id, t.name AS task, l.class_id, c.name AS class, l.source, "
    "  l.confidence, l.run_id, l.id AS label_id, ROW_NUMBER() OVER (PARTITION BY l.image_id, "
    "  l.task_id ORDER BY CASE l.source WHEN 'review' THEN 0 WHEN 'human' THEN 1 "
    "  WHEN 'teacher' THEN 2 ELSE 3 END, l.id DESC) AS rank "
    "  FROM labels l JOIN tasks t ON t.id = l.task_id LEFT JOIN classes c ON c.id = l.class_id) "
    "WHERE rank = 1; PRAGMA user_version = 4;";

/* The objects version 5 has that a version 4 database has not. */
#define V5_OBJECTS "SELECT count(*) FROM sqlite_schema WHERE name IN ('predictions', " \
                   "'label_retractions', 'standing_labels', 'label_retractions_are_history')"

/* A version 3 database (the current schema without what versions 4 and 5
** added) is migrated on open, one version at a time: the audit tables and
** view exist, runs has its inputs column where a new database has it
** (last), the version 5 objects exist, the version is the current one, and
** the rows it held are kept. */
TEST(version_3_database_is_migrated_to_the_current_version_on_open) {
  cur_store *st = fresh("v3.db");
  REQUIRE(st);
  cur_store_close(st);
  REQUIRE(sql_exec("v3.db", to_version_4) == SQLITE_OK);
  REQUIRE(sql_exec("v3.db", "DROP VIEW duplicate_groups; DROP TABLE duplicate_members; "
                   "DROP TABLE duplicate_pairs; DROP TABLE image_stats; "
                   "ALTER TABLE runs DROP COLUMN inputs; "
                   "INSERT INTO tasks(name) VALUES ('kept'); PRAGMA user_version = 3") == SQLITE_OK);
  char *path = test_scratch_path("v3.db");
  REQUIRE_OK(cur_store_open(path, &st));
  cur_store_close(st);
  cur_free(path);
  CHECK_INT(sql_int("v3.db", "PRAGMA user_version"), CUR_SCHEMA_VERSION);
  CHECK_INT(sql_int("v3.db", "SELECT count(*) FROM sqlite_schema WHERE name IN "
                             "('image_stats', 'duplicate_pairs', 'duplicate_members', "
                             "'duplicate_groups', 'flagged', 'training_labels')"), 6);
  CHECK_INT(sql_int("v3.db", V5_OBJECTS), 4);
  CHECK_INT(sql_int("v3.db", "SELECT count(*) FROM tasks WHERE name = 'kept'"), 1);
  CHECK_INT(sql_int("v3.db", "SELECT cid FROM pragma_table_info('runs') WHERE name = 'inputs'"),
            sql_int("v3.db", "SELECT max(cid) FROM pragma_table_info('runs')"));
}

/* A version 4 database with a review label is migrated: the label is
** still current, and retracting it gives back the human label, so the
** migrated current_labels reads standing_labels. */
TEST(version_4_database_is_migrated_and_retractions_count) {
  cur_store *st = fresh("v4.db");
  REQUIRE(st);
  cur_store_close(st);
  REQUIRE(sql_exec("v4.db", to_version_4) == SQLITE_OK);
  REQUIRE(sql_exec("v4.db", "INSERT INTO runs(stage, status, config_hash, input_fingerprint, seed, "
                   "config) VALUES ('ingest', 'complete', 'h', 'f', 1, '{}'); "
                   "INSERT INTO images(sha256, bytes, byte_size, source_path, split, run_id) "
                   "VALUES ('ab', x'00', 1, 'a.png', 'train', 1); "
                   "INSERT INTO tasks(name) VALUES ('label'); "
                   "INSERT INTO classes(task_id, idx, name) VALUES (1, 0, 'cat'), (1, 1, 'dog'); "
                   "INSERT INTO labels(image_id, task_id, class_id, source, run_id) "
                   "VALUES (1, 1, 1, 'human', 1), (1, 1, 2, 'review', NULL)") == SQLITE_OK);
  CHECK_INT(sql_int("v4.db", V5_OBJECTS), 0);
  char *path = test_scratch_path("v4.db");
  REQUIRE_OK(cur_store_open(path, &st));
  cur_free(path);
  CHECK_INT(sql_int("v4.db", "PRAGMA user_version"), CUR_SCHEMA_VERSION);
  CHECK_INT(sql_int("v4.db", V5_OBJECTS), 4);
  CHECK_INT(sql_int("v4.db", "SELECT class_id FROM current_labels"), 2);
  int64_t label_id;
  int found;
  CHECK_OK(cur_store_review_retract(st, 1, 1, &label_id, &found));
  CHECK(found && label_id == 2);
  CHECK_INT(sql_int("v4.db", "SELECT class_id = 1 AND source = 'human' FROM current_labels"), 1);
  CHECK_INT(sql_int("v4.db", "SELECT count(*) FROM labels"), 2);
  cur_store_close(st);
}

/* A version 5 database, whose image_stats held one centre hash
** (phash_centre) and a row of it, is migrated on open: image_stats has the
** phash_views column instead and no rows (the next audit measures every
** image again), the version is the current one, and the rest is kept. */
TEST(version_5_database_drops_its_image_stats_on_open) {
  cur_store *st = fresh("v5.db");
  REQUIRE(st);
  cur_store_close(st);
  REQUIRE(sql_exec("v5.db",
                   TO_VERSION_6 "DROP TABLE image_stats; "
                   "CREATE TABLE image_stats(image_id INTEGER PRIMARY KEY, phash INTEGER NOT NULL, "
                   "phash_centre INTEGER NOT NULL, sharpness REAL NOT NULL, "
                   "sharpness_reblur REAL NOT NULL, bright_p01 REAL NOT NULL, "
                   "bright_p99 REAL NOT NULL, entropy REAL NOT NULL, colourfulness REAL NOT NULL, "
                   "run_id INTEGER NOT NULL); "
                   "INSERT INTO image_stats VALUES (1, 5, 6, 1, 1, 0, 255, 7, 20, 1); "
                   "INSERT INTO tasks(name) VALUES ('kept'); PRAGMA user_version = 5") == SQLITE_OK);
  char *path = test_scratch_path("v5.db");
  REQUIRE_OK(cur_store_open(path, &st));
  cur_store_close(st);
  cur_free(path);
  CHECK_INT(sql_int("v5.db", "PRAGMA user_version"), CUR_SCHEMA_VERSION);
  CHECK_INT(sql_int("v5.db", "SELECT count(*) FROM image_stats"), 0);
  CHECK_INT(sql_int("v5.db", "SELECT count(*) FROM pragma_table_info('image_stats') "
                             "WHERE name = 'phash_views'"), 1);
  CHECK_INT(sql_int("v5.db", "SELECT count(*) FROM pragma_table_info('image_stats') "
                             "WHERE name = 'phash_centre'"), 0);
  CHECK_INT(sql_int("v5.db", "SELECT count(*) FROM tasks WHERE name = 'kept'"), 1);
}

/* sqlite3_exec callback over EXPLAIN QUERY PLAN rows (id, parent, notused,
** detail): counts the steps that search images_crop_scene. */
static int plan_uses_scene_index(void *ctx, int n, char **v, char **names) {
  (void)names;
  if (n >= 4 && v[3] && strstr(v[3], "USING INDEX images_crop_scene")) (*(int *)ctx)++;
  return 0;
}

/* The same, counting the steps that run a subquery once per outer row. */
static int plan_is_correlated(void *ctx, int n, char **v, char **names) {
  (void)names;
  if (n >= 4 && v[3] && strstr(v[3], "CORRELATED")) (*(int *)ctx)++;
  return 0;
}

/* A version 6 database is migrated on open: the index of box crops' scenes
** exists, and the scene test's lookup (CUR__CROP_SCENE) goes through it
** rather than through every image. */
TEST(version_6_database_gets_the_crop_scene_index_on_open) {
  cur_store *st = fresh("v6.db");
  REQUIRE(st);
  cur_store_close(st);
  REQUIRE(sql_exec("v6.db", TO_VERSION_6) == SQLITE_OK);
  CHECK_INT(sql_int("v6.db", "SELECT count(*) FROM sqlite_schema WHERE name = 'images_crop_scene'"), 0);
  char *path = test_scratch_path("v6.db");
  REQUIRE_OK(cur_store_open(path, &st));
  cur_store_close(st);
  cur_free(path);
  CHECK_INT(sql_int("v6.db", "PRAGMA user_version"), CUR_SCHEMA_VERSION);
  CHECK_INT(sql_int("v6.db", "SELECT count(*) FROM sqlite_schema WHERE name = 'images_crop_scene'"), 1);
  int uses = 0;
  char *v6 = test_scratch_path("v6.db");
  sqlite3 *db;
  REQUIRE(sqlite3_open(v6, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "EXPLAIN QUERY PLAN SELECT 1 FROM images c WHERE c.parent_id IS NULL "
                         "AND c.transform IS NOT NULL AND json_extract(c.transform, '$.crop.parent') = 5",
                     plan_uses_scene_index, &uses, NULL) == SQLITE_OK);
  /* the scene test itself reads the list of scenes once, not per image,
  ** and from the index, not from every image */
  const char *scene_plan = "EXPLAIN QUERY PLAN SELECT count(*) FROM images i WHERE NOT " CUR__CROP_SCENE("i");
  int correlated = 0, scene_uses = 0;
  CHECK(sqlite3_exec(db, scene_plan, plan_is_correlated, &correlated, NULL) == SQLITE_OK);
  CHECK(sqlite3_exec(db, scene_plan, plan_uses_scene_index, &scene_uses, NULL) == SQLITE_OK);
  sqlite3_close(db);
  cur_free(v6);
  CHECK_INT(uses, 1);
  CHECK_INT(correlated, 0);
  CHECK_INT(scene_uses, 1);
}

/* One image with labels from several sources; returns its id. */
static int64_t image_with_labels(cur_store *st, int64_t *task, int64_t cls[3]) {
  int64_t run, img;
  cur_image_row row = {.sha256 = "00ff", .bytes = "x", .bytes_len = 1, .byte_size = 1, .source_path = "a.png",
                       .split = "train", .status = "ok"};
  if (cur_store_run_start(st, "ingest", "h", "f", "{}", 1, "{}", &run)) return 0;
  row.run_id = run;
  int added, again;
  int64_t same;
  if (cur_store_image_add(st, &row, &img, &added) || !added) return 0;
  /* the same content again: not added, and the stored row's id comes back */
  row.source_path = "copy.png";
  if (cur_store_image_add(st, &row, &same, &again) || again || same != img) return 0;
  if (cur_store_task_ensure(st, "label", task)) return 0;
  const char *names[3] = {"cat", "dog", "fox"};
  for (int i = 0; i < 3; i++)
    if (cur_store_class_add(st, *task, names[i], &cls[i])) return 0;
  if (cur_store_label_add(st, img, *task, cls[2], "zeroshot", 0.9, run) ||
      cur_store_label_add(st, img, *task, cls[0], "human", NAN, run) ||
      cur_store_label_add(st, img, *task, cls[1], "teacher", 0.99, run))
    return 0;
  return img;
}

TEST(current_label_follows_precedence_and_history_is_kept) {
  cur_store *st = fresh("labels.db");
  int64_t task, cls[3];
  REQUIRE(st);
  int64_t img = image_with_labels(st, &task, cls);
  REQUIRE(img > 0);
  /* human beats teacher and zeroshot although the teacher label is newer */
  CHECK_INT(sql_int("labels.db", "SELECT class_id FROM current_labels"), cls[0]);
  CHECK_OK(cur_store_label_add(st, img, task, cls[2], "review", NAN, 0));
  CHECK_INT(sql_int("labels.db", "SELECT class_id FROM current_labels"), cls[2]);
  CHECK_INT(sql_int("labels.db", "SELECT count(*) FROM current_labels"), 1);
  CHECK_INT(sql_int("labels.db", "SELECT count(*) FROM labels"), 4);
  /* the class indices are dense and in insertion order */
  CHECK_INT(sql_int("labels.db", "SELECT group_concat(idx, '') FROM classes"), 12);
  CHECK_INT(sql_int("labels.db", "SELECT images FROM class_balance WHERE class = 'fox'"), 1);
  /* rewriting history is refused by the trigger, by name, and changes nothing
  ** (not just any failure: a locked or missing database fails too) */
  char message[256];
  CHECK_INT(sql_exec_msg("labels.db", "UPDATE labels SET class_id = 1", message, sizeof message),
            SQLITE_CONSTRAINT);
  CHECK_STR(message, "labels are history: insert a new label instead");
  CHECK_INT(sql_int("labels.db", "SELECT count(*) FROM labels WHERE class_id = 1"), 1);
  CHECK_INT(sql_int("labels.db", "SELECT class_id FROM current_labels"), cls[2]);
  cur_store_close(st);
}

TEST(reader_sees_committed_batches_while_a_writer_holds_a_transaction) {
  cur_store *st = fresh("wal.db");
  int64_t task;
  REQUIRE(st);
  REQUIRE_OK(cur_store_task_ensure(st, "first", &task));
  REQUIRE_OK(cur_store_begin(st));
  REQUIRE_OK(cur_store_task_ensure(st, "uncommitted", &task));
  /* a reader connection neither blocks nor sees the open transaction */
  CHECK_INT(sql_int("wal.db", "SELECT count(*) FROM tasks"), 1);
  REQUIRE_OK(cur_store_commit(st));
  CHECK_INT(sql_int("wal.db", "SELECT count(*) FROM tasks"), 2);
  cur_store_close(st);
}

TEST(second_writer_is_refused_by_the_lock) {
  cur_store *a = fresh("lock.db"), *b = NULL;
  REQUIRE(a);
  REQUIRE_OK(cur_store_lock(a));
  char *path = test_scratch_path("lock.db");
  REQUIRE_OK(cur_store_open(path, &b));
  CHECK_INT(cur_store_lock(b), CUR_ESTATE);
  CHECK(strstr(cur_error(), "another curate process") != NULL);
  cur_store_close(a);
  CHECK_OK(cur_store_lock(b));  /* released with the first store */
  cur_store_close(b);
  cur_free(path);
}

/* The first column of the first row of cached statement S, stepped once (S stays open). */
static int64_t first_value(sqlite3_stmt *s) {
  return s && sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
}

TEST(statements_are_keyed_by_their_text_not_their_address) {
  cur_store *st = fresh("cache1.db");
  REQUIRE(st);
  char sql[64];  /* one buffer, two texts: each must get its own statement */
  snprintf(sql, sizeof sql, "SELECT %d", 11);
  sqlite3_stmt *a = cur__stmt(st, sql);
  CHECK_INT(first_value(a), 11);
  sqlite3_reset(a);
  snprintf(sql, sizeof sql, "SELECT %d", 22);
  CHECK_INT(first_value(cur__stmt(st, sql)), 22);
  /* the same text from another address is the same statement */
  char again[64];
  snprintf(again, sizeof again, "SELECT %d", 11);
  CHECK(cur__stmt(st, again) == a);
  cur_store_close(st);
}

TEST(a_statement_being_stepped_survives_hundreds_of_others) {
  cur_store *st = fresh("cache2.db");
  REQUIRE(st);
  sqlite3_stmt *outer = cur__stmt(st, "WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL "
                                      "SELECT value + 1 FROM n WHERE value < 3) SELECT value FROM n");
  REQUIRE(outer);
  CHECK_INT(first_value(outer), 1);
  /* 300 other texts, each at its own address: more than the fixed-size
  ** cache held, which then finalized the oldest statement, this one */
  char *texts[300];
  for (int i = 0; i < 300; i++) {
    texts[i] = cur_asprintf("SELECT %d", 1000 + i);
    sqlite3_stmt *s = texts[i] ? cur__stmt(st, texts[i]) : NULL;
    CHECK_INT(first_value(s), 1000 + i);
    if (s) sqlite3_reset(s);
  }
  CHECK_INT(first_value(outer), 2);  /* still where its caller left it */
  CHECK_INT(first_value(outer), 3);
  /* asking for it again while it is being stepped is refused, not reset */
  CHECK(cur__stmt(st, sqlite3_sql(outer)) == NULL);
  CHECK(strstr(cur_error(), "still being read by its caller") != NULL);
  CHECK_INT(first_value(outer), -1);  /* SQLITE_DONE: it ran to its end */
  cur_store_close(st);
  for (int i = 0; i < 300; i++) cur_free(texts[i]);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(init_creates_schema_in_wal_mode_with_version);
  RUN(other_schema_version_is_refused_with_a_clear_message);
  RUN(version_3_database_is_migrated_to_the_current_version_on_open);
  RUN(version_4_database_is_migrated_and_retractions_count);
  RUN(version_5_database_drops_its_image_stats_on_open);
  RUN(version_6_database_gets_the_crop_scene_index_on_open);
  RUN(current_label_follows_precedence_and_history_is_kept);
  RUN(reader_sees_committed_batches_while_a_writer_holds_a_transaction);
  RUN(second_writer_is_refused_by_the_lock);
  RUN(statements_are_keyed_by_their_text_not_their_address);
  RUN(a_statement_being_stepped_survives_hundreds_of_others);
  return test_finish();
}
