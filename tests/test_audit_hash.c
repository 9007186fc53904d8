/* test_audit_hash.c -- pHash views and the pairs within a pHash distance (models/audit_hash.c, imstats.c).
**
** audit_hash-1.*: the distance over views, against hand-computed values.
** audit_hash-2.*: the multi-index search against a brute-force scan of
**                 every pair, on generated hashes (2.1: clusters of near
**                 copies among unrelated hashes; 2.2: skewed hashes with
**                 repeated views, as 8 x 8 images give; 2.3: the pHashes of
**                 generated 8 x 8 striped images as the scale benchmark
**                 draws them, a quarter of them near copies or mirrors of
**                 an earlier one), for several views, distances and thread
**                 counts.
** audit_hash-3.*: a mirrored and a 90% centre-cropped copy of a generated
**                 image meet their original through its views.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit_detect.h"
#include "curate.h"
#include "imstats.h"
#include "rng.h"
#include "testlib.h"

static int bits(uint64_t x) { return __builtin_popcountll(x); }

/* ---- audit_hash-1.*: hand-computed ---- */

/* Two views per image.  Whole hashes 0, 7, 1023 (10 bits), ~0: plain
** distances 3, 10, 64, 7, 61, 54, so at most 9 bits: (0,1) and (1,2).  The
** second view is M (the low 32 bits: 22 or more bits from every whole
** hash) for images 0..2 and the top two bits for image 3: image 3's view is
** 2 bits from image 0's whole hash and 5 from image 1's, 12 from image 2's,
** so (0,3) and (1,3) join as well; with views held to 4 bits, (1,3) does
** not (its distance 5 is through a view), while (1,2) keeps its 7 (whole). */
TEST(distance_is_the_least_over_the_other_images_views) {
  const uint64_t M = 0xFFFFFFFFull, top2 = 3ull << 62;
  uint64_t h[4][2] = {{0, M}, {7, M}, {1023, M}, {~(uint64_t)0, top2}};
  audit_pair *pairs = NULL;
  int64_t n = 0, cap = 0;
  uint64_t whole[4] = {0, 7, 1023, ~(uint64_t)0};
  REQUIRE_OK(audit_hash_pairs(whole, 4, 1, 9, 9, 1, &pairs, &n, &cap));
  REQUIRE(n == 2);
  CHECK(pairs[0].a == 0 && pairs[0].b == 1 && pairs[0].hamming == 3);
  CHECK(pairs[1].a == 1 && pairs[1].b == 2 && pairs[1].hamming == 7);
  n = 0;
  REQUIRE_OK(audit_hash_pairs(&h[0][0], 4, 2, 9, 9, 1, &pairs, &n, &cap));
  REQUIRE(n == 4);
  static const int want[4][3] = {{0, 1, 3}, {0, 3, 2}, {1, 2, 7}, {1, 3, 5}};
  for (int i = 0; i < 4; i++)
    CHECK(pairs[i].a == want[i][0] && pairs[i].b == want[i][1] && pairs[i].hamming == want[i][2]);
  n = 0;
  REQUIRE_OK(audit_hash_pairs(&h[0][0], 4, 2, 9, 4, 1, &pairs, &n, &cap));
  REQUIRE(n == 3);
  CHECK(pairs[0].b == 1 && pairs[1].b == 3 && pairs[2].a == 1 && pairs[2].b == 2);
  CHECK(!audit_hash_is_pair(h[1], h[3], 2, 9, 4) && audit_hash_is_pair(h[1], h[3], 2, 9, 5));
  CHECK_INT(audit_hash_distance(h[2], h[3], 2), 12);
  CHECK_INT(audit_hash_distance(h[3], h[2], 2), 12);
  cur_free(pairs);
}

/* ---- audit_hash-2.*: against brute force ---- */

/* N images of VIEWS hashes: a third are near copies of an earlier image
** (its whole hash or one of its views with up to 12 bits flipped, so the
** distances straddle every threshold tested), the rest random. */
static void generate(uint64_t *h, int64_t n, int views, uint64_t seed) {
  cur_rng r;
  cur_rng_seed_keys(&r, (uint64_t[]){seed}, 1);
  for (int64_t i = 0; i < n; i++) {
    for (int v = 0; v < views; v++) h[i * views + v] = cur_rng_next(&r);
    if (i == 0 || cur_rng_below(&r, 3) != 0) continue;
    int64_t of = (int64_t)cur_rng_below(&r, (uint64_t)i);
    uint64_t w = h[of * views + cur_rng_below(&r, (uint64_t)views)];
    for (int f = (int)cur_rng_below(&r, 13); f > 0; f--) w ^= 1ull << cur_rng_below(&r, 64);
    h[i * views] = w;
  }
}

/* N images of VIEWS hashes as tiny images and plain pictures give them:
** every whole hash is one of 8 centres with up to 12 of its low 24 bits
** flipped (the upper 40 bits are the centre's: a few values fill most of
** every band that lies there, and the bits go together), view 1 (the
** mirror) another centre's near copy, views 2 and 3 equal to the whole
** hash and the rest equal to one another (crops of a few pixels that round
** to the whole image, or to one smaller crop). */
static void generate_skewed(uint64_t *h, int64_t n, int views, uint64_t seed) {
  cur_rng r;
  uint64_t centre[8];
  cur_rng_seed_keys(&r, (uint64_t[]){seed}, 1);
  for (int c = 0; c < 8; c++) centre[c] = cur_rng_next(&r);
  for (int64_t i = 0; i < n; i++) {
    uint64_t *img = h + i * views, crop = 0;
    for (int v = 0; v < views && v < 2; v++) {
      img[v] = centre[cur_rng_below(&r, 8)];
      for (int f = (int)cur_rng_below(&r, 13); f > 0; f--) img[v] ^= 1ull << cur_rng_below(&r, 24);
    }
    crop = img[0] ^ (1ull << cur_rng_below(&r, 64)) ^ (1ull << cur_rng_below(&r, 64));
    for (int v = 2; v < views; v++) img[v] = v < 4 ? img[0] : crop;
  }
}

/* The oracle: every pair compared, whole against whole within DW, whole
** against the other's views within DV; the distance is the least of all. */
static int64_t brute_force(const uint64_t *h, int64_t n, int views, int dw, int dv,
                           int64_t (*out)[3]) {
  int64_t m = 0;
  for (int64_t a = 0; a < n; a++)
    for (int64_t b = a + 1; b < n; b++) {
      int whole = bits(h[a * views] ^ h[b * views]), view = 64;
      for (int v = 1; v < views; v++) {
        int x = bits(h[a * views] ^ h[b * views + v]), y = bits(h[b * views] ^ h[a * views + v]);
        view = x < view ? x : view;
        view = y < view ? y : view;
      }
      if (whole <= dw || view <= dv)
        out[m][0] = a, out[m][1] = b, out[m++][2] = whole < view ? whole : view;
    }
  return m;
}

/* Whether the search on THREADS threads returns the M pairs WANT. */
static int search_matches(const uint64_t *h, int64_t n, int views, int dw, int dv, int threads,
                          int64_t (*want)[3], int64_t m) {
  int64_t found = 0, cap = 0;
  audit_pair *got = NULL;
  int same = audit_hash_pairs(h, n, views, dw, dv, threads, &got, &found, &cap) == CUR_OK &&
             found == m;
  for (int64_t i = 0; same && i < m; i++)
    same = got[i].a == want[i][0] && got[i].b == want[i][1] && got[i].hamming == want[i][2];
  cur_free(got);
  return same;
}

/* Random hashes (audit_hash-2.1) and skewed ones (2.2), at the default
** limits and others, on THREADS threads: with the whole limit below the
** views' (6/12), a view equal to its whole hash must still be searched at
** the views' limit. */
static void against_brute_force(void (*gen)(uint64_t *, int64_t, int, uint64_t), const char *kind,
                                int threads) {
  enum { N = 1500 };
  static const int views_tried[] = {1, 2, 8};
  static const int dist_tried[][2] = {{0, 0}, {3, 3}, {9, 6}, {12, 4}, {6, 12}, {20, 20}};
  uint64_t *h = cur_mallocarray(N * 8, sizeof *h);
  int64_t (*want)[3] = cur_mallocarray((size_t)N * N / 2, sizeof *want);
  REQUIRE(h && want);
  for (size_t vi = 0; vi < CUR_ARRAY_LEN(views_tried); vi++)
    for (size_t di = 0; di < CUR_ARRAY_LEN(dist_tried); di++) {
      int views = views_tried[vi], dw = dist_tried[di][0], dv = dist_tried[di][1];
      gen(h, N, views, 100 + vi);
      int64_t m = brute_force(h, N, views, dw, dv, want);
      CHECK(m > 0 || dw == 0);         /* the generated copies reach every distance but 0 */
      if (!search_matches(h, N, views, dw, dv, threads, want, m))
        test_fail(__FILE__, __LINE__, "%s hashes, views %d, distances %d/%d, %d threads: "
                  "pairs differ", kind, views, dw, dv, threads);
    }
  cur_free(h);
  cur_free(want);
}

TEST(multi_index_search_returns_exactly_the_brute_force_pairs) {
  against_brute_force(generate, "random", 1);
}

TEST(multi_index_search_is_exact_on_skewed_hashes_with_repeated_views) {
  against_brute_force(generate_skewed, "skewed", 3);  /* queries split over threads */
}

/* An 8 x 8 RGB image as scripts/bench/gen_scale draws one of class C:
** stripes of a class's direction and colour, the image's own phase,
** period and brightness, and per-pixel noise. */
static void striped_image(uint8_t px[8 * 8 * 3], int c, cur_rng *r) {
  double angle = 3.14159265 * c / 10, phase = 6.28 * cur_rng_uniform(r);
  double period = 4 + 6 * cur_rng_uniform(r), shift = 40 * (cur_rng_uniform(r) - 0.5);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++) {
      double stripe = shift + 40 * sin((x * cos(angle) + y * sin(angle)) * 6.28 / period + phase);
      for (int b = 0; b < 3; b++) {
        double v = 60 + 14.0 * ((c * (37 + 16 * b) + 3 * b) % 10) + stripe + 20 * cur_rng_normal(r);
        px[(y * 8 + x) * 3 + b] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}

/* The views of N such images: a quarter are near copies of an earlier
** image (a few pixels changed by up to 24 levels) or its mirror. */
static void generate_striped(uint64_t *h, int64_t n, uint64_t seed) {
  cur_rng r;
  uint8_t (*px)[8 * 8 * 3] = cur_mallocarray((size_t)n, sizeof *px);
  REQUIRE(px);
  cur_rng_seed_keys(&r, (uint64_t[]){seed}, 1);
  for (int64_t i = 0; i < n; i++) {
    if (i > 0 && cur_rng_below(&r, 4) == 0) {
      const uint8_t *of = px[cur_rng_below(&r, (uint64_t)i)];
      int mirror = (int)cur_rng_below(&r, 2);
      for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
          memcpy(px[i] + (y * 8 + x) * 3, of + (y * 8 + (mirror ? 7 - x : x)) * 3, 3);
      for (int k = (int)cur_rng_below(&r, 6); k > 0; k--) {
        uint8_t *p = px[i] + cur_rng_below(&r, 8 * 8 * 3);
        int v = *p + (int)cur_rng_below(&r, 49) - 24;
        *p = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    } else {
      striped_image(px[i], (int)cur_rng_below(&r, 10), &r);
    }
    imstats st;
    REQUIRE_OK(imstats_compute(px[i], 8, 8, 3, &st));
    memcpy(h + i * IMSTATS_VIEWS, st.phash, sizeof st.phash);
  }
  cur_free(px);
}

/* The benchmark's kind of hashes (audit_hash-2.3): clustered (stripes of
** ten directions), views repeating (crops of 8 pixels round to 8 or 7),
** planted near copies.  Large enough that the cost model leaves some
** bands out and gives the others unequal radii, and that a value's
** queries come in batches. */
TEST(multi_index_search_is_exact_on_the_pHashes_of_small_striped_images) {
  enum { N = 4000, V = IMSTATS_VIEWS };
  static const int dist_tried[][2] = {{9, 6}, {4, 10}, {14, 3}};
  uint64_t *h = cur_mallocarray((size_t)N * V, sizeof *h);
  int64_t (*want)[3] = cur_mallocarray((size_t)N * N / 2, sizeof *want);
  REQUIRE(h && want);
  generate_striped(h, N, 7);
  for (size_t di = 0; di < CUR_ARRAY_LEN(dist_tried); di++) {
    int dw = dist_tried[di][0], dv = dist_tried[di][1];
    int64_t m = brute_force(h, N, V, dw, dv, want);
    CHECK(m >= N / 8);                 /* the planted copies, at the least */
    if (!search_matches(h, N, V, dw, dv, 2, want, m))
      test_fail(__FILE__, __LINE__, "striped images' hashes, distances %d/%d: pairs differ", dw, dv);
  }
  cur_free(h);
  cur_free(want);
}

/* ---- audit_hash-3.*: views of a generated image ---- */

/* A W x H RGB image of a few smooth random waves and blobs (photo-like:
** its energy in low frequencies, no symmetry). */
static void smooth_image(uint8_t *rgb, int w, int h, uint64_t seed) {
  cur_rng r;
  cur_rng_seed_keys(&r, (uint64_t[]){seed}, 1);
  double fx[6], fy[6], ph[6], amp[6];
  for (int k = 0; k < 6; k++)
    fx[k] = 0.5 + 4 * cur_rng_uniform(&r), fy[k] = 0.5 + 4 * cur_rng_uniform(&r),
    ph[k] = 6.283 * cur_rng_uniform(&r), amp[k] = 20 + 20 * cur_rng_uniform(&r);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double v = 128, u = (double)x / w, t = (double)y / h;
      for (int k = 0; k < 6; k++) v += amp[k] * sin(6.283 * (fx[k] * u + fy[k] * t * t) + ph[k]);
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      for (int c = 0; c < 3; c++) rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)v;
    }
}

/* The mirror's whole hash is the original's mirror view (the same pixels);
** a 90% centre crop (as the benchmark cuts it) lies between the
** 91% and 88% views and meets one within the default 6 bits, while its
** whole hash is far (> 9) from the original's whole hash, so only the views
** pair them.  Ten images, each checked. */
TEST(mirrored_and_cropped_copies_meet_their_original_through_its_views) {
  enum { W = 240, H = 180 };
  int cw = (int)lround(W * 0.9), ch = (int)lround(H * 0.9);
  uint8_t *img = cur_malloc((size_t)W * H * 3), *mir = cur_malloc((size_t)W * H * 3);
  uint8_t *crop = cur_malloc((size_t)cw * ch * 3);
  REQUIRE(img && mir && crop);
  int far_whole = 0;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    imstats o, m, c;
    smooth_image(img, W, H, seed);
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        memcpy(mir + ((size_t)y * W + x) * 3, img + ((size_t)y * W + (W - 1 - x)) * 3, 3);
    for (int y = 0; y < ch; y++)
      memcpy(crop + (size_t)y * cw * 3, img + ((size_t)(y + (H - ch) / 2) * W + (W - cw) / 2) * 3,
             (size_t)cw * 3);
    REQUIRE_OK(imstats_compute(img, W, H, 3, &o));
    REQUIRE_OK(imstats_compute(mir, W, H, 3, &m));
    REQUIRE_OK(imstats_compute(crop, cw, ch, 3, &c));
    CHECK(m.phash[IMSTATS_WHOLE] == o.phash[IMSTATS_MIRROR]);
    CHECK_INT(audit_hash_distance(m.phash, o.phash, IMSTATS_VIEWS), 0);
    CHECK(audit_hash_is_pair(c.phash, o.phash, IMSTATS_VIEWS, 9, 6));
    CHECK(audit_hash_is_pair(m.phash, o.phash, IMSTATS_VIEWS, 9, 6));
    far_whole += bits(c.phash[IMSTATS_WHOLE] ^ o.phash[IMSTATS_WHOLE]) > 9;
  }
  CHECK(far_whole >= 5);       /* the crop moves the whole hash: the views are what pair them */
  cur_free(img), cur_free(mir), cur_free(crop);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(distance_is_the_least_over_the_other_images_views);
  RUN(multi_index_search_returns_exactly_the_brute_force_pairs);
  RUN(multi_index_search_is_exact_on_skewed_hashes_with_repeated_views);
  RUN(multi_index_search_is_exact_on_the_pHashes_of_small_striped_images);
  RUN(mirrored_and_cropped_copies_meet_their_original_through_its_views);
  return test_finish();
}
