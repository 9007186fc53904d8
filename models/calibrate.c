/* calibrate.c -- temperature scaling, ECE and OOD scores (definitions in calibrate.h). */
#include "calibrate.h"

#include <math.h>
#include <stddef.h>

/* logsumexp(b z) of one row, computed from its maximum so it cannot overflow. */
static double logsumexp_scaled(const float *z, int k, double b) {
  double top = b * z[0], sum = 0;
  for (int c = 1; c < k; c++)
    if (b * z[c] > top) top = b * z[c];
  for (int c = 0; c < k; c++) sum += exp(b * z[c] - top);
  return top + log(sum);
}

double calib_nll(const float *logits, const int *y, int n, int k, double temperature) {
  double b = 1.0 / temperature, total = 0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * k;
    total += logsumexp_scaled(z, k, b) - b * z[y[i]];
  }
  return n > 0 ? total / n : 0.0;
}

/* dNLL/db at b = 1/T: the mean of E_p[z] - z_y. */
static double nll_slope(const float *logits, const int *y, int n, int k, double b) {
  double total = 0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * k;
    double lse = logsumexp_scaled(z, k, b), expect = 0;
    for (int c = 0; c < k; c++) expect += exp(b * z[c] - lse) * z[c];
    total += expect - z[y[i]];
  }
  return total;
}

double calib_fit_temperature(const float *logits, const int *y, int n, int k) {
  /* bisection on log b: the slope is nondecreasing in b */
  double lo = log(1e-3), hi = log(1e3);
  if (n <= 0 || k < 2) return 1.0;
  if (nll_slope(logits, y, n, k, exp(lo)) >= 0) return 1.0 / exp(lo);
  if (nll_slope(logits, y, n, k, exp(hi)) <= 0) return 1.0 / exp(hi);
  for (int it = 0; it < 60; it++) {
    double mid = 0.5 * (lo + hi);
    if (nll_slope(logits, y, n, k, exp(mid)) < 0) lo = mid;
    else hi = mid;
  }
  return 1.0 / exp(0.5 * (lo + hi));
}

void calib_softmax(const float *z, int k, double temperature, float *probs) {
  double b = 1.0 / temperature, lse = logsumexp_scaled(z, k, b);
  for (int c = 0; c < k; c++) probs[c] = (float)exp(b * z[c] - lse);
}

double calib_ece(const float *logits, const int *y, int n, int k, double temperature, int bins) {
  double conf_sum[64] = {0}, correct[64] = {0}, count[64] = {0}, b = 1.0 / temperature, ece = 0;
  if (bins > 64) bins = 64;
  if (n <= 0 || bins < 1) return 0.0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * k;
    int top = 0;
    for (int c = 1; c < k; c++)
      if (z[c] > z[top]) top = c;
    double conf = exp(b * z[top] - logsumexp_scaled(z, k, b));
    /* bin m holds confidences in (m/bins, (m+1)/bins] */
    int m = (int)ceil(conf * bins) - 1;
    if (m < 0) m = 0;
    if (m >= bins) m = bins - 1;
    conf_sum[m] += conf;
    correct[m] += top == y[i];
    count[m] += 1;
  }
  for (int m = 0; m < bins; m++)
    if (count[m] > 0) ece += fabs(correct[m] - conf_sum[m]) / n;
  return ece;
}

double calib_ood_score(const float *z, int k, calib_ood kind) {
  double lse = logsumexp_scaled(z, k, 1.0);
  if (kind == CALIB_OOD_ENERGY) return lse;
  float top = z[0];
  for (int c = 1; c < k; c++)
    if (z[c] > top) top = z[c];
  return exp(top - lse);
}
