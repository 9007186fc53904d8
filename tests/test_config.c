/* test_config.c -- curate.json (pipeline/config.c).
**
** config-1.*: the defaults file holds every option of every stage.
** config-2.*: unknown keys and wrong types are errors naming them.
** config-3.*: the config hash follows options and seed.
** config-4.*: hostile files: integers past an int, repeated keys, trailing
**             text, invalid UTF-8; one seed range for the file and --seed.
*/
#include <cjson/cJSON.h>

#include "config.h"
#include "fixtures.h"
#include "stage.h"
#include "stages.h"
#include "testlib.h"

static int load_text(const char *name, const char *text, cur_config **cfg) {
  char *path = test_scratch_path(name);
  int missing, rc = test_write_file(path, text, strlen(text)) ? CUR_EIO : cur_config_load(path, cur_stage_registry(), cfg, &missing);
  cur_free(path);
  return rc;
}

TEST(defaults_file_lists_every_option_of_every_stage) {
  char *path = test_scratch_path("defaults.json");
  cur_config *cfg;
  int missing, n;
  test_sh("rm -f '%s'", path);
  REQUIRE_OK(cur_config_write_defaults(path, cur_stage_registry()));
  CHECK(cur_config_write_defaults(path, cur_stage_registry()) != CUR_OK);  /* never overwrites */
  REQUIRE_OK(cur_config_load(path, cur_stage_registry(), &cfg, &missing));
  CHECK_INT(missing, 0);
  CHECK_INT(cur_config_seed(cfg), 42);
  /* the file itself, not the loaded config (which merges the defaults under
  ** whatever the file holds, so it would pass for a file of "{}") */
  char *text = fx_read("defaults.json");
  cJSON *file = text ? cJSON_Parse(text) : NULL;
  REQUIRE(cJSON_IsObject(file));
  cur_stage_list registry = cur_stage_registry();
  const cur_stage *const *stages = registry.at;
  n = registry.n;
  for (int i = 0; i < n; i++) {
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(file, stages[i]->name);
    CHECK_MSG(cJSON_IsObject(sec), "defaults.json has no section %s", stages[i]->name);
    int options = 0;
    for (const cur_option *o = stages[i]->options; o && o->key; o++, options++)
      CHECK_MSG(cJSON_GetObjectItemCaseSensitive(sec, o->key) != NULL, "defaults.json lacks %s.%s",
                stages[i]->name, o->key);
    CHECK_MSG(cJSON_GetArraySize(sec) == options, "defaults.json: %s has %d keys, the stage %d options",
              stages[i]->name, cJSON_GetArraySize(sec), options);
  }
  /* a few values as the docs give them (docs/stages/ingest.md, balance.md) */
  CHECK_NEAR(JSON_NUM(file, "seed"), 42, 0);
  CHECK_NEAR(JSON_NUM(JSON_GET(file, "ingest"), "batch_size"), 16384, 0);
  CHECK_STR(JSON_STR(JSON_GET(file, "balance"), "target"), "median");
  cJSON_Delete(file);
  cur_free(text);
  CHECK_INT(cur_opt_int(cur_config_section(cfg, "ingest"), "batch_size"), 16384);
  CHECK_INT(cur_opt_int(cur_config_section(cfg, "ingest"), "keep_quarantined_bytes"), 1 << 20);
  cur_config_free(cfg);
  cur_free(path);
}

TEST(unknown_keys_and_wrong_types_are_named) {
  cur_config *cfg;
  CHECK_INT(load_text("a.json", "{\"ingest\": {\"batch_sise\": 3}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "ingest.batch_sise: unknown option") != NULL);
  CHECK_INT(load_text("b.json", "{\"ingest\": {\"batch_size\": \"big\"}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "ingest.batch_size: expected an integer, got a string") != NULL);
  CHECK_INT(load_text("c.json", "{\"ingset\": {}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "ingset: unknown key") != NULL);
  CHECK_INT(load_text("d.json", "{\"ingest\": {\"batch_size\": 2.5}}", &cfg), CUR_ECONFIG);
  CHECK_INT(load_text("e.json", "{\"split\": {\"val\": 1.5}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "split.val: must be between 0 and 1") != NULL);
  CHECK_INT(load_text("f.json", "{\"ingest\": {\"classes\": {\"label\": [\"a\", 3]}}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "ingest.classes.label") != NULL);
  CHECK_INT(load_text("g.json", "{\"seed\": 1,\n \"ingest\": {,}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "not valid JSON (near line 2)") != NULL);
}

TEST(range_options_reject_reversed_and_non_finite_bounds) {
  cur_option spec = {"rotate", CUR_OPT_RANGE, "[0, 1]", "", NULL};
  cJSON *v = cJSON_Parse("[3, -3]");
  REQUIRE(v);
  CHECK_INT(cur_option_validate(&spec, v, "augment.rotate"), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "augment.rotate: min 3 > max -3") != NULL);
  cJSON_Delete(v);
  v = cJSON_Parse("[-3, 3]");
  CHECK_OK(cur_option_validate(&spec, v, "augment.rotate"));
  cJSON_Delete(v);
}

TEST(partial_file_is_merged_over_defaults_and_hash_follows_it) {
  cur_config *a, *b;
  char ha[65], hb[65], hc[65];
  REQUIRE_OK(load_text("h.json", "{\"ingest\": {\"batch_size\": 8}}", &a));
  REQUIRE_OK(load_text("i.json", "{\"seed\": 7}", &b));
  CHECK_INT(cur_opt_int(cur_config_section(a, "ingest"), "batch_size"), 8);
  CHECK_INT(cur_opt_int(cur_config_section(a, "ingest"), "max_pixels"), 100000000);
  CHECK_INT(cur_config_seed(b), 7);
  REQUIRE_OK(cur_config_hash(cur_config_section(a, "ingest"), NULL, 1, ha));
  REQUIRE_OK(cur_config_hash(cur_config_section(b, "ingest"), NULL, 1, hb));
  REQUIRE_OK(cur_config_hash(cur_config_section(b, "ingest"), NULL, 2, hc));
  CHECK(strcmp(ha, hb) != 0);
  CHECK(strcmp(hb, hc) != 0);
  REQUIRE_OK(cur_config_hash(cur_config_section(b, "ingest"), NULL, 1, hc));
  CHECK_STR(hb, hc);
  /* an option left out of the hash (a batch size) changes nothing */
  static const char *const unhashed[] = {"batch_size", NULL};
  REQUIRE_OK(cur_config_hash(cur_config_section(a, "ingest"), unhashed, 1, ha));
  REQUIRE_OK(cur_config_hash(cur_config_section(b, "ingest"), unhashed, 1, hb));
  CHECK_STR(ha, hb);
  cur_config_free(a);
  cur_config_free(b);
}

TEST(integers_past_their_range_are_refused_not_wrapped) {
  cur_config *cfg;
  /* 4294967301 = 2^32 + 5 was read as 5 epochs */
  CHECK_INT(load_text("j.json", "{\"train\": {\"epochs\": 4294967301}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "train.epochs: 4294967301 is out of range (at most 2147483647)") != NULL);
  CHECK_INT(load_text("k.json", "{\"train\": {\"epochs\": 2147483648}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "train.epochs: 2147483648 is out of range (at most 2147483647)") != NULL);
  CHECK_INT(load_text("l.json", "{\"ingest\": {\"batch_size\": 2147483648}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "ingest.batch_size: 2147483648 is out of range (at most 2147483647)") != NULL);
  /* an option without a check of its own: the lower bound too */
  cur_option spec = {"n", CUR_OPT_INT, "0", "", NULL};
  cJSON *v = cJSON_Parse("-2147483649");
  REQUIRE(v);
  CHECK_INT(cur_option_validate(&spec, v, "x.n"), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "x.n: -2147483649 is out of range (at least -2147483648)") != NULL);
  cJSON_Delete(v);
  /* a byte count past 2^31 is a fair max_file_bytes */
  REQUIRE_OK(load_text("m.json", "{\"ingest\": {\"max_file_bytes\": 8589934592}}", &cfg));
  CHECK_INT(cur_opt_int(cur_config_section(cfg, "ingest"), "max_file_bytes"), 8589934592LL);
  cur_config_free(cfg);
}

TEST(repeated_keys_trailing_text_and_invalid_utf8_are_refused) {
  cur_config *cfg;
  CHECK_INT(load_text("n.json", "{\"train\": {\"epochs\": 3, \"epochs\": 30}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "n.json: train.epochs appears twice") != NULL);
  CHECK_INT(load_text("o.json", "{\"seed\": 1, \"seed\": 2}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "o.json: seed appears twice") != NULL);
  CHECK_INT(load_text("p.json", "{\"seed\": 1}\n\n{\"seed\": 2}\n", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "p.json: text after the JSON object (line 3)") != NULL);
  CHECK_INT(load_text("q.json", "{\"ingest\": {\"unlabeled_dir\": \"un\xfflabeled\"}}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "q.json: not valid UTF-8 (line 1)") != NULL);
  /* trailing white space is fine */
  REQUIRE_OK(load_text("r.json", "{\"seed\": 1}\n \n", &cfg));
  cur_config_free(cfg);
}

TEST(seed_has_one_range_in_the_file_and_on_the_command_line) {
  cur_config *cfg;
  const char *max = "9007199254740991";  /* 2^53 - 1: the largest integer a JSON number holds exactly */
  char text[64];
  snprintf(text, sizeof text, "{\"seed\": %s}", max);
  REQUIRE_OK(load_text("s.json", text, &cfg));
  CHECK_INT(cur_config_seed(cfg), 9007199254740991LL);
  cur_config_free(cfg);
  CHECK_INT(load_text("t.json", "{\"seed\": -1}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "seed: -1 is out of range (0 to 9007199254740991)") != NULL);
  CHECK_INT(load_text("u.json", "{\"seed\": 9007199254740992}", &cfg), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "seed: 9007199254740992 is out of range (0 to 9007199254740991)") != NULL);
  /* the command line takes the same range, with the same words */
  CHECK_INT(test_sh("'%s' --seed %s --config '%s/s.json' config show > /dev/null 2>&1", T.curate, max,
                    T.scratch), 0);
  CHECK_INT(test_sh("'%s' --seed 9007199254740992 config show 2> '%s/seed.log'", T.curate, T.scratch), 2);
  char *path = test_scratch_path("seed.log"), *log = NULL;
  size_t len;
  CHECK(path && cur_file_read(path, &log, &len) == CUR_OK &&
        strstr(log, "--seed: 9007199254740992 is out of range (0 to 9007199254740991)") != NULL);
  cur_free(log);
  cur_free(path);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(defaults_file_lists_every_option_of_every_stage);
  RUN(unknown_keys_and_wrong_types_are_named);
  RUN(range_options_reject_reversed_and_non_finite_bounds);
  RUN(partial_file_is_merged_over_defaults_and_hash_follows_it);
  RUN(integers_past_their_range_are_refused_not_wrapped);
  RUN(repeated_keys_trailing_text_and_invalid_utf8_are_refused);
  RUN(seed_has_one_range_in_the_file_and_on_the_command_line);
  return test_finish();
}
