/* test_review.c -- `curate review undo`: a decision taken back by a
** retraction, the history kept.
**
** A database of 12 PNGs in three class folders (human labels from the
** folders), no stage run: the oracle for the current label is the folder an
** image was written to, and the decisions the test itself made.
**
** review-1.*: undo after a relabel of a human-labelled image: the human
**             label is current again with its source (SQL and `curate
**             status --json`), the relabel's row stays in labels and a
**             label_retractions row points at it; the image's flag is
**             pending again.
** review-2.*: undo twice walks back two decisions, newest first; a third
**             undo has nothing left and is refused.
** review-3.*: undo on an image never reviewed is refused with a message
**             naming it, and writes nothing.
*/
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "curate.h"
#include "fixtures.h"
#include "testlib.h"

static const char *const classes[] = {"circle", "square", "stripe"};

static long long q(const char *sql) {
  char *path = test_scratch_path("rv.db");
  long long v = path ? fx_sql_int(path, sql) : -1;
  cur_free(path);
  return v;
}

/* The current class and source of IMAGE as "class/source" (caller frees). */
static char *current(long long image) {
  char sql[200], *path = test_scratch_path("rv.db");
  snprintf(sql, sizeof sql, "SELECT coalesce(class, '-') || '/' || source FROM current_labels "
                            "WHERE image_id = %lld", image);
  char *v = path ? fx_sql(path, sql) : NULL;
  if (v) v[strcspn(v, "\n")] = 0;
  cur_free(path);
  return v;
}

/* The images of CLASS, over every split, that `curate status --json` counts. */
static long long status_count(const char *class_name) {
  if (test_sh("cd '%s' && '%s' --db rv.db status --json > status.json 2>/dev/null", T.scratch,
              T.curate))
    return -1;
  char *text = fx_read("status.json");
  cJSON *o = text ? cJSON_Parse(text) : NULL, *row;
  long long n = o ? 0 : -1;
  cJSON_ArrayForEach(row, cJSON_GetObjectItem(o, "classes")) {
    const cJSON *c = cJSON_GetObjectItem(row, "class");
    if (cJSON_IsString(c) && strcmp(c->valuestring, class_name) == 0)
      n += (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "images"));
  }
  cJSON_Delete(o);
  cur_free(text);
  return n;
}

/* A fresh database: 4 images per class folder, ingested (human labels). */
static int build(void) {
  static const int counts[] = {4, 4, 4};
  int rc = test_sh("cd '%s' && rm -rf src rv.db*", T.scratch) ||
           fx_image_tree("src", classes, counts, 3, 16, 16, "png", 5);
  if (!rc) rc = fx_curate("init.log", "--db rv.db init");
  if (!rc) rc = fx_curate("ingest.log", "--db rv.db ingest src");
  return rc;
}

/* The id of the first image written to CLASS's folder. */
static long long image_of(const char *class_name) {
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT min(image_id) FROM labels l JOIN classes c "
                            "ON c.id = l.class_id WHERE l.source = 'human' AND c.name = '%s'",
           class_name);
  return q(sql);
}

TEST(undo_after_relabel_restores_the_human_label_and_its_source) {
  REQUIRE(build() == 0);
  long long img = image_of("circle");
  REQUIRE(img > 0);
  /* a flag on the image, as aum would raise it, to see it reopened */
  REQUIRE(test_sh("cd '%s' && sqlite3 rv.db \"INSERT INTO flags(run_id, reason, image_id, task_id) "
                  "SELECT max(id), 'aum', %lld, 1 FROM runs\"", T.scratch, img) == 0);
  long long circles = status_count("circle"), squares = status_count("square");
  CHECK_INT(circles, 4);
  CHECK_INT(fx_curate("relabel.log", "--db rv.db review relabel %lld square", img), 0);
  char *now = current(img);
  CHECK_STR(now, "square/review");
  cur_free(now);
  CHECK_INT(status_count("square"), squares + 1);
  CHECK_INT(q("SELECT count(*) FROM flags WHERE review_status = 'relabelled'"), 1);
  long long labels = q("SELECT count(*) FROM labels");
  CHECK_INT(fx_curate("undo.log", "--db rv.db review undo %lld", img), 0);
  now = current(img);
  CHECK_STR(now, "circle/human");
  cur_free(now);
  CHECK_INT(status_count("circle"), circles);
  CHECK_INT(status_count("square"), squares);
  /* the history only grows: the relabel's row stays, retracted */
  CHECK_INT(q("SELECT count(*) FROM labels"), labels);
  CHECK_INT(q("SELECT count(*) FROM label_retractions r JOIN labels l ON l.id = r.label_id "
              "JOIN classes c ON c.id = l.class_id WHERE l.source = 'review' AND c.name = 'square'"),
            1);
  CHECK_INT(q("SELECT count(*) FROM flags WHERE review_status = 'pending'"), 1);
}

TEST(undo_twice_walks_back_two_decisions_and_a_third_is_refused) {
  REQUIRE(build() == 0);
  long long img = image_of("square");
  REQUIRE(img > 0);
  CHECK_INT(fx_curate("r1.log", "--db rv.db review relabel %lld stripe", img), 0);
  CHECK_INT(fx_curate("r2.log", "--db rv.db review drop %lld", img), 0);
  char *now = current(img);
  CHECK_STR(now, "-/review");
  cur_free(now);
  CHECK_INT(fx_curate("u1.log", "--db rv.db review undo %lld", img), 0);
  now = current(img);
  CHECK_STR(now, "stripe/review");
  cur_free(now);
  CHECK_INT(fx_curate("u2.log", "--db rv.db review undo %lld", img), 0);
  now = current(img);
  CHECK_STR(now, "square/human");
  cur_free(now);
  CHECK_INT(q("SELECT count(*) FROM label_retractions"), 2);
  CHECK(fx_curate("u3.log", "--db rv.db review undo %lld", img) != 0);
  char *log = fx_read("u3.log");
  CHECK(log && strstr(log, "no review decision to undo"));
  cur_free(log);
  CHECK_INT(q("SELECT count(*) FROM label_retractions"), 2);
  /* retractions are history too: an edit is refused by the trigger */
  CHECK(test_sh("cd '%s' && sqlite3 rv.db \"UPDATE label_retractions SET label_id = 1\" 2>/dev/null",
                T.scratch) != 0);
  CHECK_INT(q("SELECT count(*) FROM label_retractions WHERE label_id = 1"), 0);
  /* a new decision after the undos is undone on its own */
  CHECK_INT(fx_curate("r3.log", "--db rv.db review accept %lld", img), 0);
  CHECK_INT(fx_curate("u4.log", "--db rv.db review undo %lld", img), 0);
  now = current(img);
  CHECK_STR(now, "square/human");
  cur_free(now);
}

TEST(undo_with_nothing_to_undo_is_refused_and_writes_nothing) {
  REQUIRE(build() == 0);
  long long img = image_of("stripe"), other = image_of("circle");
  REQUIRE(img > 0 && other > 0);
  /* a decision on another image is not this one's to undo */
  CHECK_INT(fx_curate("r.log", "--db rv.db review accept %lld", other), 0);
  long long labels = q("SELECT count(*) FROM labels");
  CHECK_INT(fx_curate("u.log", "--db rv.db review undo %lld", img), 1);  /* CUR_EXIT_ERROR */
  char *log = fx_read("u.log"), want[80];
  snprintf(want, sizeof want, "image %lld: no review decision to undo", img);
  CHECK(log && strstr(log, want));
  cur_free(log);
  CHECK_INT(q("SELECT count(*) FROM labels"), labels);
  CHECK_INT(q("SELECT count(*) FROM label_retractions"), 0);
  char *now = current(img);
  CHECK_STR(now, "stripe/human");
  cur_free(now);
  /* one command, several images: one with nothing to undo records none */
  CHECK(fx_curate("u2.log", "--db rv.db review undo %lld %lld", other, img) != 0);
  CHECK_INT(q("SELECT count(*) FROM label_retractions"), 0);
  /* a retraction cannot be edited, and only a review label can be retracted */
  CHECK(test_sh("cd '%s' && sqlite3 rv.db \"INSERT INTO label_retractions(label_id) "
                "SELECT min(id) FROM labels WHERE source = 'human'\" 2>/dev/null", T.scratch) != 0);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(undo_after_relabel_restores_the_human_label_and_its_source);
  RUN(undo_twice_walks_back_two_decisions_and_a_third_is_refused);
  RUN(undo_with_nothing_to_undo_is_refused_and_writes_nothing);
  return test_finish();
}
