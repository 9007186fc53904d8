/* test_hostile_corpus.c -- ingests the corpus scripts/make-hostile-corpus writes,
** one hostile input per database, and checks what became of each.
**
** hostile-1.*: bad images are quarantined with their reason, good ones kept.
** hostile-2.*: the 5-component JPEG 60000 pixels wide (a stack overflow in
**              the JPEG probe) is recorded, not a crash.
** hostile-3.*: archive escapes, links and bombs are rejected entry by entry,
**              the archive's good image kept.
** hostile-4.*: broken archives and label files end the command with an
**              exit status and a message, never a signal.
**
** Every case also holds the corpus-wide rule: a rejected or quarantined
** input always carries a reason.  The generator needs Debian's python3 with
** Pillow (scripts/setup.sh installs python3-pil); without it the test skips.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

static int have_corpus;

/* Runs `curate ingest ARGS` into a fresh database DB (scratch-relative);
** returns the exit status (128 + N when signal N ended it). */
static int ingest(const char *db, const char *args) {
  char log[256];
  snprintf(log, sizeof log, "%s.log", db);
  test_sh("cd '%s' && rm -f '%s' '%s-wal' '%s-shm'", T.scratch, db, db, db);
  if (fx_curate("init.log", "--db %s --config none.json init", db) != 0) return -1;
  return fx_curate(log, "--db %s --config none.json ingest %s", db, args);
}

static char *db_path(const char *db) {
  return test_scratch_path(db);
}

/* The status and reason of the image ingested from PATH, "status: reason". */
static char *outcome(const char *db, const char *path) {
  char *p = db_path(db), *sql = cur_asprintf(
      "SELECT status || ': ' || coalesce(status_reason, '') FROM images WHERE source_path = '%s'", path);
  char *r = p && sql ? fx_sql(p, sql) : NULL;
  if (r && *r && r[strlen(r) - 1] == '\n') r[strlen(r) - 1] = 0;
  cur_free(p);
  cur_free(sql);
  return r;
}

/* Checks that OUTCOME of PATH starts with WANT. */
static void check_outcome(const char *db, const char *path, const char *want) {
  char *got = outcome(db, path);
  if (!got || strncmp(got, want, strlen(want)) != 0)
    test_fail(__FILE__, __LINE__, "%s: '%s', expected '%s...'", path, got ? got : "(none)", want);
  cur_free(got);
}

/* The corpus-wide rule: nothing is rejected or quarantined without a reason. */
static void check_reasons(const char *db) {
  char *p = db_path(db);
  CHECK_INT(fx_sql_int(p, "SELECT count(*) FROM source_entries WHERE outcome IN "
                          "('rejected', 'quarantined') AND coalesce(reason, '') = ''"), 0);
  CHECK_INT(fx_sql_int(p, "SELECT count(*) FROM images WHERE status = 'quarantined' AND "
                          "coalesce(status_reason, '') = ''"), 0);
  cur_free(p);
}

TEST(bad_images_are_quarantined_with_their_reason) {
  if (!have_corpus) { test_skip("no corpus (python3 with Pillow missing)"); return; }
  REQUIRE(test_sh("cd '%s' && rm -rf img && mkdir img && cp -r hc/images/good hc/images/bad img/"
                  " && rm img/bad/wide-5-components.jpg", T.scratch) == 0);
  CHECK_INT(ingest("img.db", "img"), 3);
  check_outcome("img.db", "good/a.jpg", "ok");
  check_outcome("img.db", "good/b.png", "ok");
  check_outcome("img.db", "good/c.webp", "ok");
  check_outcome("img.db", "bad/empty.jpg", "quarantined: empty file");
  check_outcome("img.db", "bad/text.jpg", "quarantined: not an image");
  check_outcome("img.db", "bad/trunc.jpg", "quarantined: cannot decode");
  check_outcome("img.db", "bad/trunc.png", "quarantined: cannot decode");
  check_outcome("img.db", "bad/huge-header.png", "quarantined: image is 100000 x 100000 pixels");
  /* ok or quarantined (issue 11, item 2), but recorded */
  char *five = outcome("img.db", "bad/small-5-components.jpg");
  CHECK(five && (strncmp(five, "ok", 2) == 0 || strncmp(five, "quarantined: ", 13) == 0));
  cur_free(five);
  check_reasons("img.db");
}

TEST(wide_five_component_jpeg_is_recorded_not_a_crash) {
  if (!have_corpus) { test_skip("no corpus (python3 with Pillow missing)"); return; }
  REQUIRE(test_sh("cd '%s' && rm -rf wide && mkdir wide && cp hc/images/bad/wide-5-components.jpg wide/",
                  T.scratch) == 0);
  int code = ingest("wide.db", "wide");
  CHECK(code == 0 || code == 3);
  char *got = outcome("wide.db", "wide-5-components.jpg");
  CHECK(got && *got);
  cur_free(got);
  check_reasons("wide.db");
}

/* Ingests archive NAME: the good entry GOOD is kept, every other image
** entry rejected or a duplicate, and no path leaving the archive stored. */
static void check_archive(const char *name, const char *good, int rejected) {
  char db[128], args[256];
  snprintf(db, sizeof db, "%s.db", name);
  snprintf(args, sizeof args, "hc/archives/%s", name);
  CHECK_INT(ingest(db, args), 3);
  check_outcome(db, good, "ok");
  char *p = db_path(db);
  CHECK_INT(fx_sql_int(p, "SELECT count(*) FROM images"), 1);
  CHECK_INT(fx_sql_int(p, "SELECT count(*) FROM source_entries WHERE outcome = 'rejected'"), rejected);
  CHECK_INT(fx_sql_int(p, "SELECT count(*) FROM images WHERE source_path LIKE '%..%' OR "
                          "source_path LIKE '/%' OR source_path LIKE '%\\%'"), 0);
  cur_free(p);
  check_reasons(db);
}

TEST(archive_escapes_links_and_bombs_are_rejected_entry_by_entry) {
  if (!have_corpus) { test_skip("no corpus (python3 with Pillow missing)"); return; }
  /* ../, /abs, a/../.., two symlinks and two hardlinks */
  check_archive("escape.tar", "cls/good.jpg", 7);
  /* ../, /abs, ..\ and a symlink */
  check_archive("escape.zip", "cls/good.png", 4);
  /* 300 MB of zeros, size declared, then streamed */
  check_archive("bomb.zip", "cls/good.jpg", 1);
  check_archive("bomb-stream.zip", "cls/good.jpg", 1);
  char *p = db_path("bomb-stream.zip.db");
  char *why = fx_sql(p, "SELECT reason FROM source_entries WHERE path = 'cls/bomb.png'");
  CHECK(why && strstr(why, "ingest.max_file_bytes"));
  cur_free(why);
  cur_free(p);
}

TEST(broken_archives_and_label_files_end_with_a_status_not_a_signal) {
  if (!have_corpus) { test_skip("no corpus (python3 with Pillow missing)"); return; }
  static const char *const archives[] = {"huge-size.tar", "truncated.tar", "truncated.tar.gz",
                                         "truncated.zip", "empty.tar", "garbage.tar"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(archives); i++) {
    char db[128], args[256];
    snprintf(db, sizeof db, "%s.db", archives[i]);
    snprintf(args, sizeof args, "hc/archives/%s", archives[i]);
    int code = ingest(db, args);
    if (code != 0 && code != 1 && code != 3)
      test_fail(__FILE__, __LINE__, "%s: exit status %d", archives[i], code);
    check_reasons(db);
  }
  /* the 1 TB entry is refused from its header; the image before it is kept */
  check_outcome("huge-size.tar.db", "cls/good.jpg", "ok");
  static const char *const labels[] = {"invalid-utf8.csv", "wide.csv", "long-row.csv",
                                       "long-field.csv", "nul.csv", "odd-types.jsonl"};
  REQUIRE(test_sh("cd '%s' && rm -rf lab && mkdir lab && cp -r hc/images/good lab/", T.scratch) == 0);
  for (size_t i = 0; i < CUR_ARRAY_LEN(labels); i++) {
    char db[128], args[256];
    snprintf(db, sizeof db, "%s.db", labels[i]);
    snprintf(args, sizeof args, "lab --labels hc/labels/%s", labels[i]);
    int code = ingest(db, args);
    if (code != 0 && code != 1 && code != 3)
      test_fail(__FILE__, __LINE__, "%s: exit status %d", labels[i], code);
  }
  char *log = fx_read("nul.csv.db.log");
  CHECK(log && strstr(log, "nul.csv: holds NUL bytes"));
  cur_free(log);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  have_corpus = test_sh("/usr/bin/python3 -c 'import PIL' 2> /dev/null") == 0 &&
                test_sh("'%s/scripts/make-hostile-corpus' '%s/hc'", CURATE_SOURCE_DIR, T.scratch) == 0;
  RUN(bad_images_are_quarantined_with_their_reason);
  RUN(wide_five_component_jpeg_is_recorded_not_a_crash);
  RUN(archive_escapes_links_and_bombs_are_rejected_entry_by_entry);
  RUN(broken_archives_and_label_files_end_with_a_status_not_a_signal);
  return test_finish();
}
