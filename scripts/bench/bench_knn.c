/* bench_knn.c -- time and recall@10 of IVF kNN against exact search, on vectors from real embeddings.
**
** Reads every embedding of the newest embed run's model from a curate
** database (CIFAR-10's, in scripts/bench/audit), and makes N vectors of
** DIM values: each a random projection (a DIM x d Gaussian matrix) of a
** random convex mix w e_a + (1 - w) e_b of two centred embeddings, w
** uniform in [0.5, 1], scaled to unit length.  Mixing keeps the data's
** cluster structure (a vector stays near its main embedding) while giving
** N distinct points; uniform random vectors have no clusters and no IVF
** reaches a useful recall on them (/work/shared/notes/faiss.md).
** It runs the self-kNN over all N with IVF (timed), exact search for a
** seeded sample of QUERIES rows (timed; the full exact time is that
** scaled by N / QUERIES), and prints recall@k of IVF on the sample.
**
**   bench_knn DB N [DIM=512] [QUERIES=1000] [NPROBE=16] [NLIST=0: 4 sqrt(N)] [THREADS=2]
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curate.h"
#include "half.h"
#include "knn.h"
#include "rng.h"
#include "store_embed.h"

typedef struct emb {
  int64_t n, cap, last_id;
  int d;
  float *E;
} emb;

static int take(void *ctx, int64_t id, const void *bytes, size_t len) {
  emb *e = ctx;
  e->last_id = id;
  if (e->d == 0) e->d = (int)(len / 2);
  if ((int)(len / 2) != e->d) return cur_errorc(CUR_EINPUT, "mixed embedding sizes");
  if (e->n == e->cap) {
    int64_t cap = e->cap ? 2 * e->cap : 4096;
    float *E = cur_reallocarray(e->E, (size_t)cap, (size_t)e->d * sizeof *E);
    if (!E) return CUR_ENOMEM;
    e->E = E, e->cap = cap;
  }
  cur_half_decode(bytes, (size_t)e->d, e->E + (size_t)e->n++ * e->d);
  return CUR_OK;
}

static int load(const char *db, emb *e) {
  cur_store *st = NULL;
  char *model = NULL;
  int found = 0, rc = cur_store_open(db, &st);
  if (rc == CUR_OK) rc = cur_store_embedding_model_default(st, &model, &found);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_ESTATE, "%s: no embeddings", db);
  while (rc == CUR_OK) {
    int64_t before = e->n;
    rc = cur_store_embeddings_next(st, model, e->last_id, 4096, take, e);
    if (e->n == before) break;
  }
  cur_free(model);
  cur_store_close(st);
  return rc;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* The N x DIM mixed projections of the centred embeddings (file comment).
** Projection is linear, so the embeddings are projected once and the
** projections mixed. */
static float *make_vectors(const emb *e, int64_t n, int dim, uint64_t seed) {
  cur_rng r;
  cur_rng_seed(&r, seed);
  float *R = cur_mallocarray((size_t)dim, (size_t)e->d * sizeof *R);
  float *P = cur_mallocarray((size_t)e->n, (size_t)dim * sizeof *P);
  float *X = cur_mallocarray((size_t)n, (size_t)dim * sizeof *X);
  double *mean = cur_calloc((size_t)e->d, sizeof *mean);
  if (!R || !P || !X || !mean) {
    cur_free(R), cur_free(P), cur_free(X), cur_free(mean);
    return NULL;
  }
  for (size_t i = 0; i < (size_t)dim * e->d; i++) R[i] = (float)cur_rng_normal(&r);
  for (int64_t i = 0; i < e->n; i++)
    for (int j = 0; j < e->d; j++) mean[j] += e->E[(size_t)i * e->d + j] / (double)e->n;
  for (int64_t i = 0; i < e->n; i++)
    for (int o = 0; o < dim; o++) {
      const float *row = R + (size_t)o * e->d, *x = e->E + (size_t)i * e->d;
      double s = 0;
      for (int j = 0; j < e->d; j++) s += row[j] * (x[j] - mean[j]);
      P[(size_t)i * dim + o] = (float)s;
    }
  for (int64_t v = 0; v < n; v++) {
    int64_t a = (int64_t)cur_rng_below(&r, (uint64_t)e->n);
    int64_t b = (int64_t)cur_rng_below(&r, (uint64_t)e->n);
    double w = 0.5 + 0.5 * cur_rng_uniform(&r), norm = 0;
    float *x = X + (size_t)v * dim;
    for (int o = 0; o < dim; o++) {
      double s = w * P[(size_t)a * dim + o] + (1 - w) * P[(size_t)b * dim + o];
      x[o] = (float)s;
      norm += s * s;
    }
    norm = norm > 0 ? 1 / sqrt(norm) : 0;
    for (int o = 0; o < dim; o++) x[o] = (float)(x[o] * norm);
  }
  cur_free(R), cur_free(P), cur_free(mean);
  return X;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_knn DB N [DIM] [QUERIES] [NPROBE] [NLIST] [THREADS]\n");
    return 2;
  }
  int64_t n = atoll(argv[2]);
  int dim = argc > 3 ? atoi(argv[3]) : 512, q = argc > 4 ? atoi(argv[4]) : 1000;
  knn_config ivf = {.k = 10, .ivf = 1, .nprobe = argc > 5 ? atoi(argv[5]) : 16,
                    .nlist = argc > 6 ? atoi(argv[6]) : 0, .threads = argc > 7 ? atoi(argv[7]) : 2};
  emb e = {0};
  if (n < 2 || dim < 1 || q < 1 || q > n || load(argv[1], &e)) {
    fprintf(stderr, "bench_knn: %s\n", cur_error());
    return 1;
  }
  double t0 = now();
  float *X = make_vectors(&e, n, dim, 20261206);
  int64_t *nbr = cur_mallocarray((size_t)n, 10 * sizeof *nbr);
  int64_t *rows = cur_mallocarray((size_t)q, sizeof *rows);
  int64_t *exact = cur_mallocarray((size_t)q, 10 * sizeof *exact);
  int64_t *approx = cur_mallocarray((size_t)q, 10 * sizeof *approx);
  float *sim = cur_mallocarray((size_t)n, 10 * sizeof *sim);
  if (!X || !nbr || !rows || !exact || !approx || !sim) return 1;
  printf("vectors: %lld x %d from %lld embeddings of %d values (%.1f s)\n", (long long)n, dim,
         (long long)e.n, e.d, now() - t0);
  t0 = now();
  if (knn_search(&ivf, X, n, dim, NULL, n, nbr, sim)) {
    fprintf(stderr, "bench_knn: %s\n", cur_error());
    return 1;
  }
  double t_ivf = now() - t0;
  cur_rng r;
  cur_rng_seed(&r, 7);
  for (int i = 0; i < q; i++) {
    rows[i] = (int64_t)cur_rng_below(&r, (uint64_t)n);
    memcpy(approx + (size_t)i * 10, nbr + rows[i] * 10, 10 * sizeof *approx);
  }
  knn_config ex = ivf;
  ex.ivf = 0;
  t0 = now();
  if (knn_search(&ex, X, n, dim, rows, q, exact, sim)) {
    fprintf(stderr, "bench_knn: %s\n", cur_error());
    return 1;
  }
  double t_exact = now() - t0;
  int nlist = ivf.nlist ? ivf.nlist : (int)fmax(1.0, round(4.0 * sqrt((double)n)));
  printf("IVF (nlist %d, nprobe %d, %d threads): self-kNN k=10 of all %lld rows in %.1f s\n", nlist,
         ivf.nprobe, ivf.threads, (long long)n, t_ivf);
  printf("exact: %d queries in %.2f s (all %lld rows would take about %.0f s)\n", q, t_exact,
         (long long)n, t_exact * (double)n / q);
  printf("recall@10 of IVF against exact on %d queries: %.4f\n", q, knn_recall(exact, approx, q, 10));
  cur_free(X), cur_free(nbr), cur_free(rows), cur_free(exact), cur_free(approx);
  cur_free(sim), cur_free(e.E);
  return 0;
}
