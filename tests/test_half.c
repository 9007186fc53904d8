/* test_half.c -- binary16 conversion (pipeline/base/half.c).
**
** half-1.*: every one of the 65,536 half values survives half -> float -> half.
** half-2.*: rounding to nearest even, overflow and underflow.
** half-3.*: arrays (F16C where the CPU has it) give the scalar conversion's
**           floats for every half value, at every offset of the tail; the
**           scaled conversion those floats standardised (sub, then mul).
*/
#include <string.h>

#include "half.h"
#include "testlib.h"

TEST(every_half_value_round_trips) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    float f = cur_half_to_float((uint16_t)h);
    uint16_t back = cur_half_from_float(f);
    int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (nan ? (back & 0x7c00) != 0x7c00 || !(back & 0x3ff) : back != h) bad++;
  }
  CHECK_INT(bad, 0);
}

TEST(rounding_is_to_nearest_even_with_overflow_to_infinity) {
  CHECK_INT(cur_half_from_float(1.0f), 0x3c00);
  CHECK_INT(cur_half_from_float(-2.0f), 0xc000);
  /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even 1 */
  CHECK_INT(cur_half_from_float(1.0f + 0x1p-11f), 0x3c00);
  CHECK_INT(cur_half_from_float(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  CHECK_INT(cur_half_from_float(65504.0f), 0x7bff);
  CHECK_INT(cur_half_from_float(1e6f), 0x7c00);
  CHECK_INT(cur_half_from_float(0x1p-24f), 0x0001);  /* smallest subnormal */
  CHECK_INT(cur_half_from_float(0x1p-26f), 0x0000);
  unsigned char buf[4];
  float in[2] = {0.5f, -0.25f}, out[2];
  cur_half_encode(in, 2, buf);
  cur_half_decode(buf, 2, out);
  CHECK(out[0] == 0.5f && out[1] == -0.25f);
  CHECK_INT(buf[0], 0x00);
  CHECK_INT(buf[1], 0x38);  /* little-endian 0x3800 */
}

TEST(array_conversion_equals_the_scalar_one_for_every_value) {
  static uint16_t h[65536];
  static unsigned char bytes[2 * 65536];
  static float f[65536];
  for (uint32_t v = 0; v < 65536; v++) {
    bytes[2 * v] = (unsigned char)v;
    bytes[2 * v + 1] = (unsigned char)(v >> 8);
  }
  cur_half_unpack(bytes, 65536, h);
  for (uint32_t v = 0; v < 65536; v++) CHECK(h[v] == v);
  /* every length from 1 to 17 at odd offsets: the 8-wide loop and its tail */
  int bad = 0;
  for (size_t len = 1; len <= 17; len++)
    for (size_t at = 0; at + len <= 65536; at += 4093) {
      cur_half_to_floats(h + at, len, f + at);
      for (size_t i = at; i < at + len; i++) {
        float want = cur_half_to_float(h[i]);
        int nan = (h[i] & 0x7c00) == 0x7c00 && (h[i] & 0x3ff);
        bad += nan ? f[i] == f[i] : memcmp(&f[i], &want, sizeof want) != 0;
      }
    }
  cur_half_to_floats(h, 65536, f);
  for (uint32_t v = 0; v < 65536; v++) {
    float want = cur_half_to_float((uint16_t)v);
    int nan = (v & 0x7c00) == 0x7c00 && (v & 0x3ff);
    bad += nan ? f[v] == f[v] : memcmp(&f[v], &want, sizeof want) != 0;
  }
  CHECK_INT(bad, 0);
  CHECK(f[0x3c00] == 1.0f && f[0xc000] == -2.0f && f[0x0001] == 0x1p-24f);
}

TEST(scaled_conversion_equals_converting_then_standardising) {
  enum { N = 4099 };  /* not a multiple of 8: the tail too */
  static uint16_t h[N];
  static float shift[N], scale[N], f[N];
  for (int i = 0; i < N; i++) {
    h[i] = (uint16_t)((i * 40503u) & 0x7bff);  /* finite values of both signs, spread out */
    if (i & 1) h[i] |= 0x8000;
    shift[i] = (float)(i % 17) * 0.37f - 3.0f;
    scale[i] = 1.0f / (0.3f + (float)(i % 11));
  }
  int bad = 0;
  for (size_t len = 1; len <= 17; len++) {
    cur_half_to_floats_scaled(h + 5, len, shift + 5, scale + 5, f + 5);
    for (size_t i = 5; i < 5 + len; i++) {
      float x = cur_half_to_float(h[i]);
      float want = (x - shift[i]) * scale[i];  /* two float roundings, as feat_scaler_apply */
      bad += memcmp(&f[i], &want, sizeof want) != 0;
    }
  }
  cur_half_to_floats_scaled(h, N, shift, scale, f);
  for (int i = 0; i < N; i++) {
    float x = cur_half_to_float(h[i]);
    float want = (x - shift[i]) * scale[i];
    bad += memcmp(&f[i], &want, sizeof want) != 0;
  }
  CHECK_INT(bad, 0);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(every_half_value_round_trips);
  RUN(rounding_is_to_nearest_even_with_overflow_to_infinity);
  RUN(array_conversion_equals_the_scalar_one_for_every_value);
  RUN(scaled_conversion_equals_converting_then_standardising);
  return test_finish();
}
