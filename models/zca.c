/* zca.c -- ZCA whitening: fit mean and P = V diag(1/sqrt(lambda + eps)) V^T, and apply it.
**
** The covariance is accumulated in double from float32 GEMMs over row
** blocks: a single float sum over 400,000 patches would lose about three
** digits.  The eigen-decomposition is LAPACK's dsyev, which OpenBLAS ships;
** no LAPACK header is installed, so its Fortran prototype is declared here
** with the hidden string-length arguments gfortran passes.
*/
#include "feat_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "curate.h"

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info, size_t jobz_len,
                   size_t uplo_len);

#define ZCA_BLOCK 4096         /* rows per covariance GEMM */

/* cov (d x d) = sum (x - mean)(x - mean)^T / (n - 1), from blocks of X. */
static int covariance(const float *X, size_t n, int d, const float *mean, double *cov) {
  size_t dd = (size_t)d * d;
  float *blk = cur_mallocarray((size_t)ZCA_BLOCK * d, sizeof(float));
  float *part = cur_mallocarray(dd, sizeof(float));
  if (!blk || !part) {
    cur_free(blk);
    cur_free(part);
    return CUR_ENOMEM;
  }
  memset(cov, 0, dd * sizeof(double));
  for (size_t r = 0; r < n; r += ZCA_BLOCK) {
    size_t m = n - r < ZCA_BLOCK ? n - r : ZCA_BLOCK;
    for (size_t i = 0; i < m; i++)
      for (int j = 0; j < d; j++) blk[i * d + j] = X[(r + i) * d + j] - mean[j];
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, (int)m, 1.0f, blk, d, blk, d,
                0.0f, part, d);
    for (size_t i = 0; i < dd; i++) cov[i] += part[i];
  }
  for (size_t i = 0; i < dd; i++) cov[i] /= (double)(n - 1);
  cur_free(blk);
  cur_free(part);
  return CUR_OK;
}

/* Eigen-decomposes cov in place (columns of the column-major result are the
** eigenvectors; cov is symmetric so layouts agree) into lambda. */
static int eigen(double *cov, int d, double *lambda) {
  int info = 0, lwork = -1;
  double query;
  dsyev_("V", "U", &d, cov, &d, lambda, &query, &lwork, &info, 1, 1);
  if (info != 0) return cur_errorf("zca: dsyev workspace query failed (info %d)", info);
  lwork = (int)query;
  double *work = cur_mallocarray((size_t)lwork, sizeof(double));
  if (!work) return CUR_ENOMEM;
  dsyev_("V", "U", &d, cov, &d, lambda, work, &lwork, &info, 1, 1);
  cur_free(work);
  if (info != 0) return cur_errorf("zca: eigen-decomposition did not converge (info %d)", info);
  return CUR_OK;
}

int feat__zca_fit(const float *X, size_t n, int d, float eps, float *mean, float *P) {
  if (n < 2 || d < 1) return cur_errorc(CUR_EINPUT, "zca: need >= 2 rows, got %zu", n);
  int rc = CUR_ENOMEM;
  double *acc = cur_calloc((size_t)d, sizeof(double));
  double *cov = cur_mallocarray((size_t)d * d, sizeof(double));
  double *lambda = cur_mallocarray((size_t)d, sizeof(double));
  if (!acc || !cov || !lambda) goto cleanup;
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < d; j++) acc[j] += X[i * d + j];
  for (int j = 0; j < d; j++) mean[j] = (float)(acc[j] / (double)n);
  if ((rc = covariance(X, n, d, mean, cov)) != CUR_OK) goto cleanup;
  if ((rc = eigen(cov, d, lambda)) != CUR_OK) goto cleanup;
  /* P_ab = sum_e V_ae V_be / sqrt(lambda_e + eps); V_ae is cov[e * d + a].
  ** acc now holds the per-eigenvalue scales (tiny negative eigenvalues from
  ** rounding count as 0). */
  for (int e = 0; e < d; e++) acc[e] = 1.0 / sqrt((lambda[e] > 0 ? lambda[e] : 0) + eps);
  for (int a = 0; a < d; a++)
    for (int b = 0; b < d; b++) {
      double s = 0;
      for (int e = 0; e < d; e++) s += cov[(size_t)e * d + a] * cov[(size_t)e * d + b] * acc[e];
      P[(size_t)a * d + b] = (float)s;
    }
  rc = CUR_OK;
cleanup:
  cur_free(acc);
  cur_free(cov);
  cur_free(lambda);
  return rc;
}

void feat__zca_apply(const float *mean, const float *P, int d, float *X, size_t n, float *Y) {
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < d; j++) X[i * d + j] -= mean[j];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, d, d, 1.0f, X, d, P, d, 0.0f,
              Y, d);
}
