/* test_train_heads.c -- the train stage's head techniques through `curate`
** (train.tasks, train.uda_weight, train.ema_decay; docs/stages/train.md).
**
** The corpus: 8 images each of classes a and b and 8 in unlabeled/, every one
** with a second task, tone, in a labels file (a: dark, b: light, unlabeled:
** alternating).
**
** heads-1: with train.tasks ["tone"] the head trains on every train row that
**          has a label of either task (the rows without a label of task
**          label join), scores task label, and the raw baseline keeps its
**          rows; an unknown or repeated task is a clear error.
** heads-2: augment makes a variant of each unlabelled train original once
**          UDA is on (no label, never in the manifest); UDA trains on
**          exactly those pairs (variants of labelled rows are not pairs),
**          embedding the variants first; without variants it says so.
**          augment.unlabelled_variants asks for more, warns without UDA and
**          is checked.
** heads-3: train.ema_decay outside [0, 1) is refused by name; inside, the
**          run completes with its metrics.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

static const char *db = "h.db";

static long long q_int(const char *sql) {
  char *path = test_scratch_path(db);
  long long v = path ? fx_sql_int(path, sql) : -1;
  cur_free(path);
  return v;
}

static int write_text(const char *rel, const char *text) {
  char *p = test_scratch_path(rel);
  int rc = p ? test_write_file(p, text, strlen(text)) : -1;
  cur_free(p);
  return rc;
}

static int write_config(const char *train) {
  char *cfg = cur_asprintf("{\"embed\": {\"features\": \"pixels\", \"size\": 8}, \"train\": %s}", train);
  int rc = cfg ? write_text("h.json", cfg) : -1;
  cur_free(cfg);
  return rc;
}

static int build_corpus(void) {
  static const char *const classes[] = {"a", "b", "unlabeled"};
  static const int eight[] = {8, 8, 8};
  int rc = test_sh("cd '%s' && rm -rf src %s*", T.scratch, db);
  rc |= fx_image_tree("src", classes, eight, 3, 16, 16, "png", 1);
  char csv[4096] = "path,label,tone\n";
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 8; i++) {
      size_t len = strlen(csv);
      snprintf(csv + len, sizeof csv - len, "%s/%02d.png,%s,%s\n", classes[c], i,
               c < 2 ? classes[c] : "", c == 0 || (c == 2 && i % 2) ? "dark" : "light");
    }
  rc |= write_text("labels.csv", csv);
  rc |= write_config("{}");
  rc |= fx_curate("init.log", "--db %s --config h.json init", db);
  rc |= fx_curate("ingest.log",
                  "--db %s --config h.json ingest src --labels labels.csv --task label=label "
                  "--task tone=tone", db);
  rc |= fx_curate("embed.log", "--db %s --config h.json run --stage embed", db);
  return rc;
}

/* A count of the newest train run (runs.counts). */
static long long train_count(const char *name) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT json_extract(counts, '$.%s') FROM runs WHERE id = "
           "(SELECT max(id) FROM runs WHERE stage = 'train')", name);
  return q_int(sql);
}

static void check_log(const char *log, const char *text) {
  char *got = fx_read(log);
  CHECK_MSG(got && strstr(got, text), "%s lacks \"%s\":\n%s", log, text, got ? got : "(none)");
  cur_free(got);
}

TEST(a_second_task_adds_its_rows_and_task_label_is_scored) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(fx_curate("one.log", "--db %s --config h.json run --stage train", db) == 0);
  long long one = train_count("train_rows");
  /* oracles from the store: train originals labelled a or b, and all of them */
  long long labelled = q_int("SELECT count(*) FROM images i JOIN current_labels l ON l.image_id = "
                             "i.id WHERE l.task = 'label' AND i.split = 'train'");
  long long all = q_int("SELECT count(*) FROM images WHERE split = 'train'");
  CHECK_INT(one, labelled);
  REQUIRE(write_config("{\"tasks\": [\"tone\"]}") == 0);
  REQUIRE(fx_curate("two.log", "--db %s --config h.json run --stage train", db) == 0);
  CHECK_INT(train_count("train_rows"), all);
  CHECK(all > labelled);
  CHECK_INT(train_count("raw_rows"), labelled);
  CHECK_INT(q_int("SELECT count(*) FROM metrics WHERE name = 'accuracy' AND run_id = "
                  "(SELECT max(id) FROM runs WHERE stage = 'train')"), 1);
  /* the tone task's classes never leak into task label's confusion matrix */
  char *conf = NULL, *path = test_scratch_path(db);
  conf = path ? fx_sql(path, "SELECT text FROM metrics WHERE name = 'confusion' AND run_id = "
                             "(SELECT max(id) FROM runs WHERE stage = 'train')") : NULL;
  CHECK(conf && strstr(conf, "\"classes\":[\"a\",\"b\"]"));
  cur_free(conf);
  cur_free(path);
  REQUIRE(write_config("{\"tasks\": [\"colour\"]}") == 0);
  CHECK(fx_curate("bad.log", "--db %s --config h.json run --stage train", db) != 0);
  check_log("bad.log", "train.tasks: \"colour\" is no task");
  REQUIRE(write_config("{\"tasks\": [\"label\"]}") == 0);
  CHECK(fx_curate("self.log", "--db %s --config h.json run --stage train", db) != 0);
  check_log("self.log", "train.tasks: \"label\" is train.task itself");
  REQUIRE(write_config("{\"tasks\": [\"tone\", \"tone\"]}") == 0);
  CHECK(fx_curate("twice.log", "--db %s --config h.json run --stage train", db) != 0);
  check_log("twice.log", "train.tasks: \"tone\" appears twice");
}

TEST(uda_trains_on_the_pairs_of_unlabelled_rows_and_their_variants) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(write_config("{\"uda_weight\": 1}") == 0);
  REQUIRE(fx_curate("none.log", "--db %s --config h.json run --stage train", db) == 0);
  check_log("none.log", "UDA on 0 pairs of an unlabelled train row and its variant (augment "
                        "makes none yet");
  /* augment (after balance) makes one variant of each unlabelled train
  ** original by default once UDA is on, besides the variants balance planned */
  REQUIRE(fx_curate("aug.log", "--db %s --config h.json run --stage balance", db) == 0);
  REQUIRE(fx_curate("aug.log", "--db %s --config h.json run --stage augment", db) == 0);
  long long unlabelled = q_int("SELECT count(*) FROM images WHERE split = 'train' AND parent_id "
                               "IS NULL AND source_path LIKE 'unlabeled/%'");
  long long uda = q_int("SELECT count(*) FROM images v JOIN images p ON p.id = v.parent_id "
                        "WHERE p.source_path LIKE 'unlabeled/%' AND v.source_path LIKE '%#uda0'");
  long long variants = q_int("SELECT count(*) FROM images WHERE parent_id IS NOT NULL");
  REQUIRE(unlabelled > 0);
  CHECK_INT(uda, unlabelled);
  /* they carry no label, not even the tone label their parents have */
  CHECK_INT(q_int("SELECT count(*) FROM labels l JOIN images v ON v.id = l.image_id "
                  "WHERE v.source_path LIKE '%#uda%'"), 0);
  REQUIRE(fx_curate("pairs.log", "--db %s --config h.json run --stage train --force", db) == 0);
  char want[128];
  snprintf(want, sizeof want, "train: UDA on %lld pairs of an unlabelled train row and its variant\n",
           unlabelled);
  check_log("pairs.log", want);
  CHECK_INT(q_int("SELECT count(*) FROM embeddings e JOIN images i ON i.id = e.image_id "
                  "WHERE i.parent_id IS NOT NULL"), variants);
  /* never in the manifest, whichever task (their parents are there with a tone label) */
  REQUIRE(write_config("{\"uda_weight\": 1, \"tasks\": [\"tone\"]}") == 0);
  REQUIRE(fx_curate("export.log", "--db %s --config h.json run --stage export", db) == 0);
  char *path = test_scratch_path(db);
  char *manifest = path ? fx_sql(path, "SELECT path FROM manifests ORDER BY id DESC LIMIT 1") : NULL;
  cur_free(path);
  REQUIRE(manifest && *manifest);
  manifest[strcspn(manifest, "\n")] = 0;
  CHECK_INT(test_sh("cd '%s' && grep -q 'unlabeled/' '%s' && ! grep -q '#uda' '%s'", T.scratch,
                    manifest, manifest), 0);
  cur_free(manifest);
  REQUIRE(write_config("{}") == 0);
  REQUIRE(fx_curate("off.log", "--db %s --config h.json run --stage train --force", db) == 0);
  char *log = fx_read("off.log");
  CHECK(log && !strstr(log, "UDA"));
  cur_free(log);
}

TEST(unlabelled_variants_follow_uda_and_are_checked) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(fx_curate("bal.log", "--db %s --config h.json run --stage balance", db) == 0);
  /* UDA off: none by default */
  REQUIRE(fx_curate("off.log", "--db %s --config h.json run --stage augment", db) == 0);
  CHECK_INT(q_int("SELECT count(*) FROM augment_variants WHERE variant < 0"), 0);
  /* two asked for without UDA: made, with a warning that only UDA uses them */
  REQUIRE(test_sh("cd '%s' && printf '%%s' '{\"embed\": {\"features\": \"pixels\", \"size\": 8}, "
                  "\"augment\": {\"unlabelled_variants\": 2}}' > h.json", T.scratch) == 0);
  REQUIRE(fx_curate("two.log", "--db %s --config h.json run --stage augment", db) == 0);
  check_log("two.log", "but train.uda_weight is 0: only UDA uses them");
  CHECK_INT(q_int("SELECT count(*) FROM augment_variants WHERE variant IN (-1, -2) AND run_id = "
                  "(SELECT max(id) FROM runs WHERE stage = 'augment')"),
            2 * q_int("SELECT count(*) FROM images WHERE split = 'train' AND parent_id IS NULL "
                      "AND source_path LIKE 'unlabeled/%'"));
  /* a shard makes part of balance's plan only: asked for unlabelled variants, it says so */
  CHECK(fx_curate("shard.log", "--db %s --config h.json run --stage augment --shard 1/2", db) != 0);
  check_log("shard.log", "a sharded run makes balance's plan only");
  REQUIRE(test_sh("cd '%s' && printf '%%s' '{\"augment\": {\"unlabelled_variants\": -2}}' > "
                  "h.json", T.scratch) == 0);
  CHECK(fx_curate("bad.log", "--db %s --config h.json run --stage augment", db) != 0);
  check_log("bad.log", "augment.unlabelled_variants: -2 is not -1 (auto) or a count from 0 to 16");
}

TEST(ema_decay_is_checked_and_used) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(write_config("{\"ema_decay\": 1}") == 0);
  CHECK_INT(fx_curate("one.log", "--db %s --config h.json run --stage train", db), 1);
  check_log("one.log", "train.ema_decay: must be at least 0 and below 1 (0 = off)");
  REQUIRE(write_config("{\"ema_decay\": 0.99}") == 0);
  CHECK_INT(fx_curate("ok.log", "--db %s --config h.json run --stage train", db), 0);
  CHECK_INT(q_int("SELECT count(*) FROM metrics WHERE name = 'accuracy' AND run_id = "
                  "(SELECT max(id) FROM runs WHERE stage = 'train' AND status = 'complete')"), 1);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(a_second_task_adds_its_rows_and_task_label_is_scored);
  RUN(uda_trains_on_the_pairs_of_unlabelled_rows_and_their_variants);
  RUN(unlabelled_variants_follow_uda_and_are_checked);
  RUN(ema_decay_is_checked_and_used);
  return test_finish();
}
