/* test_train.c -- the train stage through the `curate` command, on a corpus
** the test builds whose classes differ in brightness (fx_image_tree offsets
** each image's pixels by 7 x its seed): train a (8), b (8); test a (3), b (3).
**
** Each case builds its own database (build_corpus and the helpers after it).
**
** train-1.*: on grey images of known brightness (one test image of a as
**            bright as b's), the confusion matrix, accuracy, per-class
**            precision/recall/F1 and macro-F1 equal hand-computed values;
**            the raw-label baseline equals them; the table prints.
**            The predictions table holds each test image's class per head:
**            the off-diagonal one is the bright a image.
** train-2.*: same seed, same metrics and predictions; rows without an
**            embedding get one.
** train-3.*: train.command runs on the newest JSONL manifest with its
**            environment, its exit status and output become metrics; a
**            failing command fails the stage; no manifest, a clear error.
** train-4.*: `curate compare` prints two train runs' metrics and B - A (also as JSON);
**            an unknown run or one without metrics is an error.
*/
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

static const char *db = "corpus.db";

static char *q_text(const char *sql) {
  char *path = test_scratch_path(db);
  char *r = path ? fx_sql(path, sql) : NULL;
  cur_free(path);
  return r;
}

static double q_num(const char *sql) {
  char *r = q_text(sql);
  double v = r ? atof(r) : NAN;
  cur_free(r);
  return v;
}

/* Writes the config NAME: the corpus's embed options and TRAIN's options. */
static int write_config(const char *name, const char *train) {
  char *p = test_scratch_path(name);
  char *cfg = cur_asprintf("{\"embed\": {\"features\": \"pixels\", \"size\": 8}, \"train\": %s}", train);
  int rc = p && cfg ? test_write_file(p, cfg, strlen(cfg)) : -1;
  cur_free(cfg);
  cur_free(p);
  return rc;
}

static int build_corpus(void) {
  static const char *const both[] = {"a", "b"}, *const a[] = {"a"}, *const b[] = {"b"};
  static const int eight[] = {8, 8}, three[] = {3};
  int rc = test_sh("cd '%s' && rm -rf src exp %s*", T.scratch, db);
  rc |= write_config("t.json", "{\"epochs\": 40}");
  rc |= fx_image_tree("src/train", both, eight, 2, 16, 16, "png", 1);
  rc |= fx_image_tree("src/test", a, three, 1, 20, 20, "png", 2);
  rc |= fx_image_tree("src/test", b, three, 1, 20, 20, "png", 11);
  rc |= fx_curate("init.log", "--db %s --config t.json init", db);
  rc |= fx_curate("ingest.log", "--db %s --config t.json ingest src", db);
  rc |= fx_curate("embed.log", "--db %s --config t.json run --stage embed", db);
  return rc;
}

/* Writes a 16 x 16 grey PPM at scratch/REL, every pixel VALUE. */
static int grey_ppm(const char *rel, int value) {
  unsigned char ppm[16 + 16 * 16 * 3];
  int head = snprintf((char *)ppm, 16, "P6\n16 16\n255\n");
  memset(ppm + head, value, 16 * 16 * 3);
  char *p = test_scratch_path(rel);
  int rc = p ? test_write_file(p, ppm, (size_t)head + 16 * 16 * 3) : -1;
  cur_free(p);
  return rc;
}

/* Known truth: train a is 8 dark greys, b 8 bright; test a is two dark
** images and one bright one (which any head that learned brightness calls
** b), test b three bright ones.  No two images alike (ingest would drop a
** train copy of a test image).  Trained and scored. */
static int build_known_corpus(void) {
  static const int test_a[] = {45, 57, 190}, test_b[] = {180, 185, 195};
  int rc = test_sh("cd '%s' && rm -rf src exp %s*", T.scratch, db);
  rc |= write_config("t.json", "{\"epochs\": 40}");
  char rel[64];
  for (int i = 0; i < 8; i++) {
    snprintf(rel, sizeof rel, "src/train/a/%02d.ppm", i);
    rc |= grey_ppm(rel, 30 + 4 * i);
    snprintf(rel, sizeof rel, "src/train/b/%02d.ppm", i);
    rc |= grey_ppm(rel, 220 - 4 * i);
  }
  for (int i = 0; i < 3; i++) {
    snprintf(rel, sizeof rel, "src/test/a/%02d.ppm", i);
    rc |= grey_ppm(rel, test_a[i]);
    snprintf(rel, sizeof rel, "src/test/b/%02d.ppm", i);
    rc |= grey_ppm(rel, test_b[i]);
  }
  rc |= fx_curate("init.log", "--db %s --config t.json init", db);
  rc |= fx_curate("ingest.log", "--db %s --config t.json ingest src", db);
  rc |= fx_curate("embed.log", "--db %s --config t.json run --stage embed", db);
  return rc || fx_curate("known.log", "--db %s --config t.json run --stage train", db);
}

/* The value of metric NAME of the newest train run, checked against WANT. */
static void check_metric(const char *name, double want, int line) {
  char *sql = cur_asprintf("SELECT value FROM metrics WHERE name = '%s' AND run_id = "
                           "(SELECT max(id) FROM runs WHERE stage = 'train')", name);
  double got = sql ? q_num(sql) : NAN;
  test_checks++;
  /* ratios of counts up to 6, stored as doubles: 1e-12 is rounding room */
  if (!(fabs(got - want) <= 1e-12)) test_fail(__FILE__, line, "%s == %.12g, expected %.12g", name, got, want);
  cur_free(sql);
}
#define CHECK_METRIC(name, want) check_metric(name, want, __LINE__)

TEST(metrics_match_a_hand_computed_confusion_on_known_data) {
  REQUIRE(build_known_corpus() == 0);
  /* truth a: 2 called a, 1 called b; truth b: 3 called b.  By hand:
  ** precision a 2/2, recall a 2/3, F1 a 2 x 1 x 2/3 / (5/3) = 0.8;
  ** precision b 3/4, recall b 1, F1 b 2 x 3/4 / (7/4) = 6/7 */
  char *text = q_text("SELECT text FROM metrics WHERE name = 'confusion'");
  CHECK_STR(text, "{\"classes\":[\"a\",\"b\"],\"matrix\":[[2,1],[0,3]]}\n");
  CHECK_METRIC("accuracy", 5.0 / 6);
  CHECK_METRIC("precision/a", 1.0);
  CHECK_METRIC("recall/a", 2.0 / 3);
  CHECK_METRIC("f1/a", 0.8);
  CHECK_METRIC("precision/b", 0.75);
  CHECK_METRIC("recall/b", 1.0);
  CHECK_METRIC("f1/b", 6.0 / 7);
  CHECK_METRIC("macro_f1", (0.8 + 6.0 / 7) / 2);
  /* 9 for the curated head, 3 for the raw-label baseline; no val split, so no val/ ones */
  CHECK_NEAR(q_num("SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.stage = 'train'"), 12, 0);
  /* nothing was curated: the baseline trains on the same rows with the same
  ** seed, so it must score exactly as the curated head does */
  CHECK_METRIC("raw/accuracy", 5.0 / 6);
  char *raw = q_text("SELECT text FROM metrics WHERE name = 'raw/confusion'");
  CHECK_STR(raw, text);
  cur_free(raw);
  /* the predictions behind the matrix: the one a image as bright as b's
  ** (test/a/02.ppm, 190) is the off-diagonal cell, under both heads; a
  ** 2-class argmax has probability at least 1/2 */
  char *wrong = q_text("SELECT group_concat(p.head || ' ' || i.source_path || ' ' || tc.name || "
                       "'>' || pc.name, ', ') FROM predictions p JOIN images i ON i.id = p.image_id "
                       "JOIN classes tc ON tc.id = p.true_class_id JOIN classes pc ON "
                       "pc.id = p.predicted_class_id WHERE p.true_class_id <> p.predicted_class_id");
  CHECK(wrong && strstr(wrong, "curated ") && strstr(wrong, "raw ") &&
        strstr(wrong, "test/a/02.ppm a>b") && strlen(wrong) < 2 * strlen("curated test/a/02.ppm a>b, ") + 8);
  cur_free(wrong);
  CHECK_NEAR(q_num("SELECT count(*) FROM predictions WHERE split = 'test' AND head = 'curated'"), 6, 0);
  CHECK_NEAR(q_num("SELECT count(*) FROM predictions WHERE split = 'test' AND head = 'raw'"), 6, 0);
  CHECK_NEAR(q_num("SELECT count(*) FROM predictions WHERE confidence < 0.5 OR confidence > 1"), 0, 0);
  char *log = fx_read("known.log");
  CHECK(log && strstr(log, "precision") && strstr(log, "macro-F1") &&
        strstr(log, "train_rows 16, raw_rows 16, val_rows 0, test_rows 6"));
  cur_free(log);
  cur_free(text);
}

/* build_corpus and one train run. */
static int build_trained_corpus(void) {
  return build_corpus() || fx_curate("train.log", "--db %s --config t.json run --stage train", db);
}

/* build_trained_corpus and an export to exp/, for train.command. */
static int build_exported_corpus(void) {
  return build_trained_corpus() || fx_curate("export.log", "--db %s --config t.json export --out exp", db);
}

TEST(same_seed_same_metrics_and_missing_embeddings_are_named) {
  REQUIRE(build_trained_corpus() == 0);
  char *first = q_text("SELECT group_concat(m, ' ') FROM (SELECT name || '=' || coalesce(value, text) "
                       "AS m FROM metrics WHERE run_id = (SELECT max(id) FROM runs WHERE stage = 'train') "
                       "ORDER BY name)");
  REQUIRE(fx_curate("again.log", "--db %s --config t.json run --stage train --force", db) == 0);
  char *again = q_text("SELECT group_concat(m, ' ') FROM (SELECT name || '=' || coalesce(value, text) "
                       "AS m FROM metrics WHERE run_id = (SELECT max(id) FROM runs) ORDER BY name)");
  CHECK_STR(again, first);
  /* and the same per-image predictions, to the bit of their probability */
  const char *preds = "SELECT group_concat(p, ' ') FROM (SELECT head || image_id || split || "
                      "predicted_class_id || ':' || printf('%%.17g', confidence) AS p FROM "
                      "predictions WHERE run_id = (SELECT max(id) FROM runs WHERE stage = 'train' "
                      "AND id < %s) ORDER BY head, image_id)";
  char *sql = cur_asprintf(preds, "(SELECT max(id) FROM runs)"), *sql2 = cur_asprintf(preds, "1e9");
  char *p1 = sql ? q_text(sql) : NULL, *p2 = sql2 ? q_text(sql2) : NULL;
  CHECK(p1 && p2 && strlen(p1) > 20);
  CHECK_STR(p2, p1);
  cur_free(sql);
  cur_free(sql2);
  cur_free(p1);
  cur_free(p2);
  /* rows without an embedding (as augmented variants are) get one from the
  ** embed run's options, under the train run's id, and the metrics stay */
  CHECK_INT(test_sh("cd '%s' && sqlite3 %s \"DELETE FROM embeddings WHERE image_id IN (1, 2)\"",
                    T.scratch, db), 0);
  CHECK_INT(fx_curate("fill.log", "--db %s --config t.json run --stage train --force", db), 0);
  char *log = fx_read("fill.log");
  CHECK(log && strstr(log, "train: 2 rows have no embedding yet; embedding them"));
  cur_free(log);
  char *filled = q_text("SELECT count(*) FROM embeddings WHERE run_id = (SELECT max(id) FROM runs)");
  CHECK_STR(filled, "2\n");
  cur_free(filled);
  cur_free(again);
  again = q_text("SELECT group_concat(m, ' ') FROM (SELECT name || '=' || coalesce(value, text) "
                 "AS m FROM metrics WHERE run_id = (SELECT max(id) FROM runs) ORDER BY name)");
  CHECK_STR(again, first);
  cur_free(first);
  cur_free(again);
}

/* Checks that LOG (scratch-relative) holds TEXT. */
static void check_log(const char *log, const char *text) {
  char *got = fx_read(log);
  if (!got || !strstr(got, text)) test_fail(__FILE__, __LINE__, "%s lacks \"%s\":\n%s", log, text, got ? got : "(none)");
  cur_free(got);
}

TEST(train_command_without_a_manifest_is_an_error) {
  REQUIRE(build_trained_corpus() == 0);
  REQUIRE(write_config("cmd.json", "{\"epochs\": 40, \"command\": \"true\"}") == 0);
  CHECK_INT(fx_curate("nomanifest.log", "--db %s --config cmd.json run --stage train", db), 1);
  check_log("nomanifest.log", "train.command needs a manifest: run the export stage first");
  /* looked up first: nothing was trained or recorded */
  CHECK_NEAR(q_num("SELECT count(*) FROM metrics WHERE run_id = (SELECT max(id) FROM runs)"), 0, 0);
}

/* The brief's probe, plus {manifest} (quoted) and the other two variables. */
TEST(train_command_sees_the_manifest_and_its_result_is_recorded) {
  REQUIRE(build_exported_corpus() == 0);
  REQUIRE(write_config("cmd.json", "{\"epochs\": 40, \"command\": "
      "\"sh -c 'test -f \\\"$CURATE_MANIFEST\\\" && echo rows $(wc -l < \\\"$CURATE_MANIFEST\\\")' && "
      "test {manifest} = \\\"$CURATE_MANIFEST\\\" && test -f \\\"$CURATE_DB\\\" && "
      "echo run $CURATE_RUN_ID >&2\"}") == 0);
  REQUIRE(fx_curate("cmd.log", "--db %s --config cmd.json run --stage train", db) == 0);
  char *run = q_text("SELECT max(id) FROM runs WHERE stage = 'train'");
  char *want = run ? cur_asprintf("rows 22\nrun %s\n", run) : NULL;
  char *output = q_text("SELECT text FROM metrics WHERE name = 'command_output' AND run_id = "
                        "(SELECT max(id) FROM runs)");
  /* 16 training rows and 6 test rows; stderr is captured with stdout (the
  ** last newline is q_text's) */
  CHECK_STR(output, want);
  CHECK_NEAR(q_num("SELECT value FROM metrics WHERE name = 'command_exit' AND run_id = "
                   "(SELECT max(id) FROM runs)"), 0, 0);
  /* the built-in metrics are still there: the command runs in addition */
  CHECK_NEAR(q_num("SELECT count(*) FROM metrics WHERE run_id = (SELECT max(id) FROM runs)"), 14, 0);
  check_log("cmd.log", "rows 22");
  check_log("cmd.log", "train: train.command exited with status 0");
  cur_free(output);
  cur_free(want);
  cur_free(run);
}

TEST(a_failing_train_command_fails_the_stage_with_its_status) {
  REQUIRE(build_exported_corpus() == 0);
  REQUIRE(write_config("fail.json", "{\"epochs\": 40, \"command\": \"echo giving up; exit 7\"}") == 0);
  CHECK_INT(fx_curate("fail.log", "--db %s --config fail.json run --stage train", db), 1);
  check_log("fail.log", "train.command exited with status 7");
  check_log("fail.log", "giving up");
  char *status = q_text("SELECT status FROM runs WHERE id = (SELECT max(id) FROM runs)");
  CHECK_STR(status, "failed\n");
  CHECK_NEAR(q_num("SELECT value FROM metrics WHERE name = 'command_exit' AND run_id = "
                   "(SELECT max(id) FROM runs)"), 7, 0);
  char *output = q_text("SELECT text FROM metrics WHERE name = 'command_output' AND run_id = "
                        "(SELECT max(id) FROM runs)");
  CHECK_STR(output, "giving up\n\n");  /* the echo's newline and q_text's */
  cur_free(output);
  cur_free(status);
}

/* The bytes `seq FROM 20000` prints. */
static long seq_bytes(int from) {
  long n = 0;
  char line[16];
  for (int i = from; i <= 20000; i++) n += snprintf(line, sizeof line, "%d\n", i);
  return n;
}

TEST(a_long_output_keeps_its_last_64_kib_from_a_line_start) {
  REQUIRE(build_exported_corpus() == 0);
  REQUIRE(write_config("long.json", "{\"epochs\": 40, \"command\": \"seq 1 20000\"}") == 0);
  REQUIRE(fx_curate("long.log", "--db %s --config long.json --quiet run --stage train", db) == 0);
  char *output = q_text("SELECT text FROM metrics WHERE name = 'command_output' AND run_id = "
                        "(SELECT max(id) FROM runs)");
  unsigned long cut = 0;
  int first = 0;
  REQUIRE(output && sscanf(output, "[... %lu bytes of output before this ...]\n%d", &cut, &first) == 2);
  /* what is kept: whole lines, from FIRST to the end, as many as fit in 64 KiB */
  long kept = (long)strlen(strchr(output, '\n') + 1) - 1;  /* - q_text's newline */
  CHECK_INT(kept, seq_bytes(first));
  CHECK(kept <= 64 * 1024 && seq_bytes(first - 1) > 64 * 1024);
  CHECK_INT((long)cut, seq_bytes(1) - kept);
  cur_free(output);
}

/* The line of METRIC in a compare table, e.g. "accuracy  0.8333  1.0000  +0.1667". */
static char *table_line(const char *out, const char *metric) {
  char *at = strstr(out, metric), *end = at ? strchr(at, '\n') : NULL;
  return end && (at == out || at[-1] == '\n') ? cur_strndup(at, (size_t)(end - at)) : NULL;
}

TEST(compare_prints_two_runs_and_the_difference) {
  /* A: the first train run; then a run with a train.command (for a metric
  ** only one run has); B: after 6 of the 8 training images of a were
  ** relabelled b (noisy labels), which costs accuracy */
  REQUIRE(build_exported_corpus() == 0);
  REQUIRE(write_config("cmd.json", "{\"epochs\": 40, \"command\": \"true\"}") == 0);
  REQUIRE(fx_curate("cmd.log", "--db %s --config cmd.json run --stage train", db) == 0);
  REQUIRE(test_sh("cd '%s' && for id in $(sqlite3 %s \"SELECT i.id FROM images i JOIN current_labels "
                  "c ON c.image_id = i.id WHERE i.split = 'train' AND c.class = 'a' ORDER BY i.id "
                  "LIMIT 6\"); do '%s' --db %s review relabel $id b >> relabel.log 2>&1 || exit 1; done",
                  T.scratch, db, T.curate, db) == 0);
  REQUIRE(fx_curate("noisy.log", "--db %s --config t.json run --stage train", db) == 0);
  char *a = q_text("SELECT min(id) FROM runs WHERE stage = 'train' AND status = 'complete'");
  char *b = q_text("SELECT max(id) FROM runs WHERE stage = 'train' AND status = 'complete'");
  REQUIRE(a && b);
  a[strcspn(a, "\n")] = b[strcspn(b, "\n")] = 0;
  REQUIRE(fx_curate("compare.out", "--db %s compare %s %s", db, a, b) == 0);
  char *out = fx_read("compare.out");
  REQUIRE(out);
  static const char *const names[] = {"accuracy", "macro_f1", "precision/a", "recall/b", "f1/a"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(names); i++) {
    char *sql_a = cur_asprintf("SELECT value FROM metrics WHERE run_id = %s AND name = '%s'", a, names[i]);
    char *sql_b = cur_asprintf("SELECT value FROM metrics WHERE run_id = %s AND name = '%s'", b, names[i]);
    double va = q_num(sql_a), vb = q_num(sql_b);
    char *line = table_line(out, names[i]);
    char name[64], ca[32], cb[32], cd[32];
    REQUIRE(line && sscanf(line, "%63s %31s %31s %31s", name, ca, cb, cd) == 4);
    /* printed with 4 decimals: half a unit of the last place */
    CHECK_NEAR(atof(ca), va, 0.5e-4);
    CHECK_NEAR(atof(cb), vb, 0.5e-4);
    CHECK_NEAR(atof(cd), vb - va, 0.5e-4);
    CHECK(cd[0] == '+' || cd[0] == '-');
    cur_free(line);
    cur_free(sql_a);
    cur_free(sql_b);
  }
  /* the noisy labels cost accuracy, and the table says by how much */
  char *acc = table_line(out, "accuracy");
  CHECK(acc && atof(strrchr(acc, ' ') + 1) < 0);
  cur_free(acc);
  CHECK(strstr(out, "confusion, run ") != NULL);
  /* a metric only one run has: "-" for the other and for the difference */
  char *cmd = q_text("SELECT run_id FROM metrics WHERE name = 'command_exit' AND value = 0");
  REQUIRE(cmd);
  cmd[strcspn(cmd, "\n")] = 0;
  REQUIRE(fx_curate("cmd.out", "--db %s compare %s %s", db, a, cmd) == 0);
  char *cmd_out = fx_read("cmd.out"), *exit_line = cmd_out ? table_line(cmd_out, "command_exit") : NULL;
  char *note = cur_asprintf("command_output of run %s: text in the metrics table", cmd);
  CHECK(exit_line && strstr(exit_line, " - ") && strstr(exit_line, "0.0000") && exit_line[strlen(exit_line) - 1] == '-');
  CHECK(cmd_out && note && strstr(cmd_out, note));
  cur_free(note);
  cur_free(exit_line);
  cur_free(cmd_out);
  cur_free(cmd);
  /* `last` is the newest complete train run */
  REQUIRE(fx_curate("last.out", "--db %s compare %s last", db, a) == 0);
  char *last = fx_read("last.out");
  CHECK_STR(last, out);
  cur_free(last);
  /* --json: the same values, unrounded, and the confusion matrices parsed */
  REQUIRE(fx_curate("json.out", "--db %s compare %s %s --json", db, a, b) == 0);
  char *json_text = fx_read("json.out");
  cJSON *json = json_text ? cJSON_Parse(json_text) : NULL, *m;
  REQUIRE(json);
  CHECK_INT(JSON_AT_NUM(JSON_GET(json, "runs"), 1), atoll(b));
  int seen = 0;
  cJSON_ArrayForEach(m, cJSON_GetObjectItem(json, "metrics")) {
    if (strcmp(JSON_STR(m, "name"), "accuracy") != 0) continue;
    char *sql = cur_asprintf("SELECT value FROM metrics WHERE run_id = %s AND name = 'accuracy'", b);
    CHECK_NEAR(JSON_NUM(m, "b"), q_num(sql), 1e-12);
    CHECK(JSON_NUM(m, "diff") < 0);
    cur_free(sql);
    seen++;
  }
  CHECK_INT(seen, 1);
  CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(json,
            "confusion"), 0), "matrix")), 2);
  cJSON_Delete(json);
  cur_free(json_text);
  cur_free(out);
  cur_free(a);
  cur_free(b);
}

TEST(compare_names_an_unknown_run_and_a_run_without_metrics) {
  REQUIRE(build_trained_corpus() == 0);
  CHECK_INT(fx_curate("unknown.log", "--db %s compare last 9999", db), 1);
  check_log("unknown.log", "compare: no run 9999");
  /* run 1 is the ingest run: no metrics */
  CHECK_INT(fx_curate("nometrics.log", "--db %s compare 1 last", db), 1);
  check_log("nometrics.log", "compare: run 1 has no metrics");
  CHECK_INT(fx_curate("usage.log", "--db %s compare 1", db), 2);
  CHECK_INT(fx_curate("usage2.log", "--db %s compare one two", db), 2);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(metrics_match_a_hand_computed_confusion_on_known_data);
  RUN(same_seed_same_metrics_and_missing_embeddings_are_named);
  RUN(train_command_without_a_manifest_is_an_error);
  RUN(train_command_sees_the_manifest_and_its_result_is_recorded);
  RUN(a_failing_train_command_fails_the_stage_with_its_status);
  RUN(a_long_output_keeps_its_last_64_kib_from_a_line_start);
  RUN(compare_prints_two_runs_and_the_difference);
  RUN(compare_names_an_unknown_run_and_a_run_without_metrics);
  return test_finish();
}
