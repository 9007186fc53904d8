/* test_invalidation.c -- a stage is pending exactly when what it reads changed, and status says why.
**
** One small dataset through the whole pipeline with the real stages, then
** one change at a time, each checked twice: by `curate status --json` (the
** state and the reason) and by the runs table after `curate run` (which
** stages ran again).  The oracle is the table of stage inputs in
** docs/architecture.md, written out here by hand.
*/
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "curate.h"
#include "fixtures.h"
#include "stages.h"
#include "testlib.h"

static const char *const all_stages[] = {"ingest", "split", "embed", "audit", "prelabel", "aum",
                                         "pseudolabel", "balance", "augment", "policy",
                                         "export", "train"};
#define N_STAGES 12

static long long q(const char *sql) {
  char *path = test_scratch_path("inv.db");
  long long v = path ? fx_sql_int(path, sql) : -1;
  cur_free(path);
  return v;
}

/* Runs of each stage so far, in all_stages order. */
static void run_counts(long long out[N_STAGES]) {
  for (int i = 0; i < N_STAGES; i++) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE stage = '%s' AND status = 'complete'",
             all_stages[i]);
    out[i] = q(sql);
  }
}

/* The fixture: three classes of 18 PNGs each in class folders, the whole
** pipeline run once.  Pixel features keep it quick. */
static int build(void) {
  static const char *const classes[] = {"circle", "square", "stripe"};
  static const int counts[] = {18, 18, 18};
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 8, \"channels\": 1}}";
  char *p = test_scratch_path("inv.json");
  int rc = test_sh("cd '%s' && rm -rf src inv.db*", T.scratch) ||
           fx_image_tree("src", classes, counts, 3, 24, 24, "png", 11) ||
           test_write_file(p, cfg, strlen(cfg));
  cur_free(p);
  if (!rc) rc = fx_curate("init.log", "--db inv.db --config inv.json init");
  if (!rc) rc = fx_curate("ingest.log", "--db inv.db --config inv.json ingest src");
  if (!rc) rc = fx_curate("run.log", "--db inv.db --config inv.json run");
  return rc;
}

/* `curate status --json`'s entry for STAGE: its state and why (copied into the buffers). */
static int status_of(const char *stage, char *state, size_t scap, char *why, size_t wcap) {
  if (test_sh("cd '%s' && '%s' --db inv.db --config inv.json status --json > status.json",
              T.scratch, T.curate))
    return -1;
  char *text = fx_read("status.json");
  cJSON *s = text ? cJSON_Parse(text) : NULL, *st;
  int found = -1;
  cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(s, "stages")) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(st, "stage");
    if (!cJSON_IsString(name) || strcmp(name->valuestring, stage) != 0) continue;
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(st, "state");
    const cJSON *wv = cJSON_GetObjectItemCaseSensitive(st, "why");
    snprintf(state, scap, "%s", cJSON_IsString(sv) ? sv->valuestring : "?");
    snprintf(why, wcap, "%s", cJSON_IsString(wv) ? wv->valuestring : "");
    found = 0;
  }
  cJSON_Delete(s);
  cur_free(text);
  return found;
}

/* Checks every stage's state against EXPECT ("u" up to date, "p" pending),
** and that each pending stage's reason contains the WHY given for it (or,
** for the rest, any reason at all). */
static void expect_states(const char *expect, const char *const why[N_STAGES], int line) {
  for (int i = 0; i < N_STAGES; i++) {
    char state[32], reason[512];
    if (status_of(all_stages[i], state, sizeof state, reason, sizeof reason)) {
      test_fail(__FILE__, line, "no status for %s", all_stages[i]);
      continue;
    }
    const char *want = expect[i] == 'u' ? "up to date" : "pending";
    CHECK_MSG(strcmp(state, want) == 0, "line %d: %s is %s (%s), expected %s", line, all_stages[i],
              state, reason, want);
    if (expect[i] == 'p')
      CHECK_MSG(reason[0] && (!why || !why[i] || strstr(reason, why[i])),
                "line %d: %s pending because '%s', expected '%s'", line, all_stages[i], reason,
                why && why[i] ? why[i] : "a reason");
  }
}

/* Runs `curate run` and checks which stages ran again: RERAN[i] 1 or 0. */
static void expect_reruns(const char *log, const char *reran, int line) {
  long long before[N_STAGES], after[N_STAGES];
  run_counts(before);
  CHECK_MSG(fx_curate(log, "--db inv.db --config inv.json run") == 0, "line %d: curate run failed", line);
  run_counts(after);
  for (int i = 0; i < N_STAGES; i++)
    CHECK_MSG(after[i] - before[i] == (reran[i] == '1'), "line %d: %s ran %lld times, expected %d",
              line, all_stages[i], after[i] - before[i], reran[i] == '1');
}

TEST(a_fresh_run_leaves_everything_up_to_date_and_a_rerun_runs_nothing) {
  REQUIRE(build() == 0);
  expect_states("uuuuuuuuuuuu", NULL, __LINE__);
  expect_reruns("again.log", "000000000000", __LINE__);
}

TEST(a_review_reruns_the_label_readers_only) {
  REQUIRE(build() == 0);
  long long id = q("SELECT min(image_id) FROM labels WHERE source = 'human'");
  REQUIRE(id > 0);
  char args[160];
  snprintf(args, sizeof args, "--db inv.db --config inv.json review relabel %lld square", id);
  REQUIRE(fx_curate("review.log", "%s", args) == 0);
  /* ingest, split and embed read no labels but the human ones; audit,
  ** prelabel and every stage from aum on read the reviews */
  static const char *const why[N_STAGES] = {[3] = "changed by review", [4] = "labels of task",
                                            [5] = "changed by review", [11] = "changed by review"};
  expect_states("uuuppppppppp", why, __LINE__);
  expect_reruns("after-review.log", "000111111111", __LINE__);
  expect_states("uuuuuuuuuuuu", NULL, __LINE__);
}

/* An undo retracts a decision: back to the state the stages ran on, they
** are up to date; undoing a decision they ran on makes them pending again. */
TEST(an_undone_review_is_the_state_before_it) {
  REQUIRE(build() == 0);
  long long id = q("SELECT min(image_id) FROM labels WHERE source = 'human'");
  REQUIRE(id > 0);
  REQUIRE(fx_curate("review.log", "--db inv.db --config inv.json review relabel %lld square", id) == 0);
  expect_states("uuuppppppppp", NULL, __LINE__);
  REQUIRE(fx_curate("undo.log", "--db inv.db --config inv.json review undo %lld", id) == 0);
  expect_states("uuuuuuuuuuuu", NULL, __LINE__);
  expect_reruns("after-undo.log", "000000000000", __LINE__);
  REQUIRE(fx_curate("review2.log", "--db inv.db --config inv.json review relabel %lld square", id) == 0);
  expect_reruns("after-review.log", "000111111111", __LINE__);
  REQUIRE(fx_curate("undo2.log", "--db inv.db --config inv.json review undo %lld", id) == 0);
  static const char *const why[N_STAGES] = {[3] = "removed by review", [5] = "removed by review",
                                            [11] = "removed by review"};
  expect_states("uuuppppppppp", why, __LINE__);
  expect_reruns("after-undo2.log", "000111111111", __LINE__);
}

TEST(touched_files_and_a_database_inside_the_source_rerun_nothing) {
  REQUIRE(build() == 0);
  /* new modification times (files copied again, same names), and files
  ** ingest never reads: a database with its journal kept in the folder */
  REQUIRE(test_sh("cd '%s' && find src -exec touch -d '2030-01-01' {} + && "
                  "cp inv.db src/kept.db && touch src/kept.db-wal src/circle/notes.txt",
                  T.scratch) == 0);
  expect_states("uuuuuuuuuuuu", NULL, __LINE__);
  expect_reruns("touched.log", "000000000000", __LINE__);
}

TEST(a_renamed_image_reruns_ingest) {
  REQUIRE(build() == 0);
  REQUIRE(test_sh("cd '%s' && mv src/circle/00.png src/circle/00-renamed.png", T.scratch) == 0);
  static const char *const why[N_STAGES] = {[0] = "the sources' files", [1] = "waits on ingest",
                                            [11] = "waits on ingest"};
  expect_states("pppppppppppp", why, __LINE__);
}

TEST(a_new_image_reruns_everything_and_says_so) {
  REQUIRE(build() == 0);
  char *path = test_scratch_path("src/circle/new.png");
  REQUIRE(path && fx_image_file(path, 24, 24, 999, "png") == 0);
  cur_free(path);
  REQUIRE(fx_curate("ingest2.log", "--db inv.db --config inv.json run --stage ingest") == 0);
  /* ingest is up to date again; split reads it and says so; the rest wait */
  static const char *const why[N_STAGES] = {[1] = "ingest's output changed",
                                            [2] = "ingest's output changed",
                                            [11] = "ingest's output changed"};
  expect_states("uppppppppppp", why, __LINE__);
  expect_reruns("after-new.log", "011111111111", __LINE__);
}

TEST(a_copy_with_another_label_reruns_split_onward) {
  REQUIRE(build() == 0);
  /* a second source holds one circle under square: ingest adds no image
  ** and no label, only a duplicate_conflict flag that takes the row out */
  REQUIRE(test_sh("cd '%s' && mkdir -p src2/square && cp src/circle/00.png src2/square/copy.png",
                  T.scratch) == 0);
  REQUIRE(fx_curate("ingest2.log", "--db inv.db --config inv.json ingest src2") == 0);
  CHECK_INT(q("SELECT count(*) FROM flags WHERE reason = 'duplicate_conflict'"), 1);
  /* curate ingest runs split right after ingest; embed onward read both */
  static const char *const why[N_STAGES] = {[2] = "ingest's output changed",
                                            [11] = "ingest's output changed"};
  expect_states("uupppppppppp", why, __LINE__);
}

TEST(every_stage_reads_only_the_reviews_and_earlier_stages) {
  cur_stage_list reg = cur_stage_registry();
  int checked = 0;
  for (int i = 0; i < reg.n; i++)
    for (const char *const *r = reg.at[i]->reads; r && *r; r++, checked++) {
      int at = cur_stage_list_index(reg, *r);
      CHECK_MSG(strcmp(*r, CUR_READS_REVIEWS) == 0 || (at >= 0 && at < i),
                "%s reads '%s', which is neither the reviews nor an earlier stage",
                reg.at[i]->name, *r);
    }
  CHECK(checked >= 5);  /* split, embed and prelabel declare theirs */
}

TEST(an_option_change_reruns_that_stage_and_its_readers) {
  REQUIRE(build() == 0);
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 8, \"channels\": 1},"
                    " \"balance\": {\"target\": \"max\"}}";
  char *p = test_scratch_path("inv.json");
  REQUIRE(test_write_file(p, cfg, strlen(cfg)) == 0);
  cur_free(p);
  /* augment reads balance; policy, export and train read every stage */
  static const char *const why[N_STAGES] = {[7] = "options or seed changed",
                                            [8] = "waits on balance", [11] = "waits on balance"};
  expect_states("uuuuuuuppppp", why, __LINE__);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(a_fresh_run_leaves_everything_up_to_date_and_a_rerun_runs_nothing);
  RUN(a_review_reruns_the_label_readers_only);
  RUN(an_undone_review_is_the_state_before_it);
  RUN(touched_files_and_a_database_inside_the_source_rerun_nothing);
  RUN(a_renamed_image_reruns_ingest);
  RUN(a_new_image_reruns_everything_and_says_so);
  RUN(a_copy_with_another_label_reruns_split_onward);
  RUN(every_stage_reads_only_the_reviews_and_earlier_stages);
  RUN(an_option_change_reruns_that_stage_and_its_readers);
  return test_finish();
}
