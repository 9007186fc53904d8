/* test_sha256.c -- content hashes and fingerprints (pipeline/base/sha256.c).
**
** sha-1.*: FIPS 180-4 example digests; split updates equal one update.
** sha-2.*: cur_hash_unit is in [0, 1) and spreads evenly.
*/
#include "sha256.h"
#include "testlib.h"

TEST(known_digests_match_the_standard) {
  char hex[65];
  cur_sha256_buf_hex("abc", 3, hex);
  CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  cur_sha256_buf_hex("", 0, hex);
  CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  cur_sha256 h;
  cur_sha256_init(&h);
  for (const char *p = two_blocks; *p; p++) cur_sha256_update(&h, p, 1);
  cur_sha256_hex(&h, hex);
  CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(hash_unit_is_uniform_in_the_unit_interval) {
  int buckets[10] = {0};
  char key[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "group-%d", i);
    double u = cur_hash_unit("split", key);
    REQUIRE(u >= 0 && u < 1);
    buckets[(int)(u * 10)]++;
  }
  /* 1,000 expected per bucket; 5 standard deviations is about 150 */
  for (int b = 0; b < 10; b++) CHECK(buckets[b] > 850 && buckets[b] < 1150);
  CHECK(cur_hash_unit("split", "a") != cur_hash_unit("val_from_train", "a"));
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(known_digests_match_the_standard);
  RUN(hash_unit_is_uniform_in_the_unit_interval);
  return test_finish();
}
