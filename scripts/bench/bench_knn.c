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
** As the audit stage does (models/knn.h): it trains the IVF cells on a
** seeded sample (64 rows a cell), chooses nprobe on QUERIES held-out rows
** (the least reaching recall@10 TARGET; NPROBE > 0 fixes it instead), runs
** the self-kNN over all N rows (SELF 1; SELF 0 searches only the measured
** rows, and the time for all rows is that scaled by N / QUERIES: a query's
** neighbours do not depend on the other queries), and measures recall@10
** against exact search on QUERIES other rows (the full exact time is that
** scaled by N / QUERIES too).  Each phase's wall and CPU time is printed, with the load
** average before and after (the machine may be shared).
**
**   bench_knn DB N [DIM=512] [QUERIES=1000] [NPROBE=0] [NLIST=0: 4 sqrt(N)] [THREADS=2]
**             [TARGET=0.95] [SELF=1]
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* CPU seconds (user + system) of this process so far. */
static double cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
         u.ru_stime.tv_usec * 1e-6;
}

static void print_load(const char *when) {
  char line[128] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f && fgets(line, sizeof line, f)) line[strcspn(line, "\n")] = 0;
  if (f) fclose(f);
  printf("load average %s: %s\n", when, line);
}

/* A phase's clocks. */
typedef struct clocks {
  double wall, cpu;
} clocks;

static clocks start(void) { return (clocks){now(), cpu()}; }

static void report(const char *what, clocks c) {
  printf("%-34s wall %8.1f s  cpu %8.1f s\n", what, now() - c.wall, cpu() - c.cpu);
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

static int fail(void) {
  fprintf(stderr, "bench_knn: %s\n", cur_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_knn DB N [DIM] [QUERIES] [NPROBE] [NLIST] [THREADS] [TARGET] "
                    "[SELF]\n");
    return 2;
  }
  int64_t n = atoll(argv[2]);
  int dim = argc > 3 ? atoi(argv[3]) : 512, q = argc > 4 ? atoi(argv[4]) : 1000, k = 10;
  int nprobe = argc > 5 ? atoi(argv[5]) : 0, nlist = argc > 6 ? atoi(argv[6]) : 0;
  int threads = argc > 7 ? atoi(argv[7]) : 2;
  double target = argc > 8 ? atof(argv[8]) : 0.95, tuned = NAN;
  int self = argc > 9 ? atoi(argv[9]) : 1;
  emb e = {0};
  if (n < 2 || dim < 1 || q < 1 || 2 * (int64_t)q > n || threads < 1) {
    fprintf(stderr, "bench_knn: bad arguments\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);   /* each phase shows as it ends: the run is long */
  if (load(argv[1], &e)) return fail();
  print_load("before");
  clocks c = start();
  float *X = make_vectors(&e, n, dim, 20261206);
  int64_t *nbr = cur_mallocarray((size_t)n, (size_t)k * sizeof *nbr);
  int64_t *rows = cur_mallocarray((size_t)q * 2, sizeof *rows);
  int64_t *exact = cur_mallocarray((size_t)q * 2, (size_t)k * sizeof *exact);
  int64_t *approx = cur_mallocarray((size_t)q, (size_t)k * sizeof *approx);
  float *sim = cur_mallocarray((size_t)n, (size_t)k * sizeof *sim);
  if (!X || !nbr || !rows || !exact || !approx || !sim) return fail();
  printf("vectors: %lld x %d from %lld embeddings of %d values\n", (long long)n, dim,
         (long long)e.n, e.d);
  report("making the vectors", c);
  /* rows[0..q): tuning; rows[q..2q): the measured queries */
  knn_config ex = {.k = k, .threads = threads};
  c = start();
  if (knn_sample_rows(n, 2 * (int64_t)q, 7, rows) || knn_search(&ex, X, n, dim, rows, 2 * q, exact, sim))
    return fail();
  report("exact search, tuning + measured rows", c);
  knn_ivf *ix = NULL;
  c = start();
  if (knn_ivf_new(X, n, dim, nlist, 11, threads, &ix)) return fail();
  report("IVF: k-means on a sample, filing", c);
  c = start();
  if (nprobe == 0 && knn_ivf_tune(ix, k, rows, q, exact, target, &nprobe, &tuned)) return fail();
  report("IVF: choosing nprobe", c);
  c = start();
  if (self) {
    if (knn_ivf_search(ix, nprobe, k, NULL, n, nbr, sim)) return fail();
    report("IVF: self-kNN of every row", c);
    for (int i = 0; i < q; i++)
      memcpy(approx + (size_t)i * k, nbr + rows[q + i] * k, (size_t)k * sizeof *approx);
  } else {
    if (knn_ivf_search(ix, nprobe, k, rows + q, q, approx, sim)) return fail();
    double wall = now() - c.wall, used = cpu() - c.cpu;
    report("IVF: the measured rows only", c);
    printf("IVF: every row would take about wall %.0f s, cpu %.0f s (x %.0f)\n",
           wall * (double)n / q, used * (double)n / q, (double)n / q);
  }
  printf("IVF: nlist %d, nprobe %d (recall@%d %.4f on %d tuning rows, target %.2f), %d threads\n",
         knn_ivf_nlist(ix), nprobe, k, tuned, q, target, threads);
  printf("recall@%d of IVF against exact on %d other rows: %.4f\n", k, q,
         knn_recall(exact + (size_t)q * k, approx, q, k));
  print_load("after");
  knn_ivf_free(ix);
  cur_free(X), cur_free(nbr), cur_free(rows), cur_free(exact), cur_free(approx);
  cur_free(sim), cur_free(e.E);
  return 0;
}
