/* test_augment_resume_slow.c -- crash safety of augment: `curate run --stage
** augment` killed with SIGKILL at random moments, several times, then run to
** the end, gives exactly the database of a run that was never killed (all
** columns but the timing ones).
**
** augment-resume-1.*: 104 variants of 480x360 JPEGs, 4 per batch, 2 threads.
*/
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "testlib.h"

#define KILLS 5

/* Classes a..d with 40, 8, 4 and 4 images: balanced to 40 with at most 10
** variants per image, b gets 32 variants and c and d 36 each. */
static int build_sources(void) {
  static const char *const classes[] = {"a", "b", "c", "d"};
  static const int counts[] = {40, 8, 4, 4};
  int rc = test_sh("cd '%s' && rm -rf src", T.scratch);
  rc |= fx_image_tree("src/train", classes, counts, 4, 480, 360, "jpeg", 1);
  const char *cfg = "{\"balance\": {\"target\": \"max\", \"max_variants_per_source\": 10}, "
                    "\"augment\": {\"batch_size\": 4}}";
  char *p = test_scratch_path("aug.json");
  rc |= test_write_file(p, cfg, strlen(cfg));
  cur_free(p);
  return rc;
}

static int prepare(const char *db) {
  int rc = test_sh("cd '%s' && rm -f %s*", T.scratch, db);
  if (!rc) rc = fx_curate("init.log", "--db %s --config aug.json init", db);
  if (!rc) rc = fx_curate("ingest.log", "--db %s --config aug.json ingest src", db);
  if (!rc) rc = fx_curate("balance.log", "--db %s --config aug.json run --stage balance", db);
  return rc;
}

TEST(augment_killed_at_random_moments_ends_as_if_never_killed) {
  REQUIRE(build_sources() == 0);
  REQUIRE(prepare("clean.db") == 0);
  REQUIRE(prepare("killed.db") == 0);
  static const char *const clean_args[] = {"--db", "clean.db", "--config", "aug.json", "--threads", "2",
                                           "run", "--stage", "augment", NULL};
  static const char *const killed_args[] = {"--db", "killed.db", "--config", "aug.json", "--threads", "2",
                                            "run", "--stage", "augment", NULL};
  int landed;
  /* kill points early enough in each attempt that the later attempts
  ** (which have less left to do) are still running */
  CHECK_INT(fx_kill_and_resume(clean_args, killed_args, KILLS, 0.1, 0.3, 20261124, &landed), 0);
  CHECK(landed >= 3);
  char *clean = test_scratch_path("clean.db"), *killed = test_scratch_path("killed.db");
  char *want = fx_dump(clean), *got = fx_dump(killed);
  REQUIRE(want && got);
  char *made = fx_sql(killed, "SELECT count(*) FROM augment_variants WHERE outcome = 'made'");
  CHECK_STR(made, "104\n");
  CHECK(strcmp(want, got) == 0);
  char *runs = fx_sql(killed, "SELECT id || ' ' || status FROM runs WHERE stage = 'augment'");
  /* every attempt resumed the same run (after ingest 1, split 2, balance 3) */
  CHECK_STR(runs, "4 complete\n");
  cur_free(made);
  cur_free(runs);
  cur_free(want);
  cur_free(got);
  cur_free(clean);
  cur_free(killed);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(augment_killed_at_random_moments_ends_as_if_never_killed);
  return test_finish();
}
