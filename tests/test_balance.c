/* test_balance.c -- the balance stage through the `curate` command, on a
** small ImageFolder corpus the test builds: classes a (12 images), b (6), c (3).
**
** Each case builds its own corpus database (build_corpus).
**
** balance-1.*: with default options nothing is discarded: every labelled
**              training row is in training_rows and the classes below the
**              median get variants.  Target arithmetic for median, mean, max,
**              a number and ratio with undersample on, including a class too
**              small to reach its target (per-source cap).
** balance-2.*: which rows count: pending and dropped flags out, accepted in,
**              review relabels honoured; undersampling drops low AUM first.
** balance-3.*: bad options are config errors naming the option.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

static const char *db = "corpus.db";

static char *db_path(void) { return test_scratch_path(db); }

/* Rows of a query on the corpus, joined by newlines, without the last one. */
static char *q_text(const char *sql) {
  char *path = db_path();
  char *r = fx_sql(path, sql);
  cur_free(path);
  if (r && *r && r[strlen(r) - 1] == '\n') r[strlen(r) - 1] = 0;
  return r;
}

static void check_query(const char *sql, const char *want, int line) {
  char *got = q_text(sql);
  test_checks++;
  if (!got || strcmp(got, want) != 0)
    test_fail(__FILE__, line, "%s\n  gave \"%s\"\n  expected \"%s\"", sql, got ? got : "(error)", want);
  cur_free(got);
}
#define CHECK_QUERY(sql, want) check_query(sql, want, __LINE__)

/* Per class of the newest balance run: name before target kept variants after weight. */
#define CLASSES_SQL                                                                    \
  "SELECT c.name, b.before, b.target, b.kept, b.variants, b.after, printf('%.6f', b.weight) " \
  "FROM balance_classes b JOIN classes c ON c.id = b.class_id "                        \
  "WHERE b.run_id = (SELECT max(id) FROM runs WHERE stage = 'balance') ORDER BY c.name"

/* Builds a fresh corpus database: src/train/{a,b,c}/ with 12, 6 and 3 images. */
static int build_corpus(void) {
  static const char *const classes[] = {"a", "b", "c"};
  static const int counts[] = {12, 6, 3};
  int rc = test_sh("cd '%s' && rm -rf src %s*", T.scratch, db);
  rc |= fx_image_tree("src/train", classes, counts, 3, 24, 16, "jpeg", 1);
  rc |= fx_curate("init.log", "--db %s --config none.json init", db);
  rc |= fx_curate("ingest.log", "--db %s --config none.json ingest src", db);
  return rc;
}

/* Runs balance with BALANCE_JSON as the balance section; returns the exit code. */
static int run_balance(const char *balance_json, const char *log) {
  char *text = cur_asprintf("{\"balance\": %s}", balance_json);
  char *path = test_scratch_path("balance.json");
  int rc = text && path ? test_write_file(path, text, strlen(text)) : -1;
  if (rc == 0) rc = fx_curate(log, "--db %s --config balance.json run --stage balance --force", db);
  cur_free(text);
  cur_free(path);
  return rc;
}

TEST(defaults_keep_every_labelled_row_and_raise_small_classes) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(run_balance("{}", "default.log") == 0);
  REQUIRE(fx_curate("augment.log", "--db %s --config balance.json run --stage augment", db) == 0);
  /* oracle: the labelled ok training originals, counted by ingest's tables */
  CHECK_QUERY("SELECT count(*) FROM current_labels cl JOIN images i ON i.id = cl.image_id "
              "WHERE i.split = 'train' AND i.parent_id IS NULL AND cl.class_id IS NOT NULL", "21");
  CHECK_QUERY("SELECT count(*) FROM current_labels cl JOIN images i ON i.id = cl.image_id "
              "WHERE i.split = 'train' AND i.parent_id IS NULL AND cl.class_id IS NOT NULL "
              "AND NOT EXISTS (SELECT 1 FROM training_rows t WHERE t.image_id = cl.image_id "
              "AND t.task_id = cl.task_id AND t.derived = 0 AND t.class_id = cl.class_id)", "0");
  /* median 6: a keeps all 12 (nothing cut), c is raised to 6 with 3 variants;
  ** weights N / (K after) = 24 / (3 after) */
  CHECK_QUERY(CLASSES_SQL, "a|12|6|12|0|12|0.666667\nb|6|6|6|0|6|1.333333\nc|3|6|3|3|6|1.333333");
  CHECK_QUERY("SELECT count(*), sum(derived) FROM training_rows", "24|3");
  char *log = fx_read("default.log");
  CHECK(log && strstr(log, "target median, every row kept") != NULL);
  CHECK(log && strstr(log, "kept 21, dropped 0, variants_planned 3"));
  cur_free(log);
}

TEST(median_undersamples_large_and_plans_variants_for_small) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(run_balance("{\"target\": \"median\", \"undersample\": true}", "median.log") == 0);
  /* median of 3, 6, 12 is 6: a keeps 6, c gets 3 variants, one per image */
  CHECK_QUERY(CLASSES_SQL, "a|12|6|6|0|6|1.000000\nb|6|6|6|0|6|1.000000\nc|3|6|3|3|6|1.000000");
  CHECK_QUERY("SELECT count(*) FROM training_set", "15");
  CHECK_QUERY("SELECT count(DISTINCT parent_id) || ' ' || max(variant) FROM augment_plan", "3 0");
  char *log = fx_read("median.log");
  CHECK(log && strstr(log, "largest/smallest: 4.00 before, 1.00 after") != NULL);
  CHECK(log && strstr(log, "balance: complete") && strstr(log, "kept 15, dropped 6, variants_planned 3"));
  cur_free(log);
  /* --quiet drops the table */
  REQUIRE(fx_curate("quiet.log", "--quiet --db %s --config balance.json run --stage balance --force", db) == 0);
  log = fx_read("quiet.log");
  CHECK(log && strstr(log, "largest/smallest") == NULL);
  cur_free(log);
}

TEST(mean_max_number_and_ratio_targets) {
  REQUIRE(build_corpus() == 0);
  /* mean of 21 rows over 3 classes is 7; c's 4 variants go round-robin */
  REQUIRE(run_balance("{\"target\": \"mean\", \"undersample\": true}", "mean.log") == 0);
  CHECK_QUERY(CLASSES_SQL, "a|12|7|7|0|7|1.000000\nb|6|7|6|1|7|1.000000\nc|3|7|3|4|7|1.000000");
  CHECK_QUERY("SELECT group_concat(n, ',') FROM (SELECT count(*) AS n FROM augment_plan p "
              "JOIN classes c ON c.id = p.class_id WHERE c.name = 'c' AND p.run_id = "
              "(SELECT max(id) FROM runs WHERE stage = 'balance') GROUP BY parent_id ORDER BY n)",
              "1,1,2");
  /* max: nothing is dropped */
  REQUIRE(run_balance("{\"target\": \"max\"}", "max.log") == 0);
  CHECK_QUERY(CLASSES_SQL, "a|12|12|12|0|12|1.000000\nb|6|12|6|6|12|1.000000\nc|3|12|3|9|12|1.000000");
  /* 20 per class, at most 2 variants per image: b and c cannot reach it and
  ** their weights make up for it, N / (K after) = 47 / (3 after) */
  REQUIRE(run_balance("{\"target\": \"20\", \"max_variants_per_source\": 2}", "n.log") == 0);
  CHECK_QUERY(CLASSES_SQL, "a|12|20|12|8|20|0.783333\nb|6|20|6|12|18|0.870370\n"
                           "c|3|20|3|6|9|1.740741");
  CHECK_QUERY("SELECT max(variant) FROM augment_plan WHERE run_id = "
              "(SELECT max(id) FROM runs WHERE stage = 'balance')", "1");
  char *log = fx_read("n.log");
  CHECK(log && strstr(log, "largest/smallest: 4.00 before, 2.22 after") != NULL);
  cur_free(log);
  /* ratio 2: lo = ceil(sqrt(3 x 12 / 2)) = 5, hi = 10 */
  REQUIRE(run_balance("{\"target\": \"ratio\", \"max_ratio\": 2, \"undersample\": true}", "ratio.log") == 0);
  CHECK_QUERY(CLASSES_SQL, "a|12|10|10|0|10|0.700000\nb|6|6|6|0|6|1.166667\nc|3|5|3|2|5|1.400000");
  /* undersample only */
  REQUIRE(run_balance("{\"target\": \"median\", \"max_variants_per_source\": 0, \"undersample\": true}",
                      "zero.log") == 0);
  CHECK_QUERY(CLASSES_SQL, "a|12|6|6|0|6|0.833333\nb|6|6|6|0|6|0.833333\nc|3|6|3|0|3|1.666667");
  /* the training rows of the newest runs, through the view */
  CHECK_QUERY("SELECT count(*), sum(derived) FROM training_rows", "15|0");
}

TEST(flags_reviews_and_aum_decide_which_rows_count) {
  REQUIRE(build_corpus() == 0);
  /* b/00 pending flag: out; b/01 accepted: in; b/02 dropped: out;
  ** a/00 relabelled to c by a review (counts as c) */
  CHECK_INT(test_sh("cd '%s' && sqlite3 %s \"INSERT INTO flags(run_id, reason, image_id, task_id, "
                    "review_status) SELECT 1, 'aum', id, 1, CASE source_path WHEN 'train/b/00.jpg' "
                    "THEN 'pending' WHEN 'train/b/01.jpg' THEN 'accepted' ELSE 'dropped' END FROM "
                    "images WHERE source_path IN ('train/b/00.jpg', 'train/b/01.jpg', "
                    "'train/b/02.jpg'); INSERT INTO labels(image_id, task_id, class_id, source) "
                    "SELECT i.id, 1, c.id, 'review' FROM images i, classes c WHERE i.source_path = "
                    "'train/a/00.jpg' AND c.name = 'c'\"", T.scratch, db), 0);
  REQUIRE(run_balance("{\"target\": \"max\", \"max_variants_per_source\": 0}", "flags.log") == 0);
  CHECK_QUERY(CLASSES_SQL, "a|11|11|11|0|11|0.575758\nb|4|11|4|0|4|1.583333\nc|4|11|4|0|4|1.583333");
  CHECK_QUERY("SELECT group_concat(substr(i.source_path, 7), ' ') FROM training_set t JOIN images i "
              "ON i.id = t.image_id JOIN classes c ON c.id = t.class_id WHERE c.name <> 'a' "
              "AND t.run_id = (SELECT max(id) FROM runs WHERE stage = 'balance') ORDER BY i.id",
              "a/00.jpg b/01.jpg b/03.jpg b/04.jpg b/05.jpg c/00.jpg c/01.jpg c/02.jpg");
  /* AUM: class a keeps its highest scores (here -id: the lowest ids) */
  CHECK_INT(test_sh("cd '%s' && sqlite3 %s \"INSERT INTO scores SELECT 1, 'aum', image_id, 1, "
                    "-image_id, NULL FROM current_labels WHERE class = 'a'\"", T.scratch, db), 0);
  REQUIRE(run_balance("{\"target\": \"3\", \"undersample\": true}", "aum.log") == 0);
  CHECK_QUERY("SELECT group_concat(substr(i.source_path, 7), ' ') FROM training_set t JOIN images i "
              "ON i.id = t.image_id JOIN classes c ON c.id = t.class_id WHERE c.name = 'a' "
              "AND t.run_id = (SELECT max(id) FROM runs WHERE stage = 'balance') ORDER BY i.id",
              "a/01.jpg a/02.jpg a/03.jpg");
}

TEST(undersampling_without_scores_follows_the_seed) {
  REQUIRE(build_corpus() == 0);
  CHECK_QUERY("SELECT count(*) FROM scores", "0");  /* no AUM: the seed decides */
  REQUIRE(run_balance("{\"target\": \"2\", \"undersample\": true}", "s1.log") == 0);
  const char *kept = "SELECT group_concat(image_id, ',') FROM (SELECT image_id FROM training_set "
                     "WHERE run_id = (SELECT max(id) FROM runs WHERE stage = 'balance') "
                     "AND class_id = (SELECT id FROM classes WHERE name = 'a') ORDER BY image_id)";
  char *first = q_text(kept);
  REQUIRE(run_balance("{\"target\": \"2\", \"undersample\": true}", "s2.log") == 0);
  char *again = q_text(kept);
  CHECK_STR(again, first);
  REQUIRE(fx_curate("s3.log", "--seed 7 --db %s --config balance.json run --stage balance", db) == 0);
  char *other = q_text(kept);
  CHECK(first && other && strcmp(first, other) != 0);
  cur_free(first);
  cur_free(again);
  cur_free(other);
}

TEST(bad_options_name_the_option) {
  static const struct { const char *json, *message; } cases[] = {
      {"{\"target\": \"lots\"}", "balance.target: \"lots\" is not median, mean, max, ratio or a"},
      {"{\"target\": \"-5\"}", "balance.target: \"-5\" is not"},
      {"{\"max_ratio\": 0.5}", "balance.max_ratio: 0.5 is below 1"},
      {"{\"max_ratio\": 1e999}", "balance.max_ratio: inf is not a finite number"},
      {"{\"max_variants_per_source\": -1}", "balance.max_variants_per_source: must not be negative"},
      {"{\"split\": \"holdout\"}", "balance.split: \"holdout\" is not train, val or test"}};
  REQUIRE(build_corpus() == 0);
  for (size_t i = 0; i < CUR_ARRAY_LEN(cases); i++) {
    CHECK_INT(run_balance(cases[i].json, "bad.log"), 1);
    char *log = fx_read("bad.log");
    if (!log || !strstr(log, cases[i].message))
      test_fail(__FILE__, __LINE__, "%s: log lacks \"%s\":\n%s", cases[i].json, cases[i].message,
                log ? log : "(none)");
    cur_free(log);
  }
  REQUIRE(run_balance("{\"tasks\": [\"style\"]}", "task.log") == 1);
  char *log = fx_read("task.log");
  CHECK(log && strstr(log, "balance.tasks: no task named \"style\"") != NULL);
  cur_free(log);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(defaults_keep_every_labelled_row_and_raise_small_classes);
  RUN(median_undersamples_large_and_plans_variants_for_small);
  RUN(mean_max_number_and_ratio_targets);
  RUN(flags_reviews_and_aum_decide_which_rows_count);
  RUN(undersampling_without_scores_follows_the_seed);
  RUN(bad_options_name_the_option);
  return test_finish();
}
