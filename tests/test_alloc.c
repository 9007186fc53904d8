/* test_alloc.c -- checked allocation and error messages (pipeline/base/curate.c).
**
** alloc-1.*: overflow detection in array allocation.
** alloc-2.*: error message formatting.
*/
#include "testlib.h"
#include <stdint.h>

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

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(array_allocation_that_overflows_fails_with_message);
  RUN(asprintf_formats_and_errorf_returns_err);
  return test_finish();
}
