/* clip_resample.c -- Pillow's bicubic resampling of 8-bit pixels, one window of the result.
**
** CLIP's reference preprocessing is torchvision's Resize on a PIL image,
** which is Pillow's ImagingResample; doing exactly what it does makes our
** input tensors the reference's (libvips' cubic reduce, used before, was
** off by one grey level on some pixels, and took twice as long).
**
** Per axis, output pixel i reads the input pixels within the kernel's
** support around its centre (i + 0.5) * scale, scale = in / out.  The
** kernel is the a = -0.5 cubic (Keys, "Cubic convolution interpolation for
** digital image processing", 1981), stretched by the scale when reducing so
** that it also low-passes; a pixel's weights are normalised to sum to 1 and
** rounded to 22-bit fixed point.  The horizontal pass runs first, over the
** rows the vertical pass reads; each pass rounds and clips to 8 bits.  The
** arithmetic is Pillow's to the operation (multiplying by 1 / filterscale,
** not dividing; rounding half away from zero), since any other order moves
** some weights by one unit and some pixels by one grey level.
**
** Every output pixel has weights of its own, so computing only the centre
** crop gives the values of resizing the whole image and then cropping.
**
** The horizontal pass is most of the time (a pixel's taps are scattered
** along the row, where the vertical pass reads whole rows): where the CPU
** has AVX2 it sums four taps a step in 16-bit multiply-adds, each weight
** split in two 16-bit halves.  Integer sums are exact in any order, so both
** loops give the same bytes (tests/test_clip_resample.c compares them).
*/
#include "clip_resample.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define RESAMPLE_AVX2 1
#include <immintrin.h>
#endif

#include "cpu_clones.h"
#include "curate.h"

/* 32-bit sums: 8 bits of sample, 2 of headroom for the negative lobes. */
#define PRECISION_BITS 22
/* The AVX2 loop's split of a weight: |k| stays below 1.2 x 2^22 (a
** pixel's normalised weights, the largest about 1.125), so hi is within 12
** bits and lo within 11. */
#define WEIGHT_LO_BITS 11

/* Output pixels [first, first + n) of an axis: pixel i reads the input
** pixels [lo[i], lo[i] + taps[i]) with the weights k[i * ksize + t].
** ksize is even and the weights past taps[i] are 0; the vector loop's
** own copy of them is padded with zeros to whole steps of four. */
typedef struct axis {
  int ksize;
  int *lo, *taps;
  int32_t *k;
} axis;

static double cubic(double x) {
  const double a = -0.5;
  x = fabs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

static void axis_free(axis *ax) {
  cur_free(ax->lo);
  cur_free(ax->taps);
  cur_free(ax->k);
}

static int axis_make(int in, int out, int first, int n, axis *ax) {
  double scale = (double)in / out, filterscale = scale < 1 ? 1 : scale;
  double support = 2 * filterscale, ss = 1.0 / filterscale;
  ax->ksize = (int)ceil(support) * 2 + 2;
  ax->lo = cur_mallocarray((size_t)n, sizeof *ax->lo);
  ax->taps = cur_mallocarray((size_t)n, sizeof *ax->taps);
  ax->k = cur_calloc((size_t)n * (size_t)ax->ksize, sizeof *ax->k);
  double *w = cur_mallocarray((size_t)ax->ksize, sizeof *w);
  if (!ax->lo || !ax->taps || !ax->k || !w) {
    cur_free(w);
    axis_free(ax);
    return CUR_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    double centre = (first + i + 0.5) * scale, sum = 0;
    int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    int taps = hi - lo;
    for (int t = 0; t < taps; t++) sum += w[t] = cubic((t + lo - centre + 0.5) * ss);
    int32_t *k = ax->k + (size_t)i * (size_t)ax->ksize;
    for (int t = 0; t < taps; t++) {
      double v = (sum != 0 ? w[t] / sum : w[t]) * (1 << PRECISION_BITS);
      k[t] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
    }
    ax->lo[i] = lo;
    ax->taps[i] = taps;
  }
  cur_free(w);
  return CUR_OK;
}

static unsigned char clip8(int32_t sum) {
  int32_t v = sum >> PRECISION_BITS;
  return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One row: S output pixels of BANDS samples from the input row IN.  Inlined
** with a constant BANDS (below), so that the sums of a pixel's samples are
** independent registers rather than a loop. */
static inline void horizontal(const axis *ax, const unsigned char *in, const int bands, int s,
                              unsigned char *out) {
  for (int i = 0; i < s; i++) {
    const int32_t *k = ax->k + (size_t)i * (size_t)ax->ksize;
    const unsigned char *p = in + (size_t)ax->lo[i] * (size_t)bands;
    int32_t sum[4] = {0};
    for (int t = 0; t < ax->taps[i]; t++)
      for (int c = 0; c < bands; c++) sum[c] += p[t * bands + c] * k[t];
    for (int c = 0; c < bands; c++) out[i * bands + c] = clip8(sum[c] + (1 << (PRECISION_BITS - 1)));
  }
}

static void horizontal_rows(const axis *ax, const unsigned char *src, int w, int bands, int y0,
                            int y1, int s, unsigned char *tmp) {
  size_t in_stride = (size_t)w * (size_t)bands, out_stride = (size_t)s * (size_t)bands;
  for (int y = y0; y < y1; y++) {
    const unsigned char *in = src + (size_t)y * in_stride;
    unsigned char *out = tmp + (size_t)(y - y0) * out_stride;
    switch (bands) {
    case 1: horizontal(ax, in, 1, s, out); break;
    case 2: horizontal(ax, in, 2, s, out); break;
    case 3: horizontal(ax, in, 3, s, out); break;
    default: horizontal(ax, in, 4, s, out); break;
    }
  }
}

#ifdef RESAMPLE_AVX2
/* Row IN of BANDS samples a pixel into WIDE, four bytes a pixel (the
** missing bands left as they are: 0). */
static inline void widen(const unsigned char *in, int w, const int bands, unsigned char *wide) {
  for (int x = 0; x < w; x++)
    for (int c = 0; c < bands; c++) wide[x * 4 + c] = in[x * bands + c];
}

/* Taps a step of the AVX2 loop: four, as two pairs (below). */
#define STEP_TAPS 4

/* One row's S output pixels from its widened pixels WIDE (below), BANDS
** of each written to OUT.  Inlined with a constant BANDS, as horizontal(). */
__attribute__((target("avx2"))) static inline void row_avx2(const axis *ax, const int16_t *kx,
                                                            int steps, const unsigned char *wide,
                                                            const int bands, int s,
                                                            unsigned char *out) {
  const __m128i half = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
  /* four pixels' bytes -> the pairs (0, 1) and (2, 3) band by band */
  const __m128i pairs = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  const __m256i *k = (const __m256i *)(const void *)kx;
  for (int i = 0; i < s; i++, k += 2 * steps) {
    const unsigned char *p = wide + (size_t)ax->lo[i] * 4;
    __m256i hi = _mm256_setzero_si256(), lo = _mm256_setzero_si256();
    const __m256i *kk = k, *end = k + 2 * ((ax->taps[i] + STEP_TAPS - 1) / STEP_TAPS);
    for (; kk < end; kk += 2, p += 4 * STEP_TAPS) {
      __m128i four = _mm_loadu_si128((const __m128i *)(const void *)p);
      __m256i px = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(four, pairs));
      hi = _mm256_add_epi32(hi, _mm256_madd_epi16(px, _mm256_loadu_si256(kk)));
      lo = _mm256_add_epi32(lo, _mm256_madd_epi16(px, _mm256_loadu_si256(kk + 1)));
    }
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
    __m128i l = _mm_add_epi32(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
    __m128i v = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h, WEIGHT_LO_BITS), l), half);
    /* clip8 on four lanes: the shifted sums fit 16 bits, then saturate to 8 */
    v = _mm_srai_epi32(v, PRECISION_BITS);
    v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);
    uint32_t px4 = (uint32_t)_mm_cvtsi128_si32(v);
    memcpy(out + (size_t)i * (size_t)bands, &px4, (size_t)bands);
  }
}

/* The same rows with AVX2, in 16-bit multiplies (pmaddwd: half the work
** of the 32-bit ones per tap).  A weight k is split as
** hi * 2^WEIGHT_LO_BITS + lo with 0 <= lo < 2^WEIGHT_LO_BITS, both within
** 16 bits, and the two sums are joined at the end: exact, as integers are.
** Each input row is first widened to four bytes a pixel, with three pixels
** of zeros past its end (WIDE, w + 3 pixels: a step reads four pixels from
** its first tap).  A step loads four pixels, pairs them band by band as
** 16-bit lanes (taps t, t + 1 in the low half, t + 2, t + 3 in the high)
** and multiply-adds them with KX: per step, the hi then the lo weights of
** those taps, each pair repeated for the four bands. */
__attribute__((target("avx2"))) static void horizontal_rows_avx2(const axis *ax, const int16_t *kx,
                                                                 int steps, const unsigned char *src,
                                                                 int w, int bands, int y0, int y1,
                                                                 int s, unsigned char *tmp,
                                                                 unsigned char *wide) {
  size_t in_stride = (size_t)w * (size_t)bands, out_stride = (size_t)s * (size_t)bands;
  memset(wide, 0, ((size_t)w + 3) * 4);
  for (int y = y0; y < y1; y++) {
    const unsigned char *in = src + (size_t)y * in_stride;
    unsigned char *out = tmp + (size_t)(y - y0) * out_stride;
    switch (bands) {
    case 1: widen(in, w, 1, wide), row_avx2(ax, kx, steps, wide, 1, s, out); break;
    case 2: widen(in, w, 2, wide), row_avx2(ax, kx, steps, wide, 2, s, out); break;
    case 3: widen(in, w, 3, wide), row_avx2(ax, kx, steps, wide, 3, s, out); break;
    default: widen(in, w, 4, wide), row_avx2(ax, kx, steps, wide, 4, s, out); break;
    }
  }
}

/* The horizontal pass with AVX2: KX and WIDE (above) made, then the rows. */
static int horizontal_avx2(const axis *ax, const unsigned char *src, int w, int bands, int y0,
                           int y1, int s, unsigned char *tmp) {
  int steps = (ax->ksize + STEP_TAPS - 1) / STEP_TAPS;
  /* per output pixel and step: 16 hi then 16 lo weights */
  int16_t *kx = cur_calloc((size_t)s * (size_t)steps, 32 * sizeof *kx);
  unsigned char *wide = cur_mallocarray((size_t)w + 3, 4);
  if (!kx || !wide) {
    cur_free(kx);
    cur_free(wide);
    return CUR_ENOMEM;
  }
  for (size_t i = 0; i < (size_t)s; i++)
    for (int t = 0; t < ax->ksize; t++) {
      int32_t k = ax->k[i * (size_t)ax->ksize + (size_t)t];
      int32_t lo = k & ((1 << WEIGHT_LO_BITS) - 1), hi = (k - lo) / (1 << WEIGHT_LO_BITS); /* exact */
      int16_t *at = kx + (i * (size_t)steps + (size_t)(t / STEP_TAPS)) * 32 + t % 4 / 2 * 8 + t % 2;
      for (int c = 0; c < 4; c++) {
        at[2 * c] = (int16_t)hi;
        at[16 + 2 * c] = (int16_t)lo;
      }
    }
  horizontal_rows_avx2(ax, kx, steps, src, w, bands, y0, y1, s, tmp, wide);
  cur_free(kx);
  cur_free(wide);
  return CUR_OK;
}
#endif

/* Output row J of the window from the horizontal pass's rows: one sum per
** sample, each tap a whole row (contiguous, so it vectorises). */
CLONES static void vertical_row(const axis *ax, int j, const unsigned char *tmp, int y0,
                                size_t stride, int32_t *sum, unsigned char *out) {
  const int32_t *k = ax->k + (size_t)j * (size_t)ax->ksize;
  for (size_t i = 0; i < stride; i++) sum[i] = 1 << (PRECISION_BITS - 1);
  for (int t = 0; t < ax->taps[j]; t++) {
    const unsigned char *row = tmp + (size_t)(ax->lo[j] + t - y0) * stride;
    int32_t kt = k[t];
    for (size_t i = 0; i < stride; i++) sum[i] += row[i] * kt;
  }
  for (size_t i = 0; i < stride; i++) out[i] = clip8(sum[i]);
}

int clip__resample_window_as(const unsigned char *src, int w, int h, int bands, int nw, int nh,
                             int left, int top, int s, unsigned char *dst, int vector) {
  axis hx = {0}, vy = {0};
  unsigned char *tmp = NULL;
  int32_t *sum = NULL;
  int rc = axis_make(w, nw, left, s, &hx);
  if (rc == CUR_OK) rc = axis_make(h, nh, top, s, &vy);
  if (rc != CUR_OK) goto done;
  /* the input rows the window's output rows read: [y0, y1) */
  int y0 = h, y1 = 0;
  for (int j = 0; j < s; j++) {
    if (vy.lo[j] < y0) y0 = vy.lo[j];
    if (vy.lo[j] + vy.taps[j] > y1) y1 = vy.lo[j] + vy.taps[j];
  }
  size_t stride = (size_t)s * (size_t)bands;
  tmp = cur_mallocarray((size_t)(y1 > y0 ? y1 - y0 : 1), stride);
  sum = cur_mallocarray(stride, sizeof *sum);
  if (!tmp || !sum) {
    rc = CUR_ENOMEM;
    goto done;
  }
#ifdef RESAMPLE_AVX2
  if (vector && __builtin_cpu_supports("avx2")) {
    if ((rc = horizontal_avx2(&hx, src, w, bands, y0, y1, s, tmp)) != CUR_OK) goto done;
  } else
#endif
    horizontal_rows(&hx, src, w, bands, y0, y1, s, tmp);
  for (int j = 0; j < s; j++) vertical_row(&vy, j, tmp, y0, stride, sum, dst + (size_t)j * stride);
done:
  cur_free(sum);
  cur_free(tmp);
  axis_free(&hx);
  axis_free(&vy);
  return rc;
}

int clip_resample_window(const unsigned char *src, int w, int h, int bands, int nw, int nh, int left,
                         int top, int s, unsigned char *dst) {
  return clip__resample_window_as(src, w, h, bands, nw, nh, left, top, s, dst, 1);
}
