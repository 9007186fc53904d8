/* test_half.c -- binary16 conversion (pipeline/base/half.c).
**
** half-1.*: every one of the 65,536 half values survives half -> float -> half.
** half-2.*: rounding to nearest even, overflow and underflow.
*/
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

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(every_half_value_round_trips);
  RUN(rounding_is_to_nearest_even_with_overflow_to_infinity);
  return test_finish();
}
