/* calibrate.h -- temperature scaling, calibration error and out-of-distribution scores.
**
** Temperature scaling (Guo, Pleiss, Sun & Weinberger, "On Calibration of
** Modern Neural Networks", ICML 2017) divides a classifier's logits z by one
** scalar T > 0 fitted on held-out labelled rows by minimising the negative
** log-likelihood
**
**   NLL(T) = (1/n) sum_i [ logsumexp(z_i / T) - z_{i,y_i} / T ].
**
** With b = 1/T, NLL is convex in b and its derivative
**
**   dNLL/db = (1/n) sum_i [ E_{softmax(b z_i)}[z] - z_{i,y_i} ]
**
** is nondecreasing, so the minimum is found by bisection on the sign of the
** derivative.  Scaling never changes the predicted class, only confidences.
**
** The expected calibration error (same paper, eq. 3) puts the rows into
** `bins` equal-width bins of confidence (the top probability) and sums
** |accuracy - mean confidence| weighted by the bin's share of rows.
**
** Out-of-distribution scores, higher = more like the training data:
**   max-softmax (Hendrycks & Gimpel, ICLR 2017): max_c softmax(z)_c;
**   energy (Liu, Wang, Owens & Li, NeurIPS 2020): the negative free energy
**   logsumexp(z), i.e. -E(z) with temperature 1.
** Logits are row-major n x k floats throughout.
*/
#ifndef CURATE_CALIBRATE_H
#define CURATE_CALIBRATE_H

typedef enum { CALIB_OOD_MAX_SOFTMAX = 0, CALIB_OOD_ENERGY = 1 } calib_ood;

/* The temperature minimising NLL(T) on LOGITS with labels Y; T is searched
** in [1e-3, 1e3] and a boundary is returned when the minimum lies beyond. */
double calib_fit_temperature(const float *logits, const int *y, int n, int k);
/* NLL(T) as defined above (mean over the n rows). */
double calib_nll(const float *logits, const int *y, int n, int k, double temperature);
/* Expected calibration error of softmax(logits / T) against Y over BINS bins. */
double calib_ece(const float *logits, const int *y, int n, int k, double temperature, int bins);
/* softmax(z / T) of one row into PROBS[k]. */
void calib_softmax(const float *z, int k, double temperature, float *probs);
/* The out-of-distribution score of one row of logits (higher = in distribution). */
double calib_ood_score(const float *z, int k, calib_ood kind);

#endif
