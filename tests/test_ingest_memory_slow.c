/* test_ingest_memory_slow.c -- the memory ceiling on 10000 x 10000 PNG, WebP and JPEG files.
**
** Issue 11's target: ingest at --threads 2 on such a corpus peaks at no more
** than 512 MB (before: 1.25 GB).  Two files of each format (and two
** progressive JPEGs, whose decoder holds every coefficient: 333 MB each, so
** they take turns, cur_image_big_enter), each over the
** reader's 8 MiB batch size (smooth gradients with a band of noise), so
** that every batch holds one image and both workers decode at once; the
** files are made here, in the scratch folder.  Embedding them with pixel
** features (thumbnails with shrink-on-load) is held to the same ceiling.
*/
#include <stdlib.h>
#include <sys/stat.h>

#include "fixtures.h"
#include "testlib.h"

#define CEILING_MB 512

/* Runs curate ARGS (NULL-ended) in the scratch folder, its messages to
** WHAT.log; returns the exit status and sets *PEAK_MB. */
static int run_peak(const char *what, const char *const *args, double *peak_mb) {
  long kb = 0;
  char log[64];
  snprintf(log, sizeof log, "%s.log", what);
  int status = fx_wait_rss(fx_spawn(log, args), &kb);
  *peak_mb = kb / 1024.0;
  printf("  %s: exit %d, peak RSS %.0f MB\n", what, status, *peak_mb);
  return status;
}

TEST(ten_thousand_pixel_images_stay_under_the_ceiling) {
  /* name, noisy rows, noise sigma: sizes of about 9 to 11 MB */
  static const struct { const char *name; int rows; double sigma; } files[] = {
      {"1.png", 150, 4}, {"2.webp[Q=75,effort=0]", 6000, 10}, {"3.jpg[Q=85]", 7000, 4},
      {"4.png", 160, 4}, {"5.webp[Q=75,effort=0]", 6100, 10}, {"6.jpg[Q=85]", 7100, 4},
      {"7.jpg[Q=85,interlace]", 8200, 4}, {"8.jpg[Q=85,interlace]", 8300, 4}};
  for (int i = 0; i < (int)CUR_ARRAY_LEN(files); i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "corpus/a/%s", files[i].name);
    char *path = test_scratch_path(rel);
    REQUIRE(path);
    REQUIRE_OK(fx_gradient_image(path, 10000, 10000, files[i].rows, files[i].sigma, i + 1));
    char *save_options = strchr(path, '[');
    if (save_options) *save_options = 0;
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size > (8 << 20));  /* one image a batch */
    cur_free(path);
  }
  const char *cfg = "{\"embed\": {\"features\": \"pixels\"}}";
  char *cfg_path = test_scratch_path("pixels.json");
  REQUIRE(test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  cur_free(cfg_path);
  REQUIRE(fx_curate("init.log", "--db m.db --config pixels.json init") == 0);
  double peak;
  const char *ingest[] = {"--db", "m.db", "--config", "pixels.json", "--threads", "2", "ingest",
                          "corpus", NULL};
  CHECK_INT(run_peak("ingest", ingest, &peak), 0);
  CHECK(peak <= CEILING_MB);
  char *db = test_scratch_path("m.db");
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images WHERE status = 'ok' AND width = 10000 "
                       "AND height = 10000"), (long long)CUR_ARRAY_LEN(files));
  CHECK_INT(fx_sql_int(db, "SELECT count(DISTINCT format) FROM images"), 3);
  const char *embed[] = {"--db", "m.db", "--config", "pixels.json", "--threads", "2", "run",
                         "--stage", "embed", NULL};
  CHECK_INT(run_peak("embed", embed, &peak), 0);
  CHECK(peak <= CEILING_MB);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM embeddings"), (long long)CUR_ARRAY_LEN(files));
  cur_free(db);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(ten_thousand_pixel_images_stay_under_the_ceiling);
  return test_finish();
}
