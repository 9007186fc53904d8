/* test_export.c -- the export stage and `curate export`, on a corpus the test
** builds: train a (6 JPEGs), b (2 PNGs); test a (2), b (2).  Balanced to the
** largest class, so b gets 4 augmented variants.
**
** Each case builds its own corpus database (build_corpus, export_balanced).
**
** export-1.*: manifest round trip: every path exists with the sha256 it
**             claims, labels and weights match the database, flagged,
**             dropped and quarantined rows are left out, variants name
**             their parent.
** export-2.*: WebDataset shards are plain tars `tar` reads, one sample per
**             row, the JSON inside equal to the manifest line.
** export-3.*: exporting unchanged data again gives byte-identical files.
** export-4.*: without a balance run every labelled train row is in (weight 1);
**             bad options name the option.
** export-6.*: a training job can use the manifest as it is: metadata.json
**             lists each task's classes by index, rows carry their source
**             path and group, shards are shuffled (deterministically), and
**             an export from stale upstream runs is refused.
** export-5.*: image files are checked against their names: a corrupt file left
**             by an earlier export is written again; bytes that no longer match
**             their hash in the database are refused before any file lands.
*/
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "fixtures.h"
#include "sha256.h"
#include "testlib.h"

static const char *db = "corpus.db";

static long long q_int(const char *fmt, long long arg) {
  char sql[1024], *path = test_scratch_path(db);
  snprintf(sql, sizeof sql, fmt, arg);
  long long v = path ? fx_sql_int(path, sql) : -1;
  cur_free(path);
  return v;
}

/* A fresh corpus database: ingested, with one pending flag (train/a/00), one
** review that dropped a row (train/a/01) and one quarantined test image. */
static int build_corpus(void) {
  static const char *const classes[] = {"a", "b"};
  static const int train[] = {6, 2}, test[] = {2, 2};
  int rc = test_sh("cd '%s' && rm -rf src out out2 out6 out7 out8 %s*", T.scratch, db);
  rc |= fx_image_tree("src/train", classes, train, 2, 24, 16, "jpeg", 1);
  rc |= fx_image_tree("src/test", classes, test, 2, 24, 16, "png", 50);
  rc |= fx_curate("init.log", "--db %s --config none.json init", db);
  rc |= fx_curate("ingest.log", "--db %s --config none.json ingest src", db);
  rc |= test_sh("cd '%s' && sqlite3 %s \"INSERT INTO flags(run_id, reason, image_id, task_id) "
                "SELECT 1, 'aum', id, 1 FROM images WHERE source_path = 'train/a/00.jpg'; "
                "INSERT INTO labels(image_id, task_id, class_id, source) SELECT id, 1, NULL, "
                "'review' FROM images WHERE source_path = 'train/a/01.jpg'; UPDATE images SET "
                "status = 'quarantined' WHERE source_path = 'test/b/00.png'\"", T.scratch, db);
  return rc;
}

/* Checks one manifest line against the files and the database. */
static void check_row(const cJSON *row) {
  const cJSON *id = cJSON_GetObjectItem(row, "id"), *path = cJSON_GetObjectItem(row, "path");
  const cJSON *sha = cJSON_GetObjectItem(row, "sha256"), *parent = cJSON_GetObjectItem(row, "parent");
  const cJSON *label = cJSON_GetObjectItem(cJSON_GetObjectItem(row, "labels"), "label");
  REQUIRE(cJSON_IsNumber(id) && cJSON_IsString(path) && cJSON_IsString(sha) && label);
  char *rel = cur_asprintf("out/%s", path->valuestring), *full = test_scratch_path(rel);
  char *bytes = NULL, hex[65];
  size_t len;
  if (!full || cur_file_read(full, &bytes, &len) != CUR_OK)
    test_fail(__FILE__, __LINE__, "%s: missing", rel ? rel : "?");
  if (bytes) {
    cur_sha256_buf_hex(bytes, len, hex);
    CHECK_STR(hex, sha->valuestring);
  }
  long long image = (long long)id->valuedouble;
  CHECK_INT(q_int("SELECT c.idx FROM current_labels cl JOIN classes c ON c.id = cl.class_id "
                  "WHERE cl.task_id = 1 AND cl.image_id = %lld", image),
            (long long)JSON_NUM(label, "index"));
  CHECK_INT(q_int("SELECT count(*) FROM images WHERE status = 'ok' AND id = %lld AND parent_id "
                  "IS NOT NULL", image), cJSON_IsString(parent));
  CHECK_INT(q_int("SELECT count(*) FROM flags WHERE review_status = 'pending' AND image_id = %lld",
                  image), 0);
  cur_free(rel);
  cur_free(full);
  cur_free(bytes);
}

/* Calls check_row on every line of out/manifest.jsonl; returns the lines. */
static int check_manifest(void) {
  char *text = fx_read("out/manifest.jsonl");
  int n = 0;
  if (!text) return -1;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++) {
    cJSON *row = cJSON_Parse(line);
    if (!row) test_fail(__FILE__, __LINE__, "not JSON: %s", line);
    else check_row(row);
    cJSON_Delete(row);
  }
  cur_free(text);
  return n;
}

/* build_corpus, balanced to the largest class (max.json), augmented and
** exported to OUT in every format with shards of 3 rows; 0 on success. */
static int export_balanced(const char *out) {
  const char *cfg = "{\"balance\": {\"target\": \"max\"}}";
  char *p = test_scratch_path("max.json");
  int rc = build_corpus() || !p || test_write_file(p, cfg, strlen(cfg)) != 0;
  cur_free(p);
  rc = rc || fx_curate("bal.log", "--db %s --config max.json run --stage balance", db) ||
       fx_curate("aug.log", "--db %s --config max.json run --stage augment", db) ||
       fx_curate("exp.log", "--db %s --config max.json export --out %s --format jsonl "
                 "--format csv --format webdataset --shard-size 3", db, out);
  return rc;
}

TEST(manifest_round_trip_matches_files_and_database) {
  REQUIRE(export_balanced("out") == 0);
  /* train: a keeps 4 (a/00 pending, a/01 dropped), b 2 + 2 variants; test: 3 */
  CHECK_INT(check_manifest(), 11);
  CHECK_INT(q_int("SELECT count(*) FROM images WHERE parent_id IS NOT NULL AND %lld", 1), 2);
  char *csv = fx_read("out/manifest.csv");
  CHECK(csv && strncmp(csv, "id,path,split,sha256,parent,source_path,group,label,label_index,"
                            "label_source,label_confidence,label_weight\n", 105) == 0);
  cur_free(csv);
  /* one manifests row per file: jsonl, csv, train shards 3+3+2, test 3 */
  CHECK_INT(q_int("SELECT count(*) FROM manifests WHERE run_id = (SELECT max(id) FROM runs) "
                  "AND %lld", 1), 6);
  CHECK_INT(q_int("SELECT rows FROM manifests WHERE format = 'jsonl' AND %lld", 1), 11);
  char *meta = fx_read("out/metadata.json");
  cJSON *m = meta ? cJSON_Parse(meta) : NULL;
  const cJSON *cls = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
      cJSON_GetObjectItem(m, "tasks"), "label"), "classes"), "train");
  CHECK(cls && JSON_NUM(cls, "a") == 4 &&
        JSON_NUM(cls, "b") == 4);
  CHECK(m && JSON_NUM(JSON_GET(m, "runs"), "balance") > 0);
  cJSON_Delete(m);
  cur_free(meta);
}

TEST(webdataset_shards_are_readable_by_tar) {
  REQUIRE(export_balanced("out") == 0);
  CHECK_INT(test_sh("cd '%s/out/shards' && ls > ../../shards.txt", T.scratch), 0);
  char *list = fx_read("shards.txt");
  CHECK_STR(list, "test-000000.tar\ntrain-000000.tar\ntrain-000001.tar\ntrain-000002.tar\n");
  cur_free(list);
  /* three members per sample: image, json, label.cls */
  CHECK_INT(test_sh("cd '%s/out/shards' && test $(cat train-*.tar | tar tif - | wc -l) = 24",
                    T.scratch), 0);
  /* the JSON of the first test sample is its manifest line */
  CHECK_INT(test_sh("cd '%s/out' && n=$(tar tf shards/test-000000.tar | grep json | head -1) && "
                    "tar xOf shards/test-000000.tar $n > ../one.json && echo >> ../one.json && "
                    "grep -qxFf ../one.json manifest.jsonl", T.scratch), 0);
}

TEST(reexport_of_unchanged_data_is_byte_identical) {
  REQUIRE(export_balanced("out") == 0);
  CHECK_INT(test_sh("cd '%s' && cp -r out out2", T.scratch), 0);
  REQUIRE(fx_curate("exp2.log", "--db %s --config max.json export --out out --format jsonl "
                    "--format csv --format webdataset --shard-size 3", db) == 0);
  CHECK_INT(test_sh("cd '%s' && diff -r out out2", T.scratch), 0);
  /* fewer, larger shards: the stale ones go */
  REQUIRE(fx_curate("exp3.log", "--db %s --config max.json export --out out --format webdataset",
                    db) == 0);
  CHECK_INT(test_sh("cd '%s' && test \"$(ls out/shards)\" = \"$(printf 'test-000000.tar\\n"
                    "train-000000.tar')\"", T.scratch), 0);
}

TEST(without_balance_every_labelled_train_row_is_in_and_bad_options_are_named) {
  REQUIRE(build_corpus() == 0);
  const char *cfg = "{\"export\": {\"out\": \"out\"}}";
  char *p = test_scratch_path("out.json");
  REQUIRE(test_write_file(p, cfg, strlen(cfg)) == 0);
  cur_free(p);
  REQUIRE(fx_curate("exp.log", "--db %s --config out.json run --stage export", db) == 0);
  /* train: a 4 (flagged and dropped out), b 2; test 3 */
  CHECK_INT(check_manifest(), 9);
  CHECK_INT(test_sh("cd '%s' && grep -c '\"weight\":1}' out/manifest.jsonl | grep -qx 9", T.scratch), 0);
  CHECK_INT(fx_curate("bad.log", "--db %s --config none.json export --format xml", db), 1);
  char *log = fx_read("bad.log");
  CHECK(log && strstr(log, "export.formats: \"xml\" is not jsonl, csv or webdataset"));
  cur_free(log);
  CHECK_INT(fx_curate("bad2.log", "--db %s --config none.json export --task style", db), 1);
  log = fx_read("bad2.log");
  CHECK(log && strstr(log, "export.tasks: no task named \"style\""));
  cur_free(log);
}

TEST(image_files_are_checked_against_their_names) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(fx_curate("v1.log", "--db %s --config none.json export --out out --format jsonl", db) == 0);
  char *path = test_scratch_path(db);
  char *rel = fx_sql(path, "SELECT 'images/' || substr(sha256, 1, 2) || '/' || sha256 || '.jpg' "
                           "FROM images WHERE source_path = 'train/a/02.jpg'");
  REQUIRE(rel && strlen(rel) > 1);
  rel[strcspn(rel, "\n")] = 0;
  /* an earlier export's file, cut short: the next export restores it */
  REQUIRE(test_sh("cd '%s/out' && head -c 100 %s > cut && mv cut %s", T.scratch, rel, rel) == 0);
  CHECK_INT(fx_curate("v2.log", "--db %s --config none.json export --out out --format jsonl", db), 0);
  char *log = fx_read("v2.log");
  CHECK(log && strstr(log, rel) && strstr(log, "does not hold the bytes its name promises"));
  CHECK_INT(check_manifest(), 9);  /* train a 4 + b 2, test 3 */
  /* the database's bytes changed under their hash: refused, and no file written */
  REQUIRE(test_sh("cd '%s' && rm out/%s && sqlite3 %s \"UPDATE images SET bytes = X'FFD8FF00' "
                  "WHERE source_path = 'train/a/02.jpg'\"", T.scratch, rel, db) == 0);
  CHECK_INT(fx_curate("v3.log", "--db %s --config none.json export --out out --format jsonl", db), 1);
  char *log3 = fx_read("v3.log");
  CHECK(log3 && strstr(log3, "its bytes no longer match its sha256"));
  CHECK_INT(test_sh("cd '%s/out' && test ! -e %s && test ! -e %s.tmp", T.scratch, rel, rel), 0);
  cur_free(log);
  cur_free(log3);
  cur_free(rel);
  cur_free(path);
}

static char *q_text(const char *sql) {
  char *path = test_scratch_path(db), *r = path ? fx_sql(path, sql) : NULL;
  cur_free(path);
  if (r && *r && r[strlen(r) - 1] == '\n') r[strlen(r) - 1] = 0;
  return r;
}

/* The sha256 of every JSON member of the train shards, in shard order. */
static char *shard_order(const char *dir) {
  int rc = test_sh("cd '%s/%s/shards' && for f in train-*.tar; do tar tf $f; done | grep json "
                   "| sed 's/.json$//' | tr '\\n' ' ' > ../../order.txt", T.scratch, dir);
  return rc == 0 ? fx_read("order.txt") : NULL;
}

TEST(manifest_is_usable_as_it_is_and_never_stale) {
  REQUIRE(export_balanced("out6") == 0);
  char *p = test_scratch_path("max.json");
  /* class_names: the task's classes in index order, as the database has them */
  char *meta = fx_read("out6/metadata.json"), *want = q_text("SELECT group_concat(name, ',') "
                                                            "FROM (SELECT name FROM classes ORDER BY idx)");
  cJSON *m = meta ? cJSON_Parse(meta) : NULL;
  const cJSON *names = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "tasks"), "label"),
                                           "class_names");
  char got[256] = "";
  const cJSON *n;
  cJSON_ArrayForEach(n, names)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", got[0] ? "," : "", n->valuestring);
  CHECK_STR(got, want);
  /* each row carries the path it was read from and its group */
  char *text = fx_read("out6/manifest.jsonl");
  cJSON *row = text ? cJSON_Parse(strtok(text, "\n")) : NULL;
  const cJSON *id = cJSON_GetObjectItem(row, "id"), *src = cJSON_GetObjectItem(row, "source_path");
  REQUIRE(cJSON_IsNumber(id) && cJSON_IsString(src));
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT source_path FROM images WHERE id = %.0f", id->valuedouble);
  char *path = q_text(sql);
  CHECK_STR(src->valuestring, path);
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(row, "group")));  /* folders give no group */
  /* the train shards hold every train row once, not in id order, and the
  ** same order again for the same seed */
  char *order = shard_order("out6"), *ids = q_text(
      "SELECT group_concat(sha256, ' ') || ' ' FROM (SELECT sha256 FROM images i WHERE i.split = 'train' "
      "AND i.id IN (SELECT image_id FROM training_rows) ORDER BY i.id)");
  REQUIRE(order && ids);
  CHECK_INT(strlen(order), strlen(ids));
  CHECK(strcmp(order, ids) != 0);
  REQUIRE(fx_curate("m4.log", "--db %s --config max.json export --out out7 --format webdataset "
                    "--shard-size 3", db) == 0);
  char *again = shard_order("out7");
  CHECK_STR(again, order);
  /* balance's options change: its run is stale, and so would the manifest be */
  const char *median = "{\"balance\": {\"target\": \"median\"}}";
  REQUIRE(test_write_file(p, median, strlen(median)) == 0);
  CHECK_INT(fx_curate("m5.log", "--db %s --config max.json export --out out8", db), 1);
  char *log = fx_read("m5.log");
  CHECK(log && strstr(log, "export: the balance stage is pending since its last complete run"));
  cur_free(log); cur_free(again); cur_free(order); cur_free(ids); cur_free(path);
  cJSON_Delete(row); cur_free(text); cJSON_Delete(m); cur_free(meta); cur_free(want); cur_free(p);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(manifest_round_trip_matches_files_and_database);
  RUN(webdataset_shards_are_readable_by_tar);
  RUN(reexport_of_unchanged_data_is_byte_identical);
  RUN(without_balance_every_labelled_train_row_is_in_and_bad_options_are_named);
  RUN(image_files_are_checked_against_their_names);
  RUN(manifest_is_usable_as_it_is_and_never_stale);
  return test_finish();
}
