/* test_metrics.c -- classification metrics from a confusion matrix.
**
** metrics-1.*: a 3-class matrix checked by hand.
** metrics-2.*: empty classes: no division by zero, left out of macro-F1.
*/
#include "metrics.h"
#include "testlib.h"

/* The values are ratios of small integers computed in double; 1e-12 leaves
** room only for the rounding of a few operations. */
#define TOL 1e-12

TEST(three_classes_checked_by_hand) {
  /* true \ pred   0  1  2
  **   0           5  1  0
  **   1           2  3  1
  **   2           0  0  4      12 right of 16 */
  const int64_t c[9] = {5, 1, 0, 2, 3, 1, 0, 0, 4};
  head_class_metrics m[3];
  double acc, macro;
  head_metrics_compute(c, 3, m, &acc, &macro);
  CHECK_NEAR(acc, 0.75, TOL);
  /* class 0: TP 5, FP 2, FN 1 */
  CHECK_NEAR(m[0].precision, 5.0 / 7, TOL);
  CHECK_NEAR(m[0].recall, 5.0 / 6, TOL);
  CHECK_NEAR(m[0].f1, 10.0 / 13, TOL);
  /* class 1: TP 3, FP 1, FN 3 */
  CHECK_NEAR(m[1].precision, 0.75, TOL);
  CHECK_NEAR(m[1].recall, 0.5, TOL);
  CHECK_NEAR(m[1].f1, 0.6, TOL);
  /* class 2: TP 4, FP 1, FN 0 */
  CHECK_NEAR(m[2].precision, 0.8, TOL);
  CHECK_NEAR(m[2].recall, 1.0, TOL);
  CHECK_NEAR(m[2].f1, 8.0 / 9, TOL);
  CHECK_INT(m[1].support, 6);
  CHECK_NEAR(macro, (10.0 / 13 + 0.6 + 8.0 / 9) / 3, TOL);
}

TEST(empty_classes_give_zero_and_stay_out_of_macro_f1) {
  /* class 1 never occurs; class 2 is never predicted */
  const int64_t c[9] = {3, 0, 1, 0, 0, 0, 2, 0, 0};
  head_class_metrics m[3];
  double acc, macro;
  head_metrics_compute(c, 3, m, &acc, &macro);
  CHECK_NEAR(acc, 0.5, TOL);
  CHECK_NEAR(m[1].precision, 0, TOL);
  CHECK_NEAR(m[1].f1, 0, TOL);
  CHECK_NEAR(m[2].precision, 0, TOL);
  CHECK_NEAR(m[2].recall, 0, TOL);
  /* class 0: P 3/5, R 3/4, F1 2/3; class 2: F1 0; class 1 left out */
  CHECK_NEAR(macro, (2.0 / 3 + 0) / 2, TOL);
  const int64_t none[1] = {0};
  head_metrics_compute(none, 1, m, &acc, &macro);
  CHECK_NEAR(acc, 0, TOL);
  CHECK_NEAR(macro, 0, TOL);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(three_classes_checked_by_hand);
  RUN(empty_classes_give_zero_and_stay_out_of_macro_f1);
  return test_finish();
}
