/* test_config.c -- curate.json (pipeline/config.c).
**
** config-1.*: the defaults file holds every option of every stage.
** config-2.*: unknown keys and wrong types are errors naming them.
** config-3.*: the config hash follows options and seed.
*/
#include "config.h"
#include "stage.h"
#include "testlib.h"

static int load_text(const char *name, const char *text, cur_config **cfg) {
  char *path = test_scratch_path(name);
  int missing, rc = test_write_file(path, text, strlen(text)) ? CUR_EIO : cur_config_load(path, cfg, &missing);
  cur_free(path);
  return rc;
}

TEST(defaults_file_lists_every_option_of_every_stage) {
  char *path = test_scratch_path("defaults.json");
  cur_config *cfg;
  int missing, n;
  test_sh("rm -f '%s'", path);
  REQUIRE_OK(cur_config_write_defaults(path));
  CHECK(cur_config_write_defaults(path) != CUR_OK);  /* never overwrites */
  REQUIRE_OK(cur_config_load(path, &cfg, &missing));
  CHECK_INT(missing, 0);
  CHECK_INT(cur_config_seed(cfg), 42);
  const cur_stage *const *stages = cur_stages(&n);
  for (int i = 0; i < n; i++) {
    const cJSON *sec = cur_config_section(cfg, stages[i]->name);
    REQUIRE(sec != NULL);
    for (const cur_option *o = stages[i]->options; o && o->key; o++)
      CHECK(cJSON_GetObjectItemCaseSensitive(sec, o->key) != NULL);
  }
  CHECK_INT(cur_opt_int(cur_config_section(cfg, "ingest"), "batch_size"), 2048);
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

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(defaults_file_lists_every_option_of_every_stage);
  RUN(unknown_keys_and_wrong_types_are_named);
  RUN(range_options_reject_reversed_and_non_finite_bounds);
  RUN(partial_file_is_merged_over_defaults_and_hash_follows_it);
  return test_finish();
}
