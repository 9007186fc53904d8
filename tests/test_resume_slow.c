/* test_resume_slow.c -- crash safety: ingest killed with SIGKILL at random moments,
** several times, then run to the end, gives exactly the database of a run that
** was never killed (all columns but the timing ones).
**
** resume-1.*: kill-and-resume on the clothing photos (1,400 JPEGs, label file, groups);
**             Ctrl-C stops at a batch boundary and resumes the same way.
** resume-2.*: the same for embed (patches dictionary learned, then vectors in batches).
*/
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "testlib.h"

#define KILLS 6

/* Starts `curate ingest` on the clothing data into DB, its messages to
** LOG (in the scratch folder); returns the pid. */
static pid_t start_ingest_log(const char *db, const char *tar, const char *labels, const char *log) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(T.scratch) != 0) _exit(127);
    if (!freopen(log, "w", stderr)) _exit(127);
    execl(T.curate, "curate", "--db", db, "--config", "none.json", "--threads", "2", "ingest", tar,
          "--labels", labels, "--group-column", "sender_id", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static pid_t start_ingest(const char *db, const char *tar, const char *labels) {
  return start_ingest_log(db, tar, labels, "/dev/null");
}

static int wait_exit(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(ingest_killed_at_random_moments_ends_as_if_never_killed) {
  char *tar = test_shared_path("data/clothing/images.tar");
  char *labels = tar ? test_shared_path("data/clothing/labels.csv") : NULL;
  if (!tar || !labels) {
    cur_free(tar);
    return;
  }
  char *clean = test_scratch_path("clean.db"), *killed = test_scratch_path("killed.db");
  REQUIRE(fx_curate("i1.log", "--db clean.db --config none.json init") == 0);
  REQUIRE(fx_curate("i2.log", "--db killed.db --config none.json init") == 0);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  CHECK_INT(wait_exit(start_ingest("clean.db", tar, labels)), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double full = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
  /* kill points spread over the whole run, from a fixed seed */
  srand(20261123);
  int killed_count = 0;
  for (int k = 0; k < KILLS; k++) {
    pid_t pid = start_ingest("killed.db", tar, labels);
    useconds_t delay = (useconds_t)(full * 1e6 * (0.05 + 0.9 * rand() / (double)RAND_MAX));
    usleep(delay);
    killed_count += kill(pid, SIGKILL) == 0;
    wait_exit(pid);
  }
  printf("  full run %.2f s; %d kills landed\n", full, killed_count);
  CHECK(killed_count >= 3);
  CHECK_INT(wait_exit(start_ingest("killed.db", tar, labels)), 0);
  char *want = fx_dump(clean), *got = fx_dump(killed);
  REQUIRE(want && got);
  CHECK(strlen(want) > 100000);  /* the dump really holds the images */
  CHECK(strcmp(want, got) == 0);
  char *runs = fx_sql(killed, "SELECT id || ' ' || status FROM runs");
  CHECK_STR(runs, "1 complete\n");  /* every attempt resumed the same run */
  cur_free(runs);

  /* Ctrl-C: stops at a batch boundary, says so, exits 130, and resumes */
  REQUIRE(fx_curate("i3.log", "--db stopped.db --config none.json init") == 0);
  pid_t pid = start_ingest_log("stopped.db", tar, labels, "stopped.log");
  usleep((useconds_t)(full * 0.4e6));
  kill(pid, SIGINT);
  CHECK_INT(wait_exit(pid), 130);
  char *log = fx_read("stopped.log");
  CHECK(log && strstr(log, "ingest: interrupted; the finished batches are saved") != NULL);
  cur_free(log);
  char *stopped = test_scratch_path("stopped.db");
  runs = fx_sql(stopped, "SELECT id || ' ' || status FROM runs");
  CHECK_STR(runs, "1 interrupted\n");
  cur_free(runs);
  CHECK_INT(wait_exit(start_ingest("stopped.db", tar, labels)), 0);
  char *resumed = fx_dump(stopped);
  CHECK(resumed && strcmp(want, resumed) == 0);
  cur_free(resumed);
  cur_free(stopped);
  cur_free(want);
  cur_free(got);
  cur_free(clean);
  cur_free(killed);
  cur_free(tar);
  cur_free(labels);
}

/* Runs `curate run --stage embed` on DB with embed.json; returns the pid. */
static pid_t start_embed(const char *db) {
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(T.scratch) != 0 || !freopen("/dev/null", "w", stderr)) _exit(127);
    execl(T.curate, "curate", "--db", db, "--config", "embed.json", "--threads", "2", "run",
          "--stage", "embed", (char *)NULL);
    _exit(127);
  }
  return pid;
}

TEST(embed_killed_at_random_moments_ends_as_if_never_killed) {
  char *clean = test_scratch_path("clean.db");
  if (access(clean, F_OK) != 0) {
    cur_free(clean);
    test_skip("needs the ingested clothing database of the test before");
    return;
  }
  const char *cfg = "{\"embed\": {\"patches_k\": 64, \"patches_samples\": 50000, \"batch_size\": 32}}";
  char *cfg_path = test_scratch_path("embed.json");
  REQUIRE(test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  REQUIRE(test_sh("cd '%s' && cp clean.db e-clean.db && cp clean.db e-killed.db", T.scratch) == 0);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  CHECK_INT(wait_exit(start_embed("e-clean.db")), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double full = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
  srand(7);
  for (int k = 0; k < 4; k++) {
    pid_t pid = start_embed("e-killed.db");
    usleep((useconds_t)(full * 1e6 * (0.1 + 0.8 * rand() / (double)RAND_MAX)));
    kill(pid, SIGKILL);
    wait_exit(pid);
  }
  CHECK_INT(wait_exit(start_embed("e-killed.db")), 0);
  char *p1 = test_scratch_path("e-clean.db"), *p2 = test_scratch_path("e-killed.db");
  char *want = fx_dump(p1), *got = fx_dump(p2);
  REQUIRE(want && got);
  CHECK(strstr(want, "embeddings:\n") && strcmp(want, got) == 0);
  cur_free(want);
  cur_free(got);
  cur_free(p1);
  cur_free(p2);
  cur_free(cfg_path);
  cur_free(clean);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(ingest_killed_at_random_moments_ends_as_if_never_killed);
  RUN(embed_killed_at_random_moments_ends_as_if_never_killed);
  return test_finish();
}
