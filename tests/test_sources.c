/* test_sources.c -- one failing source never blocks the others, entries whose
** outcome depended on options or permissions are read again, `curate
** sources` lists and removes sources, quarantined rows stay small.
**
** sources-1.*: a CSV given as a source, a truncated tar, a moved folder:
**              named with the reason, exit 3, the rest ingested, later runs go on.
** sources-2.*: re-evaluation: max_file_bytes, max_pixels, permissions; corrupt
**              bytes are not decoded again.
** sources-3.*: `curate sources` and `curate sources remove [--purge [--force]]`.
** sources-4.*: a large quarantined entry keeps at most keep_quarantined_bytes.
*/

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "testlib.h"

/* Runs SQL on scratch/DB and returns the first column of the first row. */
static long long q_int(const char *db, const char *sql) {
  char *path = test_scratch_path(db);
  long long v = path ? fx_sql_int(path, sql) : -1;
  cur_free(path);
  return v;
}

/* The rows of SQL on scratch/DB joined by newlines, without the last one. */
static char *q_text(const char *db, const char *sql) {
  char *path = test_scratch_path(db);
  char *r = path ? fx_sql(path, sql) : NULL;
  cur_free(path);
  if (r && *r && r[strlen(r) - 1] == '\n') r[strlen(r) - 1] = 0;
  return r;
}

static int write_text(const char *rel, const char *text) {
  char *p = test_scratch_path(rel);
  int rc = p ? test_write_file(p, text, strlen(text)) : -1;
  cur_free(p);
  return rc;
}

/* A folder REL with N JPEGs REL/cls/NN.jpg (W x W pixels) from SEED on. */
static int image_folder(const char *rel, int n, int w, unsigned seed) {
  int rc = test_sh("cd '%s' && rm -rf '%s' && mkdir -p '%s/cls'", T.scratch, rel, rel);
  for (int i = 0; rc == 0 && i < n; i++) {
    char name[256];
    snprintf(name, sizeof name, "%s/cls/%02d.jpg", rel, i);
    char *p = test_scratch_path(name);
    rc = p ? fx_image_file(p, w, w, seed + (unsigned)i, "jpeg") : -1;
    cur_free(p);
  }
  return rc;
}

/* True when the log at REL holds every one of the NULL-ended strings. */
static int log_has(const char *rel, ...) {
  va_list ap;
  char *log = fx_read(rel);
  int ok = log != NULL;
  va_start(ap, rel);
  for (const char *s; ok && (s = va_arg(ap, const char *));)
    if (!strstr(log, s)) {
      test_fail(__FILE__, __LINE__, "%s lacks \"%s\":\n%s", rel, s, log);
      ok = 0;
    }
  va_end(ap);
  cur_free(log);
  return ok;
}

TEST(csv_given_as_a_source_is_named_and_the_rest_is_ingested) {
  REQUIRE(image_folder("c/good", 3, 16, 10) == 0);
  REQUIRE(write_text("c/labels.csv", "path,label\ncls/00.jpg,cat\n") == 0);
  CHECK_INT(fx_curate("c-init.log", "--db c.db --config none.json init"), 0);
  CHECK_INT(fx_curate("c1.log", "--db c.db --config none.json ingest c/good c/labels.csv"), 3);
  CHECK(log_has("c1.log", "c/labels.csv: not a readable archive", "a label file goes with --labels",
                "not registered", NULL));
  CHECK_INT(q_int("c.db", "SELECT count(*) FROM images WHERE status = 'ok'"), 3);
  CHECK_INT(q_int("c.db", "SELECT count(*) FROM sources"), 1);
  /* the project is not stuck: the next commands run */
  CHECK_INT(fx_curate("c2.log", "--db c.db --config none.json ingest c/good"), 0);
  CHECK_INT(fx_curate("c3.log", "--db c.db --config none.json run --until ingest"), 0);
}

/* Writes a tar of four JPEGs to REL and, when CUT, cuts it halfway through
** the third entry's data, found by searching the tar for its bytes. */
static int tar_of_four(const char *rel, int cut) {
  unsigned char *data[4] = {0};
  size_t lens[4];
  const char *names[4] = {"cls/a.jpg", "cls/b.jpg", "cls/c.jpg", "cls/d.jpg"};
  int rc = 0;
  for (int i = 0; i < 4; i++) rc |= fx_image(24, 24, 40 + (unsigned)i, "jpeg", &data[i], &lens[i]);
  char *path = test_scratch_path(rel);
  if (rc == 0 && path) rc = fx_archive(path, "tar", 4, names, (const unsigned char *const *)data, lens);
  char *bytes = NULL;
  size_t len = 0;
  if (rc == 0 && cut && (rc = cur_file_read(path, &bytes, &len)) == CUR_OK) {
    const char *at = memmem(bytes, len, data[2], lens[2]);
    rc = at ? test_write_file(path, bytes, (size_t)(at - bytes) + lens[2] / 2) : -1;
  }
  cur_free(bytes);
  cur_free(path);
  for (int i = 0; i < 4; i++) cur_free(data[i]);
  return rc;
}

TEST(truncated_tar_keeps_what_was_read_and_is_marked_failed) {
  REQUIRE(image_folder("t/good", 2, 16, 20) == 0);
  REQUIRE(tar_of_four("t/cut.tar", 1) == 0);
  CHECK_INT(fx_curate("t-init.log", "--db t.db --config none.json init"), 0);
  CHECK_INT(fx_curate("t1.log", "--db t.db --config none.json ingest t/cut.tar t/good"), 3);
  CHECK(log_has("t1.log", "source 1 failed", "cut.tar: archive read error", "sources remove 1", NULL));
  /* the two entries before the cut stay; the one cut through is not recorded */
  char *paths = q_text("t.db", "SELECT group_concat(path || ' ' || outcome, ',') FROM "
                       "(SELECT * FROM source_entries WHERE source_id = 1 ORDER BY path)");
  CHECK_STR(paths, "cls/a.jpg ingested,cls/b.jpg ingested");
  cur_free(paths);
  char *state = q_text("t.db", "SELECT group_concat(state, ',') FROM (SELECT state FROM sources ORDER BY id)");
  CHECK_STR(state, "failed,ok");
  cur_free(state);
  CHECK_INT(q_int("t.db", "SELECT count(*) FROM sources WHERE id = 1 AND "
                          "state_reason LIKE '%cut.tar: archive read error: %'"), 1);
  CHECK_INT(q_int("t.db", "SELECT count(*) FROM images WHERE status = 'ok'"), 4);
  char *status = q_text("t.db", "SELECT status FROM runs WHERE stage = 'ingest' ORDER BY id DESC LIMIT 1");
  CHECK_STR(status, "complete");  /* not a failed run resumed forever */
  cur_free(status);
  /* nothing changed: up to date, not stuck */
  CHECK_INT(fx_curate("t2.log", "--db t.db --config none.json run --until ingest"), 0);
  /* the whole archive put in its place: the rest is read, the source is ok,
  ** and the entries are those of an ingest of the whole archive */
  REQUIRE(tar_of_four("t/cut.tar", 0) == 0);
  CHECK_INT(fx_curate("t3.log", "--db t.db --config none.json ingest t/cut.tar"), 0);
  CHECK_INT(q_int("t.db", "SELECT count(*) FROM sources WHERE id = 1 AND state = 'ok' AND "
                          "state_reason IS NULL"), 1);
  CHECK_INT(fx_curate("t-whole.log", "--db whole.db --config none.json init"), 0);
  CHECK_INT(fx_curate("t4.log", "--db whole.db --config none.json ingest t/cut.tar"), 0);
  const char *entries = "SELECT group_concat(e.path || ' ' || e.outcome || ' ' || i.sha256, ',') FROM "
                        "(SELECT * FROM source_entries WHERE source_id = 1 ORDER BY path) e "
                        "JOIN images i ON i.id = e.image_id";
  char *resumed = q_text("t.db", entries), *whole = q_text("whole.db", entries);
  CHECK(resumed && strstr(resumed, "cls/d.jpg ingested") != NULL);
  CHECK_STR(resumed, whole);
  cur_free(resumed);
  cur_free(whole);
}

TEST(moved_folder_is_missing_and_the_run_goes_on) {
  REQUIRE(image_folder("m/a", 2, 16, 60) == 0);
  REQUIRE(image_folder("m/b", 2, 16, 70) == 0);
  CHECK_INT(fx_curate("m-init.log", "--db m.db --config none.json init"), 0);
  CHECK_INT(fx_curate("m1.log", "--db m.db --config none.json ingest m/a m/b"), 0);
  REQUIRE(test_sh("cd '%s/m' && mv a a-moved", T.scratch) == 0);
  REQUIRE(image_folder("m/b/more", 1, 16, 80) == 0);  /* b changes too: it is still read */
  CHECK_INT(fx_curate("m2.log", "--db m.db --config none.json run --until ingest"), 3);
  CHECK(log_has("m2.log", "source 1 missing", "m/a: No such file or directory", NULL));
  CHECK_INT(q_int("m.db", "SELECT count(*) FROM images"), 5);  /* a's stay, b's new one came in */
  CHECK_INT(q_int("m.db", "SELECT count(*) FROM sources WHERE id = 1 AND state = 'missing'"), 1);
  CHECK_INT(fx_curate("m3.log", "--db m.db --config none.json sources"), 0);
  CHECK(log_has("m3.log", "missing", "m/a: No such file or directory (moved or deleted?)", NULL));
  CHECK_INT(fx_curate("m3s.log", "--db m.db --config none.json status"), 0);
  CHECK(log_has("m3s.log", "Sources:", "missing  folder", "m/a: No such file or directory", NULL));
  /* back in place: read again, ok */
  REQUIRE(test_sh("cd '%s/m' && mv a-moved a", T.scratch) == 0);
  CHECK_INT(fx_curate("m4.log", "--db m.db --config none.json run --until ingest"), 0);
  CHECK_INT(q_int("m.db", "SELECT count(*) FROM sources WHERE state = 'ok'"), 2);
}

TEST(file_over_max_file_bytes_is_read_after_the_limit_is_raised) {
  REQUIRE(image_folder("f/src", 2, 64, 90) == 0);
  REQUIRE(write_text("f/small.json", "{\"ingest\": {\"max_file_bytes\": 600}}") == 0);
  REQUIRE(write_text("f/big.json", "{\"ingest\": {\"max_file_bytes\": 1000000}}") == 0);
  CHECK_INT(fx_curate("f-init.log", "--db f.db --config f/small.json init"), 0);
  CHECK_INT(fx_curate("f1.log", "--db f.db --config f/small.json ingest f/src"), 3);
  CHECK(log_has("f1.log", "cls/00.jpg: rejected: file is over ingest.max_file_bytes (600 bytes)", NULL));
  CHECK_INT(q_int("f.db", "SELECT count(*) FROM images"), 0);
  /* --force with the same limit: read again and reported again, not silent */
  CHECK_INT(fx_curate("f2.log", "--db f.db --config f/small.json ingest --force f/src"), 3);
  CHECK(log_has("f2.log", "cls/01.jpg: rejected: file is over ingest.max_file_bytes", NULL));
  /* the limit raised: both come in, without --force (the option changed) */
  CHECK_INT(fx_curate("f3.log", "--db f.db --config f/big.json ingest f/src"), 0);
  CHECK_INT(q_int("f.db", "SELECT count(*) FROM images WHERE status = 'ok'"), 2);
  CHECK_INT(q_int("f.db", "SELECT count(*) FROM source_entries WHERE outcome = 'ingested' AND retry = 0"), 2);
  CHECK_INT(q_int("f.db", "SELECT count(*) FROM current_labels WHERE class = 'cls'"), 2);
}

TEST(quarantine_over_max_pixels_becomes_ok_after_the_limit_is_raised) {
  REQUIRE(image_folder("p/src", 1, 64, 100) == 0);
  char *file = test_scratch_path("p/src/cls/00.jpg"), *bytes = NULL;
  size_t len = 0;
  REQUIRE(file && cur_file_read(file, &bytes, &len) == CUR_OK);
  REQUIRE(write_text("p/low.json", "{\"ingest\": {\"max_pixels\": 1000, \"keep_quarantined_bytes\": 100}}") == 0);
  REQUIRE(write_text("p/high.json", "{\"ingest\": {\"max_pixels\": 5000, \"keep_quarantined_bytes\": 100}}") == 0);
  CHECK_INT(fx_curate("p-init.log", "--db p.db --config p/low.json init"), 0);
  CHECK_INT(fx_curate("p1.log", "--db p.db --config p/low.json ingest p/src"), 3);
  CHECK(log_has("p1.log", "quarantined: image is 64 x 64 pixels, over ingest.max_pixels (1000)", NULL));
  CHECK_INT(q_int("p.db", "SELECT length(bytes) FROM images WHERE status = 'quarantined'"), 100);
  CHECK_INT(q_int("p.db", "SELECT byte_size FROM images"), (long long)len);
  CHECK_INT(fx_curate("p2.log", "--db p.db --config p/high.json ingest p/src"), 0);
  CHECK_INT(q_int("p.db", "SELECT count(*) FROM images WHERE status = 'ok' AND status_reason IS NULL "
                          "AND width = 64 AND height = 64"), 1);
  /* the whole file is back: compare with the file itself */
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM images WHERE length(bytes) = %zu AND "
           "hex(substr(bytes, %zu, 1)) = '%02X'", len, len, (unsigned char)bytes[len - 1]);
  CHECK_INT(q_int("p.db", sql), 1);
  CHECK_INT(q_int("p.db", "SELECT count(*) FROM source_entries WHERE outcome = 'ingested'"), 1);
  cur_free(bytes);
  cur_free(file);
}

TEST(corrupt_quarantine_is_not_decoded_again) {
  REQUIRE(image_folder("k/src", 1, 32, 110) == 0);
  REQUIRE(test_sh("cd '%s/k/src/cls' && head -c 200 00.jpg > cut.jpg", T.scratch) == 0);
  CHECK_INT(fx_curate("k-init.log", "--db k.db --config none.json init"), 0);
  CHECK_INT(fx_curate("k1.log", "--db k.db --config none.json ingest k/src"), 3);
  CHECK_INT(q_int("k.db", "SELECT count(*) FROM source_entries WHERE outcome = 'quarantined' AND retry = 0"), 1);
  CHECK_INT(fx_curate("k2.log", "--db k.db --config none.json ingest --force k/src"), 0);
  char *log = fx_read("k2.log");
  CHECK(log && !strstr(log, "cut.jpg"));
  cur_free(log);
  CHECK_INT(q_int("k.db", "SELECT run_id FROM source_entries WHERE path = 'cls/cut.jpg'"), 1);
}

/* The command prefix that makes a file with mode 000 unreadable to curate:
** none for a normal user; as root (which reads it anyway), setpriv dropping
** the capabilities that override file modes.  NULL when that cannot work. */
static const char *unprivileged(void) {
  static const char drop[] = "setpriv --inh-caps=-dac_override,-dac_read_search "
                             "--bounding-set=-dac_override,-dac_read_search";
  if (geteuid() != 0) return "";
  if (test_sh("cd '%s' && echo x > probe.txt && chmod 000 probe.txt && ! %s cat probe.txt "
              ">/dev/null 2>&1", T.scratch, drop) != 0)
    return NULL;
  return drop;
}

TEST(unreadable_file_is_read_after_its_permission_is_fixed) {
  const char *prefix = unprivileged();
  if (!prefix) {
    test_skip("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here, so a mode-000 "
              "file stays readable");
    return;
  }
  REQUIRE(image_folder("u/src", 2, 16, 120) == 0);
  REQUIRE(test_sh("chmod 000 '%s/u/src/cls/01.jpg'", T.scratch) == 0);
  CHECK_INT(fx_curate("u-init.log", "--db u.db --config none.json init"), 0);
  CHECK_INT(test_sh("cd '%s' && %s '%s' --db u.db --config none.json ingest u/src > u1.log 2>&1",
                    T.scratch, prefix, T.curate), 3);
  CHECK(log_has("u1.log", "cls/01.jpg: rejected: cannot read the file: permission denied", NULL));
  CHECK_INT(q_int("u.db", "SELECT count(*) FROM images"), 1);
  REQUIRE(test_sh("chmod 644 '%s/u/src/cls/01.jpg'", T.scratch) == 0);
  CHECK_INT(test_sh("cd '%s' && %s '%s' --db u.db --config none.json ingest --force u/src > u2.log 2>&1",
                    T.scratch, prefix, T.curate), 0);
  CHECK_INT(q_int("u.db", "SELECT count(*) FROM images WHERE status = 'ok'"), 2);
  CHECK_INT(q_int("u.db", "SELECT count(*) FROM source_entries WHERE outcome = 'ingested'"), 2);
}

/* Two sources: a/ with three images, b/ with two, one of them a copy of
** a/cls/00.jpg.  Embedded, so that purging has embeddings to delete. */
static int two_sources(const char *db) {
  int rc = image_folder("r/a", 3, 16, 130) | image_folder("r/b", 1, 16, 140);
  rc |= test_sh("cp '%s/r/a/cls/00.jpg' '%s/r/b/cls/copy.jpg'", T.scratch, T.scratch);
  rc |= test_sh("rm -f '%s/%s'*", T.scratch, db);
  rc |= fx_curate("r-init.log", "--db %s --config none.json init", db);
  rc |= fx_curate("r1.log", "--db %s --config none.json ingest r/a r/b", db);
  rc |= fx_curate("r2.log", "--db %s --config none.json run --until embed", db);
  return rc;
}

TEST(remove_unregisters_and_keeps_the_images) {
  REQUIRE(two_sources("r.db") == 0);
  CHECK_INT(fx_curate("r3.log", "--db r.db --config none.json sources remove 1"), 0);
  CHECK_INT(q_int("r.db", "SELECT count(*) FROM sources"), 1);
  CHECK_INT(q_int("r.db", "SELECT count(*) FROM source_entries WHERE source_id = 1"), 0);
  CHECK_INT(q_int("r.db", "SELECT count(*) FROM images"), 4);
  CHECK_INT(q_int("r.db", "SELECT count(*) FROM embeddings"), 4);
  /* the copy b/ holds is now credited to b/; the others to no source */
  char *copy = q_text("r.db", "SELECT source_id || ' ' || source_path FROM images WHERE source_id IS NOT NULL "
                      "AND source_path = 'cls/copy.jpg'");
  CHECK_STR(copy, "2 cls/copy.jpg");
  cur_free(copy);
  CHECK_INT(q_int("r.db", "SELECT count(*) FROM images WHERE source_id IS NULL"), 2);
  CHECK_INT(q_int("r.db", "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  CHECK_INT(fx_curate("r4.log", "--db r.db --config none.json sources remove 1"), 1);
  CHECK(log_has("r4.log", "no source 1", NULL));
  CHECK_INT(fx_curate("r5.log", "--db r.db --config none.json run --until embed"), 0);
}

TEST(purge_deletes_what_only_the_source_holds) {
  REQUIRE(two_sources("rp.db") == 0);
  /* a review decision on one of a/'s own images: purge refuses without --force */
  REQUIRE(q_int("rp.db", "SELECT count(*) FROM labels") == 4);
  char *db = test_scratch_path("rp.db");
  REQUIRE(test_sh("sqlite3 '%s' \"INSERT INTO labels(image_id, task_id, class_id, source) SELECT "
                  "i.id, l.task_id, l.class_id, 'review' FROM images i JOIN labels l ON l.image_id = i.id "
                  "WHERE i.source_path = 'cls/02.jpg'\"", db) == 0);
  cur_free(db);
  CHECK_INT(fx_curate("rp1.log", "--db rp.db --config none.json sources remove 1 --purge"), 1);
  CHECK(log_has("rp1.log", "1 of the images to purge carry review decisions", "--force", NULL));
  CHECK_INT(q_int("rp.db", "SELECT count(*) FROM images"), 4);  /* nothing changed */
  CHECK_INT(q_int("rp.db", "SELECT count(*) FROM sources"), 2);
  CHECK_INT(fx_curate("rp2.log", "--db rp.db --config none.json sources remove 1 --purge --force"), 0);
  /* a/'s two own images go with their labels and embeddings; the copy b/ holds stays */
  CHECK_INT(q_int("rp.db", "SELECT count(*) FROM images"), 2);
  CHECK_INT(q_int("rp.db", "SELECT count(*) FROM images WHERE source_id = 2"), 2);
  CHECK_INT(q_int("rp.db", "SELECT count(*) FROM labels"), 2);
  CHECK_INT(q_int("rp.db", "SELECT count(*) FROM embeddings"), 2);
  CHECK_INT(q_int("rp.db", "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  CHECK_INT(fx_curate("rp3.log", "--db rp.db --config none.json sources"), 0);
  char *log = fx_read("rp3.log");
  CHECK(log && strstr(log, "r/b") && !strstr(log, "r/a"));
  cur_free(log);
  CHECK_INT(fx_curate("rp4.log", "--db rp.db --config none.json run --until embed"), 0);
}

TEST(large_quarantined_entry_keeps_one_mebibyte) {
  /* 32 MiB of zeros named .jpg in a zip (it compresses to ~32 KB): not an image */
  size_t n = 32u << 20;
  unsigned char *zeros = cur_calloc(n, 1);
  REQUIRE(zeros);
  const char *names[1] = {"junk.jpg"};
  const unsigned char *data[1] = {zeros};
  char *zip = test_scratch_path("z/junk.zip");
  REQUIRE(test_sh("mkdir -p '%s/z'", T.scratch) == 0);
  int rc = fx_archive(zip, "zip", 1, names, data, &n);
  cur_free(zeros);
  cur_free(zip);
  REQUIRE(rc == 0);
  CHECK_INT(fx_curate("z-init.log", "--db z.db --config none.json init"), 0);
  CHECK_INT(fx_curate("z1.log", "--db z.db --config none.json ingest z/junk.zip"), 3);
  CHECK_INT(q_int("z.db", "SELECT length(bytes) FROM images WHERE status = 'quarantined'"), 1 << 20);
  CHECK_INT(q_int("z.db", "SELECT byte_size FROM images"), (long long)n);
  /* the database holds the kept MiB and little else: against a database
  ** fresh from init (the schema's pages), at most 1.5 MiB more in use, not
  ** 32 (free pages left by the split stage's rewrite of the row are reused) */
  CHECK_INT(fx_curate("z-empty.log", "--db empty.db --config none.json init"), 0);
  const char *size = "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count, "
                     "pragma_freelist_count, pragma_page_size";
  CHECK(q_int("z.db", size) - q_int("empty.db", size) < (3 << 19));
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(csv_given_as_a_source_is_named_and_the_rest_is_ingested);
  RUN(truncated_tar_keeps_what_was_read_and_is_marked_failed);
  RUN(moved_folder_is_missing_and_the_run_goes_on);
  RUN(file_over_max_file_bytes_is_read_after_the_limit_is_raised);
  RUN(quarantine_over_max_pixels_becomes_ok_after_the_limit_is_raised);
  RUN(corrupt_quarantine_is_not_decoded_again);
  RUN(unreadable_file_is_read_after_its_permission_is_fixed);
  RUN(remove_unregisters_and_keeps_the_images);
  RUN(purge_deletes_what_only_the_source_holds);
  RUN(large_quarantined_entry_keeps_one_mebibyte);
  return test_finish();
}
