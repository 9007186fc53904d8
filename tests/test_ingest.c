/* test_ingest.c -- the ingest stage through the `curate` command, on a corpus of
** good and bad inputs the test builds itself.
**
** ingest-1.*: the bad-input corpus: each bad entry gets its outcome, nothing else is lost.
** ingest-2.*: re-ingesting the same sources changes nothing.
** ingest-3.*: label files: tasks, groups that never span splits, unknown classes.
** ingest-4.*: IDX files.
** ingest-5.*: hostile label files: invalid UTF-8, terminal escapes, rows naming no
**             image and images with no row, long labels, too many tasks.
*/
#include <stdlib.h>
#include <unistd.h>

#include "fixtures.h"
#include "testlib.h"

static char *db;  /* scratch/corpus.db */

static long long q_int(const char *sql) {
  return fx_sql_int(db, sql);
}

static char *q_text(const char *sql) {
  char *r = fx_sql(db, sql);
  if (r && *r && r[strlen(r) - 1] == '\n') r[strlen(r) - 1] = 0;
  return r;
}

/* src/ holds good images, bad files, a duplicate with another label, a link
** leading outside and a non-UTF-8 name; two archives hold unsafe names. */
static int build_corpus(void) {
  char *p;
  int rc = test_sh("cd '%s' && rm -rf src outside.jpg && mkdir -p src/cat src/dog src/unlabeled", T.scratch);
#define FILE_AT(rel, expr) (p = test_scratch_path(rel), rc |= (expr), cur_free(p))
  FILE_AT("src/cat/a.jpg", fx_image_file(p, 40, 30, 1, "jpeg"));
  FILE_AT("src/cat/b.png", fx_image_file(p, 20, 20, 2, "png"));
  FILE_AT("src/dog/c.jpg", fx_image_file(p, 33, 21, 3, "jpeg"));
  FILE_AT("src/unlabeled/u.jpg", fx_image_file(p, 16, 16, 4, "jpeg"));
  FILE_AT("src/cat/\xff\xfe-name.jpg", fx_image_file(p, 16, 16, 5, "jpeg"));
  FILE_AT("outside.jpg", fx_image_file(p, 16, 16, 6, "jpeg"));
  FILE_AT("src/dog/empty.jpg", test_write_file(p, "", 0));
  FILE_AT("src/dog/text.jpg", test_write_file(p, "hello, not a jpeg\n", 18));
  FILE_AT("src/cat/huge.png", fx_png_header_only(p, 100000, 100000));
  rc |= test_sh("cd '%s/src' && cp cat/a.jpg dog/a-copy.jpg && head -c $(( $(stat -c %%s dog/c.jpg) * 2 / 3 )) dog/c.jpg > dog/trunc.jpg"
                " && head -c $(( $(stat -c %%s cat/b.png) * 2 / 3 )) cat/b.png > dog/trunc.png"
                " && ln -s ../../outside.jpg cat/link.jpg", T.scratch);
  unsigned char *good[2];
  size_t glen[2];
  rc |= fx_image(24, 24, 7, "jpeg", &good[0], &glen[0]);
  rc |= fx_image(24, 24, 8, "png", &good[1], &glen[1]);
  const char *names[3] = {"cat/in-archive.jpg", "../escape.jpg", "/abs/evil.jpg"};
  const unsigned char *data[3] = {good[0], good[0], good[1]};
  size_t lens[3] = {glen[0], glen[0], glen[1]};
  FILE_AT("bad.tar", fx_archive(p, "tar", 3, names, data, lens));
  const char *znames[3] = {"dog/in-archive.png", "a/../../escape.jpg", "/abs/evil.jpg"};
  const unsigned char *zdata[3] = {good[1], good[0], good[0]};
  size_t zlens[3] = {glen[1], glen[0], glen[0]};
  FILE_AT("bad.zip", fx_archive(p, "zip", 3, znames, zdata, zlens));
#undef FILE_AT
  cur_free(good[0]);
  cur_free(good[1]);
  return rc;
}

TEST(bad_inputs_get_their_outcome_and_nothing_else_is_lost) {
  REQUIRE(build_corpus() == 0);
  CHECK_INT(fx_curate("init.log", "--db corpus.db --config none.json init"), 0);
  int code = fx_curate("ingest.log", "--db corpus.db --config none.json ingest src bad.tar bad.zip");
  char *log = fx_read("ingest.log");
  REQUIRE(log);
  CHECK_INT(code, 3);  /* finished, with rejected or quarantined inputs */
  /* good images, each exactly once, with their labels */
  CHECK_INT(q_int("SELECT count(*) FROM images WHERE status = 'ok'"), 7);
  CHECK_INT(q_int("SELECT count(*) FROM current_labels c JOIN images i ON i.id = c.image_id "
                  "WHERE class = 'cat' AND status = 'ok'"), 4);
  char *u = q_text("SELECT count(*) FROM current_labels c JOIN images i ON i.id = c.image_id "
                   "WHERE i.source_path = 'unlabeled/u.jpg'");
  CHECK_STR(u, "0");
  cur_free(u);
  /* quarantined, each with its reason */
  char *q = q_text("SELECT group_concat(source_path || ': ' || status_reason, char(10)) FROM "
                   "(SELECT * FROM images WHERE status = 'quarantined' ORDER BY source_path)");
  REQUIRE(q);
  CHECK(strstr(q, "cat/huge.png: image is 100000 x 100000 pixels, over ingest.max_pixels") != NULL);
  CHECK(strstr(q, "dog/empty.jpg: empty file") != NULL);
  CHECK(strstr(q, "dog/text.jpg: not an image") != NULL);
  CHECK(strstr(q, "dog/trunc.jpg: cannot decode") != NULL);
  CHECK(strstr(q, "dog/trunc.png: cannot decode") != NULL);
  CHECK_INT(q_int("SELECT count(*) FROM images WHERE status = 'quarantined'"), 5);
  cur_free(q);
  /* rejected without being read: the link, and the unsafe archive names */
  CHECK_INT(q_int("SELECT count(*) FROM source_entries WHERE outcome = 'rejected'"), 5);
  CHECK_INT(q_int("SELECT count(*) FROM source_entries WHERE outcome = 'rejected' AND "
                  "(reason LIKE 'symbolic link leads outside%' OR reason LIKE 'absolute path%' "
                  "OR reason LIKE 'path leaves its folder%')"), 5);
  CHECK(strstr(log, "cat/link.jpg: rejected: symbolic link leads outside the source") != NULL);
  CHECK(strstr(log, "../escape.jpg: rejected") != NULL);
  CHECK_INT(q_int("SELECT count(*) FROM images WHERE source_path LIKE '%outside%' OR "
                  "source_path LIKE '%escape%' OR source_path LIKE '%evil%'"), 0);
  /* the duplicate is recorded and its conflicting label flagged, not dropped */
  CHECK_INT(q_int("SELECT count(*) FROM source_entries WHERE outcome = 'duplicate'"), 1);
  char *flag = q_text("SELECT i.source_path || ' ' || c.name FROM flags f JOIN images i ON "
                      "i.id = f.image_id JOIN classes c ON c.id = f.suggested_class_id "
                      "WHERE f.reason = 'duplicate_conflict'");
  CHECK_STR(flag, "cat/a.jpg dog");
  cur_free(flag);
  /* the non-UTF-8 name is kept, escaped */
  CHECK_INT(q_int("SELECT count(*) FROM images WHERE source_path = 'cat/\\xFF\\xFE-name.jpg'"), 1);
  cur_free(log);
}

/* Removes the table section starting at HEADER from a dump, in place. */
static void drop_section(char *dump, const char *header) {
  char *start = strstr(dump, header), *end;
  if (!start) return;
  for (end = start + strlen(header); *end && strcspn(end, "\n") != 0 && end[strcspn(end, "\n") - 1] != ':';)
    end += strcspn(end, "\n") + 1;
  memmove(start, end, strlen(end) + 1);
}

TEST(reingesting_the_same_sources_changes_nothing) {
  /* its own first ingest, as the case before makes it (3: partial failure) */
  REQUIRE(build_corpus() == 0);
  REQUIRE(test_sh("rm -f '%s'*", db) == 0);
  REQUIRE(fx_curate("init.log", "--db corpus.db --config none.json init") == 0);
  REQUIRE(fx_curate("ingest.log", "--db corpus.db --config none.json ingest src bad.tar bad.zip") == 3);
  char *before = fx_dump(db);
  REQUIRE(before);
  CHECK_INT(fx_curate("again.log", "--db corpus.db --config none.json ingest src bad.tar bad.zip"), 0);
  char *log = fx_read("again.log");
  CHECK(log && strstr(log, "ingest: up to date") != NULL);
  char *after = fx_dump(db);
  CHECK(after && strcmp(before, after) == 0);
  /* --force runs ingest (and split) again: the entries whose outcome depended on
  ** options or the file system (the link, the image over max_pixels) are
  ** read again and reported again under the new run; nothing else changes */
  const char *entries = "SELECT group_concat(source_id || path || outcome || coalesce(image_id, '') "
                        "|| coalesce(reason, '') || retry, ';') FROM source_entries";
  char *entries_before = q_text(entries);
  CHECK_INT(fx_curate("force.log", "--db corpus.db --config none.json ingest --force src bad.tar bad.zip"), 3);
  char *flog = fx_read("force.log");
  CHECK(flog && strstr(flog, "cat/link.jpg: rejected: symbolic link leads outside the source") &&
        strstr(flog, "cat/huge.png: quarantined: image is 100000 x 100000 pixels"));
  CHECK(flog && !strstr(flog, "dog/text.jpg"));  /* corrupt bytes are not decoded again */
  cur_free(flog);
  CHECK_INT(q_int("SELECT count(*) FROM source_entries WHERE run_id = "
                  "(SELECT max(id) FROM runs WHERE stage = 'ingest')"), 2);
  char *entries_after = q_text(entries);
  CHECK_STR(entries_after, entries_before);
  cur_free(entries_before);
  cur_free(entries_after);
  char *forced = fx_dump(db);
  REQUIRE(forced);
  drop_section(before, "runs:\n");
  drop_section(forced, "runs:\n");
  drop_section(before, "source_entries:\n");
  drop_section(forced, "source_entries:\n");
  CHECK_STR(forced, before);
  CHECK_INT(q_int("SELECT count(*) FROM runs"), 4);
  cur_free(before);
  cur_free(after);
  cur_free(forced);
  cur_free(log);
}

/* 48 images in 12 groups, labelled by a CSV with a second task. */
static int build_grouped(void) {
  int rc = test_sh("cd '%s' && rm -rf grouped && mkdir -p grouped/images", T.scratch);
  char *csv = test_scratch_path("grouped/labels.csv");
  FILE *f = csv ? fopen(csv, "w") : NULL;
  if (!f) return -1;
  fprintf(f, "image,sender_id,label,kids\n");
  for (int i = 0; i < 48; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "grouped/images/%02d.jpg", i);
    char *p = test_scratch_path(rel);
    rc |= fx_image_file(p, 12, 12, 100 + (unsigned)i, "jpeg");
    cur_free(p);
    fprintf(f, "images/%02d.jpg,%d,%s,%s\n", i, i % 12, i % 3 ? "shirt" : "\"dress, long\"",
            i % 2 ? "True" : "False");
  }
  fprintf(f, "images/99.jpg,1\n");  /* short row: reported, skipped */
  rc |= fclose(f);
  cur_free(csv);
  return rc;
}

TEST(label_file_groups_never_span_splits) {
  REQUIRE(build_grouped() == 0);
  cur_free(db);
  db = test_scratch_path("grouped.db");
  CHECK_INT(fx_curate("g-init.log", "--db grouped.db --config none.json init"), 0);
  int code = fx_curate("g.log", "--db grouped.db --config none.json ingest grouped "
                       "--labels grouped/labels.csv --group-column sender_id --task label=label "
                       "--task kids=kids");
  CHECK_INT(code, 3);
  char *log = fx_read("g.log");
  CHECK(log && strstr(log, "labels.csv:50: 2 fields, expected 4; row skipped") != NULL);
  cur_free(log);
  CHECK_INT(q_int("SELECT count(*) FROM images"), 48);
  CHECK_INT(q_int("SELECT count(*) FROM (SELECT group_key FROM images GROUP BY group_key "
                  "HAVING count(DISTINCT split) > 1)"), 0);
  CHECK(q_int("SELECT count(DISTINCT split) FROM images") >= 2);
  CHECK_INT(q_int("SELECT count(*) FROM current_labels WHERE task = 'label' AND class = 'dress, long'"), 16);
  CHECK_INT(q_int("SELECT count(*) FROM current_labels WHERE task = 'kids'"), 48);
}

TEST(label_outside_the_configured_classes_is_an_error_naming_it) {
  char *cfg = test_scratch_path("classes.json");
  const char *text = "{\"ingest\": {\"classes\": {\"label\": [\"dog\", \"cat\"]}}}";
  REQUIRE(test_write_file(cfg, text, strlen(text)) == 0);
  test_sh("cd '%s' && rm -rf fox && mkdir -p fox/fox fox/cat", T.scratch);
  char *p = test_scratch_path("fox/fox/x.jpg");
  REQUIRE(fx_image_file(p, 10, 10, 77, "jpeg") == 0);
  cur_free(p);
  p = test_scratch_path("fox/cat/y.jpg");
  REQUIRE(fx_image_file(p, 10, 10, 78, "jpeg") == 0);
  cur_free(p);
  cur_free(db);
  db = test_scratch_path("fox.db");
  CHECK_INT(fx_curate("f-init.log", "--db fox.db --config classes.json init"), 0);
  CHECK_INT(fx_curate("f.log", "--db fox.db --config classes.json ingest fox"), 3);
  char *log = fx_read("f.log");
  CHECK(log && strstr(log, "fox/x.jpg: label 'fox' is not a class of task 'label'") != NULL);
  CHECK_INT(q_int("SELECT count(*) FROM images"), 2);
  char *order = q_text("SELECT group_concat(name, ',') FROM (SELECT name FROM classes ORDER BY idx)");
  CHECK_STR(order, "dog,cat");  /* the configured order, not the order seen */
  cur_free(order);
  cur_free(log);
  cur_free(cfg);
}

/* Two 2x3 images with labels 1 and 0, in IDX format. */
TEST(idx_files_become_png_images_with_named_classes) {
  static const unsigned char images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                         1, 2, 3, 4, 5, 6, 9, 9, 9, 0, 0, 0};
  static const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 0};
  test_sh("cd '%s' && rm -rf idx && mkdir idx", T.scratch);
  char *a = test_scratch_path("idx/train-images-idx3-ubyte"), *b = test_scratch_path("idx/train-labels-idx1-ubyte");
  REQUIRE(test_write_file(a, images, sizeof images) == 0 && test_write_file(b, labels, sizeof labels) == 0);
  REQUIRE(test_sh("gzip -f '%s'", a) == 0);  /* gzipped images, plain labels */
  cur_free(db);
  db = test_scratch_path("idx.db");
  CHECK_INT(fx_curate("i-init.log", "--db idx.db --config none.json init"), 0);
  CHECK_INT(fx_curate("i.log", "--db idx.db --config none.json ingest idx --class-names shoe,bag"), 0);
  char *rows = q_text("SELECT group_concat(source_path || ' ' || format || ' ' || width || 'x' || "
                      "height || ' ' || split || ' ' || class, ';') FROM (SELECT * FROM images i "
                      "JOIN current_labels c ON c.image_id = i.id ORDER BY i.id)");
  CHECK_STR(rows, "train-images-idx3-ubyte.gz#0 png 3x2 train bag;"
                  "train-images-idx3-ubyte.gz#1 png 3x2 train shoe");
  cur_free(rows);
  cur_free(a);
  cur_free(b);
}

/* hl/ holds a.jpg to e.jpg, f.jpg and g.jpg, and a text file named with a
** terminal escape; hl.csv labels a, b (bytes that are not UTF-8), c (a label
** holding an escape sequence), f and g (two 700-byte labels that differ in
** their last byte), and seven paths that name no image. */
static int build_hostile_labels(void) {
  int rc = test_sh("cd '%s' && rm -rf hl hl.csv out && mkdir hl", T.scratch);
  for (const char *n = "abcdefg"; *n; n++) {
    char rel[16];
    snprintf(rel, sizeof rel, "hl/%c.jpg", *n);
    char *p = test_scratch_path(rel);
    rc |= fx_image_file(p, 12, 12, 200 + (unsigned)*n, "jpeg");
    cur_free(p);
  }
  char *p = test_scratch_path("hl/\x1b]0;pwned\x07\x1b[31mred.jpg");
  rc |= test_write_file(p, "not an image", 12);
  cur_free(p);
  char long_a[701], long_b[701];
  memset(long_a, 'x', 700);
  long_a[700] = 0;
  memcpy(long_b, long_a, sizeof long_b);
  long_a[699] = 'a';
  long_b[699] = 'b';
  char *csv = cur_asprintf("path,label\na.jpg,cat\nb.jpg,d\xff\xfeg\nc.jpg,\x1b[2J\x1b[31mred\n"
                           "f.jpg,%s\ng.jpg,%s\nmissing1.jpg,cat\nmissing2.jpg,cat\nmissing3.jpg,cat\n"
                           "missing4.jpg,cat\nmissing5.jpg,cat\nmissing6.jpg,cat\nmissing7.jpg,cat\n",
                           long_a, long_b);
  p = test_scratch_path("hl.csv");
  rc |= !csv || !p || test_write_file(p, csv, strlen(csv));
  cur_free(p);
  cur_free(csv);
  return rc;
}

/* 0 when FILE (scratch-relative) parses as JSON (JSONL when LINES) with
** Python's own parser, which refuses invalid UTF-8. */
static int python_json_ok(const char *file, int lines) {
  return test_sh("cd '%s' && python3 -c 'import json,sys\n"
                 "t = open(sys.argv[1], \"rb\").read().decode(\"utf-8\")\n"
                 "[json.loads(l) for l in t.splitlines()] if %d else json.loads(t)' '%s' 2>> json.log",
                 T.scratch, lines, file);
}

TEST(hostile_label_rows_are_reported_and_nothing_invalid_reaches_json) {
  if (test_sh("command -v python3 > /dev/null") != 0) {
    test_skip("python3 is missing (the independent JSON parser)");
    return;
  }
  REQUIRE(build_hostile_labels() == 0);
  cur_free(db);
  db = test_scratch_path("hl.db");
  CHECK_INT(fx_curate("hl-init.log", "--db hl.db --config none.json init"), 0);
  CHECK_INT(fx_curate("hl.log", "--db hl.db --config none.json ingest hl --labels hl.csv"), 3);
  char *log = fx_read("hl.log");
  REQUIRE(log);
  /* the bad row: reported with file:line, skipped; the rest goes on */
  CHECK(strstr(log, "hl.csv:3: not valid UTF-8; row skipped") != NULL);
  CHECK_INT(q_int("SELECT count(*) FROM images WHERE status = 'ok'"), 7);
  CHECK_INT(q_int("SELECT count(*) FROM current_labels"), 4);
  CHECK_INT(q_int("SELECT count(*) FROM classes c JOIN tasks t ON t.id = c.task_id "
                  "WHERE t.name = 'label' AND c.name GLOB 'xxxxx*'"), 2);  /* no key collision */
  /* silence no more: rows naming no image, images with no row, with counts */
  CHECK(strstr(log, "hl.csv: 7 rows name no image of ") != NULL);
  CHECK(strstr(log, "/hl; first: line 7 'missing1.jpg', line 8 'missing2.jpg', line 9 'missing3.jpg'")
        != NULL);
  CHECK(strstr(log, "/hl: 4 images have no row in ") != NULL);
  CHECK(strstr(log, "hl.csv (no label from it); first: \\x1B]0;pwned\\x07\\x1B[31mred.jpg, b.jpg, d.jpg")
        != NULL);
  /* names and labels are printed with their control characters escaped */
  CHECK(strchr(log, '\x1b') == NULL && strchr(log, '\x07') == NULL);
  CHECK(strstr(log, "\\x1B]0;pwned\\x07\\x1B[31mred.jpg: quarantined") != NULL);
  CHECK_INT(test_sh("cd '%s' && '%s' --db hl.db --config none.json status > hl-status.txt", T.scratch,
                    T.curate), 0);
  char *status = fx_read("hl-status.txt");
  CHECK(status && strchr(status, '\x1b') == NULL && strstr(status, "\\x1B[2J\\x1B[31mred") != NULL);
  cur_free(status);
  /* every JSON output parses with an independent parser */
  CHECK_INT(test_sh("cd '%s' && '%s' --db hl.db --config none.json status --json > hl-status.json",
                    T.scratch, T.curate), 0);
  CHECK_INT(python_json_ok("hl-status.json", 0), 0);
  CHECK_INT(fx_curate("hl-exp.log", "--db hl.db --config none.json export --out out --format jsonl"), 0);
  CHECK_INT(python_json_ok("out/manifest.jsonl", 1), 0);
  CHECK_INT(python_json_ok("out/metadata.json", 0), 0);
  /* and so does a database that holds such bytes from elsewhere */
  CHECK_INT(test_sh("cd '%s' && sqlite3 hl.db \"UPDATE classes SET name = CAST(X'64FF67' AS TEXT) "
                    "WHERE name = 'cat'\"", T.scratch), 0);
  CHECK_INT(test_sh("cd '%s' && '%s' --db hl.db --config none.json status --json > hl-status2.json",
                    T.scratch, T.curate), 0);
  CHECK_INT(python_json_ok("hl-status2.json", 0), 0);
  CHECK_INT(fx_curate("hl-exp2.log", "--db hl.db --config none.json export --out out --format jsonl"), 0);
  CHECK_INT(python_json_ok("out/manifest.jsonl", 1), 0);
  CHECK_INT(python_json_ok("out/metadata.json", 0), 0);
  cur_free(log);
}

TEST(archive_names_with_terminal_escapes_are_printed_escaped) {
  unsigned char *img;
  size_t len;
  REQUIRE(fx_image(8, 8, 9, "jpeg", &img, &len) == 0);
  const char *names[2] = {"\x1b]2;owned\x07/../../evil.jpg", "\x1b[2Jbad.jpg"};
  const unsigned char *data[2] = {img, (const unsigned char *)"junk"};
  size_t lens[2] = {len, 4};
  char *p = test_scratch_path("esc.tar");
  REQUIRE(fx_archive(p, "tar", 2, names, data, lens) == 0);
  cur_free(p);
  cur_free(img);
  CHECK_INT(fx_curate("esc-init.log", "--db esc.db --config none.json init"), 0);
  CHECK_INT(fx_curate("esc.log", "--db esc.db --config none.json ingest esc.tar"), 3);
  char *log = fx_read("esc.log");
  REQUIRE(log);
  CHECK(strchr(log, '\x1b') == NULL && strchr(log, '\x07') == NULL);
  CHECK(strstr(log, "\\x1B]2;owned\\x07/../../evil.jpg: rejected") != NULL);
  CHECK(strstr(log, "\\x1B[2Jbad.jpg: quarantined") != NULL);
  cur_free(log);
}

TEST(more_tasks_than_supported_are_refused_naming_the_limit) {
  char args[1024] = "--db hl.db --config none.json ingest hl --labels hl.csv";
  for (int t = 0; t < 17; t++)
    snprintf(args + strlen(args), sizeof args - strlen(args), " --task t%d=label", t);
  CHECK_INT(fx_curate("tasks.log", "%s", args), 2);
  char *log = fx_read("tasks.log");
  CHECK(log && strstr(log, "17 tasks given; at most 16 are supported") != NULL);
  cur_free(log);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  db = test_scratch_path("corpus.db");
  RUN(bad_inputs_get_their_outcome_and_nothing_else_is_lost);
  RUN(reingesting_the_same_sources_changes_nothing);
  RUN(label_file_groups_never_span_splits);
  RUN(label_outside_the_configured_classes_is_an_error_naming_it);
  RUN(idx_files_become_png_images_with_named_classes);
  RUN(hostile_label_rows_are_reported_and_nothing_invalid_reaches_json);
  RUN(archive_names_with_terminal_escapes_are_printed_escaped);
  RUN(more_tasks_than_supported_are_refused_naming_the_limit);
  cur_free(db);
  return test_finish();
}
