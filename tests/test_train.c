/* test_train.c -- the train stage through the `curate` command, on a corpus
** the test builds whose classes differ in brightness (fx_image_tree offsets
** each image's pixels by 7 x its seed): train a (8), b (8); test a (3), b (3).
**
** train-1.*: metrics are stored and agree with the stored confusion matrix;
**            the separable test split is classified well; the table prints.
** train-2.*: same seed, same metrics; rows without an embedding get one.
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

static int build_corpus(void) {
  static const char *const both[] = {"a", "b"}, *const a[] = {"a"}, *const b[] = {"b"};
  static const int eight[] = {8, 8}, three[] = {3};
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 8}, \"train\": {\"epochs\": 40}}";
  char *p = test_scratch_path("t.json");
  int rc = test_sh("cd '%s' && rm -rf src %s*", T.scratch, db);
  rc |= p ? test_write_file(p, cfg, strlen(cfg)) : -1;
  rc |= fx_image_tree("src/train", both, eight, 2, 16, 16, "png", 1);
  rc |= fx_image_tree("src/test", a, three, 1, 20, 20, "png", 2);
  rc |= fx_image_tree("src/test", b, three, 1, 20, 20, "png", 11);
  rc |= fx_curate("init.log", "--db %s --config t.json init", db);
  rc |= fx_curate("ingest.log", "--db %s --config t.json ingest src", db);
  rc |= fx_curate("embed.log", "--db %s --config t.json run --stage embed", db);
  cur_free(p);
  return rc;
}

TEST(metrics_agree_with_the_confusion_matrix) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(fx_curate("train.log", "--db %s --config t.json run --stage train", db) == 0);
  char *text = q_text("SELECT text FROM metrics WHERE name = 'confusion'");
  cJSON *c = text ? cJSON_Parse(text) : NULL;
  const cJSON *m = cJSON_GetObjectItem(c, "matrix");
  REQUIRE(cJSON_GetArraySize(m) == 2);
  double cell[2][2];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) cell[i][j] = cJSON_GetArrayItem(cJSON_GetArrayItem(m, i), j)->valuedouble;
  CHECK_NEAR(cell[0][0] + cell[0][1] + cell[1][0] + cell[1][1], 6, 0);
  /* exact ratios of small counts, stored as doubles: 1e-12 is rounding room */
  CHECK_NEAR(q_num("SELECT value FROM metrics WHERE name = 'accuracy'"), (cell[0][0] + cell[1][1]) / 6, 1e-12);
  double pa = cell[0][0] / (cell[0][0] + cell[1][0]), ra = cell[0][0] / 3;
  if (cell[0][0] > 0) {
    CHECK_NEAR(q_num("SELECT value FROM metrics WHERE name = 'precision/a'"), pa, 1e-12);
    CHECK_NEAR(q_num("SELECT value FROM metrics WHERE name = 'recall/a'"), ra, 1e-12);
    CHECK_NEAR(q_num("SELECT value FROM metrics WHERE name = 'f1/a'"), 2 * pa * ra / (pa + ra), 1e-12);
  }
  /* brightness separates the classes: the head gets most test rows right */
  CHECK(q_num("SELECT value FROM metrics WHERE name = 'accuracy'") >= 5.0 / 6);
  CHECK_NEAR(q_num("SELECT count(*) FROM metrics"), 9, 0);
  char *log = fx_read("train.log");
  CHECK(log && strstr(log, "precision") && strstr(log, "macro-F1") && strstr(log, "train_rows 16, test_rows 6"));
  cur_free(log);
  cJSON_Delete(c);
  cur_free(text);
}

TEST(same_seed_same_metrics_and_missing_embeddings_are_named) {
  char *first = q_text("SELECT group_concat(m, ' ') FROM (SELECT name || '=' || coalesce(value, text) "
                       "AS m FROM metrics ORDER BY name)");
  REQUIRE(fx_curate("again.log", "--db %s --config t.json run --stage train --force", db) == 0);
  char *again = q_text("SELECT group_concat(m, ' ') FROM (SELECT name || '=' || coalesce(value, text) "
                       "AS m FROM metrics WHERE run_id = (SELECT max(id) FROM runs) ORDER BY name)");
  CHECK_STR(again, first);
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

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(metrics_agree_with_the_confusion_matrix);
  RUN(same_seed_same_metrics_and_missing_embeddings_are_named);
  return test_finish();
}
