/* half.c -- binary16 <-> binary32 conversion, bit by bit, and F16C for arrays where the CPU has it. */
#include "half.h"

#include <string.h>

float cur_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: renormalise */
    int e = -1;
    do { man <<= 1; e++; } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

uint16_t cur_half_from_float(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  uint32_t sign = (bits >> 16) & 0x8000, exp = (bits >> 23) & 0xff, man = bits & 0x7fffff;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));  /* inf, NaN */
  int e = (int)exp - 127 + 15;
  if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);                        /* overflow */
  if (e <= 0) {                                                           /* subnormal or 0 */
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000;
    int shift = 14 - e;
    uint32_t half = man >> shift, rest = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = (uint32_t)e << 10 | man >> 13, rest = man & 0x1fff;
  /* round to nearest even; a carry into the exponent is still correct */
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
  return (uint16_t)(sign | half);
}

void cur_half_encode(const float *x, size_t n, unsigned char *out) {
  for (size_t i = 0; i < n; i++) {
    uint16_t h = cur_half_from_float(x[i]);
    out[2 * i] = (unsigned char)h;
    out[2 * i + 1] = (unsigned char)(h >> 8);
  }
}

void cur_half_decode(const unsigned char *in, size_t n, float *x) {
  for (size_t i = 0; i < n; i++) x[i] = cur_half_to_float((uint16_t)(in[2 * i] | in[2 * i + 1] << 8));
}

void cur_half_unpack(const unsigned char *in, size_t n, uint16_t *out) {
  for (size_t i = 0; i < n; i++) out[i] = (uint16_t)(in[2 * i] | in[2 * i + 1] << 8);
}

static void to_floats_portable(const uint16_t *in, size_t n, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = cur_half_to_float(in[i]);
}

static void scaled_portable(const uint16_t *in, size_t n, const float *shift, const float *scale,
                            float *out) {
  for (size_t i = 0; i < n; i++) out[i] = (cur_half_to_float(in[i]) - shift[i]) * scale[i];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>

/* vcvtph2ps converts 8 values per instruction, exactly (a normal or
** subnormal half is a float with room to spare); a signalling NaN comes out
** quiet, which no stored embedding holds.  The subtraction and the
** multiplication stay two roundings (no FMA in these targets), as in the
** portable loop. */
__attribute__((target("f16c,avx"))) static void to_floats_f16c(const uint16_t *in, size_t n,
                                                              float *out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
  to_floats_portable(in + i, n - i, out + i);
}

__attribute__((target("f16c,avx"))) static void scaled_f16c(const uint16_t *in, size_t n,
                                                           const float *shift, const float *scale,
                                                           float *out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i)));
    x = _mm256_mul_ps(_mm256_sub_ps(x, _mm256_loadu_ps(shift + i)), _mm256_loadu_ps(scale + i));
    _mm256_storeu_ps(out + i, x);
  }
  scaled_portable(in + i, n - i, shift + i, scale + i, out + i);
}

/* F16C and AVX in cpuid, and the OS saving the YMM registers (XGETBV);
** asked once (clang's __builtin_cpu_supports knows no "f16c"). */
static int detect_f16c(void) {
  unsigned a, b, c, d, lo, hi;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (!(c & bit_F16C) || !(c & bit_AVX) || !(c & bit_OSXSAVE)) return 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  return (lo & 6) == 6;
}

static int have_f16c(void) {
  static atomic_int known = -1;  /* -1 until asked; every thread finds the same */
  int v = atomic_load_explicit(&known, memory_order_relaxed);
  if (v < 0) atomic_store_explicit(&known, v = detect_f16c(), memory_order_relaxed);
  return v;
}

void cur_half_to_floats(const uint16_t *in, size_t n, float *out) {
  if (have_f16c()) to_floats_f16c(in, n, out);
  else to_floats_portable(in, n, out);
}

void cur_half_to_floats_scaled(const uint16_t *in, size_t n, const float *shift,
                               const float *scale, float *out) {
  if (have_f16c()) scaled_f16c(in, n, shift, scale, out);
  else scaled_portable(in, n, shift, scale, out);
}
#else
void cur_half_to_floats(const uint16_t *in, size_t n, float *out) { to_floats_portable(in, n, out); }

void cur_half_to_floats_scaled(const uint16_t *in, size_t n, const float *shift,
                               const float *scale, float *out) {
  scaled_portable(in, n, shift, scale, out);
}
#endif
