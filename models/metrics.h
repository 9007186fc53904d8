/* metrics.h -- classification metrics from a confusion matrix, and percentiles.
**
** The matrix is k x k, row-major, rows the true class and columns the
** predicted one.  For class c with TP = C[c][c], FP = column sum - TP,
** FN = row sum - TP:
**   precision = TP / (TP + FP), recall = TP / (TP + FN),
**   F1 = 2 P R / (P + R), each 0 when its denominator is 0;
**   accuracy = trace / total (0 for an empty matrix);
**   macro-F1 = mean F1 over the classes that occur in the truth or the
**   predictions (a class that does neither says nothing about the model).
*/
#ifndef CURATE_METRICS_H
#define CURATE_METRICS_H

#include <stdint.h>

typedef struct head_class_metrics {
  double precision, recall, f1;
  int64_t support;              /* rows of the class in the truth */
} head_class_metrics;

/* Fills per_class[k] and the two summaries from CONFUSION (k x k). */
void head_metrics_compute(const int64_t *confusion, int k, head_class_metrics *per_class,
                          double *accuracy, double *macro_f1);

/* The P-th percentile (0..100) of V[m] (m >= 1), linearly interpolated
** between order statistics as numpy.percentile does; sorts V. */
float head_percentile(float *v, int m, double p);

#endif
