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
**      bytes on every machine and compiler.
*/
#include "augment_warp.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>

#define FRAC_BITS 32                      /* fraction bits of the coordinates */
#define WEIGHT_BITS 10                    /* bits of each bilinear weight */
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
** a (W - wx) + b wx is written a W + (b - a) wx: the same number with one
** multiplication fewer, and the sum fits an int (|.| < 2^29). */
static inline unsigned char blend(int a, int b, int c, int d, int wx, int wy) {
  int top = (a << WEIGHT_BITS) + (b - a) * wx;
  int bottom = (c << WEIGHT_BITS) + (d - c) * wx;
  return (unsigned char)(((top << WEIGHT_BITS) + (bottom - top) * wy + ROUND_HALF) >>
                         (2 * WEIGHT_BITS));
}

typedef struct warp {
  const unsigned char *in;
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
  warp w = {.in = in, .width = width, .height = height, .bands = bands, .mode = mode};
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
    default: warp_row(&w, bands, fx, fy, sx, sy, row); break;
    }
  }
}
