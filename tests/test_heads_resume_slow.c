/* test_heads_resume_slow.c -- crash safety of the stages that train heads per
** task (aum, pseudolabel): `curate run --stage S` killed with SIGKILL at
** random moments, several times, then run to the end, gives exactly the
** database of a run that was never killed (all columns but the timing ones).
**
** Eight tasks over 600 small JPEGs (pixels features, MLP heads), a sixth of
** each task's images unlabelled.  Each stage writes a task in one
** transaction, so a kill lands before, inside or between them, and the
** resumed run skips the finished tasks and recomputes the rest.
** heads-resume-1.*: aum (mode both).
** heads-resume-2.*: pseudolabel, on the databases the first left.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

#define KILLS 5
#define TASKS 8
#define PER_CLASS 200

/* Classes a..c of PER_CLASS 8x8 JPEGs each, and a label file whose task tJ
** gives image i of a class its folder class, except every (7 + J)th image,
** moved to the next class, so every task has its own mislabelled rows, and
** every sixth image, left without a label (UNLABELLED of a class). */
#define UNLABELLED(i) ((i) % 6 == 5)
#define LABELLED_PER_CLASS (PER_CLASS - PER_CLASS / 6)
static int build_sources(void) {
  static const char *const classes[] = {"a", "b", "c"};
  static const int counts[] = {PER_CLASS, PER_CLASS, PER_CLASS};
  int rc = test_sh("cd '%s' && rm -rf src", T.scratch);
  rc |= fx_image_tree("src", classes, counts, 3, 8, 8, "jpeg", 1);
  char *csv = cur_strdup("path");
  for (int j = 0; csv && j < TASKS; j++) {
    char *grown = cur_asprintf("%s,t%d", csv, j);
    cur_free(csv);
    csv = grown;
  }
  for (int k = 0; csv && k < 3; k++)
    for (int i = 0; csv && i < PER_CLASS; i++) {
      char *grown = cur_asprintf("%s\n%s/%02d.jpg", csv, classes[k], i);
      for (int j = 0; grown && j < TASKS; j++) {
        char *row = cur_asprintf("%s,%s", grown, UNLABELLED(i) ? ""
                                                 : classes[i % (7 + j) == 3 ? (k + 1) % 3 : k]);
        cur_free(grown);
        grown = row;
      }
      cur_free(csv);
      csv = grown;
    }
  /* fx_image patterns say little of their class, so the 99th percentile
  ** would flag nearly every row; the median leaves flagged and unflagged */
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 8}, "
                    "\"aum\": {\"mode\": \"both\", \"combine\": \"either\", \"head\": \"mlp\", "
                    "\"hidden\": 64, \"epochs\": 15, \"batch_size\": 32, \"percentile\": 50}, "
                    "\"pseudolabel\": {\"head\": \"mlp\", \"hidden\": 256, \"epochs\": 400, "
                    "\"batch_size\": 8, \"lr\": 0.01, \"threshold\": 0.5, \"class_cap\": 10}}";
  char *csv_path = test_scratch_path("labels.csv"), *cfg_path = test_scratch_path("aum.json");
  rc |= !csv || !csv_path || !cfg_path || test_write_file(csv_path, csv, strlen(csv)) ||
        test_write_file(cfg_path, cfg, strlen(cfg));
  cur_free(csv);
  cur_free(csv_path);
  cur_free(cfg_path);
  return rc;
}

/* A database with the sources ingested under every task and embedded. */
static int prepare(const char *db) {
  char tasks[256] = "";
  for (int j = 0; j < TASKS; j++)
    snprintf(tasks + strlen(tasks), sizeof tasks - strlen(tasks), " --task t%d=t%d", j, j);
  int rc = test_sh("cd '%s' && rm -f %s*", T.scratch, db);
  if (!rc) rc = fx_curate("init.log", "--db %s --config aum.json init", db);
  if (!rc) rc = fx_curate("ingest.log", "--db %s --config aum.json ingest src --labels labels.csv%s "
                          "--split train", db, tasks);
  if (!rc) rc = fx_curate("embed.log", "--db %s --config aum.json run --until embed", db);
  return rc;
}

/* Kills `run --stage STAGE` on killed.db at random moments and resumes it;
** the dump must equal clean.db's after an uninterrupted run. */
static void drill(const char *stage, unsigned seed) {
  const char *const clean_args[] = {"--db", "clean.db", "--config", "aum.json", "--threads", "2",
                                    "run", "--stage", stage, NULL};
  const char *const killed_args[] = {"--db", "killed.db", "--config", "aum.json", "--threads", "2",
                                     "run", "--stage", stage, NULL};
  int landed;
  /* each attempt recomputes the unfinished tasks from scratch, so kill
  ** points of 0.05 to 0.2 of the whole run (0.4 to 1.6 tasks) let most
  ** attempts finish a task or none before they die, with room for a clean
  ** run twice as slow as the attempts on a loaded machine */
  CHECK_INT(fx_kill_and_resume(clean_args, killed_args, KILLS, 0.05, 0.2, seed, &landed), 0);
  CHECK(landed >= 3);
  char *clean = test_scratch_path("clean.db"), *killed = test_scratch_path("killed.db");
  char *want = clean ? fx_dump(clean) : NULL, *got = killed ? fx_dump(killed) : NULL;
  CHECK(want && got && strcmp(want, got) == 0);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) || ' ' || min(status) FROM runs WHERE stage = '%s'", stage);
  char *runs = killed ? fx_sql(killed, sql) : NULL;
  CHECK_STR(runs, "1 complete\n");  /* every attempt resumed the same run */
  cur_free(runs);
  cur_free(want);
  cur_free(got);
  cur_free(clean);
  cur_free(killed);
}

TEST(aum_killed_at_random_moments_ends_as_if_never_killed) {
  REQUIRE(build_sources() == 0);
  REQUIRE(prepare("clean.db") == 0);
  REQUIRE(prepare("killed.db") == 0);
  drill("aum", 20261130);
  char *killed = test_scratch_path("killed.db");
  REQUIRE(killed);
  /* the dumps hold every task's scores and some flags, not an empty stage */
  CHECK_INT(fx_sql_int(killed, "SELECT count(*) FROM scores"), 2 * TASKS * 3 * LABELLED_PER_CLASS);
  CHECK_INT(fx_sql_int(killed, "SELECT count(DISTINCT task_id) FROM flags WHERE reason IN "
                       "('aum', 'confident')"), TASKS);
  cur_free(killed);
}

TEST(pseudolabel_killed_at_random_moments_ends_as_if_never_killed) {
  drill("pseudolabel", 20261201);
  char *killed = test_scratch_path("killed.db");
  REQUIRE(killed);
  /* every task scored its unlabelled images, and some were accepted */
  CHECK_INT(fx_sql_int(killed, "SELECT count(*) FROM scores WHERE kind = 'teacher'"),
            TASKS * 3 * (PER_CLASS / 6));
  CHECK(fx_sql_int(killed, "SELECT count(*) FROM labels WHERE source = 'teacher'") > 0);
  cur_free(killed);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(aum_killed_at_random_moments_ends_as_if_never_killed);
  RUN(pseudolabel_killed_at_random_moments_ends_as_if_never_killed);
  return test_finish();
}
