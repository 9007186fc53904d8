/* test_augment_stage.c -- the augment stage through the `curate` command, on
** a corpus the test builds: a (6 JPEGs), b (2 PNGs), c (1 JPEG), balanced to
** the largest class, so b gets 4 variants (2 per image) and c 5 (the cap).
**
** augment-1.*: what a variant row holds: parent, transform JSON, format,
**              size, split, labels inherited with source and run.
** augment-2.*: determinism: same seed gives byte-identical images whatever
**              the thread count; another seed gives other images; a forced
**              re-run reuses the existing rows.
** augment-3.*: bad transform options are config errors naming the option.
** augment-4.*: a parent the engine cannot read is reported and recorded as
**              failed, not retried.
*/
#include <stdlib.h>
#include <vips/vips.h>

#include "augment_transform.h"
#include "fixtures.h"
#include "testlib.h"

/* Rows of a query on DB (in scratch), without the last newline. */
static char *q_text(const char *db, const char *sql) {
  char *path = test_scratch_path(db);
  char *r = fx_sql(path, sql);
  cur_free(path);
  if (r && *r && r[strlen(r) - 1] == '\n') r[strlen(r) - 1] = 0;
  return r;
}

static void check_query(const char *db, const char *sql, const char *want, int line) {
  char *got = q_text(db, sql);
  if (!got || strcmp(got, want) != 0)
    test_fail(__FILE__, line, "%s\n  gave \"%s\"\n  expected \"%s\"", sql, got ? got : "(error)", want);
  cur_free(got);
}
#define CHECK_QUERY(db, sql, want) check_query(db, sql, want, __LINE__)

static int build_sources(void) {
  static const struct { const char *cls, *ext; int n; } classes[] = {
      {"a", "jpg", 6}, {"b", "png", 2}, {"c", "jpg", 1}};
  int rc = test_sh("cd '%s' && rm -rf src && mkdir -p src/train/a src/train/b src/train/c", T.scratch);
  unsigned seed = 1;
  for (size_t k = 0; k < CUR_ARRAY_LEN(classes); k++) {
    for (int i = 0; i < classes[k].n; i++) {
      char rel[64];
      snprintf(rel, sizeof rel, "src/train/%s/%02d.%s", classes[k].cls, i, classes[k].ext);
      char *p = test_scratch_path(rel);
      rc |= fx_image_file(p, 40, 30, seed++, strcmp(classes[k].ext, "png") ? "jpeg" : "png");
      cur_free(p);
    }
  }
  const char *cfg = "{\"balance\": {\"target\": \"max\"}}";
  char *p = test_scratch_path("max.json");
  rc |= test_write_file(p, cfg, strlen(cfg));
  cur_free(p);
  return rc;
}

/* A new database DB with the sources ingested, balanced and augmented with
** the extra global options ARGS. */
static int pipeline(const char *db, const char *args) {
  int rc = test_sh("cd '%s' && rm -f %s*", T.scratch, db);
  if (!rc) rc = fx_curate("init.log", "--db %s --config max.json init", db);
  if (!rc) rc = fx_curate("ingest.log", "--db %s --config max.json ingest src", db);
  if (!rc) rc = fx_curate("run.log", "%s --db %s --config max.json run --from balance --until augment", args, db);
  return rc;
}

TEST(variants_hold_parent_transform_and_inherited_labels) {
  REQUIRE(build_sources() == 0);
  REQUIRE(pipeline("one.db", "--threads 1") == 0);
  CHECK_QUERY("one.db", "SELECT count(*) FROM images WHERE parent_id IS NOT NULL", "9");
  /* b's two PNGs get variants 0 and 1 each; c's one JPEG variants 0..4 */
  CHECK_QUERY("one.db", "SELECT group_concat(source_path || ' ' || format || ' ' || width || 'x' || "
              "height || ' ' || split || ' ' || (source_id IS NULL), ', ') FROM (SELECT * FROM "
              "images WHERE parent_id IS NOT NULL ORDER BY id)",
              "train/b/00.png#aug0 png 40x30 train 1, train/b/00.png#aug1 png 40x30 train 1, "
              "train/b/01.png#aug0 png 40x30 train 1, train/b/01.png#aug1 png 40x30 train 1, "
              "train/c/00.jpg#aug0 jpeg 40x30 train 1, train/c/00.jpg#aug1 jpeg 40x30 train 1, "
              "train/c/00.jpg#aug2 jpeg 40x30 train 1, train/c/00.jpg#aug3 jpeg 40x30 train 1, "
              "train/c/00.jpg#aug4 jpeg 40x30 train 1");
  /* the parent is recorded and the JSON gives back the parameters drawn */
  CHECK_QUERY("one.db", "SELECT count(*) FROM images v JOIN images p ON p.id = v.parent_id "
              "WHERE v.source_path = p.source_path || '#aug' || substr(v.source_path, -1) "
              "AND json_valid(v.transform) AND json_extract(v.transform, '$.fill') = 'edge'", "9");
  char *parent = q_text("one.db", "SELECT id FROM images WHERE source_path = 'train/c/00.jpg'");
  char *json = q_text("one.db", "SELECT transform FROM images WHERE source_path = 'train/c/00.jpg#aug3'");
  cur_augment_options o;
  cur_augment_params p;
  char *want = NULL;
  cur_augment_options_default(&o);
  REQUIRE(parent && json);
  CHECK_OK(cur_augment_sample(&o, 42, atoll(parent), 3, &p));
  CHECK_OK(cur_augment_params_json(&p, &o, &want));
  CHECK_STR(json, want);
  /* labels: the parent's class, same source, written by the augment run */
  CHECK_QUERY("one.db", "SELECT count(*) FROM images v JOIN current_labels lv ON lv.image_id = v.id "
              "JOIN current_labels lp ON lp.image_id = v.parent_id AND lp.task_id = lv.task_id "
              "WHERE lv.class_id = lp.class_id AND lv.source = 'human' AND lv.run_id = "
              "(SELECT id FROM runs WHERE stage = 'augment')", "9");
  CHECK_QUERY("one.db", "SELECT outcome, count(*) FROM augment_variants GROUP BY outcome", "made|9");
  /* the balanced training set: 6 per class, 9 of them derived */
  CHECK_QUERY("one.db", "SELECT count(*), sum(derived), sum(weight) FROM training_rows", "18|9|18.0");
  CHECK_QUERY("one.db", "SELECT images, originals, derived FROM class_balance WHERE class = 'c'", "6|1|5");
  cur_free(parent);
  cur_free(json);
  cur_free(want);
}

TEST(same_seed_gives_identical_bytes_and_another_seed_does_not) {
  REQUIRE(pipeline("two.db", "--threads 2") == 0);
  char *one = test_scratch_path("one.db"), *two = test_scratch_path("two.db");
  char *a = fx_dump(one), *b = fx_dump(two);
  REQUIRE(a && b);
  CHECK(strcmp(a, b) == 0);  /* every column but the times, image bytes included */
  cur_free(a);
  cur_free(b);
  REQUIRE(pipeline("seven.db", "--seed 7") == 0);
  const char *shas = "SELECT group_concat(sha256, ',') FROM (SELECT sha256 FROM images "
                     "WHERE parent_id IS NOT NULL ORDER BY id)";
  char *s1 = q_text("one.db", shas), *s7 = q_text("seven.db", shas);
  REQUIRE(s1 && s7);
  CHECK(strlen(s1) > 500);
  /* no variant of seed 7 equals one of seed 42 */
  int shared = 0;
  for (char *t = strtok(s7, ","); t; t = strtok(NULL, ",")) shared += strstr(s1, t) != NULL;
  CHECK_INT(shared, 0);
  cur_free(s1);
  cur_free(s7);
  cur_free(one);
  cur_free(two);
}

TEST(forced_rerun_reuses_the_rows_with_the_same_bytes) {
  char *before = q_text("one.db", "SELECT count(*) || ' ' || (SELECT count(*) FROM labels) FROM images");
  REQUIRE(fx_curate("again.log", "--db one.db --config max.json run --stage augment --force") == 0);
  char *after = q_text("one.db", "SELECT count(*) || ' ' || (SELECT count(*) FROM labels) FROM images");
  CHECK_STR(after, before);
  CHECK_QUERY("one.db", "SELECT outcome, count(*) FROM augment_variants WHERE run_id = "
              "(SELECT max(id) FROM runs) GROUP BY outcome", "reused|9");
  CHECK_QUERY("one.db", "SELECT count(*) FROM augment_variants v JOIN images i ON i.id = v.image_id "
              "WHERE v.reason = 'same bytes as image ' || i.id AND i.parent_id = v.parent_id", "9");
  CHECK_QUERY("one.db", "SELECT count(*), sum(derived) FROM training_rows", "18|9");
  cur_free(before);
  cur_free(after);
}

TEST(bad_transform_values_are_rejected_naming_the_option) {
  static const struct { const char *json, *message; } cases[] = {
      {"{\"scale\": [-1, 1]}", "bad.json: augment.scale: min -1 is outside [0.1, 10]"},
      {"{\"scale\": [1.2, 0.9]}", "bad.json: augment.scale: min 1.2 > max 0.9"},
      {"{\"rotate_deg\": [10, -10]}", "bad.json: augment.rotate_deg: min 10 > max -10"},
      {"{\"rotate_deg\": [0, 1e999]}", "bad.json: augment.rotate_deg: max inf is not a finite number"},
      {"{\"translate_frac\": [-2, 0]}", "bad.json: augment.translate_frac: min -2 is outside [-1, 1]"},
      {"{\"hflip_prob\": 1.5}", "bad.json: augment.hflip_prob: 1.5 is outside [0, 1]"},
      {"{\"noise_sigma\": -1e999}", "bad.json: augment.noise_sigma: -inf is not a finite number"},
      {"{\"blur_sigma\": -1}", "bad.json: augment.blur_sigma: -1 is outside [0, 50]"},
      {"{\"color_jitter\": 2}", "bad.json: augment.color_jitter: 2 is outside [0, 1]"},
      {"{\"fill\": \"blue\"}", "bad.json: augment.fill: unknown mode \"blue\""},
      {"{\"batch_size\": 0}", "bad.json: augment.batch_size: must be positive"}};
  char *path = test_scratch_path("bad.json");
  for (size_t i = 0; i < CUR_ARRAY_LEN(cases); i++) {
    char *text = cur_asprintf("{\"augment\": %s}", cases[i].json);
    REQUIRE(text && test_write_file(path, text, strlen(text)) == 0);
    CHECK_INT(fx_curate("bad.log", "--config bad.json config show"), 1);
    char *log = fx_read("bad.log");
    if (!log || !strstr(log, cases[i].message))
      test_fail(__FILE__, __LINE__, "%s: log lacks \"%s\":\n%s", cases[i].json, cases[i].message,
                log ? log : "(none)");
    cur_free(log);
    cur_free(text);
  }
  cur_free(path);
}

/* Writes a small WebP image to scratch/REL through libvips. */
static int webp_file(const char *rel) {
  unsigned char *jpeg;
  size_t len, out_len;
  void *out = NULL;
  if (fx_image(40, 30, 99, "jpeg", &jpeg, &len)) return -1;
  VipsImage *img = vips_image_new_from_buffer(jpeg, len, "", NULL);
  int rc = !img || vips_webpsave_buffer(img, &out, &out_len, NULL) ? -1 : 0;
  char *path = test_scratch_path(rel);
  if (rc == 0) rc = test_write_file(path, out, out_len);
  if (img) g_object_unref(img);
  g_free(out);
  cur_free(path);
  cur_free(jpeg);
  return rc;
}

TEST(unreadable_parent_is_reported_and_recorded_as_failed) {
  REQUIRE(test_sh("cd '%s' && rm -rf src/train/c && mkdir -p src/train/w", T.scratch) == 0);
  REQUIRE(webp_file("src/train/w/00.webp") == 0);
  REQUIRE(test_sh("cd '%s' && rm -f webp.db* && '%s' --db webp.db --config max.json init > /dev/null "
                  "&& '%s' --db webp.db --config max.json ingest src > /dev/null 2>&1",
                  T.scratch, T.curate, T.curate) == 0);
  CHECK_INT(fx_curate("webp.log", "--db webp.db --config max.json run --from balance --until augment"), 3);
  char *log = fx_read("webp.log");
  CHECK(log && strstr(log, "(train/w/00.webp): variant 0: augment: input: ") &&
        strstr(log, "images are not supported (JPEG or PNG)"));
  CHECK_QUERY("webp.db", "SELECT outcome, count(*), count(image_id) FROM augment_variants "
              "GROUP BY outcome", "failed|5|0\nmade|4|4");
  /* the parent is decoded once for its variants; each failed one keeps the reason */
  CHECK_QUERY("webp.db", "SELECT count(*) FROM augment_variants WHERE outcome = 'failed' "
              "AND reason LIKE '%images are not supported (JPEG or PNG)'", "5");
  /* up to date afterwards: the failures are not retried */
  CHECK_INT(fx_curate("webp2.log", "--db webp.db --config max.json run --from balance --until augment"), 0);
  CHECK_QUERY("webp.db", "SELECT count(*) FROM runs WHERE stage = 'augment'", "1");
  cur_free(log);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(variants_hold_parent_transform_and_inherited_labels);
  RUN(same_seed_gives_identical_bytes_and_another_seed_does_not);
  RUN(forced_rerun_reuses_the_rows_with_the_same_bytes);
  RUN(bad_transform_values_are_rejected_naming_the_option);
  RUN(unreadable_parent_is_reported_and_recorded_as_failed);
  return test_finish();
}
