/* test_resume_slow.c -- crash safety: ingest killed with SIGKILL at random moments,
** several times, then run to the end, gives exactly the database of a run that
** was never killed (all columns but the timing ones).
**
** resume-1.*: kill-and-resume on the clothing photos (1,400 JPEGs, label file, groups);
**             Ctrl-C stops at a batch boundary and resumes the same way.
** resume-2.*: the same for embed (patches dictionary learned, then vectors in batches).
*/
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "testlib.h"

#define KILLS 6

/* `curate ingest` of the clothing photos into DB, as an argument list. */
#define INGEST_ARGS(db, tar, labels)                                                      \
  (const char *const[]) {"--db", db, "--config", "none.json", "--threads", "2", "ingest", \
                         tar, "--labels", labels, "--group-column", "sender_id", NULL}

TEST(ingest_killed_at_random_moments_ends_as_if_never_killed) {
  char *tar = test_shared_path("data/clothing/images.tar");
  char *labels = tar ? test_shared_path("data/clothing/labels.csv") : NULL;
  if (!tar || !labels) {
    cur_free(tar);
    return;
  }
  char *clean = test_scratch_path("clean.db"), *killed = test_scratch_path("killed.db");
  /* batches of 256 of the 1,400 entries, so kills and Ctrl-C land between commits */
  const char *cfg = "{\"ingest\": {\"batch_size\": 256}}";
  char *cfg_path = test_scratch_path("none.json");
  REQUIRE(cfg_path && test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  cur_free(cfg_path);
  REQUIRE(fx_curate("i1.log", "--db clean.db --config none.json init") == 0);
  REQUIRE(fx_curate("i2.log", "--db killed.db --config none.json init") == 0);
  int landed;
  /* kill points from a fixed seed, early enough in each attempt that the later
  ** attempts (which skip what is already recorded) are still running */
  CHECK_INT(fx_kill_and_resume(INGEST_ARGS("clean.db", tar, labels), INGEST_ARGS("killed.db", tar, labels),
                               KILLS, 0.05, 0.35, 20261123, &landed), 0);
  CHECK(landed >= 3);
  char *want = fx_dump(clean), *got = fx_dump(killed);
  REQUIRE(want && got);
  CHECK(strlen(want) > 100000);  /* the dump really holds the images */
  CHECK(strcmp(want, got) == 0);
  char *runs = fx_sql(killed, "SELECT id || ' ' || status FROM runs");
  /* every attempt resumed the same ingest run, then the one split run */
  CHECK_STR(runs, "1 complete\n2 complete\n");
  cur_free(runs);

  /* Ctrl-C: stops at a batch boundary, says so, exits 130, and resumes */
  REQUIRE(fx_curate("i3.log", "--db stopped.db --config none.json init") == 0);
  int pid = fx_spawn("stopped.log", INGEST_ARGS("stopped.db", tar, labels));
  char *stopped = test_scratch_path("stopped.db");
  /* Ctrl-C once the first batch (256 of 1,400 entries) is committed */
  CHECK_INT(fx_interrupt_once(pid, stopped, "SELECT count(*) FROM source_entries"), 130);
  char *log = fx_read("stopped.log");
  CHECK(log && strstr(log, "ingest: interrupted; the finished batches are saved") != NULL);
  cur_free(log);
  runs = fx_sql(stopped, "SELECT id || ' ' || status FROM runs");
  CHECK_STR(runs, "1 interrupted\n");
  cur_free(runs);
  CHECK_INT(fx_wait(fx_spawn("/dev/null", INGEST_ARGS("stopped.db", tar, labels))), 0);
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
  /* .backup, not cp: a WAL database's committed pages may still be in its -wal file */
  REQUIRE(test_sh("cd '%s' && sqlite3 clean.db '.backup e-clean.db' && sqlite3 clean.db '.backup e-killed.db'",
                  T.scratch) == 0);
  static const char *const clean_args[] = {"--db", "e-clean.db", "--config", "embed.json", "--threads",
                                           "2", "run", "--stage", "embed", NULL};
  static const char *const killed_args[] = {"--db", "e-killed.db", "--config", "embed.json", "--threads",
                                            "2", "run", "--stage", "embed", NULL};
  int landed;
  /* early kill points: once the dictionary is stored, attempts are quicker */
  CHECK_INT(fx_kill_and_resume(clean_args, killed_args, 5, 0.05, 0.35, 7, &landed), 0);
  CHECK(landed >= 3);
  char *p1 = test_scratch_path("e-clean.db"), *p2 = test_scratch_path("e-killed.db");
  char *want = fx_dump(p1), *got = fx_dump(p2);
  REQUIRE(want && got);
  CHECK(strstr(want, "embeddings:\n") && strcmp(want, got) == 0);
  if (strcmp(want, got) != 0) {  /* show where they part, for whoever debugs it */
    size_t at = 0;
    while (want[at] && want[at] == got[at]) at++;
    printf("  dumps differ at byte %zu: clean \"%.80s\" killed \"%.80s\"\n", at, want + at, got + at);
  }
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
