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

/* Starts `curate run --stage augment` on DB; returns the pid. */
static pid_t start_augment(const char *db) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(T.scratch) != 0) _exit(127);
    if (!freopen("/dev/null", "w", stderr)) _exit(127);
    execl(T.curate, "curate", "--db", db, "--config", "aug.json", "--threads", "2", "run",
          "--stage", "augment", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static int wait_exit(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(augment_killed_at_random_moments_ends_as_if_never_killed) {
  REQUIRE(build_sources() == 0);
  REQUIRE(prepare("clean.db") == 0);
  REQUIRE(prepare("killed.db") == 0);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  CHECK_INT(wait_exit(start_augment("clean.db")), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double full = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
  /* kill points from a fixed seed, early enough in each attempt that the
  ** later attempts (which have less left to do) are still running */
  srand(20261124);
  int landed = 0;
  for (int k = 0; k < KILLS; k++) {
    pid_t pid = start_augment("killed.db");
    usleep((useconds_t)(full * 1e6 * (0.1 + 0.2 * rand() / (double)RAND_MAX)));
    landed += kill(pid, SIGKILL) == 0 && wait_exit(pid) == 128 + SIGKILL;
  }
  printf("  full run %.2f s; %d kills landed\n", full, landed);
  CHECK(landed >= 3);
  CHECK_INT(wait_exit(start_augment("killed.db")), 0);
  char *clean = test_scratch_path("clean.db"), *killed = test_scratch_path("killed.db");
  char *want = fx_dump(clean), *got = fx_dump(killed);
  REQUIRE(want && got);
  char *made = fx_sql(killed, "SELECT count(*) FROM augment_variants WHERE outcome = 'made'");
  CHECK_STR(made, "104\n");
  CHECK(strcmp(want, got) == 0);
  char *runs = fx_sql(killed, "SELECT id || ' ' || status FROM runs WHERE stage = 'augment'");
  CHECK_STR(runs, "3 complete\n");  /* every attempt resumed the same run */
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
