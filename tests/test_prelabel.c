/* test_prelabel.c -- the prelabel stage (stages/prelabel.c) on the tiny CLIP model.
**
** prelabel-1.*: unlabelled images get zeroshot labels, labelled ones a score,
**               and disagreements a flag; the probabilities are those of
**               `curate clip zeroshot`; a forced rerun adds no label twice.
** prelabel-2.*: with download-free features the stage says why it is skipped.
*/
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

static char *db;

static long long q_int(const char *sql) {
  return fx_sql_int(db, sql);
}

/* 8 labelled images (classes "red apple", "blue sky") and 4 unlabelled. */
static int corpus(const char *config) {
  char *cfg = test_scratch_path("pl.json");
  int rc = test_write_file(cfg, config, strlen(config));
  cur_free(cfg);
  rc |= test_sh("cd '%s' && rm -rf img pl.db* && mkdir -p 'img/red apple' 'img/blue sky' img/unlabeled",
                T.scratch);
  static const char *const dirs[] = {"red apple", "blue sky", "unlabeled"};
  for (int i = 0; i < 12; i++) {
    char rel[96];
    snprintf(rel, sizeof rel, "img/%s/%02d.jpg", dirs[i % 3], i);
    char *p = test_scratch_path(rel);
    rc |= fx_image_file(p, 48, 40, 900 + (unsigned)i, "jpeg");
    cur_free(p);
  }
  rc |= fx_curate("pl-init.log", "--db pl.db --config pl.json init");
  rc |= fx_curate("pl-ingest.log", "--db pl.db --config pl.json ingest img");
  return rc;
}

TEST(zeroshot_labels_scores_and_flags_follow_the_probabilities) {
  char *model = test_shared_path("clip/tiny-hf");
  if (!model) return;
  char config[512];
  snprintf(config, sizeof config,
           "{\"embed\": {\"model\": \"%s\", \"precision\": \"fp32\"}, "
           "\"prelabel\": {\"threshold\": 0, \"disagree_threshold\": 0}}", model);
  REQUIRE(corpus(config) == 0);
  CHECK_INT(fx_curate("pl1.log", "--db pl.db --config pl.json run"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM labels WHERE source = 'zeroshot'"), 4);
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'zeroshot_prob'"), 8);
  /* with disagree_threshold 0, exactly the rows whose top class differs are flagged */
  CHECK_INT(q_int("SELECT count(*) FROM flags WHERE reason = 'zeroshot_disagree'"),
            q_int("SELECT count(*) FROM scores s JOIN current_labels c ON c.image_id = s.image_id "
                  "WHERE s.kind = 'zeroshot_prob' AND s.suggested_class_id <> c.class_id"));
  /* the stored answer for an unlabelled image matches the command's */
  char *path = fx_sql(db, "SELECT i.source_path || '|' || c.class || '|' || c.confidence FROM images i "
                          "JOIN current_labels c ON c.image_id = i.id WHERE c.source = 'zeroshot' LIMIT 1");
  REQUIRE(path && strchr(path, '|'));
  char *cls = strchr(path, '|');
  *cls++ = 0;
  char *conf = strchr(cls, '|');
  *conf++ = 0;
  CHECK_INT(test_sh("cd '%s' && '%s' clip zeroshot --model '%s' --precision fp32 --json "
                    "--classes 'red apple,blue sky' 'img/%s' > zs.json", T.scratch, T.curate, model, path), 0);
  char *json = fx_read("zs.json");
  cJSON *arr = json ? cJSON_Parse(json) : NULL;
  cJSON *probs = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "probs");
  REQUIRE(probs);
  /* the stage works from half-float embeddings: logit_scale (100) times a
  ** cosine rounded at 2^-11 moves a probability by well under 0.05 */
  CHECK_NEAR(JSON_NUM(probs, cls), atof(conf), 0.05);
  cJSON_Delete(arr);
  cur_free(json);
  cur_free(path);
  /* a forced rerun: no zeroshot label twice; scores and flags of the new run */
  CHECK_INT(fx_curate("pl2.log", "--db pl.db --config pl.json run --stage prelabel --force"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM labels WHERE source = 'zeroshot'"), 4);
  /* the rerun scores every image labelled by then: the 8 human labels and
  ** whatever pseudolabel's teacher accepted in the first run (how many
  ** depends on the rows aum left it to train on) */
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'zeroshot_prob' AND run_id = "
                  "(SELECT min(id) FROM runs WHERE stage = 'prelabel')"), 8);
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'zeroshot_prob' AND run_id = "
                  "(SELECT max(id) FROM runs WHERE stage = 'prelabel')"),
            q_int("SELECT count(*) FROM current_labels WHERE source IN ('human', 'teacher')"));
  /* the class embeddings were cached by the first run, not encoded again */
  CHECK_INT(q_int("SELECT count(*) FROM model_blobs WHERE kind = 'zeroshot'"), 1);
  cur_free(model);
}

TEST(download_free_features_skip_the_stage_with_a_reason) {
  REQUIRE(corpus("{\"embed\": {\"features\": \"pixels\", \"size\": 8}}") == 0);
  CHECK_INT(fx_curate("pl3.log", "--db pl.db --config pl.json run"), 0);
  char *log = fx_read("pl3.log");
  CHECK(log && strstr(log, "prelabel: skipped: the embed stage used download-free features") != NULL);
  cur_free(log);
  CHECK_INT(q_int("SELECT count(*) FROM labels WHERE source = 'zeroshot'"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM runs WHERE stage = 'prelabel' AND status = 'complete'"), 1);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  db = test_scratch_path("pl.db");
  RUN(zeroshot_labels_scores_and_flags_follow_the_probabilities);
  RUN(download_free_features_skip_the_stage_with_a_reason);
  cur_free(db);
  return test_finish();
}
