/* test_boxes_resume_slow.c -- `curate ingest --boxes` killed while it cuts
** crops resumes to the database an uninterrupted run makes.
**
** boxes-resume-1.*: SIGKILL at random moments, then Ctrl-C, over 3,000 boxes
**                   committed 16 at a time.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

#define SCENES 3
#define BOXES 3000
#define KILLS 5

#define INGEST_ARGS(db) \
  (const char *const[]) {"--db", db, "--config", "small.json", "ingest", "scenes", "--boxes", "boxes.csv", NULL}

/* Three 400 x 300 scenes and BOXES boxes on them from a fixed LCG, all
** inside their scene (so every run exits 0), many overlapping. */
static int write_inputs(void) {
  int rc = test_sh("cd '%s' && rm -rf scenes *.db* && mkdir scenes", T.scratch);
  for (int s = 0; s < SCENES; s++) {
    char rel[64];
    snprintf(rel, sizeof rel, "scenes/s%d.png", s);
    char *p = test_scratch_path(rel);
    rc |= fx_image_file(p, 400, 300, 70 + (unsigned)s, "png");
    cur_free(p);
  }
  char *path = test_scratch_path("boxes.csv");
  FILE *f = path ? fopen(path, "w") : NULL;
  cur_free(path);
  if (!f) return -1;
  fprintf(f, "image,x,y,w,h,label\n");
  unsigned long long r = 12345;
  for (int i = 0; i < BOXES; i++) {
    int v[4];
    for (int k = 0; k < 4; k++) {
      r = r * 6364136223846793005ULL + 1442695040888963407ULL;
      v[k] = (int)((r >> 33) % 360);
    }
    fprintf(f, "s%d.png,%d,%d,%d,%d,%s\n", i % SCENES, v[0], v[1] % 260, 8 + v[2] % 32, 8 + v[3] % 32,
            i % 3 ? "cat" : "dog");
  }
  return fclose(f) == 0 ? rc : -1;
}

/* boxes-resume-1.1 */
TEST(box_crops_killed_at_random_moments_end_as_if_never_killed) {
  REQUIRE(write_inputs() == 0);
  const char *cfg = "{\"ingest\": {\"batch_size\": 16}}";
  char *cfg_path = test_scratch_path("small.json");
  REQUIRE(cfg_path && test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  cur_free(cfg_path);
  REQUIRE(fx_curate("i1.log", "--db clean.db --config small.json init") == 0);
  REQUIRE(fx_curate("i2.log", "--db killed.db --config small.json init") == 0);
  int landed;
  /* early kill points: each attempt skips what the ones before committed */
  CHECK_INT(fx_kill_and_resume(INGEST_ARGS("clean.db"), INGEST_ARGS("killed.db"), KILLS, 0.05, 0.3,
                               20261206, &landed), 0);
  CHECK(landed >= 2);
  char *clean = test_scratch_path("clean.db"), *killed = test_scratch_path("killed.db");
  char *want = fx_dump(clean), *got = fx_dump(killed);
  REQUIRE(want && got);
  /* every box makes a crop, but for a repeated rectangle or equal pixels */
  CHECK(fx_sql_int(clean, "SELECT count(*) FROM images WHERE transform IS NOT NULL") > BOXES * 9 / 10);
  CHECK(strcmp(want, got) == 0);
  char *runs = fx_sql(killed, "SELECT id || ' ' || status FROM runs");
  CHECK_STR(runs, "1 complete\n2 complete\n");  /* every attempt resumed the one ingest run */
  cur_free(runs);

  /* Ctrl-C once some crops are committed: exit 130, and the rerun completes */
  REQUIRE(fx_curate("i3.log", "--db stopped.db --config small.json init") == 0);
  char *stopped = test_scratch_path("stopped.db");
  int pid = fx_spawn("stopped.log", INGEST_ARGS("stopped.db"));
  CHECK_INT(fx_interrupt_once(pid, stopped, "SELECT count(*) FROM images WHERE transform IS NOT NULL"),
            130);
  CHECK_INT(fx_wait(fx_spawn("/dev/null", INGEST_ARGS("stopped.db"))), 0);
  char *resumed = fx_dump(stopped);
  CHECK(resumed && strcmp(want, resumed) == 0);
  cur_free(resumed);
  cur_free(stopped);
  cur_free(want);
  cur_free(got);
  cur_free(clean);
  cur_free(killed);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(box_crops_killed_at_random_moments_end_as_if_never_killed);
  return test_finish();
}
