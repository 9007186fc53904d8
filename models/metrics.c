/* metrics.c -- accuracy, per-class precision/recall/F1 and macro-F1 from a
** confusion matrix, and percentiles (definitions in metrics.h). */
#include "metrics.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

static double ratio(int64_t num, int64_t den) {
  return den > 0 ? (double)num / (double)den : 0.0;
}

void head_metrics_compute(const int64_t *confusion, int k, head_class_metrics *per_class,
                          double *accuracy, double *macro_f1) {
  int64_t total = 0, correct = 0;
  double f1_sum = 0;
  int counted = 0;     /* classes in the truth or the predictions */
  assert(k >= 0);
  for (int c = 0; c < k; c++) {
    int64_t row = 0, col = 0, tp = confusion[(size_t)c * k + c];
    for (int j = 0; j < k; j++) {
      row += confusion[(size_t)c * k + j];
      col += confusion[(size_t)j * k + c];
    }
    head_class_metrics *m = &per_class[c];
    m->support = row;
    m->precision = ratio(tp, col);
    m->recall = ratio(tp, row);
    m->f1 = m->precision + m->recall > 0
                ? 2 * m->precision * m->recall / (m->precision + m->recall) : 0.0;
    total += row;
    correct += tp;
    if (row + col > 0) {
      f1_sum += m->f1;
      counted++;
    }
  }
  *accuracy = ratio(correct, total);
  *macro_f1 = counted ? f1_sum / counted : 0.0;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

float head_percentile(float *v, int m, double p) {
  qsort(v, (size_t)m, sizeof *v, cmp_float);
  double pos = p / 100.0 * (m - 1);
  int lo = (int)floor(pos), hi = lo + 1 < m ? lo + 1 : lo;
  return (float)(v[lo] + (pos - lo) * (v[hi] - v[lo]));
}
