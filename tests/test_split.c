/* test_split.c -- the split stage and `curate split`, on generated images
** with known class counts and groups.
**
** split-1.*: iterative stratification itself (cur_stratify), without a database.
** split-2.*: through `curate ingest`: classes near their targets, groups whole,
**            the same seed gives the same split, pinned splits kept.
** split-3.*: a later ingest moves nothing; `curate split` re-splits, refused
**            when reviews exist unless --force; status warns about small classes.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "stratify.h"
#include "testlib.h"

/* Classes a..f with these many labelled rows, plus unlabelled ones. */
static const char *const class_names[] = {"a", "b", "c", "d", "e", "f"};
static const int class_rows[] = {10, 12, 25, 40, 80, 160};
#define N_CLASSES 6
#define N_UNLABELLED 20
/* Groups hold 1, 2, 3, 1, 2, 3, ... consecutive rows, so some mix classes. */
#define MAX_GROUP 3

/* Tolerance of a class's val or test rows around 10% of its rows: a greedy
** placement of whole groups can miss a target by the rows of one group, plus
** one for rounding the target. */
#define GROUP_TOLERANCE (MAX_GROUP + 1)

/* split-1.1: 10,000 single-row groups of 20 classes (7 .. 1,300 rows each):
** every class gets round(share * rows) in each split, off by at most one. */
TEST(single_rows_land_on_every_class_target) {
  enum { G = 10000, C = 20 };
  cur_strat_group *groups = cur_calloc(G, sizeof *groups);
  cur_strat_entry *entries = cur_calloc(G, sizeof *entries);
  int64_t rows[C] = {0}, got[3][C] = {{0}};
  REQUIRE(groups && entries);
  for (int g = 0, c = 0; g < G; g++) {
    /* class c takes a share that grows with c: 7 rows for class 0 */
    while (c < C - 1 && rows[c] >= 7 + (int64_t)c * c * 7) c++;
    rows[c]++;
    entries[g] = (cur_strat_entry){.cls = c, .count = 1};
    groups[g] = (cur_strat_group){.split = -1, .tie = (double)((g * 7919) % G) / G, .size = 1,
                                  .first = g, .n = 1};
  }
  const double frac[3] = {0.8, 0.1, 0.1};
  REQUIRE_OK(cur_stratify(groups, G, entries, C, frac));
  for (int g = 0; g < G; g++) {
    REQUIRE(groups[g].split >= 0 && groups[g].split < 3);
    got[groups[g].split][entries[g].cls]++;
  }
  for (int c = 0; c < C; c++)
    for (int s = 0; s < 3; s++)
      CHECK_NEAR((double)got[s][c], frac[s] * (double)rows[c], 1.0);
  cur_free(groups);
  cur_free(entries);
}

/* split-1.2: groups placed beforehand count toward the targets: with class
** 0's test share already over-filled, no more of it goes to test, and train
** and val share the shortfall in proportion to their targets (the distance is
** measured relative to each split's target). */
TEST(placed_groups_count_toward_the_targets) {
  cur_strat_group groups[101];
  cur_strat_entry entries[101];
  for (int g = 0; g < 101; g++) {
    entries[g] = (cur_strat_entry){.cls = 0, .count = g == 0 ? 30 : 1};
    groups[g] = (cur_strat_group){.split = g == 0 ? 2 : -1, .tie = (double)g / 101,
                                  .size = entries[g].count, .first = g, .n = 1};
  }
  const double frac[3] = {0.8, 0.1, 0.1};
  REQUIRE_OK(cur_stratify(groups, 101, entries, 1, frac));
  int per[3] = {0, 0, 0};
  for (int g = 1; g < 101; g++) per[groups[g].split]++;
  /* 130 rows: targets 104 / 13 / 13, test holds 30 already; the other 100
  ** rows go 104:13 to train and val */
  CHECK_INT(per[2], 0);
  CHECK_NEAR(per[1], 100.0 * 13 / 117, 1);
  CHECK_NEAR(per[0], 100.0 * 104 / 117, 1);
}

/* Writes scratch/DIR/img/NNNN.png and scratch/DIR/labels.csv
** (path,label,group,split) for the classes above plus unlabelled rows,
** group ids prefixed with GROUP_PREFIX, image patterns from FIRST_SEED.
** PIN, when not NULL, pins class e's first 16 rows to that split. */
static int write_dataset(const char *dir, const char *group_prefix, unsigned first_seed,
                         const char *pin) {
  char rel[256];
  snprintf(rel, sizeof rel, "%s/labels.csv", dir);
  char *csv_path = test_scratch_path(rel);
  FILE *csv = csv_path ? fopen(csv_path, "w") : NULL;
  int rc = csv ? 0 : -1, row = 0, group = 0, left_in_group = 1;
  if (csv) fprintf(csv, "path,label,group,split\n");
  for (int c = 0; rc == 0 && c <= N_CLASSES; c++) {
    int n = c < N_CLASSES ? class_rows[c] : N_UNLABELLED;
    for (int i = 0; rc == 0 && i < n; i++, row++) {
      if (--left_in_group == 0) left_in_group = (++group % MAX_GROUP) + 1;
      snprintf(rel, sizeof rel, "%s/img/%04d.png", dir, row);
      char *path = test_scratch_path(rel);
      rc = path ? fx_image_file(path, 8, 8, first_seed + (unsigned)row, "png") : -1;
      cur_free(path);
      int pinned = pin && c == 4 && i < 16;
      fprintf(csv, "img/%04d.png,%s,%s%d,%s\n", row, c < N_CLASSES ? class_names[c] : "",
              group_prefix, group, pinned ? pin : "");
    }
  }
  if (csv && fclose(csv) != 0) rc = -1;
  cur_free(csv_path);
  return rc;
}

/* Rows of CLASS ('' for all) in SPLIT. */
static long long rows_in(const char *db, const char *cls, const char *split) {
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM images i LEFT JOIN current_labels c "
           "ON c.image_id = i.id WHERE i.split = '%s' AND ('%s' = '' OR c.class = '%s')",
           split, cls, cls);
  return fx_sql_int(db, sql);
}

/* Every class near 10% in val and in test (it has >= 10 rows), no group
** across two splits, nothing left provisional. */
static void check_stratified(const char *db) {
  for (int c = 0; c < N_CLASSES; c++) {
    long long val = rows_in(db, class_names[c], "val"), test = rows_in(db, class_names[c], "test");
    if (fabs((double)val - 0.1 * class_rows[c]) > GROUP_TOLERANCE || val < 1 ||
        fabs((double)test - 0.1 * class_rows[c]) > GROUP_TOLERANCE || test < 1)
      test_fail(__FILE__, __LINE__, "class %s (%d rows): %lld val, %lld test; want %.1f +- %d, >= 1",
                class_names[c], class_rows[c], val, test, 0.1 * class_rows[c], GROUP_TOLERANCE);
  }
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM (SELECT group_key FROM images "
                           "GROUP BY group_key HAVING count(DISTINCT split) > 1)"), 0);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images WHERE split_source = 'provisional'"), 0);
}

/* A fresh database NAME.db with CONFIG as its curate.json, ingesting DIRS. */
static int ingest_into(const char *name, const char *config, const char *dir, const char *extra) {
  char rel[128];
  snprintf(rel, sizeof rel, "%s.json", name);
  char *cfg = test_scratch_path(rel);
  int rc = cfg && test_write_file(cfg, config, strlen(config)) == 0 ? 0 : -1;
  cur_free(cfg);
  if (rc == 0) rc = test_sh("rm -f '%s/%s.db'*", T.scratch, name);
  if (rc == 0) rc = fx_curate("init.log", "--db %s.db --config %s.json init", name, name);
  if (rc == 0)
    rc = fx_curate("ingest.log", "--db %s.db --config %s.json ingest %s --labels %s/labels.csv %s",
                   name, name, dir, dir, extra);
  return rc;
}

static char *path_of(const char *name) {
  char rel[128];
  snprintf(rel, sizeof rel, "%s.db", name);
  return test_scratch_path(rel);
}

/* split-2.1 */
TEST(classes_land_near_their_targets_and_groups_stay_whole) {
  REQUIRE(write_dataset("g1", "p", 1, NULL) == 0);
  REQUIRE(ingest_into("s1", "{\"seed\": 3}", "g1", "") == 0);
  char *db = path_of("s1");
  check_stratified(db);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images WHERE split_source = 'stratified'"),
            327 + N_UNLABELLED);
  /* unlabelled rows are split too, by count */
  long long unlabelled_val = fx_sql_int(db, "SELECT count(*) FROM images i WHERE split = 'val' AND "
                                            "NOT EXISTS (SELECT 1 FROM labels l WHERE l.image_id = i.id)");
  CHECK(unlabelled_val >= 1 && unlabelled_val <= 2 + MAX_GROUP);
  cur_free(db);
}

/* split-2.2 */
TEST(same_seed_same_split_another_seed_another) {
  REQUIRE(write_dataset("g1", "p", 1, NULL) == 0);  /* its own copy of the first case's data */
  const char *q = "SELECT group_concat(source_path || split, ',') FROM (SELECT * FROM images ORDER BY id)";
  REQUIRE(ingest_into("s2a", "{\"seed\": 3}", "g1", "") == 0);
  REQUIRE(ingest_into("s2b", "{\"seed\": 3}", "g1", "") == 0);
  REQUIRE(ingest_into("s2c", "{\"seed\": 4}", "g1", "") == 0);
  char *a = path_of("s2a"), *b = path_of("s2b"), *c = path_of("s2c");
  char *sa = fx_sql(a, q), *sb = fx_sql(b, q), *sc = fx_sql(c, q);
  REQUIRE(sa && sb && sc);
  CHECK_STR(sa, sb);
  CHECK(strcmp(sa, sc) != 0);
  check_stratified(c);
  cur_free(sa);
  cur_free(sb);
  cur_free(sc);
  cur_free(a);
  cur_free(b);
  cur_free(c);
}

/* split-2.3: class e's first 16 rows pinned to test: kept, and counted, so
** test gets no more than one group's worth of e beyond them. */
TEST(pinned_splits_are_kept_and_counted) {
  REQUIRE(write_dataset("g3", "p", 1, "test") == 0);
  REQUIRE(ingest_into("s3", "{}", "g3", "") == 0);
  char *db = path_of("s3");
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images WHERE split_source = 'pinned'"), 16);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images WHERE split_source = 'pinned' "
                           "AND split = 'test'"), 16);
  long long e_test = rows_in(db, "e", "test");
  CHECK(e_test >= 16 && e_test <= 16 + MAX_GROUP);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM (SELECT group_key FROM images "
                           "GROUP BY group_key HAVING count(DISTINCT split) > 1)"), 0);
  cur_free(db);
}

/* split-3.1: a second source later: the first one's images stay where they
** were, the new groups are placed around them. */
TEST(a_later_ingest_moves_no_placed_image) {
  REQUIRE(write_dataset("g1", "p", 1, NULL) == 0);  /* its own copy of the first case's data */
  REQUIRE(write_dataset("g4", "q", 5000, NULL) == 0);
  REQUIRE(ingest_into("s4", "{}", "g1", "") == 0);
  char *db = path_of("s4");
  const char *q = "SELECT group_concat(id || split, ',') FROM (SELECT * FROM images ORDER BY id)";
  char *before = fx_sql(db, q);
  REQUIRE(before);
  REQUIRE(fx_curate("ingest2.log", "--db s4.db --config s4.json ingest g4 --labels g4/labels.csv") == 0);
  char *after = fx_sql(db, q);
  REQUIRE(after);
  CHECK(strncmp(after, before, strlen(before) - 1) == 0);  /* -1: the newline */
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images"), 2 * (327 + N_UNLABELLED));
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images WHERE split_source = 'provisional'"), 0);
  long long val = rows_in(db, "", "val");
  CHECK(val >= 60 && val <= 80);  /* 10% of 694, within two groups' rows per source */
  cur_free(before);
  cur_free(after);
  cur_free(db);
}

/* split-3.2 */
TEST(resplit_is_refused_with_reviews_unless_forced) {
  REQUIRE(write_dataset("g1", "p", 1, NULL) == 0);  /* its own copy of the first case's data */
  REQUIRE(ingest_into("s5", "{\"split\": {\"val\": 0.1, \"test\": 0.1, \"train\": 0.8}}", "g1", "") == 0);
  char *db = path_of("s5");
  /* a new share: `curate split` places everything again */
  const char *cfg = "{\"split\": {\"val\": 0.3, \"test\": 0.1, \"train\": 0.6}}";
  char *cfg_path = test_scratch_path("s5.json");
  REQUIRE(test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  CHECK_INT(fx_curate("split1.log", "--db s5.db --config s5.json split"), 0);
  char *log = fx_read("split1.log");
  CHECK(log && strstr(log, "images changed split") != NULL);
  long long val = rows_in(db, "", "val");
  CHECK(val >= 95 && val <= 115);  /* 30% of 347 = 104 */
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM runs WHERE stage = 'split' AND status = 'complete'"), 2);
  /* a review decision: now refused, and nothing moves */
  REQUIRE(test_sh("sqlite3 '%s' \"INSERT INTO labels(image_id, task_id, class_id, source) SELECT "
                  "i.id, l.task_id, l.class_id, 'review' FROM images i JOIN labels l ON "
                  "l.image_id = i.id WHERE i.split = 'val' LIMIT 3\"", db) == 0);
  const char *back = "{\"split\": {\"val\": 0.1, \"test\": 0.1, \"train\": 0.8}}";
  REQUIRE(test_write_file(cfg_path, back, strlen(back)) == 0);
  CHECK_INT(fx_curate("split2.log", "--db s5.db --config s5.json split"), 1);
  cur_free(log);
  log = fx_read("split2.log");
  CHECK(log && strstr(log, "3 images carry review decisions") != NULL && strstr(log, "--force") != NULL);
  CHECK_INT(rows_in(db, "", "val"), val);
  CHECK_INT(fx_curate("split3.log", "--db s5.db --config s5.json split --force"), 0);
  cur_free(log);
  log = fx_read("split3.log");
  CHECK(log && strstr(log, "of the 3 images with review decisions changed split") != NULL);
  check_stratified(db);
  cur_free(log);
  cur_free(cfg_path);
  cur_free(db);
}

/* split-3.3: classes a and b (10 and 12 rows) have fewer than 5 val rows */
TEST(status_warns_about_classes_with_few_eval_rows) {
  REQUIRE(write_dataset("g1", "p", 1, NULL) == 0);  /* its own copy of the first case's data */
  REQUIRE(ingest_into("s6", "{}", "g1", "") == 0);
  CHECK_INT(fx_curate("status.txt", "--db s6.db --config s6.json status"), 0);
  char *out = fx_read("status.txt");
  REQUIRE(out);
  CHECK(strstr(out, "warning: task label, class a: ") != NULL);
  CHECK(strstr(out, "warning: task label, class b: ") != NULL);
  CHECK(strstr(out, "class f: ") == NULL);  /* 160 rows: 16 val, 16 test */
  CHECK(strstr(out, "split.min_eval_rows (5)") != NULL);
  cur_free(out);
  CHECK_INT(fx_curate("status.json", "--db s6.db --config s6.json status --json"), 0);
  out = fx_read("status.json");
  CHECK(out && strstr(out, "\"split_warnings\"") != NULL && strstr(out, "\"unplaced\":\t0") != NULL);
  cur_free(out);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(single_rows_land_on_every_class_target);
  RUN(placed_groups_count_toward_the_targets);
  RUN(classes_land_near_their_targets_and_groups_stay_whole);
  RUN(same_seed_same_split_another_seed_another);
  RUN(pinned_splits_are_kept_and_counted);
  RUN(a_later_ingest_moves_no_placed_image);
  RUN(resplit_is_refused_with_reviews_unless_forced);
  RUN(status_warns_about_classes_with_few_eval_rows);
  return test_finish();
}
