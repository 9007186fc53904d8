/* test_prelabel.c -- the prelabel stage (stages/prelabel.c) on the tiny CLIP model.
**
** prelabel-1.*: unlabelled images get zeroshot labels, labelled ones a score,
**               and disagreements a flag; the probabilities are those of
**               `curate clip zeroshot`; a forced rerun adds no label twice.
** prelabel-2.*: with download-free features the stage says why it is skipped.
** prelabel-3.*: against PyTorch's CLIP: two reference photos get the
**               probabilities of the reference logits_per_image.
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
  /* the rerun scores the same 8 human-labelled images: the labels the
  ** teacher accepted after the first run are a later stage's and do not
  ** change what prelabel judges, nor do variants' embeddings */
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'zeroshot_prob' AND run_id = "
                  "(SELECT min(id) FROM runs WHERE stage = 'prelabel')"), 8);
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'zeroshot_prob' AND run_id = "
                  "(SELECT max(id) FROM runs WHERE stage = 'prelabel')"), 8);
  /* the class embeddings were cached by the first run, not encoded again */
  CHECK_INT(q_int("SELECT count(*) FROM model_blobs WHERE kind = 'zeroshot'"), 1);
  cur_free(model);
}

/* The oracle is PyTorch's CLIP: reference photos 3 and 4 (written back to
** pixels) unlabelled, and two classes whose prompts are reference texts 0
** ("a photo of a dog.") and 4 (the long "a a a ..."), with the template
** "{}".  The zeroshot probability of "dog" is then softmax over the two
** reference logits_per_image, computed here from the reference file. */
TEST(zeroshot_probabilities_match_the_pytorch_reference_logits) {
  char *model = test_shared_path("clip/tiny-hf");
  if (!model) return;
  cJSON *ref = fx_clip_reference_outputs(model);
  REQUIRE(ref);
  const cJSON *texts = JSON_GET(ref, "texts"), *logits = JSON_GET(ref, "logits_per_image");
  REQUIRE(cJSON_GetArraySize(texts) == 5 && cJSON_GetArraySize(logits) == 5);
  /* the config, its phrases taken from the reference file (JSON-quoted by cJSON) */
  cJSON *cfg = cJSON_CreateObject(), *emb = cJSON_AddObjectToObject(cfg, "embed");
  cJSON *pl = cJSON_AddObjectToObject(cfg, "prelabel"), *tpl = cJSON_AddArrayToObject(pl, "templates");
  cJSON *prompts = cJSON_AddObjectToObject(cJSON_AddObjectToObject(pl, "class_prompts"), "label");
  REQUIRE(cfg && emb && pl && tpl && prompts);
  cJSON_AddStringToObject(emb, "model", model);
  cJSON_AddStringToObject(emb, "precision", "fp32");
  cJSON_AddItemToArray(tpl, cJSON_CreateString("{}"));
  cJSON_AddStringToObject(prompts, "dog", JSON_AT_STR(texts, 0));
  cJSON_AddStringToObject(prompts, "aaa", JSON_AT_STR(texts, 4));
  cJSON_AddNumberToObject(pl, "threshold", 0);
  char *config = cJSON_PrintUnformatted(cfg);
  REQUIRE(config);
  char *cfg_path = test_scratch_path("ref.json");
  REQUIRE(cfg_path && test_write_file(cfg_path, config, strlen(config)) == 0);
  REQUIRE(test_sh("cd '%s' && rm -rf ref ref.db* && mkdir -p ref/dog ref/aaa ref/unlabeled", T.scratch) == 0);
  for (int i = 0; i < 4; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "ref/%s/%02d.jpg", i % 2 ? "aaa" : "dog", i);
    char *p = test_scratch_path(rel);
    REQUIRE(p && fx_image_file(p, 48, 40, 700 + (unsigned)i, "jpeg") == 0);
    cur_free(p);
  }
  REQUIRE(fx_clip_reference_ppm(model, 3, "ref/unlabeled/ref3.ppm") == 0);
  REQUIRE(fx_clip_reference_ppm(model, 4, "ref/unlabeled/ref4.ppm") == 0);
  REQUIRE(fx_curate("ref-init.log", "--db ref.db --config ref.json init") == 0);
  REQUIRE(fx_curate("ref-ingest.log", "--db ref.db --config ref.json ingest ref") == 0);
  REQUIRE(fx_curate("ref-run.log", "--db ref.db --config ref.json run --until prelabel") == 0);
  char *ref_db = test_scratch_path("ref.db");
  for (int img = 3; img <= 4; img++) {
    /* softmax over the two classes of PyTorch's logits (logit scale 100) */
    const cJSON *row = JSON_AT(logits, img);
    double dog = JSON_AT_NUM(row, 0), aaa = JSON_AT_NUM(row, 4), want = 1 / (1 + exp(aaa - dog));
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT c.class || '|' || c.confidence FROM current_labels c JOIN images i "
             "ON i.id = c.image_id WHERE c.source = 'zeroshot' AND i.source_path = 'unlabeled/ref%d.ppm'", img);
    char *got = fx_sql(ref_db, sql);
    CHECK_MSG(got && strncmp(got, "dog|", 4) == 0, "ref%d: zeroshot label %s, expected dog", img, got ? got : "(none)");
    /* half-float image vectors: a cosine off by ~2^-12 moves a logit (x 100)
    ** by ~0.03 and the probability by at most a quarter of that */
    if (got && strchr(got, '|')) CHECK_NEAR(atof(strchr(got, '|') + 1), want, 0.01);
    printf("  ref%d: %s (PyTorch: dog|%.6f)\n", img, got ? strtok(got, "\n") : "(none)", want);
    cur_free(got);
  }
  cur_free(ref_db);
  cur_free(cfg_path);
  cJSON_free(config);
  cJSON_Delete(cfg);
  cJSON_Delete(ref);
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
  RUN(zeroshot_probabilities_match_the_pytorch_reference_logits);
  RUN(download_free_features_skip_the_stage_with_a_reason);
  cur_free(db);
  return test_finish();
}
