/* teacherfile.c -- parses and checks an external teacher's probability rows (see teacherfile.h). */
#include "teacherfile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "curate.h"

struct cur_teacherfile {
  cur_labelfile *lf;
  int k;
  float *probs;               /* rows x k; NaN in the first value: the row was rejected */
  unsigned char *used;        /* rows: a find returned it */
  size_t valid, n_used;
};

/* Parses row R into P[k]; on a problem writes it into WHY and returns 0. */
static int parse_row(const cur_labelrow *r, char *const *classes, int k, float *p, char *why,
                     size_t cap) {
  double sum = 0;
  for (int c = 0; c < k; c++) {
    char *end;
    const char *v = r->values[c];
    double x = v ? strtod(v, &end) : NAN;
    if (!v) return snprintf(why, cap, "no probability for class '%s'", classes[c]), 0;
    if (end == v || *end || !isfinite(x) || x < 0 || x > 1)
      return snprintf(why, cap, "class '%s': '%s' is not a probability in [0, 1]", classes[c], v), 0;
    p[c] = (float)x;
    sum += x;
  }
  if (fabs(sum - 1) > 0.01)
    return snprintf(why, cap, "probabilities sum to %.4g, not 1", sum), 0;
  for (int c = 0; c < k; c++) p[c] = (float)(p[c] / sum);
  return 1;
}

int cur_teacherfile_load(const char *path, char *const *classes, int k, cur_report_fn report,
                         void *ctx, cur_teacherfile **out) {
  cur_labelspec spec = {.task_names = (const char *const *)classes,
                        .task_columns = (const char *const *)classes, .n_tasks = k,
                        .numbers = 1};
  cur_teacherfile *tf = cur_calloc(1, sizeof *tf);
  int rc = tf ? cur_labelfile_load(path, &spec, report, ctx, &tf->lf) : CUR_ENOMEM;
  size_t n = rc == CUR_OK ? cur_labelfile_count(tf->lf) : 0;
  if (rc == CUR_OK) {
    tf->k = k;
    tf->probs = cur_mallocarray(n + 1, (size_t)k * sizeof *tf->probs);
    tf->used = cur_calloc(n + 1, 1);
    if (!tf->probs || !tf->used) rc = CUR_ENOMEM;
  }
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    const cur_labelrow *r = cur_labelfile_row(tf->lf, i);
    float *p = tf->probs + i * (size_t)k;
    char why[256], msg[512];
    if (parse_row(r, classes, k, p, why, sizeof why)) {
      tf->valid++;
      continue;
    }
    p[0] = NAN;
    snprintf(msg, sizeof msg, "%s:%d: %s; row skipped", path, r->line, why);
    report(ctx, msg);
  }
  if (rc) {
    cur_teacherfile_free(tf);
    return rc;
  }
  *out = tf;
  return CUR_OK;
}

void cur_teacherfile_free(cur_teacherfile *tf) {
  if (!tf) return;
  cur_labelfile_free(tf->lf);
  cur_free(tf->probs);
  cur_free(tf->used);
  cur_free(tf);
}

const float *cur_teacherfile_find(cur_teacherfile *tf, const char *path, const char *sha256) {
  const cur_labelrow *r = cur_labelfile_find(tf->lf, path);
  if (!r) r = cur_labelfile_find(tf->lf, sha256);
  if (!r) return NULL;
  size_t i = (size_t)(r - cur_labelfile_row(tf->lf, 0));
  const float *p = tf->probs + i * (size_t)tf->k;
  if (isnan(p[0])) return NULL;
  tf->n_used += !tf->used[i];
  tf->used[i] = 1;
  return p;
}

size_t cur_teacherfile_valid(const cur_teacherfile *tf) { return tf->valid; }
size_t cur_teacherfile_used(const cur_teacherfile *tf) { return tf->n_used; }
