/* test_safetensors.c -- models/safetensors.c: validated mmap of safetensors files.
**
** st-1.*: well-formed files read back (dtypes, shapes, conversion to float).
** st-2.*: malformed or hostile headers are refused with a message naming the
**         problem, never a crash (each file is built in the scratch folder).
** st-3.*: the real tiny checkpoints in ../shared/clip open.
*/
#include "testlib.h"

#include <stdlib.h>

#include "safetensors.h"

/* Writes the 8-byte header length (or hlen_override when >= 0), the header,
** then data_len bytes of data. */
static char *write_st(const char *name, const char *header, long hlen_override,
                      const void *data, size_t data_len) {
  char *path = test_scratch_path(name);
  size_t hl = strlen(header);
  size_t total = 8 + hl + data_len;
  unsigned char *buf = cur_malloc(total);
  uint64_t hlen = hlen_override >= 0 ? (uint64_t)hlen_override : hl;
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(buf + 8, header, hl);
  if (data_len) memcpy(buf + 8 + hl, data, data_len);
  test_write_file(path, buf, total);
  cur_free(buf);
  return path;
}

/* Opens a file that must fail; the message must contain `needle`. */
static void expect_refused(const char *name, const char *header, long hlen_override,
                           size_t data_len, const char *needle) {
  unsigned char data[64] = {0};
  char *path = write_st(name, header, hlen_override, data, data_len);
  cur_st_file *f = NULL;
  int rc = cur_st_open(path, &f);
  CHECK(rc != CUR_OK);
  CHECK(f == NULL);
  if (!strstr(cur_error(), needle))
    test_fail(__FILE__, __LINE__, "%s: message \"%s\" lacks \"%s\"", name, cur_error(), needle);
  cur_free(path);
}

TEST(well_formed_file_reads_back_each_dtype) {
  /* 2 F32 (8 bytes), 2 F16 (4 bytes), 1 BF16 (2 bytes), scalar I64 (8 bytes). */
  unsigned char data[22];
  float f32[2] = {1.5f, -2.0f};
  uint16_t f16[2] = {0x3c00, 0x0001}; /* 1.0 and the smallest subnormal 2^-24 */
  uint16_t bf16 = 0xc040;             /* -3.0 */
  int64_t i64 = 7;
  memcpy(data, f32, 8);
  memcpy(data + 8, f16, 4);
  memcpy(data + 12, &bf16, 2);
  memcpy(data + 14, &i64, 8);
  char *path = write_st("ok.safetensors",
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[8,12]},"
      "\"c\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[12,14]},"
      "\"d\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[14,22]}}",
      -1, data, sizeof data);
  cur_st_file *f = NULL;
  REQUIRE_OK(cur_st_open(path, &f));
  CHECK_INT(cur_st_count(f), 4);
  const cur_st_tensor *b = cur_st_find(f, "b");
  REQUIRE(b != NULL);
  CHECK_INT(b->ndim, 2);
  CHECK_INT(b->shape[1], 2);
  float out[2];
  CHECK_OK(cur_st_to_f32(cur_st_find(f, "a"), out));
  CHECK_NEAR(out[1], -2.0, 0);
  CHECK_OK(cur_st_to_f32(b, out));
  CHECK_NEAR(out[0], 1.0, 0);
  CHECK_NEAR(out[1], ldexp(1.0, -24), 0);
  CHECK_OK(cur_st_to_f32(cur_st_find(f, "c"), out));
  CHECK_NEAR(out[0], -3.0, 0);
  const cur_st_tensor *d = cur_st_find(f, "d");
  REQUIRE(d != NULL);
  CHECK_INT(d->ndim, 0);
  CHECK_INT(d->numel, 1);
  CHECK(cur_st_to_f32(d, out) == CUR_EINPUT);
  CHECK(cur_st_find(f, "missing") == NULL);
  cur_st_close(f);
  cur_st_close(NULL);
  cur_free(path);
}

TEST(truncated_header_is_refused) {
  expect_refused("short.safetensors", "", 0, 0, "header is not a JSON object");
  char *path = test_scratch_path("tiny.safetensors");
  test_write_file(path, "\x10\0\0", 3);
  cur_st_file *f = NULL;
  CHECK(cur_st_open(path, &f) == CUR_EINPUT);
  CHECK(strstr(cur_error(), "too short") != NULL);
  cur_free(path);
}

TEST(header_length_beyond_file_is_refused) {
  expect_refused("hlen.safetensors", "{}", 1000, 0, "runs past the end");
  expect_refused("hlen_huge.safetensors", "{}", 0x7fffffffffffffffL, 0, "runs past the end");
}

TEST(offsets_outside_data_are_refused) {
  expect_refused("outside.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", -1, 8,
                 "outside the 8-byte data section");
  expect_refused("reversed.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", -1, 8,
                 "outside");
  expect_refused("negative.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", -1, 8,
                 "bad data_offsets");
}

TEST(overlapping_tensors_are_refused) {
  expect_refused("overlap.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 -1, 16, "overlap");
}

TEST(size_not_matching_dtype_times_shape_is_refused) {
  expect_refused("size.safetensors",
                 "{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,8]}}", -1, 8,
                 "needs 6");
  expect_refused("overflow.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                 "\"data_offsets\":[0,8]}}", -1, 8, "overflows");
  expect_refused("fraction.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", -1, 8,
                 "bad dimension");
}

TEST(unknown_dtype_is_refused) {
  expect_refused("dtype.safetensors",
                 "{\"a\":{\"dtype\":\"F12\",\"shape\":[1],\"data_offsets\":[0,2]}}", -1, 8,
                 "unknown dtype 'F12'");
  expect_refused("nodtype.safetensors", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,2]}}", -1, 8,
                 "dtype missing");
}

TEST(non_json_header_is_refused) {
  expect_refused("garbage.safetensors", "not json at all", -1, 8, "not a JSON object");
  expect_refused("array.safetensors", "[1,2,3]", -1, 8, "not a JSON object");
  expect_refused("entry.safetensors", "{\"a\":3}", -1, 8, "entry is not an object");
}

TEST(real_tiny_checkpoints_open) {
  char *hf = test_shared_path("clip/tiny-hf/model.safetensors");
  char *oc = test_shared_path("clip/tiny-openclip/open_clip_model.safetensors");
  if (!hf || !oc) goto cleanup;
  cur_st_file *f = NULL;
  REQUIRE_OK(cur_st_open(hf, &f));
  const cur_st_tensor *t = cur_st_find(f, "text_model.embeddings.position_ids");
  CHECK(t != NULL && t->dtype == CUR_ST_I64);
  cur_st_close(f);
  REQUIRE_OK(cur_st_open(oc, &f));
  t = cur_st_find(f, "visual.proj");
  CHECK(t != NULL && t->dtype == CUR_ST_F16 && t->shape[0] == 128 && t->shape[1] == 64);
  cur_st_close(f);
cleanup:
  cur_free(hf);
  cur_free(oc);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(well_formed_file_reads_back_each_dtype);
  RUN(truncated_header_is_refused);
  RUN(header_length_beyond_file_is_refused);
  RUN(offsets_outside_data_are_refused);
  RUN(overlapping_tensors_are_refused);
  RUN(size_not_matching_dtype_times_shape_is_refused);
  RUN(unknown_dtype_is_refused);
  RUN(non_json_header_is_refused);
  RUN(real_tiny_checkpoints_open);
  return test_finish();
}
