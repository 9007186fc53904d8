/* test_embed.c -- the embed stage (stages/embed/embed.c) through `curate run`.
**
** embed-1.*: pixels: every ok image gets one half-float vector equal to its pixels.
** embed-2.*: a CLIP checkpoint: two photos of PyTorch's reference tensors,
**            written back to pixels, embed to PyTorch's reference features.
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
  /* known pixels: an 8 x 8 grey ramp, pixel (x, y) = 3 (x + 8 y) + 10, read
  ** row by row must give exactly those values over 255 (in half floats) */
  unsigned char ramp[16 + 64 * 3];
  int head = snprintf((char *)ramp, 16, "P6\n8 8\n255\n");
  for (int i = 0; i < 64; i++) memset(ramp + head + 3 * i, 3 * i + 10, 3);
  char *ramp_path = test_scratch_path("img/train/a/ramp.ppm");
  REQUIRE(ramp_path && test_write_file(ramp_path, ramp, (size_t)head + 64 * 3) == 0);
  cur_free(ramp_path);
  CHECK_INT(fx_curate("e0.log", "--db px.db --config embed.json ingest img"), 0);
  CHECK_INT(fx_curate("e1b.log", "--db px.db --config embed.json run --until embed"), 0);
  hex = fx_sql(db, "SELECT hex(e.vector) FROM embeddings e JOIN images i ON i.id = e.image_id "
                   "WHERE i.source_path = 'train/a/ramp.ppm'");
  REQUIRE(hex && strlen(hex) >= 256);
  double worst = 0;
  for (int i = 0; i < 64; i++) {
    unsigned b0, b1;
    sscanf(hex + 4 * i, "%2x%2x", &b0, &b1);
    worst = fmax(worst, fabs(cur_half_to_float((uint16_t)(b0 | b1 << 8)) - (3 * i + 10) / 255.0));
  }
  /* half floats in [0.03, 0.8]: spacing at most 2^-11, rounding error half that */
  CHECK_MSG(worst <= 0x1p-12, "ramp vector off by %g", worst);
  cur_free(hex);
  CHECK_INT(fx_curate("e2.log", "--db px.db --config embed.json run"), 0);
  char *log = fx_read("e2.log");
  CHECK(log && strstr(log, "embed: up to date") != NULL);
  cur_free(log);
}

/* Cosine of the stored half-float vector of image ID and reference row REF. */
static double cosine_to_reference(long long id, const cJSON *ref) {
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT hex(vector) FROM embeddings WHERE image_id = %lld", id);
  char *hex = fx_sql(db, sql);
  double dot = 0, a2 = 0, b2 = 0;
  if (!hex || strlen(hex) < 4 * 64 || cJSON_GetArraySize(ref) != 64) {
    cur_free(hex);
    return NAN;
  }
  for (int i = 0; i < 64; i++) {
    unsigned b0, b1;
    sscanf(hex + 4 * i, "%2x%2x", &b0, &b1);
    double got = cur_half_to_float((uint16_t)(b0 | b1 << 8)), want = cJSON_GetArrayItem(ref, i)->valuedouble;
    dot += got * want;
    a2 += got * got;
    b2 += want * want;
  }
  cur_free(hex);
  return dot / sqrt(a2 * b2);
}

/* The oracle is PyTorch's CLIP (../shared/clip/README.md), not our engine:
** the two photos among the reference images, written back to pixels and
** ingested, must embed to the reference image_features. */
TEST(clip_vectors_match_the_pytorch_reference_features) {
  char *model = test_shared_path("clip/tiny-hf");
  if (!model) return;
  cJSON *ref = fx_clip_reference_outputs(model);
  REQUIRE(ref);
  const cJSON *features = cJSON_GetObjectItem(ref, "image_features");
  REQUIRE(cJSON_GetArraySize(features) == 5);
  char config[512];
  snprintf(config, sizeof config, "{\"embed\": {\"model\": \"%s\", \"precision\": \"fp32\"}}", model);
  REQUIRE(corpus("clip.db", config) == 0);
  /* reference images 3 and 4 are the photos (0-2 are noise, which clips) */
  REQUIRE(fx_clip_reference_ppm(model, 3, "img/train/a/ref3.ppm") == 0);
  REQUIRE(fx_clip_reference_ppm(model, 4, "img/train/b/ref4.ppm") == 0);
  REQUIRE(fx_curate("c0.log", "--db clip.db --config embed.json ingest img") == 0);
  cur_free(db);
  db = test_scratch_path("clip.db");
  CHECK_INT(fx_curate("c1.log", "--db clip.db --config embed.json run --until embed"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM embeddings WHERE dim = 64"), 14);
  long long id3 = q_int("SELECT id FROM images WHERE source_path = 'train/a/ref3.ppm'");
  long long id4 = q_int("SELECT id FROM images WHERE source_path = 'train/b/ref4.ppm'");
  double c33 = cosine_to_reference(id3, cJSON_GetArrayItem(features, 3));
  double c44 = cosine_to_reference(id4, cJSON_GetArrayItem(features, 4));
  double c34 = cosine_to_reference(id3, cJSON_GetArrayItem(features, 4));
  double c43 = cosine_to_reference(id4, cJSON_GetArrayItem(features, 3));
  printf("  cosine to the reference: %.6f and %.6f (crossed: %.6f, %.6f)\n", c33, c44, c34, c43);
  /* the pixels are the reference tensor rounded to 8 bits (at most 0.5/255
  ** per value, 0.007 in normalised units) and the vector is stored in half
  ** floats: measured 1.000000 to six places; 0.9999 leaves room and is far
  ** above the two photos' cosine to each other's reference (0.9526) */
  CHECK(c33 >= 0.9999);
  CHECK(c44 >= 0.9999);
  CHECK(c34 < 0.99 && c43 < 0.99);
  cJSON_Delete(ref);
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
  RUN(clip_vectors_match_the_pytorch_reference_features);
  RUN(patches_dictionary_is_learned_once_and_options_make_it_pending);
  RUN(undecodable_image_is_quarantined_and_pixels_go_on);
  RUN(undecodable_image_is_quarantined_and_patches_go_on);
  cur_free(db);
  return test_finish();
}
