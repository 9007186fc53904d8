/* kmeans.c -- Lloyd's k-means with GEMM-based assignment, for the patch dictionary.
**
** Assignment: the nearest centroid maximises x.c_k - |c_k|^2 / 2, so one
** sgemm per block of rows gives all scores.  Update: centroid = mean of its
** rows, summed in double.  Starts are k distinct random rows; a centroid
** that loses all its rows restarts at a random row, so none stays dead.
*/
#include "feat_internal.h"

#include <cblas.h>
#include <float.h>
#include <string.h>

#include "curate.h"

#define KM_BLOCK 2048          /* rows per scoring GEMM */

/* Distinct random rows of X as starting centroids (partial Fisher-Yates). */
static int init_centroids(const float *X, size_t n, int d, int k, cur_rng *rng, float *C) {
  uint32_t *idx = cur_mallocarray(n, sizeof(uint32_t));
  if (!idx) return CUR_ENOMEM;
  for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
  for (int c = 0; c < k; c++) {
    size_t j = (size_t)c + (size_t)cur_rng_below(rng, n - (size_t)c);
    uint32_t t = idx[c];
    idx[c] = idx[j];
    idx[j] = t;
    memcpy(C + (size_t)c * d, X + (size_t)idx[c] * d, (size_t)d * sizeof(float));
  }
  cur_free(idx);
  return CUR_OK;
}

/* Adds each row of the block to the sum of its nearest centroid. */
static void assign_block(const float *Xb, size_t m, int d, int k, const float *C,
                         const float *half_cc, float *scores, double *sums, size_t *counts) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, k, d, 1.0f, Xb, d, C, d, 0.0f,
              scores, k);
  for (size_t i = 0; i < m; i++) {
    const float *s = scores + i * k;
    int best = 0;
    float best_s = -FLT_MAX;
    for (int c = 0; c < k; c++) {
      float v = s[c] - half_cc[c];
      if (v > best_s) {
        best_s = v;
        best = c;
      }
    }
    counts[best]++;
    for (int j = 0; j < d; j++) sums[(size_t)best * d + j] += Xb[i * d + j];
  }
}

int feat__kmeans(const float *X, size_t n, int d, int k, int iters, cur_rng *rng, float *C) {
  if (k < 1 || n < (size_t)k)
    return cur_errorc(CUR_EINPUT, "kmeans: %d centroids need at least as many rows, got %zu", k, n);
  int rc = CUR_ENOMEM;
  float *scores = cur_mallocarray((size_t)KM_BLOCK * k, sizeof(float));
  float *half_cc = cur_mallocarray((size_t)k, sizeof(float));
  double *sums = cur_mallocarray((size_t)k * d, sizeof(double));
  size_t *counts = cur_mallocarray((size_t)k, sizeof(size_t));
  if (!scores || !half_cc || !sums || !counts) goto cleanup;
  if ((rc = init_centroids(X, n, d, k, rng, C)) != CUR_OK) goto cleanup;
  for (int it = 0; it < iters; it++) {
    for (int c = 0; c < k; c++) {
      double s = 0;
      for (int j = 0; j < d; j++) s += (double)C[(size_t)c * d + j] * C[(size_t)c * d + j];
      half_cc[c] = (float)(0.5 * s);
    }
    memset(sums, 0, (size_t)k * d * sizeof(double));
    memset(counts, 0, (size_t)k * sizeof(size_t));
    for (size_t r = 0; r < n; r += KM_BLOCK)
      assign_block(X + r * d, n - r < KM_BLOCK ? n - r : KM_BLOCK, d, k, C, half_cc, scores,
                   sums, counts);
    for (int c = 0; c < k; c++) {
      float *cc = C + (size_t)c * d;
      if (counts[c] == 0)
        memcpy(cc, X + (size_t)cur_rng_below(rng, n) * d, (size_t)d * sizeof(float));
      else
        for (int j = 0; j < d; j++) cc[j] = (float)(sums[(size_t)c * d + j] / (double)counts[c]);
    }
  }
  rc = CUR_OK;
cleanup:
  cur_free(scores);
  cur_free(half_cc);
  cur_free(sums);
  cur_free(counts);
  return rc;
}
