/* knn.c -- knn.h's C entry: checks requests, samples rows, tunes nprobe, turns the shim's codes into curate's. */
#include "knn.h"

#include <math.h>
#include <string.h>

#include "curate.h"
#include "knn_faiss_internal.h"
#include "rng.h"

/* Rows per cell the IVF is trained on (knn.h). */
#define TRAIN_PER_CELL 64

/* knn_rows over a plain matrix. */
typedef struct matrix_rows {
  const float *X;
  int d;
} matrix_rows;

struct knn_ivf {
  void *faiss;
  knn_rows rows;
  matrix_rows matrix;          /* knn_ivf_new's matrix, rows.ctx then points here */
  int nlist, threads;
};

static void matrix_get(void *ctx, int64_t first, int64_t count, float *out) {
  const matrix_rows *m = ctx;
  memcpy(out, m->X + first * m->d, (size_t)count * (size_t)m->d * sizeof *out);
}

static int shim_rc(int rc, const char *err, int64_t n, int d) {
  if (rc == -2) return cur_errorc(CUR_ENOMEM, "knn: out of memory (%lld x %d vectors)",
                                  (long long)n, d);
  if (rc) return cur_errorc(CUR_ERR, "knn: faiss: %s", err);
  return CUR_OK;
}

static int check_request(int k, int d, int64_t n, int threads, const int64_t *query, int64_t m) {
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
  int rc = check_request(cfg->k, rows->d, rows->n, cfg->threads, query, m);
  if (rc || rows->n == 0 || m == 0) return rc;
  if (cfg->ivf) {
    knn_ivf *ix = NULL;
    rc = knn_ivf_new_rows(rows, cfg->nlist, 0, cfg->threads, &ix);
    if (rc == CUR_OK) rc = knn_ivf_search(ix, cfg->nprobe, cfg->k, query, m, nbr, sim);
    knn_ivf_free(ix);
    return rc;
  }
  char err[256] = "";
  return shim_rc(knn__faiss_exact(cfg->threads, cfg->k, rows->get, rows->ctx, rows->n, rows->d,
                                  query, m, nbr, sim, err, sizeof err), err, rows->n, rows->d);
}

int knn_search(const knn_config *cfg, const float *X, int64_t n, int d, const int64_t *query,
               int64_t m, int64_t *nbr, float *sim) {
  matrix_rows mx = {X, d};
  knn_rows rows = {matrix_get, &mx, n, d};
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

int knn_ivf_new_rows(const knn_rows *rows, int nlist, uint64_t seed, int threads, knn_ivf **out) {
  *out = NULL;
  int64_t n = rows->n;
  int d = rows->d, rc = check_request(1, d, n, threads, NULL, 0);
  if (rc) return rc;
  if (n < 1) return cur_errorc(CUR_EINPUT, "knn: an IVF index needs rows");
  if (nlist <= 0) nlist = (int)fmax(1.0, round(4.0 * sqrt((double)n)));
  if (nlist > n) nlist = (int)n;       /* k-means needs a row per cell */
  int64_t n_train = (int64_t)nlist * TRAIN_PER_CELL < n ? (int64_t)nlist * TRAIN_PER_CELL : n;
  knn_ivf *ix = cur_calloc(1, sizeof *ix);
  int64_t *train = cur_mallocarray((size_t)n_train, sizeof *train);
  if (!ix || !train) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = knn_sample_rows(n, n_train, seed, train);
  char err[256] = "";
  if (rc == CUR_OK)
    rc = shim_rc(knn__faiss_ivf_new(threads, rows->get, rows->ctx, n, d, nlist, train, n_train,
                                    &ix->faiss, err, sizeof err), err, n, d);
  cur_free(train);
  if (rc) {
    knn_ivf_free(ix);
    return rc;
  }
  ix->rows = *rows;
  ix->nlist = nlist;
  ix->threads = threads;
  *out = ix;
  return CUR_OK;
}

int knn_ivf_new(const float *X, int64_t n, int d, int nlist, uint64_t seed, int threads,
                knn_ivf **out) {
  matrix_rows mx = {X, d};
  knn_rows rows = {matrix_get, &mx, n, d};
  int rc = knn_ivf_new_rows(&rows, nlist, seed, threads, out);
  if (rc == CUR_OK) {          /* the matrix outlives the index, this call's mx does not */
    (*out)->matrix = mx;
    (*out)->rows.ctx = &(*out)->matrix;
  }
  return rc;
}

void knn_ivf_free(knn_ivf *ix) {
  if (!ix) return;
  if (ix->faiss) knn__faiss_ivf_free(ix->faiss);
  cur_free(ix);
}

int knn_ivf_nlist(const knn_ivf *ix) { return ix->nlist; }

int knn_ivf_search(knn_ivf *ix, int nprobe, int k, const int64_t *query, int64_t m,
                   int64_t *nbr, float *sim) {
  if (!query) m = ix->rows.n;
  int rc = check_request(k, ix->rows.d, ix->rows.n, ix->threads, query, m);
  if (rc || m == 0) return rc;
  nprobe = nprobe < 1 ? 1 : nprobe > ix->nlist ? ix->nlist : nprobe;
  char err[256] = "";
  const knn_rows *r = &ix->rows;
  return shim_rc(knn__faiss_ivf_search(ix->faiss, ix->threads, nprobe, k, r->get, r->ctx, r->n,
                                       r->d, query, m, nbr, sim, err, sizeof err), err, r->n, r->d);
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
    if (p > ix->nlist) p = ix->nlist;
    rc = knn_ivf_search(ix, p, k, query, m, nbr, sim);
    if (rc) break;
    double se;
    *nprobe = p;
    recall_and_error(exact, nbr, m, k, recall, &se);
    if (*recall - 2 * se >= target || p == ix->nlist) break;
  }
  cur_free(nbr);
  cur_free(sim);
  return rc;
}
