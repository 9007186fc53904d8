/* test_augment_warp.c -- the bilinear warp on raw pixels (stages/augment/augment_warp.c).
**
** warp-1.*: exact cases: the identity and a whole-pixel shift copy pixels,
**           a half-pixel shift averages neighbours (rounded half up).
** warp-2.*: fill: what lies beyond the input is the edge pixel, 0, or the
**           fill colour, per mode.
** warp-3.*: the 3- and 4-band paths (SSE2 and AVX2 on x86-64) give exactly
**           the bytes of warping each band alone as one band; on
**           photo-sized images turned and scaled many ways (every alignment
**           of the AVX2 path's groups of four pixels against the border)
**           every path gives the bytes of the arithmetic written out
**           plainly in the test.
*/
#include "testlib.h"

#include <math.h>
#include <string.h>

#include "augment_warp.h"

#define W 23
#define H 17

/* A deterministic, non-smooth test pattern with every band different. */
static void pattern(unsigned char *px, int bands) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int k = 0; k < bands; k++)
        px[(y * W + x) * bands + k] = (unsigned char)((x * 37 + y * 101 + k * 59 + x * y * 7) % 256);
}

/* The forward matrix of a pure shift by (dx, dy). */
static void shift(double dx, double dy, double m[6]) {
  const double t[6] = {1, 0, dx, 0, 1, dy};
  memcpy(m, t, sizeof t);
}

TEST(identity_and_whole_pixel_shift_copy_pixels) {
  unsigned char in[W * H * 3], out[W * H * 3];
  double m[6];
  pattern(in, 3);
  shift(0, 0, m);
  cur_augment_warp(in, W, H, 3, m, CUR_AUGMENT_FILL_BLACK, NULL, out);
  CHECK(memcmp(in, out, sizeof in) == 0);
  shift(2, -1, m);  /* output (x, y) = input (x - 2, y + 1) */
  cur_augment_warp(in, W, H, 3, m, CUR_AUGMENT_FILL_BLACK, NULL, out);
  CHECK_INT(out[(5 * W + 7) * 3 + 1], in[(6 * W + 5) * 3 + 1]);
  CHECK_INT(out[(0 * W + 2) * 3 + 0], in[(1 * W + 0) * 3 + 0]);
}

TEST(half_pixel_shift_averages_neighbours) {
  unsigned char in[W * H], out[W * H];
  double m[6];
  pattern(in, 1);
  shift(-0.5, 0, m);  /* output x samples input x + 0.5 */
  cur_augment_warp(in, W, H, 1, m, CUR_AUGMENT_FILL_EDGE, NULL, out);
  for (int x = 0; x < W - 1; x++) {
    int a = in[3 * W + x], b = in[3 * W + x + 1];
    CHECK_INT(out[3 * W + x], (a + b + 1) / 2);  /* weights 64/64, rounded half up */
  }
}

/* Shifts far right: output column 0 samples input x = -10, beyond the left edge. */
static void check_fill(cur_augment_fill mode, int expect_edge) {
  unsigned char in[W * H * 3], out[W * H * 3];
  double m[6], mean[3];
  pattern(in, 3);
  cur_augment_band_means(in, W, H, 3, mean);
  shift(10, 0, m);
  cur_augment_warp(in, W, H, 3, m, mode, mean, out);
  for (int k = 0; k < 3; k++) {
    int expect = expect_edge ? in[(4 * W) * 3 + k]
                 : mode == CUR_AUGMENT_FILL_MEAN ? (int)lround(mean[k]) : 0;
    CHECK_INT(out[(4 * W) * 3 + k], expect);
  }
}

TEST(edge_fill_repeats_the_edge_pixel) { check_fill(CUR_AUGMENT_FILL_EDGE, 1); }
TEST(black_fill_is_zero) { check_fill(CUR_AUGMENT_FILL_BLACK, 0); }
TEST(mean_fill_is_the_rounded_band_mean) { check_fill(CUR_AUGMENT_FILL_MEAN, 0); }

/* A rotation with scale and shift makes every kind of window: interior,
** straddling the border and outside. */
static void check_bands_agree(int bands, cur_augment_fill mode) {
  enum { MAXB = 4 };
  unsigned char in[W * H * MAXB], out[W * H * MAXB], plane[W * H], warped[W * H];
  double m[6], mean[MAXB];
  const double t = 0.3, s = 1.17;
  const double rot[6] = {s * cos(t), s * sin(t), 3.25, -s * sin(t), s * cos(t), 4.7};
  memcpy(m, rot, sizeof m);
  pattern(in, bands);
  cur_augment_band_means(in, W, H, bands, mean);
  cur_augment_warp(in, W, H, bands, m, mode, mean, out);
  int same = 1;
  for (int k = 0; k < bands; k++) {
    for (int i = 0; i < W * H; i++) plane[i] = in[i * bands + k];
    cur_augment_warp(plane, W, H, 1, m, mode, &mean[k], warped);
    for (int i = 0; i < W * H; i++) same &= warped[i] == out[i * bands + k];
  }
  CHECK(same);
}

/* The warp's arithmetic written out plainly, for black fill (augment_warp.c's
** header): output pixel (X, Y) samples the input at m^-1 (X, Y), stepped
** along the row in 32.32 fixed point from the row's start, with 7-bit
** weights; window samples outside the input are 0; the weighted sum is
** rounded half up. */
static void reference_warp_black(const unsigned char *in, int w, int h, int bands,
                                 const double m[6], unsigned char *out) {
  const double one = 4294967296.0;  /* 2^32 */
  double det = m[0] * m[4] - m[1] * m[3];
  double i00 = m[4] / det, i01 = -m[1] / det, i10 = -m[3] / det, i11 = m[0] / det;
  int64_t sx = llround(i00 * one), sy = llround(i10 * one);
  for (int Y = 0; Y < h; Y++) {
    double dy = Y - m[5];
    int64_t fx = llround((-i00 * m[2] + i01 * dy) * one), fy = llround((-i10 * m[2] + i11 * dy) * one);
    for (int X = 0; X < w; X++, fx += sx, fy += sy) {
      int64_t x = fx >> 32, y = fy >> 32;
      int wx = (int)((fx >> 25) & 127), wy = (int)((fy >> 25) & 127);
      int weight[2][2] = {{(128 - wx) * (128 - wy), wx * (128 - wy)}, {(128 - wx) * wy, wx * wy}};
      for (int k = 0; k < bands; k++) {
        int sum = 8192;
        for (int r = 0; r < 2; r++)
          for (int c = 0; c < 2; c++) {
            int64_t xx = x + c, yy = y + r;
            if (xx >= 0 && yy >= 0 && xx < w && yy < h)
              sum += weight[r][c] * in[((size_t)yy * (size_t)w + (size_t)xx) * (size_t)bands + (size_t)k];
          }
        out[((size_t)Y * (size_t)w + (size_t)X) * (size_t)bands + (size_t)k] = (unsigned char)(sum >> 14);
      }
    }
  }
}

/* The warp of a WIDTH x HEIGHT image against reference_warp_black for
** several rotations, scales, flips and shifts. */
static void check_against_reference(int width, int height, int bands) {
  size_t n = (size_t)width * (size_t)height * (size_t)bands;
  unsigned char *in = cur_malloc(n), *out = cur_malloc(n), *ref = cur_malloc(n);
  REQUIRE(in && out && ref);
  for (size_t i = 0; i < n; i++) in[i] = (unsigned char)((i * 2654435761u) >> 13);
  int same = 1;
  for (int c = 0; c < 12; c++) {
    double t = (c * 31 - 170) * M_PI / 180.0, s = 0.85 + 0.03 * c, fx = c % 2 ? -1.0 : 1.0;
    double m[6] = {s * cos(t) * fx, s * sin(t), 0.37 * c - 2, -s * sin(t) * fx, s * cos(t), 1.1 - 0.3 * c};
    m[2] += (width - 1) / 2.0 - (m[0] * (width - 1) + m[1] * (height - 1)) / 2.0;
    m[5] += (height - 1) / 2.0 - (m[3] * (width - 1) + m[4] * (height - 1)) / 2.0;
    cur_augment_warp(in, width, height, bands, m, CUR_AUGMENT_FILL_BLACK, NULL, out);
    reference_warp_black(in, width, height, bands, m, ref);
    same &= memcmp(out, ref, n) == 0;
  }
  CHECK(same);
  cur_free(in);
  cur_free(out);
  cur_free(ref);
}

TEST(photo_sized_images_give_the_reference_bytes) {
  check_against_reference(400, 533, 3);
  check_against_reference(101, 77, 3);
  check_against_reference(150, 97, 4);
  check_against_reference(400, 533, 1);
  check_against_reference(29, 31, 1);
}

TEST(three_band_path_equals_one_band_per_band) {
  check_bands_agree(3, CUR_AUGMENT_FILL_EDGE);
  check_bands_agree(3, CUR_AUGMENT_FILL_MEAN);
}

TEST(four_band_path_equals_one_band_per_band) {
  check_bands_agree(4, CUR_AUGMENT_FILL_EDGE);
  check_bands_agree(4, CUR_AUGMENT_FILL_BLACK);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(identity_and_whole_pixel_shift_copy_pixels);
  RUN(half_pixel_shift_averages_neighbours);
  RUN(edge_fill_repeats_the_edge_pixel);
  RUN(black_fill_is_zero);
  RUN(mean_fill_is_the_rounded_band_mean);
  RUN(three_band_path_equals_one_band_per_band);
  RUN(four_band_path_equals_one_band_per_band);
  RUN(photo_sized_images_give_the_reference_bytes);
  return test_finish();
}
