/* half.c -- binary16 <-> binary32 conversion, bit by bit, without F16C. */
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
