/* knn.c -- knn.h's C entry: checks requests, exact search through faiss, samples rows, tunes nprobe.
**
** The IVF index itself is knn_ivf.c. */
#include "knn.h"

#include <math.h>
#include <string.h>

#include "curate.h"
#include "knn_faiss_internal.h"
#include "knn_internal.h"
#include "rng.h"

void knn_matrix_get(void *ctx, int64_t first, int64_t count, float *out) {
  const knn_matrix_rows *m = ctx;
  memcpy(out, m->X + first * m->d, (size_t)count * (size_t)m->d * sizeof *out);
}

int knn__shim_rc(int rc, const char *err, int64_t n, int d) {
  if (rc == -2) return cur_errorc(CUR_ENOMEM, "knn: out of memory (%lld x %d vectors)",
                                  (long long)n, d);
  if (rc) return cur_errorc(CUR_ERR, "knn: faiss: %s", err);
  return CUR_OK;
}

int knn__check_request(int k, int d, int64_t n, int threads, const int64_t *query, int64_t m) {
  if (k < 1 || d < 1 || n < 0 || threads < 1)
    return cur_errorc(CUR_EINPUT, "knn: bad request: k %d, %d values, %lld rows", k, d,
                      (long long)n);
  for (int64_t i = 0; query && i < m; i++)
    if (query[i] < 0 || query[i] >= n)
      return cur_errorc(CUR_EINPUT, "knn: query row %lld outside 0..%lld", (long long)query[i],
                        (long long)n - 1);
  return CUR_OK;
}

int knn_search_rows(const knn_config *cfg, const knn_rows *rows, const int64_t *query, int64_t m,
                    int64_t *nbr, float *sim) {
  if (!query) m = rows->n;
  int rc = knn__check_request(cfg->k, rows->d, rows->n, cfg->threads, query, m);
  if (rc || rows->n == 0 || m == 0) return rc;
  if (cfg->ivf) {
    knn_ivf *ix = NULL;
    rc = knn_ivf_new_rows(rows, cfg->nlist, 0, cfg->threads, &ix);
    if (rc == CUR_OK) rc = knn_ivf_search(ix, cfg->nprobe, cfg->k, query, m, nbr, sim);
    knn_ivf_free(ix);
    return rc;
  }
  char err[256] = "";
  return knn__shim_rc(knn__faiss_exact(cfg->threads, cfg->k, rows->get, rows->ctx, rows->n, rows->d,
                                  query, m, nbr, sim, err, sizeof err), err, rows->n, rows->d);
}

int knn_search(const knn_config *cfg, const float *X, int64_t n, int d, const int64_t *query,
               int64_t m, int64_t *nbr, float *sim) {
  knn_matrix_rows mx = {X, d};
  knn_rows rows = {knn_matrix_get, &mx, n, d};
  return knn_search_rows(cfg, &rows, query, m, nbr, sim);
}

double knn_recall(const int64_t *exact, const int64_t *approx, int64_t n, int k) {
  if (n <= 0 || k <= 0) return 1.0;
  int64_t hit = 0, total = 0;
  for (int64_t i = 0; i < n; i++)
    for (int a = 0; a < k; a++) {
      int64_t want = exact[i * k + a];
      if (want < 0) continue;
      total++;
      for (int b = 0; b < k; b++) hit += approx[i * k + b] == want;
    }
  return total ? (double)hit / (double)total : 1.0;
}

/* A partial Fisher-Yates shuffle of 0..N): its first M entries. */
int knn_sample_rows(int64_t n, int64_t m, uint64_t seed, int64_t *rows) {
  if (m < 0 || m > n) return cur_errorc(CUR_EINPUT, "knn: %lld rows asked of %lld", (long long)m,
                                        (long long)n);
  int64_t *all = cur_mallocarray((size_t)(n ? n : 1), sizeof *all);
  if (!all) return CUR_ENOMEM;
  for (int64_t i = 0; i < n; i++) all[i] = i;
  cur_rng r;
  cur_rng_seed(&r, seed);
  for (int64_t i = 0; i < m; i++) {
    int64_t j = i + (int64_t)cur_rng_below(&r, (uint64_t)(n - i)), t = all[i];
    all[i] = all[j], all[j] = t;
    rows[i] = all[i];
  }
  cur_free(all);
  return CUR_OK;
}

/* Mean recall@k over the M rows and its standard error (per-row spread / sqrt(M)). */
static void recall_and_error(const int64_t *exact, const int64_t *approx, int64_t m, int k,
                             double *mean, double *se) {
  double sum = 0, sum2 = 0;
  for (int64_t i = 0; i < m; i++) {
    double r = knn_recall(exact + i * k, approx + i * k, 1, k);
    sum += r, sum2 += r * r;
  }
  *mean = m ? sum / (double)m : 1.0;
  double var = m > 1 ? (sum2 - sum * sum / (double)m) / (double)(m - 1) : 0;
  *se = m ? sqrt(var > 0 ? var : 0) / sqrt((double)m) : 0;
}

int knn_ivf_tune(knn_ivf *ix, int k, const int64_t *query, int64_t m, const int64_t *exact,
                 double target, int *nprobe, double *recall) {
  int64_t *nbr = cur_mallocarray((size_t)(m ? m : 1), (size_t)k * sizeof *nbr);
  float *sim = cur_mallocarray((size_t)(m ? m : 1), (size_t)k * sizeof *sim);
  int rc = nbr && sim ? CUR_OK : CUR_ENOMEM;
  for (int p = 1; rc == CUR_OK; p = p < 4 ? p + 1 : p + p / 2) {
    if (p > knn_ivf_nlist(ix)) p = knn_ivf_nlist(ix);
    rc = knn_ivf_search(ix, p, k, query, m, nbr, sim);
    if (rc) break;
    double se;
    *nprobe = p;
    recall_and_error(exact, nbr, m, k, recall, &se);
    if (*recall - 2 * se >= target || p == knn_ivf_nlist(ix)) break;
  }
  cur_free(nbr);
  cur_free(sim);
  return rc;
}
