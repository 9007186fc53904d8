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
**      bytes on every machine and compiler, with or without the SSE2 and
**      AVX2 paths (blend_sse2, blend4_avx2 and blend4_grey_avx2 compute
**      exactly blend's numbers).
**   3. The AVX2 path is compiled for any x86-64 (target attribute) and
**      taken only when the running CPU has AVX2, so the build still runs
**      on every x86-64.
*/
#include "augment_warp.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>  /* every x86-64 CPU has SSE2 */
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define WARP_AVX2 1
#include <immintrin.h>
#endif

#define FRAC_BITS 32                      /* fraction bits of the coordinates */
#define WEIGHT_BITS 7                     /* bits of each bilinear weight: 1/128 pixel */
#define WEIGHT_ONE (1 << WEIGHT_BITS)
#define ROUND_HALF (1 << (2 * WEIGHT_BITS - 1))
#define MAX_BANDS 4

/* the AVX2 path takes the integer part and the weights from the dwords */
_Static_assert(FRAC_BITS == 32, "warp_row_avx2 splits coordinates at bit 32");

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

/* The samples of input pixel (x, y), which may lie outside: then the
** clamped edge pixel or the fill colour (invariant 1). */
static inline const unsigned char *pixel_at(const warp *w, int64_t x, int64_t y) {
  if (x < 0 || y < 0 || x >= w->width || y >= w->height) {
    if (w->mode != CUR_AUGMENT_FILL_EDGE) return w->fill;
    x = x < 0 ? 0 : x >= w->width ? w->width - 1 : x;
    y = y < 0 ? 0 : y >= w->height ? w->height - 1 : y;
  }
  return w->in + ((size_t)y * (size_t)w->width + (size_t)x) * (size_t)w->bands;
}

/* The output pixel that samples the input at the fixed-point point
** (fx, fy).  BANDS is a constant at each call site (see cur_augment_warp),
** so the compiler unrolls the band loops of the common interior case. */
static inline void warp_pixel(const warp *w, int bands, int64_t fx, int64_t fy,
                              unsigned char *out) {
  const size_t stride = (size_t)w->width * (size_t)bands;
  int64_t x = fx >> FRAC_BITS, y = fy >> FRAC_BITS;  /* floor: arithmetic shift */
  int wx = (int)((fx >> (FRAC_BITS - WEIGHT_BITS)) & (WEIGHT_ONE - 1));
  int wy = (int)((fy >> (FRAC_BITS - WEIGHT_BITS)) & (WEIGHT_ONE - 1));
  if ((uint64_t)x < (uint64_t)(w->width - 1) && (uint64_t)y < (uint64_t)(w->height - 1)) {
    const unsigned char *p = w->in + (size_t)y * stride + (size_t)x * (size_t)bands;
#ifdef __SSE2__
    if (bands >= 3 && w->in_end - (p + stride) >= 8) {
      blend_sse2(p, stride, bands, wx, wy, out);
      return;
    }
#endif
    for (int k = 0; k < bands; k++)
      out[k] = blend(p[k], p[k + bands], p[k + stride], p[k + stride + bands], wx, wy);
  } else if (w->mode != CUR_AUGMENT_FILL_EDGE &&
             (x < -1 || y < -1 || x >= w->width || y >= w->height)) {
    memcpy(out, w->fill, (size_t)bands);  /* all four are the fill: blend gives it back */
  } else {
    const unsigned char *a = pixel_at(w, x, y), *b = pixel_at(w, x + 1, y);
    const unsigned char *c = pixel_at(w, x, y + 1), *d = pixel_at(w, x + 1, y + 1);
    for (int k = 0; k < bands; k++) out[k] = blend(a[k], b[k], c[k], d[k], wx, wy);
  }
}

/* One output row, pixel by pixel. */
static inline void warp_row(const warp *w, int bands, int64_t fx, int64_t fy, int64_t sx,
                            int64_t sy, unsigned char *out) {
  for (int i = 0; i < w->width; i++, fx += sx, fy += sy, out += bands)
    warp_pixel(w, bands, fx, fy, out);
}

#ifdef WARP_AVX2
/* blend() for two pixels of 3 or 4 bands, one per 128-bit lane: TOP and
** BOTTOM hold 16 bytes from the start of each pixel's window rows, WX and
** WY its weights in every dword of its lane.  Returns each pixel's bands in
** the dwords of its lane (a fourth dword of garbage for 3 bands).  The
** arithmetic is blend_sse2's. */
__attribute__((target("avx2"))) static inline __m256i blend2_avx2(__m256i top, __m256i bottom,
                                                                  __m256i wx, __m256i wy,
                                                                  int bands) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(WEIGHT_ONE);
  __m256i wy16 = _mm256_or_si256(wy, _mm256_slli_epi32(wy, 16));  /* wy in both words */
  __m256i wyi = _mm256_sub_epi32(one, wy);
  __m256i wyi16 = _mm256_or_si256(wyi, _mm256_slli_epi32(wyi, 16));
  __m256i wxp = _mm256_or_si256(_mm256_sub_epi32(one, wx), _mm256_slli_epi32(wx, 16));
  __m256i col = _mm256_add_epi16(_mm256_mullo_epi16(_mm256_unpacklo_epi8(top, zero), wyi16),
                                 _mm256_mullo_epi16(_mm256_unpacklo_epi8(bottom, zero), wy16));
  __m256i right = bands == 3 ? _mm256_srli_si256(col, 6) : _mm256_srli_si256(col, 8);
  __m256i pairs = _mm256_unpacklo_epi16(col, right);  /* l0 r0 l1 r1 l2 r2 ... */
  __m256i sum = _mm256_add_epi32(_mm256_madd_epi16(pairs, wxp), _mm256_set1_epi32(ROUND_HALF));
  return _mm256_srli_epi32(sum, 2 * WEIGHT_BITS);
}

/* 16 bytes at in + a (low lane) and in + b (high lane).  Plain loads, not
** gathers: the microcode against Gather Data Sampling (Intel, 2023) made
** gathers slower than the whole scalar blend on this project's machines. */
__attribute__((target("avx2"))) static inline __m256i load_pair(const unsigned char *in, int64_t a,
                                                                int64_t b) {
  __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(in + a));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo),
                                 _mm_loadu_si128((const __m128i *)(const void *)(in + b)), 1);
}

/* blend() for four output pixels whose windows start at byte offsets OFF
** of the input; FX and FY hold their coordinates (one per 64-bit lane),
** whose low dwords' top WEIGHT_BITS bits are the weights.  Pixels 0 and 2
** share a register, one per 128-bit lane, as do 1 and 3, as the
** coordinates lie in the lanes, so each lane's weights are one in-lane
** broadcast. */
__attribute__((target("avx2"))) static inline void blend4_avx2(const warp *w, int bands,
                                                               size_t stride, const int64_t off[4],
                                                               __m256i fx, __m256i fy,
                                                               unsigned char *out) {
  const unsigned char *in = w->in;
  const int shift = FRAC_BITS - WEIGHT_BITS;
  __m256i a = blend2_avx2(load_pair(in, off[0], off[2]),
                          load_pair(in + stride, off[0], off[2]),
                          _mm256_srli_epi32(_mm256_shuffle_epi32(fx, 0x00), shift),
                          _mm256_srli_epi32(_mm256_shuffle_epi32(fy, 0x00), shift), bands);
  __m256i b = blend2_avx2(load_pair(in, off[1], off[3]),
                          load_pair(in + stride, off[1], off[3]),
                          _mm256_srli_epi32(_mm256_shuffle_epi32(fx, 0xAA), shift),
                          _mm256_srli_epi32(_mm256_shuffle_epi32(fy, 0xAA), shift), bands);
  /* per lane: the bytes of pixels 0, 1 (low lane) and 2, 3 (high lane) */
  __m256i v = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_setzero_si256());
  __m128i bytes = _mm256_castsi256_si128(_mm256_permute4x64_epi64(v, 0x08));
  if (bands == 4) {
    _mm_storeu_si128((__m128i *)(void *)out, bytes);
    return;
  }
  bytes = _mm_shuffle_epi8(bytes, _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
  _mm_storel_epi64((__m128i *)(void *)out, bytes);
  uint32_t word = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(bytes, 8));
  memcpy(out + 8, &word, 4);
}

/* blend() for four one-band output pixels whose windows start at byte
** offsets OFF of the input, their coordinates in FX, FY (one per 64-bit
** lane).  Each lane holds one pixel's window t0 t1 b0 b1 and works
** across first (pmaddubsw needs weights below 128, so the W - wx weight is
** applied as 127 - wx plus the sample itself), then down: the integers of
** blend(), which goes down first, since nothing is rounded in between. */
__attribute__((target("avx2"))) static inline void blend4_grey_avx2(const warp *w, size_t stride,
                                                                    const int64_t off[4],
                                                                    __m256i fx, __m256i fy,
                                                                    unsigned char *out) {
  int win[4];
  for (int k = 0; k < 4; k++) {
    uint16_t top, bottom;
    memcpy(&top, w->in + off[k], 2);
    memcpy(&bottom, w->in + off[k] + stride, 2);
    win[k] = (int)((uint32_t)top | (uint32_t)bottom << 16);
  }
  /* registers, not memory: a 32-byte load of four 8-byte stores would
  ** wait for them (no store forwarding) */
  __m128i lo = _mm_insert_epi32(_mm_cvtsi32_si128(win[0]), win[1], 2);
  __m128i hi = _mm_insert_epi32(_mm_cvtsi32_si128(win[2]), win[3], 2);
  __m256i px = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
  /* per lane: dword 0 = wx, dword 1 = wy */
  __m256i wts = _mm256_srli_epi32(_mm256_blend_epi32(fx, _mm256_slli_epi64(fy, 32), 0xAA),
                                  FRAC_BITS - WEIGHT_BITS);
  /* bytes 127 - wx, wx, 127 - wx, wx in dword 0 */
  __m256i wxb = _mm256_add_epi32(_mm256_sub_epi32(_mm256_slli_epi32(wts, 8), wts),
                                 _mm256_set1_epi32(WEIGHT_ONE - 1));
  wxb = _mm256_and_si256(_mm256_or_si256(wxb, _mm256_slli_epi32(wxb, 16)),
                         _mm256_set1_epi64x(0xFFFFFFFF));
  /* words W - wy, wy in dword 0 */
  __m256i wyw = _mm256_srli_epi64(_mm256_add_epi32(_mm256_sub_epi32(_mm256_slli_epi32(wts, 16), wts),
                                                   _mm256_set1_epi32(WEIGHT_ONE)), 32);
  __m256i across = _mm256_add_epi16(_mm256_maddubs_epi16(px, wxb),
                                    _mm256_and_si256(px, _mm256_set1_epi64x(0x00FF00FF)));
  __m256i sum = _mm256_add_epi32(_mm256_madd_epi16(across, wyw), _mm256_set1_epi64x(ROUND_HALF));
  __m256i v = _mm256_permutevar8x32_epi32(_mm256_srli_epi32(sum, 2 * WEIGHT_BITS),
                                          _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  __m128i bytes = _mm256_castsi256_si128(v);
  bytes = _mm_packus_epi16(_mm_packus_epi32(bytes, bytes), bytes);
  uint32_t word = (uint32_t)_mm_cvtsi128_si32(bytes);
  memcpy(out, &word, 4);
}

/* warp_row for 1, 3 or 4 bands, four pixels at a time, their 32.32
** coordinates in the 64-bit lanes of vx, vy.  A group with any window
** outside the input (or within 16 bytes of its end, which the loads would
** overrun) goes through warp_pixel.  Offsets are computed in the low
** dwords: the caller checks that the image has fewer than 2^31 bytes. */
__attribute__((target("avx2"))) static void warp_row_avx2(const warp *w, int bands, int64_t fx,
                                                          int64_t fy, int64_t sx, int64_t sy,
                                                          unsigned char *out) {
  const size_t stride = (size_t)w->width * (size_t)bands;
  const int64_t last = (int64_t)(w->in_end - w->in) - (int64_t)stride - 16;  /* largest offset */
  const __m256i step_x = _mm256_set1_epi64x(4 * sx), step_y = _mm256_set1_epi64x(4 * sy);
  const __m256i xmax = _mm256_set1_epi64x(w->width - 2), ymax = _mm256_set1_epi64x(w->height - 2);
  const __m256i omax = _mm256_set1_epi64x(last < 0 ? 0 : last);
  const __m256i vstride = _mm256_set1_epi64x((int64_t)stride), vbands = _mm256_set1_epi64x(bands);
  __m256i vx = _mm256_setr_epi64x(fx, fx + sx, fx + 2 * sx, fx + 3 * sx);
  __m256i vy = _mm256_setr_epi64x(fy, fy + sy, fy + 2 * sy, fy + 3 * sy);
  int64_t off[4];
  int i = 0;
  for (; i + 4 <= w->width; i += 4, fx += 4 * sx, fy += 4 * sy, out += 4 * bands) {
    /* integer parts as unsigned dwords: a negative one is huge */
    __m256i x = _mm256_srli_epi64(vx, FRAC_BITS), y = _mm256_srli_epi64(vy, FRAC_BITS);
    __m256i o = _mm256_add_epi64(_mm256_mul_epu32(y, vstride), _mm256_mul_epu32(x, vbands));
    __m256i ok = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_min_epu32(x, xmax), x),
                                  _mm256_cmpeq_epi32(_mm256_min_epu32(y, ymax), y));
    ok = _mm256_and_si256(ok, _mm256_cmpeq_epi32(_mm256_min_epu32(o, omax), o));
    if (last < 0 || _mm256_movemask_epi8(ok) != -1) {
      for (int k = 0; k < 4; k++) warp_pixel(w, bands, fx + k * sx, fy + k * sy, out + k * bands);
    } else {
      _mm256_storeu_si256((__m256i *)(void *)off, o);
      if (bands == 1) blend4_grey_avx2(w, stride, off, vx, vy, out);
      else blend4_avx2(w, bands, stride, off, vx, vy, out);
    }
    vx = _mm256_add_epi64(vx, step_x);
    vy = _mm256_add_epi64(vy, step_y);
  }
  for (; i < w->width; i++, fx += sx, fy += sy, out += bands) warp_pixel(w, bands, fx, fy, out);
}

/* Whether the AVX2 rows apply: 1, 3 or 4 bands, 32-bit offsets, a CPU with AVX2. */
static int use_avx2(int width, int height, int bands) {
  return (bands == 1 || bands == 3 || bands == 4) && (int64_t)width * height * bands < INT32_MAX &&
         __builtin_cpu_supports("avx2");
}
#endif

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
#ifdef WARP_AVX2
  int avx2 = use_avx2(width, height, bands);
#endif
  for (int j = 0; j < height; j++) {
    double dy = j - m[5];
    int64_t fx = fixed(-i00 * m[2] + i01 * dy), fy = fixed(-i10 * m[2] + i11 * dy);
    unsigned char *row = out + (size_t)j * (size_t)width * (size_t)bands;
#ifdef WARP_AVX2
    if (avx2) {
      if (bands == 1) warp_row_avx2(&w, 1, fx, fy, sx, sy, row);
      else if (bands == 3) warp_row_avx2(&w, 3, fx, fy, sx, sy, row);
      else warp_row_avx2(&w, 4, fx, fy, sx, sy, row);
      continue;
    }
#endif
    switch (bands) {
    case 1: warp_row(&w, 1, fx, fy, sx, sy, row); break;
    case 3: warp_row(&w, 3, fx, fy, sx, sy, row); break;
    case 4: warp_row(&w, 4, fx, fy, sx, sy, row); break;
    default: warp_row(&w, bands, fx, fy, sx, sy, row); break;
    }
  }
}
