/* testlib.h -- the small assertion and fixture kit every tests/test_*.c uses.
**
** A test file defines cases with TEST(name) and lists them in main() through
** test_run(); CHECK* record a failure and go on, REQUIRE* end the case.  The
** closing line is "N passed, N failed, N skipped", followed, when any case
** skipped, by "SKIPPED K of M cases: case (reason); ..." (CTest then lists the
** file as skipped, see tests/CMakeLists.txt).  The exit code is 0, 1 on any
** failure, or 77 (CTest's skip code) when every case skipped.  A case that
** evaluates no assertion and does not skip fails.
*/
#ifndef TESTLIB_H
#define TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"

typedef struct test_env {
  const char *shared;   /* ../shared: real data, may be absent */
  const char *curate;   /* path of the built curate command */
  const char *scratch;  /* a folder of this test's own, emptied at start */
} test_env;

extern test_env T;
extern int test_case_failed;
/* Assertions evaluated in the current case: a case that evaluates none
** fails ("asserts nothing"), so a test cannot pass by doing nothing. */
extern long test_checks;

void test_init(int argc, char **argv);
void test_run(const char *name, void (*fn)(void));
int test_finish(void);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
/* Returns a path under ../shared when it exists, else marks the case
** skipped with a message and returns NULL.  The caller frees the result. */
char *test_shared_path(const char *rel);
/* Returns scratch/<rel>, creating parent folders; the caller frees it. */
char *test_scratch_path(const char *rel);
int test_write_file(const char *path, const void *data, size_t len);
/* Runs a shell command, returns its exit status (or -1). */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checked JSON reading: each fails the case at its caller's line, naming
** the key or index, when OBJ lacks it or it has the wrong type, and then
** returns NULL, NAN or "" so the case goes on without crashing (cJSON's own
** getters return NULL, which a test would dereference). */
struct cJSON;
const struct cJSON *test_json_get(const struct cJSON *obj, const char *key, const char *file, int line);
const struct cJSON *test_json_at(const struct cJSON *arr, int index, const char *file, int line);
double test_json_num(const struct cJSON *item, const char *what, const char *file, int line);
const char *test_json_str(const struct cJSON *item, const char *what, const char *file, int line);
#define JSON_GET(obj, key) test_json_get(obj, key, __FILE__, __LINE__)
#define JSON_AT(arr, index) test_json_at(arr, index, __FILE__, __LINE__)
#define JSON_NUM(obj, key) test_json_num(JSON_GET(obj, key), key, __FILE__, __LINE__)
#define JSON_STR(obj, key) test_json_str(JSON_GET(obj, key), key, __FILE__, __LINE__)
#define JSON_AT_NUM(arr, index) test_json_num(JSON_AT(arr, index), "array item", __FILE__, __LINE__)
#define JSON_AT_STR(arr, index) test_json_str(JSON_AT(arr, index), "array item", __FILE__, __LINE__)

#define TEST(name) static void name(void)
#define RUN(name) test_run(#name, name)

#define CHECK(cond) \
  do { test_checks++; if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define REQUIRE(cond) \
  do { test_checks++; if (!(cond)) { test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond); return; } } while (0)
#define CHECK_OK(expr)                                                          \
  do { test_checks++; int rc_ = (expr); if (rc_ != CUR_OK)                                     \
    test_fail(__FILE__, __LINE__, "%s -> %d: %s", #expr, rc_, cur_error()); } while (0)
#define REQUIRE_OK(expr)                                                        \
  do { test_checks++; int rc_ = (expr); if (rc_ != CUR_OK) {                                   \
    test_fail(__FILE__, __LINE__, "%s -> %d: %s", #expr, rc_, cur_error()); return; } } while (0)
#define CHECK_INT(a, b)                                                         \
  do { test_checks++; long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_)        \
    test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_); } while (0)
#define CHECK_STR(a, b)                                                         \
  do { test_checks++; const char *a_ = (a), *b_ = (b);                                         \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                      \
      test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,        \
                a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)
/* CHECK with the failure message formatted by the caller. */
#define CHECK_MSG(cond, ...)                                                    \
  do { test_checks++; if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_NEAR(a, b, tol)                                                   \
  do { test_checks++; double a_ = (a), b_ = (b); if (!(fabs(a_ - b_) <= (tol)))                \
    test_fail(__FILE__, __LINE__, "%s == %.9g, expected %.9g +- %g", #a, a_, b_, (double)(tol)); } while (0)

#endif
