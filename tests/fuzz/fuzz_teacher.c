/* fuzz_teacher.c -- teacher-file bytes through cur_teacherfile_load, read as CSV and as JSONL.
**
** Three classes (cat, dog, bird).  A row the loader accepts must come back
** from a lookup as three probabilities in [0, 1] summing to 1: the
** loader's promise after renormalising.
*/
#include "fuzz_targets.h"

#include <math.h>
#include <stdlib.h>

#include "curate.h"
#include "teacherfile.h"

/* Paths the seeds use, so that lookups hit rows. */
static const char *const probe_paths[] = {"a.jpg", "b.jpg", "cat/1.png", ""};

static int load_and_check(const char *path) {
  char *classes[3] = {"cat", "dog", "bird"};
  cur_teacherfile *tf = NULL;
  int rc = cur_teacherfile_load(path, classes, 3, fuzz_report_ignore, NULL, &tf);
  if (rc != CUR_OK) return rc;
  for (size_t i = 0; i < sizeof probe_paths / sizeof probe_paths[0]; i++) {
    const float *p = cur_teacherfile_find(tf, probe_paths[i], probe_paths[i]);
    if (!p) continue;
    double sum = 0;
    for (int c = 0; c < 3; c++) {
      if (!(p[c] >= 0 && p[c] <= 1.0001f)) abort();
      sum += p[c];
    }
    if (fabs(sum - 1) > 1e-4) abort();
  }
  if (cur_teacherfile_used(tf) > cur_teacherfile_valid(tf)) abort();
  cur_teacherfile_free(tf);
  return CUR_OK;
}

int fuzz_teacher(const uint8_t *data, size_t size) {
  char path[4200];
  int rc = fuzz_scratch_file("teacher.csv", data, size, path, sizeof path);
  if (rc == CUR_OK) rc = load_and_check(path);
  int rc_jsonl = fuzz_scratch_file("teacher.jsonl", data, size, path, sizeof path);
  if (rc_jsonl == CUR_OK) rc_jsonl = load_and_check(path);
  return rc != CUR_OK ? rc : rc_jsonl;
}
