/* augment_warp.c -- bilinear affine warp of 8-bit pixels in fixed point, with edge, black or mean fill.
**
** This replaces vips_affine, whose pipeline machinery cost more than the
** arithmetic (docs/stages/augment.md, Speed).
**
** Coordinates: output pixel (X, Y) samples the input at the point
** (x, y) = m^-1 (X, Y), pixel (i, j) sitting at the point (i, j).  Along an
** output row x and y grow by constant steps, so they are carried in 32.32
** fixed point (int64): exact enough for any image (the step's rounding error
** is below 2^-33 per pixel) and no floating point per pixel.  The bilinear
** weights are the top WEIGHT_BITS of the fractions.
**
** Invariants:
**   1. A sample of the 2x2 window outside the input is replaced per fill
**      mode (clamped to the edge, 0, or the fill colour) before weighting,
**      so every mode agrees with the others inside the image and a window
**      straddling the border blends smoothly into the fill.
**   2. Integer arithmetic only per pixel: the same input gives the same
**      bytes on every machine and compiler, with or without the SSE2 path
**      (blend_sse2 computes exactly blend's numbers).
*/
#include "augment_warp.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>  /* every x86-64 CPU has SSE2 */
#endif

#define FRAC_BITS 32                      /* fraction bits of the coordinates */
#define WEIGHT_BITS 7                     /* bits of each bilinear weight: 1/128 pixel */
#define WEIGHT_ONE (1 << WEIGHT_BITS)
#define ROUND_HALF (1 << (2 * WEIGHT_BITS - 1))
#define MAX_BANDS 4

void cur_augment_band_means(const unsigned char *in, int width, int height, int bands,
                            double mean[]) {
  assert(in && width > 0 && height > 0 && bands >= 1 && bands <= MAX_BANDS);
  uint64_t sum[MAX_BANDS] = {0};
  size_t n = (size_t)width * (size_t)height;
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < bands; k++) sum[k] += in[i * (size_t)bands + (size_t)k];
  for (int k = 0; k < bands; k++) mean[k] = (double)sum[k] / (double)n;
}

/* Weighted 2x2 window: top row a, b; bottom row c, d; weights wx, wy.
** Columns first, then across: x (W - w) + y w is written x W + (y - x) w,
** the same number with one multiplication fewer.  The column sums stay
** below 2^15 and the total below 2^22, the ranges of blend_sse2's 16- and
** 32-bit lanes, which compute exactly these numbers. */
static inline unsigned char blend(int a, int b, int c, int d, int wx, int wy) {
  int left = (a << WEIGHT_BITS) + (c - a) * wy;
  int right = (b << WEIGHT_BITS) + (d - b) * wy;
  return (unsigned char)(((left << WEIGHT_BITS) + (right - left) * wx + ROUND_HALF) >>
                         (2 * WEIGHT_BITS));
}

#ifdef __SSE2__
/* blend() for all bands of an interior pixel of 3 or 4 bands at once; P is
** its window's top-left sample, and 8 bytes from P and from P + STRIDE must
** be readable.  The bytes of one row, widened to 16 bits, are
** a0 a1 a2 [a3] b0 b1 b2 [b3]: the columns are weighted in 16-bit lanes,
** then each left sum is paired with its right neighbour's for one
** multiply-add per band in 32 bits. */
static inline void blend_sse2(const unsigned char *p, size_t stride, int bands, int wx, int wy,
                              unsigned char *out) {
  const __m128i zero = _mm_setzero_si128();
  __m128i top = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(const void *)p), zero);
  __m128i bottom = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(const void *)(p + stride)), zero);
  __m128i col = _mm_add_epi16(_mm_mullo_epi16(top, _mm_set1_epi16((short)(WEIGHT_ONE - wy))),
                              _mm_mullo_epi16(bottom, _mm_set1_epi16((short)wy)));
  __m128i right = bands == 3 ? _mm_srli_si128(col, 6) : _mm_srli_si128(col, 8);
  __m128i pairs = _mm_unpacklo_epi16(col, right);  /* l0 r0 l1 r1 l2 r2 ... */
  __m128i weights = _mm_set1_epi32((wx << 16) | (WEIGHT_ONE - wx));
  __m128i sum = _mm_add_epi32(_mm_madd_epi16(pairs, weights), _mm_set1_epi32(ROUND_HALF));
  __m128i v = _mm_srli_epi32(sum, 2 * WEIGHT_BITS);
  v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);
  uint32_t word = (uint32_t)_mm_cvtsi128_si32(v);
  memcpy(out, &word, bands == 3 ? 3 : 4);  /* little-endian: band 0 first */
}
#endif

typedef struct warp {
  const unsigned char *in;
  const unsigned char *in_end;  /* one past the last sample of in */
  int width, height, bands;
  cur_augment_fill mode;
  unsigned char fill[MAX_BANDS];
} warp;

/* Sample k of input pixel (x, y), which may lie outside (invariant 1). */
static inline int sample(const warp *w, int64_t x, int64_t y, int k) {
  if (x < 0 || y < 0 || x >= w->width || y >= w->height) {
    if (w->mode != CUR_AUGMENT_FILL_EDGE) return w->fill[k];
    x = x < 0 ? 0 : x >= w->width ? w->width - 1 : x;
    y = y < 0 ? 0 : y >= w->height ? w->height - 1 : y;
  }
  return w->in[((size_t)y * (size_t)w->width + (size_t)x) * (size_t)w->bands + (size_t)k];
}

/* One output row.  BANDS is a constant at each call site (see warp_rows),
** so the compiler unrolls the band loops of the common interior case. */
static inline void warp_row(const warp *w, int bands, int64_t fx, int64_t fy, int64_t sx,
                            int64_t sy, unsigned char *out) {
  const size_t stride = (size_t)w->width * (size_t)bands;
  for (int i = 0; i < w->width; i++, fx += sx, fy += sy, out += bands) {
    int64_t x = fx >> FRAC_BITS, y = fy >> FRAC_BITS;  /* floor: arithmetic shift */
    int wx = (int)((fx >> (FRAC_BITS - WEIGHT_BITS)) & (WEIGHT_ONE - 1));
    int wy = (int)((fy >> (FRAC_BITS - WEIGHT_BITS)) & (WEIGHT_ONE - 1));
    if ((uint64_t)x < (uint64_t)(w->width - 1) && (uint64_t)y < (uint64_t)(w->height - 1)) {
      const unsigned char *p = w->in + (size_t)y * stride + (size_t)x * (size_t)bands;
#ifdef __SSE2__
      if (bands >= 3 && w->in_end - (p + stride) >= 8) {
        blend_sse2(p, stride, bands, wx, wy, out);
        continue;
      }
#endif
      for (int k = 0; k < bands; k++)
        out[k] = blend(p[k], p[k + bands], p[k + stride], p[k + stride + bands], wx, wy);
    } else {
      for (int k = 0; k < bands; k++)
        out[k] = blend(sample(w, x, y, k), sample(w, x + 1, y, k), sample(w, x, y + 1, k),
                       sample(w, x + 1, y + 1, k), wx, wy);
    }
  }
}

/* A coordinate in 32.32 fixed point. */
static int64_t fixed(double v) { return (int64_t)llround(v * (double)(1ULL << FRAC_BITS)); }

void cur_augment_warp(const unsigned char *in, int width, int height, int bands, const double m[6],
                      cur_augment_fill mode, const double fill[], unsigned char *out) {
  assert(in && out && m && width > 0 && height > 0 && bands >= 1 && bands <= MAX_BANDS);
  assert(mode != CUR_AUGMENT_FILL_MEAN || fill);
  double det = m[0] * m[4] - m[1] * m[3];
  assert(det != 0.0);
  /* m^-1: (x, y) = inv (X - m[2], Y - m[5]) */
  double i00 = m[4] / det, i01 = -m[1] / det, i10 = -m[3] / det, i11 = m[0] / det;
  warp w = {.in = in, .in_end = in + (size_t)width * (size_t)height * (size_t)bands, .width = width, .height = height, .bands = bands, .mode = mode};
  for (int k = 0; k < MAX_BANDS; k++)
    w.fill[k] = mode == CUR_AUGMENT_FILL_MEAN && k < bands ? (unsigned char)lround(fill[k]) : 0;
  int64_t sx = fixed(i00), sy = fixed(i10);
  for (int j = 0; j < height; j++) {
    double dy = j - m[5];
    int64_t fx = fixed(-i00 * m[2] + i01 * dy), fy = fixed(-i10 * m[2] + i11 * dy);
    unsigned char *row = out + (size_t)j * (size_t)width * (size_t)bands;
    switch (bands) {
    case 1: warp_row(&w, 1, fx, fy, sx, sy, row); break;
    case 3: warp_row(&w, 3, fx, fy, sx, sy, row); break;
    case 4: warp_row(&w, 4, fx, fy, sx, sy, row); break;
    default: warp_row(&w, bands, fx, fy, sx, sy, row); break;
    }
  }
}
