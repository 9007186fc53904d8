/* test_pseudolabel.c -- the pseudolabel stage through the `curate` command.
**
** The corpus's classes differ in brightness (fx_image_tree offsets each
** image's pixels by 7 x its seed): train a = seeds 1..8, b = 9..16; val a =
** 3..6, b = 11..14; and eight unlabelled training images, seeds 2..5 (like
** a) and 12..15 (like b), in a second source put in train.
**
** pseudolabel-1.*: unlabelled images get teacher labels of the right class,
**                  with their confidence, a score per candidate and metrics.
** pseudolabel-2.*: the class cap holds; a rerun that accepts nothing leaves
**                  no teacher label current (the earlier run's stop counting).
** pseudolabel-3.*: an external teacher file: bad rows are named with their
**                  line and skipped, the good ones (by path or sha256) label.
** pseudolabel-4.*: pseudolabel.multitask: one teacher for tasks label and
**                  tone (tone: dark for a, light for b, given on some images
**                  only); each image is a candidate, and gets a teacher
**                  label, for the tasks it lacks a label of, and no other.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

static const char *db = "p.db";

static long long q_int(const char *sql) {
  char *path = test_scratch_path(db);
  long long v = path ? fx_sql_int(path, sql) : -1;
  cur_free(path);
  return v;
}

static char *q_text(const char *sql) {
  char *path = test_scratch_path(db);
  char *r = path ? fx_sql(path, sql) : NULL;
  cur_free(path);
  return r;
}

static int write_scratch(const char *rel, const char *text) {
  char *p = test_scratch_path(rel);
  int rc = p ? test_write_file(p, text, strlen(text)) : -1;
  cur_free(p);
  return rc;
}

static int build_corpus(void) {
  static const char *const both[] = {"a", "b"}, *const a[] = {"a"}, *const b[] = {"b"};
  static const char *const none[] = {"unlabeled"};
  static const int eight[] = {8, 8}, four[] = {4};
  int rc = test_sh("cd '%s' && rm -rf src u %s*", T.scratch, db);
  rc |= write_scratch("p.json", "{\"embed\": {\"features\": \"pixels\", \"size\": 8}}");
  rc |= fx_image_tree("src/train", both, eight, 2, 16, 16, "png", 1);
  rc |= fx_image_tree("src/val", a, four, 1, 17, 17, "png", 3);
  rc |= fx_image_tree("src/val", b, four, 1, 17, 17, "png", 11);
  rc |= fx_image_tree("u", none, four, 1, 18, 18, "png", 2);
  /* the second four go beside the first: 04.png .. 07.png */
  rc |= fx_image_tree("t", none, four, 1, 18, 18, "png", 12);
  for (int i = 0; i < 4; i++)
    rc |= test_sh("mv '%s/t/unlabeled/%02d.png' '%s/u/unlabeled/%02d.png'", T.scratch, i, T.scratch, i + 4);
  rc |= test_sh("rm -rf '%s/t'", T.scratch);
  rc |= fx_curate("init.log", "--db %s --config p.json init", db);
  rc |= fx_curate("ingest.log", "--db %s --config p.json ingest src", db);
  rc |= fx_curate("ingest-u.log", "--db %s --config p.json ingest u --split train", db);
  rc |= fx_curate("embed.log", "--db %s --config p.json run --stage embed", db);
  return rc;
}

/* Teacher labels that count (current_labels) for the unlabelled images, as "path=class ...". */
#define CURRENT_TEACHER                                                                  \
  "SELECT group_concat(i.source_path || '=' || cl.class, ' ') FROM current_labels cl "  \
  "JOIN images i ON i.id = cl.image_id WHERE cl.source = 'teacher' ORDER BY i.source_path"

TEST(unlabelled_images_get_teacher_labels_of_the_right_class) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(fx_curate("p.log", "--db %s --config p.json run --stage pseudolabel", db) == 0);
  /* eight candidates; the classes are far apart, so all pass 0.9 (cap: 2 x 8 per class) */
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'teacher'"), 8);
  CHECK_INT(q_int("SELECT count(*) FROM labels WHERE source = 'teacher'"), 8);
  CHECK_INT(q_int("SELECT count(*) FROM current_labels cl JOIN images i ON i.id = cl.image_id "
                  "WHERE cl.source = 'teacher' AND cl.class = CASE WHEN i.source_path < "
                  "'unlabeled/04.png' THEN 'a' ELSE 'b' END"), 8);
  CHECK_INT(q_int("SELECT count(*) FROM labels WHERE source = 'teacher' AND confidence < 0.9"), 0);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'label.accepted'"), 8);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'label.teacher_rows'"), 16);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'label.calibration_rows'"), 8);
  CHECK(q_int("SELECT count(*) FROM metrics WHERE name IN ('label.temperature', "
              "'label.ece_val_before', 'label.ece_val_after')") == 3);
  char *log = fx_read("p.log");
  CHECK(log && strstr(log, "8 candidates: 8 accepted") && strstr(log, "expected calibration error: val"));
  cur_free(log);
  /* the same seed gives the same labels */
  char *first = q_text(CURRENT_TEACHER);
  REQUIRE(fx_curate("p2.log", "--db %s --config p.json run --stage pseudolabel --force", db) == 0);
  char *again = q_text(CURRENT_TEACHER);
  CHECK(first && first[0] != '\n');
  CHECK_STR(again, first);
  cur_free(first);
  cur_free(again);
}

TEST(the_class_cap_holds_and_stale_teacher_labels_stop_counting) {
  REQUIRE(build_corpus() == 0);
  /* largest labelled class 8: a cap of 1.25 lets each class end at 10, so
  ** two pseudo-labels per class, the most confident */
  REQUIRE(write_scratch("cap.json", "{\"embed\": {\"features\": \"pixels\", \"size\": 8}, "
                                    "\"pseudolabel\": {\"class_cap\": 1.25}}") == 0);
  REQUIRE(fx_curate("cap.log", "--db %s --config cap.json run --stage pseudolabel", db) == 0);
  long long run = q_int("SELECT max(id) FROM runs WHERE stage = 'pseudolabel'");
  char sql[640];
  snprintf(sql, sizeof sql, "SELECT max(n) FROM (SELECT count(*) AS n FROM labels "
           "WHERE source = 'teacher' AND run_id = %lld GROUP BY class_id)", run);
  CHECK_INT(q_int(sql), 2);
  CHECK_INT(q_int("SELECT count(*) FROM current_labels WHERE source = 'teacher'"), 4);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'label.over_cap' AND run_id = "
                  "(SELECT max(id) FROM runs)"), 4);
  /* the kept ones are the most confident of their class */
  snprintf(sql, sizeof sql, "SELECT count(*) FROM scores s JOIN labels l ON l.image_id = s.image_id "
           "AND l.run_id = %lld AND l.source = 'teacher' WHERE s.run_id = %lld AND EXISTS "
           "(SELECT 1 FROM scores o WHERE o.run_id = s.run_id AND o.suggested_class_id = "
           "s.suggested_class_id AND o.value > s.value AND o.image_id NOT IN (SELECT image_id "
           "FROM labels WHERE run_id = %lld))", run, run, run);
  CHECK_INT(q_int(sql), 0);
  /* a cap below the labelled sizes accepts nothing; the earlier runs'
  ** teacher labels stay in the history but no longer count */
  REQUIRE(write_scratch("none.json", "{\"embed\": {\"features\": \"pixels\", \"size\": 8}, "
                                     "\"pseudolabel\": {\"class_cap\": 0.5}}") == 0);
  REQUIRE(fx_curate("none.log", "--db %s --config none.json run --stage pseudolabel", db) == 0);
  CHECK_INT(q_int("SELECT count(*) FROM current_labels WHERE source = 'teacher'"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM labels WHERE source = 'teacher'"), 4);  /* the capped run's */
}

TEST(an_external_teacher_file_names_bad_rows_by_line) {
  REQUIRE(build_corpus() == 0);
  char *sha = q_text("SELECT sha256 FROM images WHERE source_path = 'unlabeled/07.png'");
  REQUIRE(sha && strlen(sha) == 65);
  sha[64] = 0;
  char csv[1024];
  snprintf(csv, sizeof csv,
           "path,a,b\n"
           "unlabeled/00.png,0.97,0.03\n"
           "unlabeled/01.png,x,0.5\n"
           "unlabeled/02.png,0.7,0.7\n"
           "%s,0.02,0.98\n"
           "unlabeled/03.png,0.6\n"
           "nowhere.png,0.5,0.5\n"
           "val/a/00.png,0.95,0.05\n"
           "val/b/00.png,0.1,0.9\n",
           sha);
  cur_free(sha);
  REQUIRE(write_scratch("teacher.csv", csv) == 0);
  REQUIRE(write_scratch("ext.json", "{\"embed\": {\"features\": \"pixels\", \"size\": 8}, "
                                    "\"pseudolabel\": {\"teacher_file\": \"teacher.csv\", "
                                    "\"ood\": \"none\"}}") == 0);
  /* exit 3: the work is done, but some input was bad */
  CHECK_INT(fx_curate("ext.log", "--db %s --config ext.json run --stage pseudolabel", db), 3);
  char *log = fx_read("ext.log");
  CHECK(log && strstr(log, "teacher.csv:3: class 'a': 'x' is not a probability in [0, 1]; row skipped"));
  CHECK(log && strstr(log, "teacher.csv:4: probabilities sum to 1.4, not 1; row skipped"));
  CHECK(log && strstr(log, "teacher.csv:6: 2 fields, expected 3; row skipped"));
  CHECK(log && strstr(log, "1 rows name no candidate or labelled image"));
  cur_free(log);
  char *labels = q_text(CURRENT_TEACHER);
  CHECK_STR(labels, "unlabeled/00.png=a unlabeled/07.png=b\n");
  cur_free(labels);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'label.calibration_rows' "
                  "AND run_id = (SELECT max(id) FROM runs)"), 2);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'label.unscored' "
                  "AND run_id = (SELECT max(id) FROM runs)"), 6);
  /* energy needs logits, which a file of probabilities does not give */
  REQUIRE(write_scratch("bad.json", "{\"pseudolabel\": {\"teacher_file\": \"teacher.csv\", "
                                    "\"ood\": \"energy\"}}") == 0);
  CHECK(fx_curate("bad.log", "--db %s --config bad.json run --stage pseudolabel", db) != 0);
  log = fx_read("bad.log");
  CHECK(log && strstr(log, "pseudolabel.ood: energy needs the teacher's logits"));
  cur_free(log);
}

/* Task tone (dark = like a, light = like b) by label files: on the val
** images, on train's a/00-03 and b/00-03 (not 04-07), and on the
** unlabelled unlabeled/00 (like a) and unlabeled/04 (like b), which thus
** lack only a label of task label. */
static int add_tone(void) {
  char csv[2048] = "path,tone\n";
  for (int i = 0; i < 4; i++) {
    size_t len = strlen(csv);
    snprintf(csv + len, sizeof csv - len, "val/a/%02d.png,dark\nval/b/%02d.png,light\n"
             "train/a/%02d.png,dark\ntrain/b/%02d.png,light\n", i, i, i, i);
  }
  int rc = write_scratch("tone.csv", csv);
  rc |= write_scratch("tone-u.csv", "path,tone\nunlabeled/00.png,dark\nunlabeled/04.png,light\n");
  rc |= test_sh("cd '%s' && rm -rf src2 u2 && cp -r src src2 && cp -r u u2", T.scratch);
  /* the same images again under other folders: ingest records them as
  ** copies of those it has, and their label files add task tone */
  rc |= fx_curate("tone.log", "--db %s --config p.json ingest src2 --labels tone.csv --task tone=tone", db);
  rc |= fx_curate("tone-u.log", "--db %s --config p.json ingest u2 --labels tone-u.csv --task tone=tone "
                  "--split train", db);
  return rc;
}

/* Teacher labels of the newest run, as "path:task=class ...". */
#define TEACHER_BY_TASK                                                                       \
  "SELECT group_concat(p, ' ') FROM (SELECT i.source_path || ':' || cl.task || '=' || cl.class " \
  "AS p FROM current_labels cl JOIN images i ON i.id = cl.image_id WHERE cl.source = 'teacher' " \
  "ORDER BY i.source_path, cl.task)"

TEST(one_teacher_labels_each_task_where_an_image_lacks_it) {
  REQUIRE(build_corpus() == 0);
  REQUIRE(add_tone() == 0);
  REQUIRE(q_int("SELECT count(*) FROM current_labels WHERE task = 'tone'") == 18);
  /* class_cap 3: tone's classes have 4 labelled rows and 7 candidates each
  ** (with the default 2, the cap would choose among them) */
  REQUIRE(write_scratch("mt.json", "{\"embed\": {\"features\": \"pixels\", \"size\": 8}, "
                                   "\"pseudolabel\": {\"multitask\": true, \"class_cap\": 3, "
                                   "\"ood\": \"none\"}}") == 0);
  REQUIRE(fx_curate("mt.log", "--db %s --config mt.json run --stage pseudolabel", db) == 0);
  char *labels = q_text(TEACHER_BY_TASK);
  /* label: the six unlabelled images without a tone (01-03 like a, 05-07
  ** like b) and the two with one (00, 04); tone: the eight unlabelled ones
  ** but 00 and 04, and train's a/04-07 and b/04-07, which have a label */
  CHECK_STR(labels,
            "train/a/04.png:tone=dark train/a/05.png:tone=dark train/a/06.png:tone=dark "
            "train/a/07.png:tone=dark train/b/04.png:tone=light train/b/05.png:tone=light "
            "train/b/06.png:tone=light train/b/07.png:tone=light unlabeled/00.png:label=a "
            "unlabeled/01.png:label=a unlabeled/01.png:tone=dark unlabeled/02.png:label=a "
            "unlabeled/02.png:tone=dark unlabeled/03.png:label=a unlabeled/03.png:tone=dark "
            "unlabeled/04.png:label=b unlabeled/05.png:label=b unlabeled/05.png:tone=light "
            "unlabeled/06.png:label=b unlabeled/06.png:tone=light unlabeled/07.png:label=b "
            "unlabeled/07.png:tone=light\n");
  cur_free(labels);
  /* one teacher: 16 + 2 rows labelled for label or tone (the 8 of tone on train among label's 16) */
  char *log = fx_read("mt.log");
  CHECK(log && strstr(log, "one teacher for 2 tasks: a multi-task head over 18 rows, 4 classes in all"));
  cur_free(log);
  CHECK_INT(q_int("SELECT count(*) FROM metrics WHERE name IN ('label.teacher_tasks', "
                  "'tone.teacher_tasks') AND value = 2 AND run_id = (SELECT max(id) FROM runs)"), 2);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'tone.candidates' AND run_id = "
                  "(SELECT max(id) FROM runs)"), 14);
  /* an external teacher has no head to share */
  REQUIRE(write_scratch("ext-mt.json", "{\"pseudolabel\": {\"multitask\": true, "
                                       "\"teacher_file\": \"tone.csv\"}}") == 0);
  CHECK(fx_curate("ext-mt.log", "--db %s --config ext-mt.json run --stage pseudolabel", db) == 1);
  log = fx_read("ext-mt.log");
  CHECK(log && strstr(log, "pseudolabel.multitask: the teacher of teacher_file is an external model's"));
  cur_free(log);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(unlabelled_images_get_teacher_labels_of_the_right_class);
  RUN(the_class_cap_holds_and_stale_teacher_labels_stop_counting);
  RUN(an_external_teacher_file_names_bad_rows_by_line);
  RUN(one_teacher_labels_each_task_where_an_image_lacks_it);
  return test_finish();
}
