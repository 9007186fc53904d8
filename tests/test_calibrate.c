/* test_calibrate.c -- temperature scaling, ECE and OOD scores (models/calibrate.h).
**
** Labels drawn from softmax(z / T0) of synthetic logits make T0 the
** temperature that maximises the likelihood in expectation, so the fit must
** find it; the ECE and the scores are checked against values worked by hand.
*/
#include <math.h>

#include "calibrate.h"
#include "metrics.h"
#include "rng.h"
#include "testlib.h"

enum { N = 20000, K = 5 };

/* Logits N(0, 3^2) and labels sampled from softmax(z / t0). */
static void synthetic(double t0, uint64_t seed, float *z, int *y) {
  cur_rng r;
  float p[K];
  cur_rng_seed(&r, seed);
  for (int i = 0; i < N; i++) {
    for (int c = 0; c < K; c++) z[i * K + c] = (float)(3.0 * cur_rng_normal(&r));
    calib_softmax(z + i * K, K, t0, p);
    double u = cur_rng_uniform(&r), acc = 0;
    y[i] = K - 1;
    for (int c = 0; c < K; c++)
      if (u < (acc += p[c])) {
        y[i] = c;
        break;
      }
  }
}

TEST(fit_recovers_a_known_temperature) {
  static float z[N * K];
  static int y[N];
  const double temps[] = {0.5, 1.0, 2.5};
  for (int t = 0; t < 3; t++) {
    synthetic(temps[t], 7 + (uint64_t)t, z, y);
    double fit = calib_fit_temperature(z, y, N, K);
    /* 20,000 draws: the estimate lands within a few percent of the truth */
    CHECK_NEAR(fit, temps[t], 0.05 * temps[t]);
    /* and it is the minimum of the NLL */
    double at = calib_nll(z, y, N, K, fit);
    CHECK(at <= calib_nll(z, y, N, K, fit * 1.1));
    CHECK(at <= calib_nll(z, y, N, K, fit / 1.1));
  }
}

TEST(scaling_lowers_the_calibration_error_of_overconfident_logits) {
  static float z[N * K];
  static int y[N];
  synthetic(2.5, 11, z, y);
  /* read at T = 1 the logits are overconfident: the truth is T = 2.5 */
  double before = calib_ece(z, y, N, K, 1.0, 15);
  double after = calib_ece(z, y, N, K, calib_fit_temperature(z, y, N, K), 15);
  CHECK(before > 0.1);
  CHECK(after < 0.02);
}

TEST(ece_of_a_hand_worked_example) {
  /* two classes; confidences softmax([a, 0]) = 1 / (1 + e^-a):
  **   row 0: a = ln 9  -> 0.9, right      bin (0.8667, 0.9333]
  **   row 1: a = ln 9  -> 0.9, wrong      same bin
  **   row 2: a = ln 3  -> 0.75, right     bin (0.7333, 0.8]
  ** bin 1: |1/2 - 0.9| * 2/3 = 0.26667; bin 2: |1 - 0.75| * 1/3 = 0.08333 */
  const float z[] = {logf(9), 0, logf(9), 0, logf(3), 0};
  const int y[] = {0, 1, 0};
  CHECK_NEAR(calib_ece(z, y, 3, 2, 1.0, 15), 0.26667 + 0.08333, 1e-4);
  /* NLL at T = 1: -(ln 0.9 + ln 0.1 + ln 0.75) / 3 */
  CHECK_NEAR(calib_nll(z, y, 3, 2, 1.0), -(log(0.9) + log(0.1) + log(0.75)) / 3, 1e-6);
}

TEST(ood_scores_and_percentile) {
  const float z[] = {2, 0, 0};
  double lse = log(exp(2.0) + 2);
  CHECK_NEAR(calib_ood_score(z, 3, CALIB_OOD_ENERGY), lse, 1e-6);
  CHECK_NEAR(calib_ood_score(z, 3, CALIB_OOD_MAX_SOFTMAX), exp(2.0) / (exp(2.0) + 2), 1e-6);
  /* numpy.percentile([1, 2, 3, 4, 10], [0, 5, 50, 100]) = 1, 1.2, 3, 10 */
  float v[] = {10, 3, 1, 4, 2};
  CHECK_NEAR(head_percentile(v, 5, 5), 1.2, 1e-6);
  CHECK_NEAR(head_percentile(v, 5, 0), 1, 0);
  CHECK_NEAR(head_percentile(v, 5, 50), 3, 0);
  CHECK_NEAR(head_percentile(v, 5, 100), 10, 0);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(fit_recovers_a_known_temperature);
  RUN(scaling_lowers_the_calibration_error_of_overconfident_logits);
  RUN(ece_of_a_hand_worked_example);
  RUN(ood_scores_and_percentile);
  return test_finish();
}
