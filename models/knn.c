/* knn.c -- knn.h's C entry: checks the request and turns the shim's codes into curate's. */
#include "knn.h"

#include <math.h>

#include "curate.h"

int knn__faiss_search(int ivf, int nlist, int nprobe, int threads, int k, const float *X,
                      int64_t n, int d, const int64_t *query, int64_t m, int64_t *nbr, float *sim,
                      char *err, size_t err_cap);

int knn_search(const knn_config *cfg, const float *X, int64_t n, int d, const int64_t *query,
               int64_t m, int64_t *nbr, float *sim) {
  if (cfg->k < 1 || d < 1 || n < 0 || cfg->threads < 1)
    return cur_errorc(CUR_EINPUT, "knn: bad request: k %d, %d values, %lld rows", cfg->k, d,
                      (long long)n);
  if (!query) m = n;
  for (int64_t i = 0; query && i < m; i++)
    if (query[i] < 0 || query[i] >= n)
      return cur_errorc(CUR_EINPUT, "knn: query row %lld outside 0..%lld", (long long)query[i],
                        (long long)n - 1);
  if (n == 0 || m == 0) return CUR_OK;
  int nlist = cfg->nlist;
  if (cfg->ivf && nlist <= 0) nlist = (int)fmax(1.0, round(4.0 * sqrt((double)n)));
  if (cfg->ivf && nlist > n) nlist = (int)n;  /* k-means needs a row per cell */
  int nprobe = cfg->nprobe < 1 ? 1 : cfg->nprobe > nlist ? nlist : cfg->nprobe;
  char err[256] = "";
  int rc = knn__faiss_search(cfg->ivf, nlist, nprobe, cfg->threads, cfg->k, X, n, d, query, m,
                             nbr, sim, err, sizeof err);
  if (rc == -2) return cur_errorc(CUR_ENOMEM, "knn: out of memory (%lld x %d vectors)",
                                  (long long)n, d);
  if (rc) return cur_errorc(CUR_ERR, "knn: faiss: %s", err);
  return CUR_OK;
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
