/* test_cli.c -- the curate command line: help matches docs/cli.md, exit codes.
**
** cli-1.*: every command's --help text appears word for word in docs/cli.md.
** cli-2.*: exit codes for usage errors, a missing database, an old schema.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

/* The repository's docs/cli.md, found from the test's own source path. */
static char *cli_doc(void) {
  char *path = cur_strdup(__FILE__);
  char *slash = path ? strrchr(path, '/') : NULL;
  if (!slash) return NULL;
  *slash = 0;
  char *doc_path = cur_asprintf("%s/../docs/cli.md", path);
  cur_free(path);
  char *doc = doc_path ? fx_read(doc_path) : NULL;
  cur_free(doc_path);
  return doc;
}

TEST(every_help_text_is_in_the_docs_word_for_word) {
  static const char *const commands[] = {"", "init", "ingest", "run", "status", "flagged",
                                         "review", "config", "clip", "export", "compare", "split"};
  char *doc = cli_doc();
  REQUIRE(doc);
  for (size_t i = 0; i < CUR_ARRAY_LEN(commands); i++) {
    CHECK_INT(test_sh("'%s' %s --help > '%s/help.txt'", T.curate, commands[i], T.scratch), 0);
    char *help = fx_read("help.txt");
    REQUIRE(help && strlen(help) > 40);
    if (!strstr(doc, help)) test_fail(__FILE__, __LINE__, "`curate %s --help` is not in docs/cli.md:\n%s", commands[i], help);
    cur_free(help);
  }
  cur_free(doc);
}

TEST(exit_codes_follow_the_documented_table) {
  CHECK_INT(fx_curate("e1.log", "no-such-command"), 2);
  CHECK_INT(fx_curate("e2.log", "--db e.db init"), 0);
  CHECK_INT(fx_curate("e3.log", "--db e.db ingest"), 2);
  CHECK_INT(fx_curate("e4.log", "--db e.db run --stage nope"), 1);
  CHECK_INT(fx_curate("e5.log", "--db missing.db status"), 1);
  char *log = fx_read("e5.log");
  CHECK(log && strstr(log, "missing.db: no such database: run `curate init` first") != NULL);
  cur_free(log);
  CHECK_INT(test_sh("sqlite3 '%s/e.db' 'PRAGMA user_version = 99'", T.scratch), 0);
  CHECK_INT(fx_curate("e6.log", "--db e.db status"), 4);
  CHECK_INT(fx_curate("e7.log", "--threads lots status"), 2);
}

TEST(config_show_names_a_bad_key) {
  const char *bad = "{\"ingest\": {\"max_pixel\": 5}}";
  char *path = test_scratch_path("bad.json");
  REQUIRE(test_write_file(path, bad, strlen(bad)) == 0);
  CHECK_INT(fx_curate("c.log", "--config bad.json config show"), 1);
  char *log = fx_read("c.log");
  CHECK(log && strstr(log, "bad.json: ingest.max_pixel: unknown option") != NULL);
  cur_free(log);
  cur_free(path);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(every_help_text_is_in_the_docs_word_for_word);
  RUN(exit_codes_follow_the_documented_table);
  RUN(config_show_names_a_bad_key);
  return test_finish();
}
