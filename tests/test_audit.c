/* test_audit.c -- the audit stage: each detector on hand-computed cases, groups, the stage end to end.
**
** audit-1.*: the pure parts (models/imstats.h, models/audit_detect.h,
**            models/knn.h) against values worked out by hand.
** audit-2.*: the stage on a small generated dataset: a train image copied
**            into test (leak, near-duplicate, one group), a darkened and a
**            blurred image; two fresh runs give the same database.
** audit-3.*: `curate run --stage audit` SIGKILLed at random moments and
**            resumed gives the database of a run never killed.
*/
#include <math.h>
#include <stdlib.h>

#include "audit_detect.h"
#include "fixtures.h"
#include "image.h"
#include "imstats.h"
#include "knn.h"
#include "rng.h"
#include "store_export.h"
#include "testlib.h"

/* ---- audit-1.*: detectors on hand-computed cases ---- */

/* A W x H grey image of pseudo-random values from SEED. */
static void noise_grey(uint8_t *g, int w, int h, unsigned seed) {
  for (int i = 0; i < w * h; i++) {
    seed = seed * 1103515245u + 12345u;
    g[i] = (uint8_t)(seed >> 24);
  }
}

/* Inverting an image negates every DCT coefficient but the DC term, so
** every bit of the hash flips; with 64 distinct coefficients the median
** splits them 32/32; a 2x nearest-neighbour enlargement averages back to
** the same 32 x 32 grid, so the hash is unchanged. */
TEST(phash_flips_on_inversion_and_survives_2x_enlargement) {
  uint8_t g[32 * 32], inv[32 * 32], big[64 * 64];
  noise_grey(g, 32, 32, 7);
  for (int i = 0; i < 32 * 32; i++) inv[i] = (uint8_t)(255 - g[i]);
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++) big[y * 64 + x] = g[(y / 2) * 32 + x / 2];
  uint64_t h = imstats_phash(g, 32, 32);
  CHECK_INT(__builtin_popcountll(h), 32);
  CHECK_INT(__builtin_popcountll(h ^ imstats_phash(inv, 32, 32)), 64);
  CHECK_INT(__builtin_popcountll(h ^ imstats_phash(big, 64, 64)), 0);
  uint8_t other[32 * 32];
  noise_grey(other, 32, 32, 8);
  CHECK(__builtin_popcountll(h ^ imstats_phash(other, 32, 32)) > 16);  /* unrelated: about 32 */
}

/* A 4 x 4 checkerboard of 0 and 255: each of the 2 x 2 interior pixels has
** four neighbours of the other colour, so its Laplacian is +-4 x 255; two
** of each sign: mean 0, variance 1020^2.  A flat image: 0. */
TEST(sharpness_is_the_laplacian_variance) {
  uint8_t board[16], flat[16];
  imstats s;
  for (int i = 0; i < 16; i++) board[i] = ((i / 4 + i % 4) % 2) ? 255 : 0, flat[i] = 90;
  REQUIRE_OK(imstats_compute(board, 4, 4, 1, &s));
  CHECK_NEAR(s.sharpness, 1020.0 * 1020.0, 1e-6);
  CHECK_NEAR(s.entropy, 1.0, 1e-12);          /* two levels, equally often: 1 bit */
  REQUIRE_OK(imstats_compute(flat, 4, 4, 1, &s));
  CHECK_NEAR(s.sharpness, 0, 1e-12);
  CHECK_NEAR(s.sharpness_reblur, 0, 1e-12);
  CHECK_NEAR(s.entropy, 0, 1e-12);
}

/* A grey 10 x 10 image of the values 0..99: perceived brightness of grey v
** is v (the weights sum to 1); the 1st percentile is the 1st smallest (0),
** the 99th the 99th smallest (98).  Four levels equally often: 2 bits. */
TEST(brightness_percentiles_and_entropy) {
  uint8_t g[100], q[100];
  imstats s;
  for (int i = 0; i < 100; i++) g[i] = (uint8_t)i, q[i] = (uint8_t)(60 * (i % 4));
  REQUIRE_OK(imstats_compute(g, 10, 10, 1, &s));
  CHECK_NEAR(s.bright_p01, 0, 0);
  CHECK_NEAR(s.bright_p99, 98, 0);
  REQUIRE_OK(imstats_compute(q, 10, 10, 1, &s));
  CHECK_NEAR(s.entropy, 2.0, 1e-12);
}

/* Pure red: rg = 255, yb = 127.5, no spread, so M = 0.3 sqrt(255^2 +
** 127.5^2) = 85.5262; any grey image: 0. */
TEST(colourfulness_of_red_and_grey) {
  uint8_t red[3 * 9], grey[3 * 9];
  imstats s;
  for (int i = 0; i < 9; i++) {
    red[3 * i] = 255, red[3 * i + 1] = red[3 * i + 2] = 0;
    grey[3 * i] = grey[3 * i + 1] = grey[3 * i + 2] = (uint8_t)(20 * i);
  }
  REQUIRE_OK(imstats_compute(red, 3, 3, 3, &s));
  CHECK_NEAR(s.colourfulness, 0.3 * sqrt(255.0 * 255 + 127.5 * 127.5), 1e-9);
  REQUIRE_OK(imstats_compute(grey, 3, 3, 3, &s));
  CHECK_NEAR(s.colourfulness, 0, 1e-12);
  CHECK(imstats_compute(grey, 0, 3, 3, &s) == CUR_EINPUT);
}

/* {1, 2, 3, 4, 100}: median 3, deviations {2, 1, 0, 1, 97}, MAD 1, scale
** 1.4826; at z 3.5 the high limit is 3 + 5.1891.  {5, 5, 5, 5, 9}: MAD 0,
** mean deviation 0.8, scale 1.2533 x 0.8 = 1.00264.  All equal: no limit
** unless a floor gives one. */
TEST(modified_z_limits) {
  audit_limits l;
  REQUIRE_OK(audit_limits_fit((double[]){4, 100, 1, 3, 2}, 5, AUDIT_HIGH, 3.5, 0, &l));
  CHECK_NEAR(l.median, 3, 0);
  CHECK_NEAR(l.scale, 1.4826, 1e-12);
  CHECK_NEAR(l.hi, 3 + 3.5 * 1.4826, 1e-12);
  CHECK(isinf(l.lo) && l.lo < 0);
  CHECK(audit_limits_out(&l, 100) && !audit_limits_out(&l, 4) && !audit_limits_out(&l, -50));
  CHECK_NEAR(audit_limits_z(&l, 100), 97 / 1.4826, 1e-9);
  REQUIRE_OK(audit_limits_fit((double[]){5, 5, 9, 5, 5}, 5, AUDIT_BOTH, 3.5, 0, &l));
  CHECK_NEAR(l.scale, 1.2533 * 0.8, 1e-12);
  CHECK_NEAR(l.lo, 5 - 3.5 * 1.2533 * 0.8, 1e-12);
  CHECK(audit_limits_out(&l, 9) && !audit_limits_out(&l, 5));
  REQUIRE_OK(audit_limits_fit((double[]){5, 5, 5}, 3, AUDIT_BOTH, 3.5, 0, &l));
  CHECK(!audit_limits_out(&l, 1e9) && !audit_limits_out(&l, -1e9));
  REQUIRE_OK(audit_limits_fit((double[]){5, 5, 5}, 3, AUDIT_LOW, 3.5, 1, &l));
  CHECK_NEAR(l.lo, 1.5, 1e-12);
  CHECK(audit_limits_out(&l, 1.4) && !audit_limits_out(&l, 1e9));
}

/* Pairs (5,3), (3,9), (2,1), (8,6), (6,0) in any order: groups {0,6,8},
** {1,2}, {3,5,9}, the rest alone; each named by its smallest member. */
/* Values 0, 0.05, 0.3, 1, 1 with width 0.1: 0 and 0.05 see each other (2
** of 5), 0.3 only itself (1 of 5), the two 1s each other; a window's edge
** counts (0.05 is within 0.05 of 0.1). */
TEST(share_near_counts_the_values_within_the_width) {
  const double x[] = {1.0, 0.05, 0.3, 0.0, 1.0}, edge[] = {0.05, 0.1};
  double share[5], want[] = {0.4, 0.4, 0.2, 0.4, 0.4};
  REQUIRE_OK(audit_share_near(x, 5, 0.1, share));
  for (int i = 0; i < 5; i++) CHECK_NEAR(share[i], want[i], 1e-12);
  REQUIRE_OK(audit_share_near(edge, 2, 0.05 + 1e-12, share));
  CHECK_NEAR(share[0], 1.0, 1e-12);
}

TEST(union_find_groups_are_named_by_their_smallest_member) {
  static const int pairs[][2] = {{5, 3}, {3, 9}, {2, 1}, {8, 6}, {6, 0}};
  static const int want[10] = {0, 1, 1, 3, 4, 3, 0, 7, 0, 3};
  for (int order = 0; order < 2; order++) {
    audit_groups *g = audit_groups_new(10);
    REQUIRE(g);
    for (int i = 0; i < 5; i++) {
      int p = order ? 4 - i : i;
      audit_groups_union(g, pairs[p][0], pairs[p][1]);
    }
    for (int i = 0; i < 10; i++) CHECK_INT(audit_groups_find(g, i), want[i]);
    audit_groups_free(g);
  }
  audit_groups_free(NULL);
}

/* Unit vectors at 0, 10, 90 and 180 degrees.  Nearest other by cosine: 0 ->
** 10 deg (cos 10), 10 -> 0, 90 -> 10 deg (cos 80 = sin 10, above cos 90 = 0),
** 180 -> 90 deg (0, above cos 170 and cos 180).  IVF with one cell is exact. */
TEST(knn_exact_and_single_cell_ivf_agree_with_hand_neighbours) {
  const double deg = M_PI / 180;
  float X[8];
  double ang[4] = {0, 10, 90, 180};
  for (int i = 0; i < 4; i++)
    X[2 * i] = (float)cos(ang[i] * deg), X[2 * i + 1] = (float)sin(ang[i] * deg);
  int64_t nbr[4], want[4] = {1, 0, 1, 2};
  float sim[4];
  for (int ivf = 0; ivf < 2; ivf++) {
    knn_config cfg = {.k = 1, .ivf = ivf, .nlist = 1, .nprobe = 1, .threads = 1};
    REQUIRE_OK(knn_search(&cfg, X, 4, 2, NULL, 4, nbr, sim));
    for (int i = 0; i < 4; i++) CHECK_INT(nbr[i], want[i]);
    CHECK_NEAR(sim[0], cos(10 * deg), 1e-6);
    CHECK_NEAR(sim[2], sin(10 * deg), 1e-6);
  }
  int64_t q[1] = {3};
  knn_config cfg = {.k = 2, .ivf = 0, .threads = 1};
  int64_t nbr2[2];
  float sim2[2];
  REQUIRE_OK(knn_search(&cfg, X, 4, 2, q, 1, nbr2, sim2));
  CHECK(nbr2[0] == 2 && nbr2[1] == 1);        /* cos 90 = 0, then cos 170 */
  int64_t bad[1] = {4};
  CHECK(knn_search(&cfg, X, 4, 2, bad, 1, nbr2, sim2) == CUR_EINPUT);
  /* recall: row 0 finds 1 of its 2, row 1 both: 3 of 4 */
  int64_t exact[4] = {1, 2, 0, 3}, approx[4] = {2, 3, 3, 0};
  CHECK_NEAR(knn_recall(exact, approx, 2, 2), 0.75, 1e-12);
}

/* Rows 0..3 labelled 0, 0, 1, 1; neighbours (k 2): 0: {1, 2}, 1: {0, 3},
** 2: {3, 0}, 3: {0, 1}.  Consistency: 1/2, 1/2, 1/2, 0; row 3's
** neighbours both say 0.  Distances: mean of 1 - sim. */
TEST(knn_label_consistency_and_distance) {
  int64_t nbr[8] = {1, 2, 0, 3, 3, 0, 0, 1};
  float sim[8] = {0.9f, 0.5f, 0.9f, 0.1f, 0.7f, 0.3f, 0.2f, 0.4f};
  int label[4] = {0, 0, 1, 1}, major[4];
  double dist[4], cons[4];
  audit_knn_scores(nbr, sim, 4, 2, label, dist, cons, major);
  CHECK_NEAR(cons[0], 0.5, 1e-12);
  CHECK_NEAR(cons[1], 0.5, 1e-12);
  CHECK_NEAR(cons[2], 0.5, 1e-12);
  CHECK_NEAR(cons[3], 0.0, 1e-12);
  CHECK_INT(major[3], 0);
  CHECK_NEAR(dist[0], 0.3, 1e-6);
  CHECK_NEAR(dist[3], 0.7, 1e-6);
}

/* The kNN pair test, k 3.  Rows 0..3 are a dense region (plain backgrounds
** to weak features): each one's neighbours are the others at 0.96 to 0.98,
** its reach (third nearest) 0.96.  Rows 4 and 5 are a copy pair at 0.995
** whose third nearest are at 0.70.  Row 4 also lists row 0 at 0.96. */
TEST(knn_pair_must_stand_out_from_both_neighbourhoods) {
  int64_t nbr[18] = {1, 2, 3, 0, 2, 3, 0, 1, 3, 0, 1, 2, 5, 0, -1, 4, 1, 2};
  float sim[18] = {0.98f, 0.97f, 0.96f, 0.98f, 0.97f, 0.96f, 0.97f, 0.97f, 0.96f,
                   0.96f, 0.96f, 0.96f, 0.995f, 0.96f, 0.f, 0.995f, 0.71f, 0.70f};
  double reach[6];
  for (int r = 0; r < 6; r++) reach[r] = audit_knn_reach(nbr, sim, 3, r);
  CHECK_NEAR(reach[0], 0.96, 1e-6);
  CHECK_NEAR(reach[4], 0.96, 1e-6);   /* the unused slot (-1) is skipped */
  CHECK_NEAR(reach[5], 0.70, 1e-6);
  /* 0 ~ 1 at 0.98: distance 0.02 against 0.04 at both ends, a ratio of 0.5 */
  CHECK(!audit_knn_distinct(0.98, reach[0], reach[1], 0.25));
  CHECK(audit_knn_distinct(0.98, reach[0], reach[1], 0.6));
  /* 4 ~ 5 at 0.995: 0.005 against row 4's 0.04 (a ratio of 0.125) and row 5's 0.30 */
  CHECK(audit_knn_distinct(0.995, reach[4], reach[5], 0.25));
  CHECK(!audit_knn_distinct(0.995, reach[4], reach[5], 0.1));
  /* 4 ~ 0 at 0.96: ordinary for row 0, whose third nearest is as close */
  CHECK(!audit_knn_distinct(0.96, reach[4], reach[0], 0.25));
  CHECK(!audit_knn_distinct(0.999, NAN, reach[5], 0.25));   /* no neighbours: no verdict */
  int64_t none[2] = {-1, -1};
  CHECK(isnan(audit_knn_reach(none, sim, 2, 0)));
}

/* ---- audit-2.*: the stage on a generated dataset ---- */

#define SIDE 48

/* A SIDE x SIDE RGB image: per channel a product of two sinusoids of
** frequencies and phases drawn from SEED, plus uniform noise of +-12 to
** +-28 (drawn per image), so unrelated images differ (hash and pixels) and
** their sharpness varies as a real dataset's does. */
static void pattern(uint8_t *px, unsigned seed) {
  srand(seed);
  double noise = 12 + 16.0 * rand() / RAND_MAX;
  double f[3][4];
  for (int c = 0; c < 3; c++)
    for (int j = 0; j < 4; j++)  /* two frequencies in [0.1, 0.4], two phases */
      f[c][j] = j < 2 ? 0.1 + 0.3 * rand() / RAND_MAX : 6.3 * rand() / RAND_MAX;
  for (int y = 0; y < SIDE; y++)
    for (int x = 0; x < SIDE; x++)
      for (int c = 0; c < 3; c++) {
        double v = 128 + 70 * sin(f[c][0] * x + f[c][2]) * cos(f[c][1] * y + f[c][3]) +
                   noise * (2.0 * rand() / RAND_MAX - 1);
        px[(y * SIDE + x) * 3 + c] = (uint8_t)fmin(255, fmax(0, v));
      }
}

/* Three passes of a 5 x 5 box blur (about a Gaussian of sigma 2.4). */
static void blur(uint8_t *px) {
  static uint8_t tmp[SIDE * SIDE * 3];
  for (int pass = 0; pass < 3; pass++) {
    for (int y = 0; y < SIDE; y++)
      for (int x = 0; x < SIDE; x++)
        for (int c = 0; c < 3; c++) {
          int sum = 0, n = 0;
          for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++) {
              int yy = y + dy, xx = x + dx;
              if (yy < 0 || yy >= SIDE || xx < 0 || xx >= SIDE) continue;
              sum += px[(yy * SIDE + xx) * 3 + c], n++;
            }
          tmp[(y * SIDE + x) * 3 + c] = (uint8_t)(sum / n);
        }
    memcpy(px, tmp, sizeof tmp);
  }
}

/* Writes scratch/REL from the W x H image PX as PNG, or as JPEG at QUALITY when above 0. */
static int write_image_sized(const char *rel, uint8_t *px, int w, int h, int quality) {
  cur_image_pixels im = {px, w, h, 3};
  unsigned char *buf = NULL;
  size_t len = 0;
  char *path = test_scratch_path(rel);
  int rc = quality > 0 ? cur_image_jpeg_encode(&im, quality, &buf, &len)
                       : cur_image_png_encode(&im, &buf, &len);
  if (rc == CUR_OK) rc = path ? test_write_file(path, buf, len) : CUR_ENOMEM;
  cur_free(buf);
  cur_free(path);
  return rc;
}

static int write_image(const char *rel, uint8_t *px, int quality) {
  return write_image_sized(rel, px, SIDE, SIDE, quality);
}

/* ROOT/train/{a,b}/NN.png (seeds 1..40, and 1000.. for EXTRA more);
** ROOT/test: a JPEG q40 copy of train/a/03 (copy.jpg), a darkened (x0.15,
** dark.png) and a blurred (blur.png) image of their own, eight plain ones. */
static int build_dataset(const char *root, int extra) {
  uint8_t px[SIDE * SIDE * 3];
  char rel[64];
  int rc = test_sh("cd '%s' && rm -rf %s", T.scratch, root);
  for (unsigned s = 1; rc == 0 && s <= 40; s++) {
    pattern(px, s);
    snprintf(rel, sizeof rel, "%s/train/%s/%02u.png", root, s <= 20 ? "a" : "b", s);
    rc = write_image(rel, px, 0);
  }
  for (int e = 0; rc == 0 && e < extra; e++) {
    pattern(px, 1000u + (unsigned)e);
    snprintf(rel, sizeof rel, "%s/train/%s/x%04d.png", root, e % 2 ? "a" : "b", e);
    rc = write_image(rel, px, 0);
  }
  for (unsigned s = 43; rc == 0 && s <= 50; s++) {
    pattern(px, s);
    snprintf(rel, sizeof rel, "%s/test/%s/%02u.png", root, s % 2 ? "a" : "b", s);
    rc = write_image(rel, px, 0);
  }
  pattern(px, 3);
  snprintf(rel, sizeof rel, "%s/test/a/copy.jpg", root);
  if (rc == 0) rc = write_image(rel, px, 40);
  pattern(px, 41);
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)lround(px[i] * 0.15);
  snprintf(rel, sizeof rel, "%s/test/b/dark.png", root);
  if (rc == 0) rc = write_image(rel, px, 0);
  pattern(px, 42);
  blur(px);
  snprintf(rel, sizeof rel, "%s/test/b/blur.png", root);
  if (rc == 0) rc = write_image(rel, px, 0);
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 16}, "
                    "\"audit\": {\"batch_size\": 4}}";
  char *cfg_path = test_scratch_path("audit.json");
  if (rc == 0) rc = cfg_path ? test_write_file(cfg_path, cfg, strlen(cfg)) : -1;
  cur_free(cfg_path);
  return rc;
}

/* A fresh database DB with ROOT ingested and embedded, and audited unless
** UNTIL says embed. */
static int prepared_with(const char *config, const char *db, const char *root, const char *until) {
  int rc = test_sh("cd '%s' && rm -f %s*", T.scratch, db);
  if (!rc) rc = fx_curate("init.log", "--db %s --config %s init", db, config);
  if (!rc) rc = fx_curate("ingest.log", "--db %s --config %s ingest %s", db, config, root);
  if (!rc) rc = fx_curate("audit.log", "--db %s --config %s run --until %s", db, config, until);
  return rc;
}

static int prepared(const char *db, const char *root, const char *until) {
  return prepared_with("audit.json", db, root, until);
}

static int audited(const char *db) { return prepared(db, "src", "audit"); }

/* The source paths flagged with REASON, one a line in path order. */
static char *flagged(const char *db, const char *reason) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT source_path FROM flagged WHERE reason = '%s' "
           "ORDER BY source_path", reason);
  char *path = test_scratch_path(db), *out = path ? fx_sql(path, sql) : NULL;
  cur_free(path);
  return out;
}

TEST(stage_flags_the_leak_the_duplicate_the_dark_and_the_blurred_image) {
  REQUIRE(build_dataset("src", 0) == 0);
  REQUIRE(audited("a.db") == 0);
  char *leak = flagged("a.db", "leak"), *dup = flagged("a.db", "near_duplicate");
  char *dark = flagged("a.db", "dark"), *blurry = flagged("a.db", "blurry");
  CHECK_STR(leak, "test/a/copy.jpg\n");
  CHECK_STR(dup, "test/a/copy.jpg\n");        /* the group's train image is kept */
  CHECK_STR(dark, "test/b/dark.png\n");
  /* the JPEG q40 copy may be called blurry too (quality 40 drops the
  ** fine noise): only the plain and the dark images must not be */
  CHECK(blurry && strstr(blurry, "test/b/blur.png\n"));
  char *others = flagged("a.db", "blurry' AND source_path NOT IN ('test/b/blur.png', "
                                 "'test/a/copy.jpg')  AND '' = '");
  CHECK_STR(others, "");
  char *db = test_scratch_path("a.db");
  char *detail = db ? fx_sql(db, "SELECT f.detail LIKE '%train image ' || t.id || ' (train/a/03.png)%' "
                                 "FROM flagged f, images t WHERE f.reason = 'leak' "
                                 "AND t.source_path = 'train/a/03.png'") : NULL;
  CHECK_STR(detail, "1\n");
  char *groups = db ? fx_sql(db, "SELECT images || ' ' || train || ' ' || test || ' ' || splits "
                                 "FROM duplicate_groups") : NULL;
  CHECK_STR(groups, "2 1 1 2\n");
  char *leaks = db ? fx_sql(db, "SELECT name || '=' || value FROM metrics "
                                "WHERE name LIKE 'label.leak.%' "
                                "ORDER BY name") : NULL;
  CHECK_STR(leaks, "label.leak.a=1.0\nlabel.leak.b=0.0\n");
  cur_free(leak), cur_free(dup), cur_free(dark), cur_free(blurry), cur_free(others);
  cur_free(detail), cur_free(groups), cur_free(leaks), cur_free(db);
}

/* A dataset of three common aspects, as the clothing photos have (120
** portrait 3:4, 10 landscape 4:3, 14 widescreen 16:9: 9.7%), and one 3:1
** strip (0.7%): odd_aspect is the strip only, the rare kind (under 1% of
** the images within 10% of its aspect).  The median/MAD limit flagged the
** 14 16:9 images too: their log aspect 0.58 is 0.86 from the median -0.29,
** past 3.5 x 0.2 (MAD 0; the mean-deviation scale 0.17 is under the floor
** 0.2). */
TEST(odd_aspect_flags_the_rare_aspect_not_a_common_second_mode) {
  static const struct { int n, w, h; } kinds[] = {{120, 30, 40}, {10, 40, 30}, {14, 48, 27},
                                                  {1, 45, 15}};
  uint8_t px[SIDE * SIDE * 3], cut[SIDE * SIDE * 3];
  char rel[64];
  int rc = test_sh("cd '%s' && rm -rf aspects", T.scratch);
  unsigned seed = 3000;
  for (size_t k = 0; k < CUR_ARRAY_LEN(kinds); k++)
    for (int i = 0; rc == 0 && i < kinds[k].n; i++, seed++) {
      pattern(px, seed);
      for (int y = 0; y < kinds[k].h; y++)
        memcpy(cut + (size_t)y * kinds[k].w * 3, px + (size_t)y * SIDE * 3, (size_t)kinds[k].w * 3);
      snprintf(rel, sizeof rel, "aspects/train/%s/%u.png", i % 2 ? "a" : "b", seed);
      rc = write_image_sized(rel, cut, kinds[k].w, kinds[k].h, 0);
    }
  REQUIRE(rc == 0);
  REQUIRE(prepared("aspects.db", "aspects", "audit") == 0);
  char *odd = flagged("aspects.db", "odd_aspect");
  CHECK_STR(odd, "train/b/3144.png\n");
  cur_free(odd);
}

/* The flags are the newest complete audit run's only, and audit flags do
** not hold training rows back (training_labels). */
TEST(flagged_shows_the_newest_audit_run_and_training_labels_ignore_it) {
  char *db = test_scratch_path("a.db");
  REQUIRE(db);
  REQUIRE(fx_curate("audit2.log", "--db a.db --config audit.json run --stage audit --force") == 0);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM flagged WHERE reason = 'leak'"), 1);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM flags WHERE reason = 'leak'"), 2);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM training_labels"),
            fx_sql_int(db, "SELECT count(*) FROM current_labels WHERE class_id IS NOT NULL"));
  cur_free(db);
}

/* The manifest rows (what export writes and train evaluates on) leave out
** the leaked test image and keep the images with other audit flags. */
TEST(manifest_rows_leave_out_the_leak_only) {
  char *path = test_scratch_path("a.db");
  cur_store *st = NULL;
  cur_export_row *rows = NULL;
  size_t n = 0;
  REQUIRE(path);
  REQUIRE_OK(cur_store_open(path, &st));
  CHECK_OK(cur_store_export_rows(st, NULL, &rows, &n));
  int copy = 0, dark = 0, blurred = 0;
  for (size_t i = 0; i < n; i++) {
    copy += strcmp(rows[i].source_path, "test/a/copy.jpg") == 0;
    dark += strcmp(rows[i].source_path, "test/b/dark.png") == 0;
    blurred += strcmp(rows[i].source_path, "test/b/blur.png") == 0;
  }
  CHECK_INT(n, 51 - 1);                 /* 40 train + 11 test, less the leak */
  CHECK(copy == 0 && dark == 1 && blurred == 1);
  cur_export_rows_free(rows, n);
  cur_store_close(st);
  cur_free(path);
}

/* cur_store_export_rows_each: what train reads row by row. */
typedef struct row_count {
  int n, stop_at, ordered, labelled, taken;
  int64_t last;
  cur_export_row kept;
} row_count;

static int count_row(void *ctx, cur_export_row *row) {
  row_count *c = ctx;
  c->ordered &= row->image_id > c->last;
  c->labelled &= row->n_labels > 0 && row->split != NULL;
  c->last = row->image_id;
  if (++c->n == c->stop_at) return CUR_EINPUT;
  if (c->n == 1 && c->taken == 0) { /* take the first row: the reader must not free it */
    c->kept = *row;
    *row = (cur_export_row){0};
    c->taken = 1;
  }
  return CUR_OK;
}

/* The same 50 rows as above, one at a time in image id order, the last one
** too; a row the callback takes is its own; an error stops the reading. */
TEST(manifest_rows_one_at_a_time) {
  char *path = test_scratch_path("a.db");
  cur_store *st = NULL;
  REQUIRE(path);
  REQUIRE_OK(cur_store_open(path, &st));
  row_count c = {.ordered = 1, .labelled = 1, .last = -1};
  CHECK_OK(cur_store_export_rows_each(st, NULL, count_row, &c));
  CHECK_INT(c.n, 51 - 1);
  CHECK(c.ordered && c.labelled && c.taken);
  CHECK(c.kept.sha256 != NULL && strlen(c.kept.sha256) == 64);
  cur_export_row *one = cur_malloc(sizeof *one); /* freed as a one-row array */
  REQUIRE(one);
  *one = c.kept;
  cur_export_rows_free(one, 1);
  row_count stop = {.stop_at = 3, .ordered = 1, .labelled = 1, .last = -1, .taken = -1};
  CHECK_INT(cur_store_export_rows_each(st, NULL, count_row, &stop), CUR_EINPUT);
  CHECK_INT(stop.n, 3);
  cur_store_close(st);
  cur_free(path);
}

/* With a cosine threshold of 0.01 and the ratio test off (cosine_ratio
** 1000) nearly every kNN neighbour is a "pair",
** so the pairs chain most of the 51 images into groups far above 10: the
** audit keeps them but raises no pair flag and says why.  (The default
** dataset's one copy, a group of 2, keeps its flags: the case above.) */
TEST(pairs_chaining_many_images_raise_no_pair_flags) {
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 16}, "
                    "\"audit\": {\"cosine\": 0.01, \"cosine_ratio\": 1000}}";
  char *cfg_path = test_scratch_path("weak.json"), *db = test_scratch_path("weak.db");
  REQUIRE(build_dataset("src", 0) == 0);
  REQUIRE(cfg_path && db && test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  REQUIRE(prepared_with("weak.json", "weak.db", "src", "audit") == 0);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM flags WHERE reason IN ('leak', 'near_duplicate')"), 0);
  /* the share is the images in groups of more than 10, counted here apart */
  long long chained = fx_sql_int(db, "SELECT coalesce(sum(images), 0) FROM duplicate_groups "
                                     "WHERE images > 10");
  CHECK(chained > 51 / 10);
  CHECK_NEAR(fx_sql_int(db, "SELECT round(value * 51) FROM metrics WHERE name = 'duplicate_share'"),
             chained, 0);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM flags WHERE reason = 'dark'"), 1);  /* the rest stays */
  char *log = fx_read("audit.log");
  CHECK(log && strstr(log, "no near_duplicate or leak flag is raised"));
  cur_free(log), cur_free(cfg_path), cur_free(db);
}

/* A SIDE x SIDE image of one light grey (190) with noise of +-6 drawn from
** SEED and a 3 x 3 square darker by 80 at place I of a 4 x 4 grid: to
** pixel features (16 x 16: a square is one of their pixels) such images
** are alike, all at about one cosine after centring; to pHash they differ
** (its low frequencies are the square's).  The squares are left of the
** centre, so no image is another's mirror. */
static void plain(uint8_t *px, unsigned i, unsigned seed) {
  srand(seed);
  int sx = 3 + 6 * (int)(i % 4), sy = 3 + 9 * (int)(i / 4 % 4);
  for (int y = 0; y < SIDE; y++)
    for (int x = 0; x < SIDE; x++)
      for (int c = 0; c < 3; c++) {
        int dark = x >= sx && x < sx + 3 && y >= sy && y < sy + 3;
        px[(y * SIDE + x) * 3 + c] = (uint8_t)(190 - 80 * dark + rand() % 13 - 6);
      }
}

/* The generated dataset (one JPEG copy of a train image in test) with 16
** plain images, 12 in train and 4 in test: more than k (10) of them, so
** each one's ten nearest are plain images at about its cosine to any other.
** Counted as pairs (the ratio test off), they chain into one group and
** the plain test images are called leaks of plain train images; with the
** default audit.cosine_ratio no pair joins two plain images, and the copy
** is the one leak and the one near-duplicate. */
TEST(embedding_pairs_ordinary_in_their_neighbourhood_do_not_count) {
  uint8_t px[SIDE * SIDE * 3];
  char rel[64];
  int rc = build_dataset("plain", 0);
  for (unsigned i = 0; rc == 0 && i < 16; i++) {
    plain(px, i, 7000 + i);
    snprintf(rel, sizeof rel, "plain/%s/%s/p%02u.png", i < 12 ? "train" : "test", i % 2 ? "a" : "b",
             i);
    rc = write_image(rel, px, 0);
  }
  const char *off = "{\"embed\": {\"features\": \"pixels\", \"size\": 16}, "
                    "\"audit\": {\"cosine_ratio\": 1000, \"max_duplicate_share\": 1}}";
  char *cfg_path = test_scratch_path("plain_off.json");
  char *on = test_scratch_path("plain.db"), *was = test_scratch_path("plain_off.db");
  REQUIRE(rc == 0 && cfg_path && on && was && test_write_file(cfg_path, off, strlen(off)) == 0);
  REQUIRE(prepared_with("plain_off.json", "plain_off.db", "plain", "audit") == 0);
  const char *plain_pairs = "SELECT count(*) FROM duplicate_pairs p JOIN images a ON a.id = image_a "
                            "JOIN images b ON b.id = image_b WHERE a.source_path LIKE '%/p__.png' "
                            "AND b.source_path LIKE '%/p__.png'";
  /* the case is real: without the test the plain images pair and leak */
  CHECK(fx_sql_int(was, plain_pairs) >= 15);
  CHECK(fx_sql_int(was, "SELECT max(images) FROM duplicate_groups") >= 16);
  CHECK(fx_sql_int(was, "SELECT count(*) FROM flagged WHERE reason = 'leak' "
                        "AND source_path LIKE 'test/%/p__.png'") >= 1);
  REQUIRE(prepared("plain.db", "plain", "audit") == 0);
  CHECK_INT(fx_sql_int(on, plain_pairs), 0);
  char *leak = flagged("plain.db", "leak"), *dup = flagged("plain.db", "near_duplicate");
  CHECK_STR(leak, "test/a/copy.jpg\n");
  CHECK_STR(dup, "test/a/copy.jpg\n");
  CHECK(fx_sql_int(on, "SELECT value FROM metrics WHERE name = 'cosine_pairs'") >= 15);
  CHECK(fx_sql_int(on, "SELECT value FROM metrics WHERE name = 'cosine_pairs_distinct'") <= 1);
  char *log = fx_read("audit.log");
  CHECK(log && strstr(log, "so those pairs are not counted"));
  cur_free(leak), cur_free(dup), cur_free(log), cur_free(cfg_path), cur_free(on), cur_free(was);
}

/* IVF over every image (exact_max 10) probing every cell searches what the
** exact index does: the recall check reads 1 and the flags are the same. */
TEST(ivf_probing_every_cell_matches_exact_search) {
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 16}, "
                    "\"audit\": {\"exact_max\": 10, \"ivf_nprobe\": 1000}}";
  char *cfg_path = test_scratch_path("ivf.json"), *ivf = test_scratch_path("ivf.db");
  char *exact = test_scratch_path("b0.db");
  REQUIRE(cfg_path && ivf && exact && test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  REQUIRE(prepared_with("ivf.json", "ivf.db", "src", "audit") == 0);
  REQUIRE(audited("b0.db") == 0);
  CHECK_NEAR(fx_sql_int(ivf, "SELECT value * 1000 FROM metrics WHERE name = 'knn_recall'"), 1000, 0);
  CHECK_INT(fx_sql_int(exact, "SELECT count(*) FROM metrics WHERE name = 'knn_recall'"), 0);
  const char *sql = "SELECT image_id || ' ' || reason FROM flagged ORDER BY 1";
  char *a = fx_sql(ivf, sql), *b = fx_sql(exact, sql);
  CHECK(a && b && a[0] && strcmp(a, b) == 0);
  cur_free(a), cur_free(b), cur_free(cfg_path), cur_free(ivf), cur_free(exact);
}

/* The standard error of the mean per-row recall@k: the sample spread of
** the rows' recalls (each hits / k) over sqrt(n). */
static double recall_se(const int64_t *exact, const int64_t *approx, int n, int k) {
  double r[200], mean = 0, var = 0;
  for (int i = 0; i < n; i++) {
    int hits = 0;
    for (int a = 0; a < k; a++)
      for (int b = 0; b < k; b++) hits += exact[i * k + a] == approx[i * k + b];
    mean += (r[i] = (double)hits / k) / n;
  }
  for (int i = 0; i < n; i++) var += (r[i] - mean) * (r[i] - mean) / (n - 1);
  return sqrt(var / n);
}

/* 3,000 points in 16 dimensions around 30 random centres, unit length:
** clustered like real embeddings, so IVF cells matter.  The nprobe chosen
** for a recall target on held-out rows reaches it there (recomputed here)
** with two standard errors to spare, and the step before it on the grid
** (1, 2, 3, 4, 6, 9, ...) does not. */
TEST(ivf_nprobe_is_the_least_that_reaches_the_target_on_held_out_rows) {
  enum { N = 3000, D = 16, K = 10, Q = 200 };
  float *X = cur_mallocarray(N, D * sizeof *X), centre[30][D];
  int64_t rows[Q], exact[Q * K], nbr[Q * K];
  float sim[Q * K];
  REQUIRE(X);
  cur_rng r;
  cur_rng_seed(&r, 5);
  for (int c = 0; c < 30; c++)
    for (int j = 0; j < D; j++) centre[c][j] = (float)cur_rng_normal(&r);
  for (int i = 0; i < N; i++) {
    double norm = 0;
    int c = (int)cur_rng_below(&r, 30);
    for (int j = 0; j < D; j++) {
      X[i * D + j] = centre[c][j] + 0.6f * (float)cur_rng_normal(&r);
      norm += (double)X[i * D + j] * X[i * D + j];
    }
    for (int j = 0; j < D; j++) X[i * D + j] = (float)(X[i * D + j] / sqrt(norm));
  }
  REQUIRE_OK(knn_sample_rows(N, Q, 3, rows));
  knn_config ex = {.k = K, .threads = 1};
  REQUIRE_OK(knn_search(&ex, X, N, D, rows, Q, exact, sim));
  knn_ivf *ix = NULL;
  REQUIRE_OK(knn_ivf_new(X, N, D, 0, 9, 1, &ix));
  CHECK_INT(knn_ivf_nlist(ix), 219);           /* round(4 sqrt(3000)) */
  int nprobe = 0, before = 0;
  double recall = 0;
  REQUIRE_OK(knn_ivf_tune(ix, K, rows, Q, exact, 0.9, &nprobe, &recall));
  CHECK(recall >= 0.9 && nprobe > 1 && nprobe < 219);
  REQUIRE_OK(knn_ivf_search(ix, nprobe, K, rows, Q, nbr, sim));
  CHECK_NEAR(knn_recall(exact, nbr, Q, K), recall, 1e-12);
  CHECK(recall - 2 * recall_se(exact, nbr, Q, K) >= 0.9);
  for (int p = 1; p < nprobe; p = p < 4 ? p + 1 : p + p / 2) before = p;
  REQUIRE_OK(knn_ivf_search(ix, before, K, rows, Q, nbr, sim));
  CHECK(knn_recall(exact, nbr, Q, K) - 2 * recall_se(exact, nbr, Q, K) < 0.9);
  knn_ivf_free(ix);
  knn_ivf_free(NULL);
  int64_t drawn[N];
  REQUIRE_OK(knn_sample_rows(N, N, 4, drawn));   /* every row once */
  int64_t sum = 0;
  for (int i = 0; i < N; i++) sum += drawn[i];
  CHECK(sum == (int64_t)N * (N - 1) / 2);
  cur_free(X);
}

/* A search of every row is filed and searched in blocks (KNN_BLOCK_ROWS
** rows fetched, chunks of queries); with more than two blocks' rows, its
** neighbours and similarities are bit for bit those of one search with
** every row named as a query, and no row is its own neighbour. */
TEST(ivf_search_of_every_row_in_blocks_equals_one_call) {
  enum { D = 4, K = 5 };
  const int64_t n = 2 * KNN_BLOCK_ROWS + 1000;
  float *X = cur_mallocarray((size_t)n, D * sizeof *X), *sim_a = NULL, *sim_b = NULL;
  int64_t *all = cur_mallocarray((size_t)n, sizeof *all), *nbr_a = NULL, *nbr_b = NULL;
  nbr_a = cur_mallocarray((size_t)n, K * sizeof *nbr_a);
  nbr_b = cur_mallocarray((size_t)n, K * sizeof *nbr_b);
  sim_a = cur_mallocarray((size_t)n, K * sizeof *sim_a);
  sim_b = cur_mallocarray((size_t)n, K * sizeof *sim_b);
  REQUIRE(X && all && nbr_a && nbr_b && sim_a && sim_b);
  cur_rng r;
  cur_rng_seed(&r, 8);
  for (int64_t i = 0; i < n * D; i++) X[i] = (float)cur_rng_normal(&r);
  for (int64_t i = 0; i < n; i++) all[i] = i;
  knn_ivf *ix = NULL;
  REQUIRE_OK(knn_ivf_new(X, n, D, 256, 3, 2, &ix));
  REQUIRE_OK(knn_ivf_search(ix, 2, K, NULL, n, nbr_a, sim_a));
  REQUIRE_OK(knn_ivf_search(ix, 2, K, all, n, nbr_b, sim_b));
  CHECK(memcmp(nbr_a, nbr_b, (size_t)n * K * sizeof *nbr_a) == 0);
  CHECK(memcmp(sim_a, sim_b, (size_t)n * K * sizeof *sim_a) == 0);
  int64_t self = 0;
  for (int64_t i = 0; i < n * K; i++) self += nbr_a[i] == i / K;
  CHECK_INT(self, 0);
  knn_ivf_free(ix);
  cur_free(X), cur_free(all), cur_free(nbr_a), cur_free(nbr_b), cur_free(sim_a), cur_free(sim_b);
}

/* Above exact_max with ivf_nprobe at its default (0), the stage chooses
** nprobe on held-out images and reports it; recall@k on the other images
** reaches the default target 0.95 (a small set: the tuning rows predict it). */
TEST(stage_chooses_ivf_nprobe_for_the_recall_target) {
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 16}, "
                    "\"audit\": {\"exact_max\": 10}}";
  char *cfg_path = test_scratch_path("tune.json"), *db = test_scratch_path("tune.db");
  REQUIRE(cfg_path && db && test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  REQUIRE(prepared_with("tune.json", "tune.db", "src", "audit") == 0);
  CHECK(fx_sql_int(db, "SELECT count(*) FROM metrics WHERE name = 'ivf_nprobe' AND value >= 1") == 1);
  CHECK(fx_sql_int(db, "SELECT value >= 0.95 FROM metrics WHERE name = 'knn_recall'") == 1);
  cur_free(cfg_path), cur_free(db);
}

TEST(two_fresh_runs_give_the_same_database) {
  REQUIRE(audited("b.db") == 0);
  char *a = test_scratch_path("a.db"), *b = test_scratch_path("b.db");
  REQUIRE(a && b);
  /* a.db has a second audit run (the case above): compare b with a fresh c */
  REQUIRE(audited("c.db") == 0);
  char *c = test_scratch_path("c.db");
  char *db = b ? fx_dump(b) : NULL, *dc = c ? fx_dump(c) : NULL;
  CHECK(db && dc && strcmp(db, dc) == 0);
  CHECK(db && strstr(db, "duplicate_pairs"));
  cur_free(a), cur_free(b), cur_free(c), cur_free(db), cur_free(dc);
}

/* ---- audit-3.*: resume after SIGKILL ---- */

#define KILLS 5

/* 1250 images measured 4 per transaction: kills land inside the measuring
** pass (resumed at the first image without statistics) or the judging
** pass (one transaction, redone); the end is the never-killed database. */
TEST(killed_and_resumed_run_equals_a_run_never_killed) {
  REQUIRE(build_dataset("big", 1200) == 0);
  REQUIRE(prepared("clean.db", "big", "embed") == 0);
  REQUIRE(prepared("killed.db", "big", "embed") == 0);
  const char *const clean_args[] = {"--db", "clean.db", "--config", "audit.json", "run", "--stage",
                                    "audit", NULL};
  const char *const killed_args[] = {"--db", "killed.db", "--config", "audit.json", "run",
                                     "--stage", "audit", NULL};
  int landed;
  /* each attempt resumes where the last stopped, so kill points of 0.05 to
  ** 0.25 of a whole run leave work for most of the five attempts */
  CHECK_INT(fx_kill_and_resume(clean_args, killed_args, KILLS, 0.05, 0.25, 12, &landed), 0);
  CHECK(landed >= 2);
  char *clean = test_scratch_path("clean.db"), *killed = test_scratch_path("killed.db");
  char *want = clean ? fx_dump(clean) : NULL, *got = killed ? fx_dump(killed) : NULL;
  CHECK(want && got && strcmp(want, got) == 0);
  char *runs = killed ? fx_sql(killed, "SELECT count(*) || ' ' || min(status) FROM runs "
                                       "WHERE stage = 'audit'") : NULL;
  CHECK_STR(runs, "1 complete\n");
  CHECK_INT(killed ? fx_sql_int(killed, "SELECT count(*) FROM flagged WHERE reason = 'leak' "
                                         "AND source_path = 'test/a/copy.jpg'") : -1, 1);
  cur_free(clean), cur_free(killed), cur_free(want), cur_free(got), cur_free(runs);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(phash_flips_on_inversion_and_survives_2x_enlargement);
  RUN(sharpness_is_the_laplacian_variance);
  RUN(brightness_percentiles_and_entropy);
  RUN(colourfulness_of_red_and_grey);
  RUN(modified_z_limits);
  RUN(share_near_counts_the_values_within_the_width);
  RUN(union_find_groups_are_named_by_their_smallest_member);
  RUN(knn_exact_and_single_cell_ivf_agree_with_hand_neighbours);
  RUN(knn_label_consistency_and_distance);
  RUN(knn_pair_must_stand_out_from_both_neighbourhoods);
  RUN(stage_flags_the_leak_the_duplicate_the_dark_and_the_blurred_image);
  RUN(pairs_chaining_many_images_raise_no_pair_flags);
  RUN(embedding_pairs_ordinary_in_their_neighbourhood_do_not_count);
  RUN(flagged_shows_the_newest_audit_run_and_training_labels_ignore_it);
  RUN(manifest_rows_leave_out_the_leak_only);
  RUN(manifest_rows_one_at_a_time);
  RUN(odd_aspect_flags_the_rare_aspect_not_a_common_second_mode);
  RUN(ivf_probing_every_cell_matches_exact_search);
  RUN(ivf_nprobe_is_the_least_that_reaches_the_target_on_held_out_rows);
  RUN(ivf_search_of_every_row_in_blocks_equals_one_call);
  RUN(stage_chooses_ivf_nprobe_for_the_recall_target);
  RUN(two_fresh_runs_give_the_same_database);
  RUN(killed_and_resumed_run_equals_a_run_never_killed);
  return test_finish();
}
