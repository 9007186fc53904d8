/* test_ingest_memory.c -- ingest's peak memory depends on its options, not on the images' sizes.
**
** Each case runs `curate ingest` as a child and reads its peak resident
** memory from wait4().  The release build checks the ceilings; under
** AddressSanitizer (its shadow memory and quarantine inflate RSS) the cases
** still check that the images are ingested, but not the figures.
*/
#include <stdlib.h>

#include "fixtures.h"
#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__)
#define MEASURED 0
#else
#define MEASURED 1
#endif

/* Ingests FOLDER (scratch-relative) into a new DB at --threads 2; returns
** the exit status and sets *PEAK_MB. */
static int ingest_peak(const char *db, const char *folder, double *peak_mb) {
  long kb = 0;
  if (fx_curate("init.log", "--db %s --config none.json init", db) != 0) return -1;
  const char *args[] = {"--db", db, "--config", "none.json", "--threads", "2", "--quiet",
                        "ingest", folder, NULL};
  int status = fx_wait_rss(fx_spawn("ingest.log", args), &kb);
  *peak_mb = kb / 1024.0;
  printf("  %s: exit %d, peak RSS %.0f MB\n", folder, status, *peak_mb);
  return status;
}

/* The audit's amplification: a few MB of PNG or a few KB of WebP decoded
** to width x height x 4 per worker (400 MB each at 10000 x 10000). */
TEST(a_10000_pixel_png_and_webp_are_checked_in_little_memory) {
  char *png = test_scratch_path("big/a/gradient.png");
  char *webp = test_scratch_path("big/a/gradient.webp");
  REQUIRE_OK(fx_gradient_image(png, 10000, 10000, 0, 0, 1));
  REQUIRE_OK(fx_gradient_image(webp, 10000, 10000, 0, 0, 2));
  double peak;
  CHECK_INT(ingest_peak("big.db", "big", &peak), 0);
  char *db = test_scratch_path("big.db");
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM images WHERE status = 'ok' AND width = 10000 "
                       "AND height = 10000 AND bands = 3"), 2);
  /* before: 830 MB; the WebP alone held a 400 MB frame */
  if (MEASURED) CHECK(peak < 200);
  cur_free(db);
  cur_free(png);
  cur_free(webp);
}

/* Entries read ahead of the workers: before, eight batches of one 24 MB
** entry each were held at once; now the reader waits while its batches
** hold 32 MiB. */
TEST(the_reader_holds_a_bounded_number_of_large_entries) {
  size_t len = 24u << 20;
  unsigned char *noise = cur_malloc(len);
  REQUIRE(noise);
  unsigned x = 12345;
  for (int f = 0; f < 10; f++) {
    for (size_t i = 0; i < len; i++) noise[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 24);
    char rel[64];
    snprintf(rel, sizeof rel, "noise/a/%02d.png", f);
    char *path = test_scratch_path(rel);
    CHECK(path && test_write_file(path, noise, len) == 0);
    cur_free(path);
  }
  cur_free(noise);
  double peak;
  /* not images: every one is quarantined (exit 3) after being read whole */
  CHECK_INT(ingest_peak("noise.db", "noise", &peak), 3);
  char *db = test_scratch_path("noise.db");
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM source_entries WHERE outcome = 'quarantined'"), 10);
  if (MEASURED) CHECK(peak < 200);
  cur_free(db);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(a_10000_pixel_png_and_webp_are_checked_in_little_memory);
  RUN(the_reader_holds_a_bounded_number_of_large_entries);
  return test_finish();
}
