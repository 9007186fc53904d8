/* testlib.c -- case runner, failure reporting and fixtures for the tests. */
#include "testlib.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

test_env T;
int test_case_failed;
static int case_skipped;
long test_checks;
static int n_passed, n_failed, n_skipped;
static const char *current_case;
/* "case (reason)" of every case that skipped, for the closing summary: a
** file where some cases skip must say which and why, not pass quietly. */
static char *skip_notes;
static char case_skip_why[256];  /* the current case's first skip reason */

void test_init(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s SHARED_DIR CURATE_BIN SCRATCH_DIR\n", argv[0]);
    exit(2);
  }
  T.shared = argv[1];
  T.curate = argv[2];
  T.scratch = argv[3];
  if (test_sh("rm -rf '%s' && mkdir -p '%s'", T.scratch, T.scratch) != 0) {
    fprintf(stderr, "cannot make scratch folder %s\n", T.scratch);
    exit(2);
  }
}

void test_run(const char *name, void (*fn)(void)) {
  current_case = name;
  test_case_failed = 0;
  case_skipped = 0;
  test_checks = 0;
  cur_error_clear();
  fn();
  if (!test_case_failed && !case_skipped && test_checks == 0) {
    printf("  [%s] asserts nothing: a case must check something\n", name);
    test_case_failed = 1;
  }
  if (test_case_failed) {
    n_failed++;
    printf("FAIL %s\n", name);
  } else if (case_skipped) {
    n_skipped++;
    char *grown = cur_asprintf("%s%s%s (%s)", skip_notes ? skip_notes : "", skip_notes ? "; " : "",
                               name, case_skip_why);
    cur_free(skip_notes);
    skip_notes = grown;
  } else {
    n_passed++;
    printf("ok   %s\n", name);
  }
  fflush(stdout);
}

/* The closing lines.  With no failure and some cases skipped, the last line
** is "SKIPPED K of M cases: name (reason); ..." and tests/CMakeLists.txt marks
** the file skipped on it (SKIP_REGULAR_EXPRESSION), so a partial skip shows in
** CTest's list of tests that did not run instead of as a pass.  On a failure
** the skips are listed under another wording, and the file fails. */
int test_finish(void) {
  int total = n_passed + n_failed + n_skipped;
  printf("%d passed, %d failed, %d skipped\n", n_passed, n_failed, n_skipped);
  if (n_skipped)
    printf("%s %d of %d cases: %s\n", n_failed ? "also skipped" : "SKIPPED", n_skipped, total,
           skip_notes ? skip_notes : "(reasons lost: out of memory)");
  fflush(stdout);
  cur_free(skip_notes);
  skip_notes = NULL;
  if (n_failed) return 1;
  if (n_passed == 0 && n_skipped > 0) return 77;
  return 0;
}

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  test_checks++;
  printf("  %s:%d: [%s] ", file, line, current_case);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  test_case_failed = 1;
}

void test_skip(const char *why) {
  printf("SKIP %s: %s\n", current_case, why);
  if (!case_skipped) snprintf(case_skip_why, sizeof case_skip_why, "%s", why);
  case_skipped = 1;
}

char *test_shared_path(const char *rel) {
  char *p = cur_asprintf("%s/%s", T.shared, rel);
  if (p && access(p, R_OK) == 0) return p;
  char *why = cur_asprintf("%s not found (../shared is absent)", p ? p : rel);
  test_skip(why ? why : "shared data not found");
  cur_free(why);
  cur_free(p);
  return NULL;
}

char *test_scratch_path(const char *rel) {
  char *p = cur_asprintf("%s/%s", T.scratch, rel);
  if (!p) return NULL;
  char *slash = strrchr(p, '/');
  if (slash && slash != p) {
    *slash = 0;
    test_sh("mkdir -p '%s'", p);
    *slash = '/';
  }
  return p;
}

int test_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t n = fwrite(data, 1, len, f);
  return (fclose(f) == 0 && n == len) ? 0 : -1;
}

int test_sh(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char cmd[8192];
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  if (st == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const cJSON *test_json_get(const cJSON *obj, const char *key, const char *file, int line) {
  const cJSON *item = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  test_checks++;
  if (!item) test_fail(file, line, "JSON %s has no member \"%s\"", obj ? "object" : "(missing)", key);
  return item;
}

const cJSON *test_json_at(const cJSON *arr, int index, const char *file, int line) {
  const cJSON *item = cJSON_IsArray(arr) ? cJSON_GetArrayItem(arr, index) : NULL;
  test_checks++;
  if (!item) test_fail(file, line, "JSON %s has no item %d", arr ? "array" : "(missing)", index);
  return item;
}

double test_json_num(const cJSON *item, const char *what, const char *file, int line) {
  test_checks++;
  if (cJSON_IsNumber(item)) return item->valuedouble;
  if (item) test_fail(file, line, "JSON %s is not a number", what);  /* absent: already reported */
  return NAN;
}

const char *test_json_str(const cJSON *item, const char *what, const char *file, int line) {
  test_checks++;
  if (cJSON_IsString(item)) return item->valuestring;
  if (item) test_fail(file, line, "JSON %s is not a string", what);
  return "";
}
