/* test_alloc.c -- checked allocation and error messages (pipeline/base/curate.c).
**
** alloc-1.*: overflow detection in array allocation.
** alloc-2.*: error message formatting.
** alloc-3.*: cache-line aligned arrays.
*/
#include "testlib.h"
#include <stdint.h>
#include <stdlib.h>

TEST(array_allocation_that_overflows_fails_with_message) {
  void *p = cur_mallocarray(SIZE_MAX / 2, 4);
  CHECK(p == NULL);
  CHECK(strstr(cur_error(), "overflows") != NULL);
}

TEST(asprintf_formats_and_errorf_returns_err) {
  char *s = cur_asprintf("%s-%d", "a", 7);
  CHECK_STR(s, "a-7");
  cur_free(s);
  CHECK_INT(cur_errorf("ingest: %s: bad", "x.jpg"), CUR_ERR);
  CHECK_STR(cur_error(), "ingest: x.jpg: bad");
  CHECK_INT(cur_errorc(CUR_EINPUT, "y"), CUR_EINPUT);
}

/* Sizes glibc serves from the heap and from mmap (16 bytes past a page
** boundary, which is what the aligned allocator is for). */
TEST(aligned_array_starts_on_a_cache_line_at_every_size) {
  static const size_t sizes[] = {0, 1, 3, 100, 4096, 1u << 20, 3u << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = cur_alignedarray(sizes[i], 2);
    CHECK(p != NULL);
    CHECK_INT((int)((uintptr_t)p % 64), 0);
    if (sizes[i]) memset(p, 0xab, sizes[i] * 2); /* writable to the end (ASan checks) */
    cur_free(p);
  }
  CHECK(cur_alignedarray(SIZE_MAX / 2, 4) == NULL);
  CHECK(strstr(cur_error(), "overflows") != NULL);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(array_allocation_that_overflows_fails_with_message);
  RUN(asprintf_formats_and_errorf_returns_err);
  RUN(aligned_array_starts_on_a_cache_line_at_every_size);
  return test_finish();
}
