/* test_embed.c -- the embed stage (stages/embed.c) through `curate run`.
**
** embed-1.*: pixels: every ok image gets one half-float vector equal to its pixels.
** embed-2.*: a CLIP checkpoint: the stored vector equals `curate clip image`'s.
** embed-3.*: patches: the dictionary is learned once and kept; changing an
**            option makes the stage pending and adds a second model's vectors.
** embed-4.*: an ok image the model cannot decode is quarantined by name, the
**            others are embedded, and the next run has nothing left to trip on.
*/
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "fixtures.h"
#include "half.h"
#include "testlib.h"

static char *db;

static long long q_int(const char *sql) {
  return fx_sql_int(db, sql);
}

/* 12 PNG images in two classes plus one broken file, ingested into DB_NAME. */
static int corpus(const char *db_name, const char *config) {
  char *cfg = test_scratch_path("embed.json");
  int rc = test_write_file(cfg, config, strlen(config));
  cur_free(cfg);
  rc |= test_sh("cd '%s' && rm -rf img %s* && mkdir -p img/train/a img/train/b", T.scratch, db_name);
  for (int i = 0; i < 12; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "img/train/%c/%02d.png", i % 2 ? 'b' : 'a', i);
    char *p = test_scratch_path(rel);
    rc |= fx_image_file(p, 8, 8, 500 + (unsigned)i, "png");
    cur_free(p);
  }
  char *bad = test_scratch_path("img/train/a/broken.png");
  rc |= test_write_file(bad, "not a png", 9);
  cur_free(bad);
  rc |= fx_curate("e-init.log", "--db %s --config embed.json init", db_name);
  int code = fx_curate("e-ingest.log", "--db %s --config embed.json ingest img", db_name);
  return rc || code != 3;  /* 3: the broken file was quarantined */
}

TEST(pixels_vectors_equal_the_images_pixels) {
  REQUIRE(corpus("px.db", "{\"embed\": {\"features\": \"pixels\", \"size\": 8, \"channels\": 1}}") == 0);
  cur_free(db);
  db = test_scratch_path("px.db");
  CHECK_INT(fx_curate("e1.log", "--db px.db --config embed.json run"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM embeddings WHERE model = 'pixels-8px-c1' AND dim = 64 "
                  "AND length(vector) = 128"), 12);
  CHECK_INT(q_int("SELECT count(*) FROM embeddings e JOIN images i ON i.id = e.image_id "
                  "WHERE i.status = 'quarantined'"), 0);
  /* an image is a grey version of itself: values are pixel/255 in [0, 1] */
  char *hex = fx_sql(db, "SELECT hex(vector) FROM embeddings ORDER BY image_id LIMIT 1");
  REQUIRE(hex && strlen(hex) >= 256);
  for (int i = 0; i < 64; i++) {
    unsigned b0, b1;
    sscanf(hex + 4 * i, "%2x%2x", &b0, &b1);
    float v = cur_half_to_float((uint16_t)(b0 | b1 << 8));
    if (!(v >= 0 && v <= 1)) test_fail(__FILE__, __LINE__, "value %d is %g", i, v);
  }
  cur_free(hex);
  CHECK_INT(fx_curate("e2.log", "--db px.db --config embed.json run"), 0);
  char *log = fx_read("e2.log");
  CHECK(log && strstr(log, "embed: up to date") != NULL);
  cur_free(log);
}

TEST(clip_vectors_equal_the_clip_command) {
  char *model = test_shared_path("clip/tiny-hf");
  if (!model) return;
  char config[512];
  snprintf(config, sizeof config, "{\"embed\": {\"model\": \"%s\", \"precision\": \"fp32\"}}", model);
  REQUIRE(corpus("clip.db", config) == 0);
  cur_free(db);
  db = test_scratch_path("clip.db");
  CHECK_INT(fx_curate("c1.log", "--db clip.db --config embed.json run"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM embeddings WHERE dim = 64"), 12);
  /* the same image through `curate clip image` */
  char *path = fx_sql(db, "SELECT source_path FROM images WHERE id = 1");
  REQUIRE(path);
  path[strcspn(path, "\n")] = 0;
  CHECK_INT(test_sh("cd '%s' && '%s' clip image --model '%s' --precision fp32 --json 'img/%s' > clip.json",
                    T.scratch, T.curate, model, path), 0);
  char *json = fx_read("clip.json");
  cJSON *arr = json ? cJSON_Parse(json) : NULL;
  cJSON *emb = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "embedding");
  char *hex = fx_sql(db, "SELECT hex(vector) FROM embeddings WHERE image_id = 1");
  REQUIRE(emb && hex && cJSON_GetArraySize(emb) == 64);
  double worst = 0;
  for (int i = 0; i < 64; i++) {
    unsigned b0, b1;
    sscanf(hex + 4 * i, "%2x%2x", &b0, &b1);
    double want = JSON_AT_NUM(emb, i);
    double got = cur_half_to_float((uint16_t)(b0 | b1 << 8));
    double err = fabs(got - want) / (fabs(want) + 1e-3);
    if (err > worst) worst = err;
  }
  /* half floats keep 11 significant bits: relative error at most 2^-11 */
  CHECK(worst <= 0x1p-11 * 1.01);
  cJSON_Delete(arr);
  cur_free(json);
  cur_free(hex);
  cur_free(path);
  cur_free(model);
}

TEST(patches_dictionary_is_learned_once_and_options_make_it_pending) {
  REQUIRE(corpus("pt.db", "{\"embed\": {\"patches_k\": 8, \"size\": 8, \"patches_samples\": 500}}") == 0);
  cur_free(db);
  db = test_scratch_path("pt.db");
  CHECK_INT(fx_curate("p1.log", "--db pt.db --config embed.json run"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM model_blobs WHERE kind = 'patches'"), 1);
  CHECK_INT(q_int("SELECT count(*) FROM embeddings WHERE dim = 32"), 12);
  const char *other = "{\"embed\": {\"patches_k\": 4, \"size\": 8, \"patches_samples\": 500}}";
  char *cfg = test_scratch_path("embed.json");
  REQUIRE(test_write_file(cfg, other, strlen(other)) == 0);
  cur_free(cfg);
  CHECK_INT(fx_curate("p2.log", "--db pt.db --config embed.json run"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM model_blobs WHERE kind = 'patches'"), 2);
  CHECK_INT(q_int("SELECT count(*) FROM embeddings WHERE dim = 16"), 12);
  CHECK_INT(q_int("SELECT count(*) FROM runs WHERE stage = 'embed' AND status = 'complete'"), 2);
}

/* Ingests the corpus under CONFIG, then replaces one training image's bytes
** with a non-image, as if it changed after ingest: both feature paths (the
** patches dictionary reads training images too) must quarantine it and go on. */
static void undecodable_image_run(const char *db_name, const char *config, int dim) {
  REQUIRE(corpus(db_name, config) == 0);
  cur_free(db);
  db = test_scratch_path(db_name);
  long long bad = q_int("SELECT min(id) FROM images WHERE status = 'ok'");
  char sql[160];
  REQUIRE(test_sh("sqlite3 '%s' \"UPDATE images SET bytes = X'00010203' WHERE id = %lld\"", db, bad) == 0);
  CHECK_INT(fx_curate("u1.log", "--db %s --config embed.json run --until embed", db_name), 3);
  char *log = fx_read("u1.log");
  CHECK(log && strstr(log, "embed: train/a/00.png (image ") && strstr(log, "cannot be decoded: decode: cannot decode 4-byte image: VipsForeignLoad: buffer is not in a known format; quarantined\n"));
  cur_free(log);
  snprintf(sql, sizeof sql, "SELECT status_reason LIKE 'embed: cannot decode: %%' FROM images "
           "WHERE id = %lld AND status = 'quarantined'", bad);
  CHECK_INT(q_int(sql), 1);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM embeddings WHERE dim = %d", dim);
  CHECK_INT(q_int(sql), 11);
  CHECK_INT(fx_curate("u2.log", "--db %s --config embed.json run --until embed", db_name), 0);
  CHECK_INT(q_int(sql), 11);
}

TEST(undecodable_image_is_quarantined_and_pixels_go_on) {
  undecodable_image_run("ux.db", "{\"embed\": {\"features\": \"pixels\", \"size\": 8}}", 192);
}

TEST(undecodable_image_is_quarantined_and_patches_go_on) {
  undecodable_image_run("up.db", "{\"embed\": {\"patches_k\": 8, \"size\": 8, \"patches_samples\": 500}}", 32);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(pixels_vectors_equal_the_images_pixels);
  RUN(clip_vectors_equal_the_clip_command);
  RUN(patches_dictionary_is_learned_once_and_options_make_it_pending);
  RUN(undecodable_image_is_quarantined_and_pixels_go_on);
  RUN(undecodable_image_is_quarantined_and_patches_go_on);
  cur_free(db);
  return test_finish();
}
