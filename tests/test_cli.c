/* test_cli.c -- the curate command line: help matches docs/cli.md, exit codes.
**
** cli-1.*: every command's --help text appears word for word in docs/cli.md.
** cli-2.*: exit codes for usage errors, a missing database, an old schema.
** cli-3.*: a mistyped --config path is an error; a leftover read-only -shm
**          file is named.
*/
#include <stdlib.h>
#include <unistd.h>

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
                                         "review", "config", "clip", "export", "compare",
                                         "sources", "split", "serve", "report", "merge"};
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
  CHECK_INT(fx_curate("e4.log", "--db e.db run --stage nope"), 2);  /* was 1 */
  CHECK_INT(fx_curate("e4b.log", "--db e.db run --from nope"), 2);
  char *e4 = fx_read("e4.log");
  CHECK(e4 && strstr(e4, "--stage: no stage named 'nope'") != NULL);
  cur_free(e4);
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

TEST(missing_explicit_config_is_an_error_not_defaults) {
  /* `curate run` with a mistyped --config used to note it and rerun every
  ** stage with the defaults */
  REQUIRE(fx_curate("m1.log", "--db m.db --config m.json init") == 0);
  CHECK_INT(fx_curate("m2.log", "--db m.db --config m.jsn run"), 2);
  char *log = fx_read("m2.log");
  CHECK(log && strstr(log, "--config m.jsn: no such file") != NULL);
  cur_free(log);
  CHECK_INT(fx_curate("m3.log", "--db m.db --config=m.jsn status"), 2);
  CHECK_INT(fx_curate("m4.log", "--config m.jsn config show"), 2);
  /* init creates the file it is given; the default path may be absent */
  CHECK_INT(fx_curate("m5.log", "--db m.db --config m.json status"), 0);
  CHECK_INT(test_sh("cd '%s' && rm -f curate.json", T.scratch), 0);
  CHECK_INT(fx_curate("m6.log", "--db m.db status"), 0);
  log = fx_read("m6.log");
  CHECK(log && strstr(log, "note: curate.json not found; using the default options") != NULL);
  cur_free(log);
}

TEST(read_only_shm_file_is_named) {
  /* as root every file is writable: run curate as nobody then */
  const char *as = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  if (geteuid() == 0 && test_sh("command -v setpriv > /dev/null") != 0) {
    test_skip("setpriv is missing, and root can write a read-only file");
    return;
  }
  REQUIRE(test_sh("cd '%s' && rm -rf shm && mkdir shm && chmod 777 shm", T.scratch) == 0);
  REQUIRE(fx_curate("s1.log", "--db shm/s.db --config shm/s.json init") == 0);
  REQUIRE(test_sh("cd '%s/shm' && chmod 666 s.db s.json && : > s.db-shm && chmod 444 s.db-shm",
                  T.scratch) == 0);
  CHECK_INT(test_sh("cd '%s' && %s'%s' --db shm/s.db --config shm/s.json run 2> s2.log", T.scratch,
                    as, T.curate), 1);
  char *log = fx_read("s2.log");
  CHECK(log && strstr(log, "shm/s.db-shm is read-only") != NULL);
  cur_free(log);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(every_help_text_is_in_the_docs_word_for_word);
  RUN(exit_codes_follow_the_documented_table);
  RUN(config_show_names_a_bad_key);
  RUN(missing_explicit_config_is_an_error_not_defaults);
  RUN(read_only_shm_file_is_named);
  return test_finish();
}
