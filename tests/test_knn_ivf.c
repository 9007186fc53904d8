/* test_knn_ivf.c -- the IVF kNN search (models/knn_ivf.c) against a plain double-precision scan.
**
** knn-1.*: probing every cell gives the exact neighbours: the oracle is a
**          brute-force scan in double written here, on seeded vectors
**          around planted centres with planted exact ties (rows copied).
** knn-2.*: probing fewer cells gives the exact neighbours among the rows
**          of the cells probed: the oracle files the rows and picks the
**          probes itself, in double, from the index's centroids.
** knn-3.*: the neighbours do not depend on the thread count.
** knn-4.*: hostile rows and requests: a NaN row, a zero row, more
**          neighbours asked than the probed cells hold, bad arguments.
**
** Similarities: the index sums in float (BLAS), the oracle in double; on
** unit vectors of D values the float sums are within about D x 2^-24 of
** the double ones (2e-6 for D 32), so two candidates whose double
** similarities are within EPS may come in either order (a near tie), and
** a similarity is compared within EPS.  Exactly equal similarities (copied
** rows) are not near ties: the lower row index must come first.
*/
#include <math.h>
#include <stdlib.h>

#include "knn.h"
#include "rng.h"
#include "testlib.h"

#define EPS 1e-5

enum { N = 3000, D = 32, CENTRES = 12, COPIES = 40, K = 10 };

/* N unit rows around CENTRES random centres (spread 0.5 a value), in
** random order; the last COPIES rows copy rows 0 .. COPIES - 1 exactly, so
** every query near those rows meets exact ties. */
static float *planted_rows(uint64_t seed) {
  float *X = cur_mallocarray(N, D * sizeof *X);
  double centre[CENTRES][D];
  if (!X) return NULL;
  cur_rng r;
  cur_rng_seed(&r, seed);
  for (int c = 0; c < CENTRES; c++)
    for (int j = 0; j < D; j++) centre[c][j] = cur_rng_normal(&r);
  for (int i = 0; i < N - COPIES; i++) {
    int c = (int)cur_rng_below(&r, CENTRES);
    double v[D], norm = 0;
    for (int j = 0; j < D; j++) {
      v[j] = centre[c][j] + 0.5 * cur_rng_normal(&r);
      norm += v[j] * v[j];
    }
    for (int j = 0; j < D; j++) X[i * D + j] = (float)(v[j] / sqrt(norm));
  }
  memcpy(X + (N - COPIES) * D, X, COPIES * D * sizeof *X);
  return X;
}

static double dot(const float *a, const float *b, int d) {
  double s = 0;
  for (int j = 0; j < d; j++) s += (double)a[j] * b[j];
  return s;
}

/* The oracle: query row Q's K best other rows among those with ALLOWED[j]
** (NULL: all), by double inner product, ties to the lower index; -1 past
** the rows allowed.  SIM gets every row's similarity (NAN: not allowed). */
static void oracle(const float *X, int q, const char *allowed, int64_t *nbr, double *best,
                   double *sim) {
  for (int j = 0; j < N; j++)
    sim[j] = j == q || (allowed && !allowed[j]) ? NAN : dot(X + q * D, X + j * D, D);
  for (int a = 0; a < K; a++) {
    nbr[a] = -1;
    best[a] = -INFINITY;
    for (int j = 0; j < N; j++) {
      int taken = 0;
      for (int b = 0; b < a; b++) taken |= nbr[b] == j;
      if (!taken && !isnan(sim[j]) && (nbr[a] < 0 || sim[j] > best[a])) nbr[a] = j, best[a] = sim[j];
    }
  }
}

/* What one query's comparison found. */
typedef struct tally {
  long firm, near, exact_ties, wrong;
} tally;

/* Compares the index's list (NBR, SIM) for query Q with the oracle's over
** the rows ALLOWED: at every rank the similarity within EPS, and the same
** row wherever no other allowed row's similarity is within EPS of that
** rank's without being equal to it. */
static void compare(const float *X, int q, const char *allowed, const int64_t *nbr,
                    const float *sim, tally *t) {
  int64_t want[K];
  double best[K], *all = cur_mallocarray(N, sizeof *all);
  if (!all) {
    t->wrong++;
    return;
  }
  oracle(X, q, allowed, want, best, all);
  for (int a = 0; a < K; a++) {
    if (want[a] < 0) {                     /* fewer rows allowed than K */
      t->wrong += nbr[a] != -1 || sim[a] != -INFINITY;
      continue;
    }
    int near = 0, tie = 0;
    for (int j = 0; j < N; j++) {
      if (isnan(all[j]) || j == want[a]) continue;
      double gap = fabs(all[j] - best[a]);
      near |= gap > 0 && gap <= EPS;
      tie |= gap == 0;
    }
    t->wrong += nbr[a] < 0 || fabs(sim[a] - best[a]) > EPS;
    if (near) {
      t->near++;
      continue;
    }
    t->firm++;
    t->exact_ties += tie;
    t->wrong += nbr[a] != want[a];
  }
  cur_free(all);
}

/* knn-1.1: with nprobe = nlist every row is searched: the exact neighbours,
** exact ties in index order, no row its own neighbour. */
TEST(probing_every_cell_gives_the_exact_neighbours) {
  float *X = planted_rows(11), *sim = cur_mallocarray(N, K * sizeof *sim);
  int64_t *nbr = cur_mallocarray(N, K * sizeof *nbr);
  REQUIRE(X && sim && nbr);
  knn_ivf *ix = NULL;
  REQUIRE_OK(knn_ivf_new(X, N, D, 40, 5, 2, &ix));
  REQUIRE_OK(knn_ivf_search(ix, 40, K, NULL, N, nbr, sim));
  tally t = {0};
  for (int q = 0; q < N; q++) compare(X, q, NULL, nbr + q * K, sim + q * K, &t);
  CHECK_INT(t.wrong, 0);
  CHECK(t.firm > 0.99 * N * K);          /* the data leaves few near ties */
  CHECK(t.exact_ties >= COPIES);         /* and the copies make exact ones */
  knn_ivf_free(ix);
  cur_free(X), cur_free(sim), cur_free(nbr);
}

/* The NLIST cells in the oracle's order for row X: by double inner product
** with their centroid, largest first, ties to the lower cell; the scores
** in that order into SCORE. */
static void rank_cells(const float *C, int nlist, const float *x, int *order, double *score) {
  char taken[64] = {0};
  for (int p = 0; p < nlist; p++) {
    int best = -1;
    double s = 0;
    for (int c = 0; c < nlist; c++) {
      double v = dot(x, C + c * D, D);
      if (!taken[c] && (best < 0 || v > s)) best = c, s = v;
    }
    taken[best] = 1;
    order[p] = best;
    score[p] = s;
  }
}

/* knn-2.1: probing 3 of 40 cells, each query gets the exact neighbours
** among the rows filed in the cells it probes: the oracle files every row
** in its nearest centroid's cell and picks each query's 3 nearest itself.
** A query is left out when its 3rd and 4th cells are within EPS, or when a
** row within EPS of two cells would be searched in one and not the other. */
TEST(probing_some_cells_gives_the_exact_neighbours_among_their_rows) {
  enum { NLIST = 40, NPROBE = 3 };
  float *X = planted_rows(12), *sim = cur_mallocarray(N, K * sizeof *sim);
  int64_t *nbr = cur_mallocarray(N, K * sizeof *nbr);
  int *first = cur_mallocarray(N, sizeof *first), *second = cur_mallocarray(N, sizeof *second);
  char *on_edge = cur_mallocarray(N, 1), *allowed = cur_mallocarray(N, 1);
  double *all = cur_mallocarray(N, sizeof *all);
  REQUIRE(X && sim && nbr && first && second && on_edge && allowed && all);
  knn_ivf *ix = NULL;
  REQUIRE_OK(knn_ivf_new(X, N, D, NLIST, 6, 2, &ix));
  REQUIRE_OK(knn_ivf_search(ix, NPROBE, K, NULL, N, nbr, sim));
  const float *C = knn_ivf_centroids(ix);
  int order[NLIST];
  double score[NLIST];
  for (int i = 0; i < N; i++) {
    rank_cells(C, NLIST, X + i * D, order, score);
    first[i] = order[0], second[i] = order[1];
    on_edge[i] = score[0] - score[1] <= EPS;
  }
  tally t = {0};
  long left_out = 0, differs = 0;
  for (int q = 0; q < N; q++) {
    char probed[NLIST] = {0};
    rank_cells(C, NLIST, X + q * D, order, score);
    for (int p = 0; p < NPROBE; p++) probed[order[p]] = 1;
    int firm = score[NPROBE - 1] - score[NPROBE] > EPS;
    for (int j = 0; j < N; j++) {
      allowed[j] = probed[first[j]];
      firm &= !on_edge[j] || probed[first[j]] == probed[second[j]];
    }
    if (!firm) {
      left_out++;
      continue;
    }
    compare(X, q, allowed, nbr + q * K, sim + q * K, &t);
    int64_t exact[K];
    double best[K];
    oracle(X, q, NULL, exact, best, all);
    for (int a = 0; a < K; a++) differs += exact[a] != nbr[q * K + a];
  }
  CHECK_INT(t.wrong, 0);
  CHECK(left_out < N / 20);
  CHECK(t.firm > 0.95 * N * K);
  CHECK(differs > 0);                    /* the probes do restrict the search */
  knn_ivf_free(ix);
  cur_free(all), cur_free(X), cur_free(sim), cur_free(nbr), cur_free(first), cur_free(second);
  cur_free(on_edge), cur_free(allowed);
}

/* knn-3.1: one thread and three threads give the same bytes. */
TEST(neighbours_do_not_depend_on_the_thread_count) {
  float *X = planted_rows(13), *sim1 = cur_mallocarray(N, K * sizeof *sim1);
  float *sim3 = cur_mallocarray(N, K * sizeof *sim3);
  int64_t *nbr1 = cur_mallocarray(N, K * sizeof *nbr1), *nbr3 = cur_mallocarray(N, K * sizeof *nbr3);
  REQUIRE(X && sim1 && sim3 && nbr1 && nbr3);
  knn_ivf *one = NULL, *three = NULL;
  REQUIRE_OK(knn_ivf_new(X, N, D, 40, 7, 1, &one));
  REQUIRE_OK(knn_ivf_new(X, N, D, 40, 7, 3, &three));
  REQUIRE_OK(knn_ivf_search(one, 4, K, NULL, N, nbr1, sim1));
  REQUIRE_OK(knn_ivf_search(three, 4, K, NULL, N, nbr3, sim3));
  CHECK(memcmp(nbr1, nbr3, (size_t)N * K * sizeof *nbr1) == 0);
  CHECK(memcmp(sim1, sim3, (size_t)N * K * sizeof *sim1) == 0);
  knn_ivf_free(one), knn_ivf_free(three);
  cur_free(X), cur_free(sim1), cur_free(sim3), cur_free(nbr1), cur_free(nbr3);
}

/* knn-4.1: a row of NaN (a stored vector with an infinity, centred and
** scaled) lists no neighbour and is listed by none; a row of zeros is
** listed at similarity 0 and lists rows at 0; asking for more neighbours
** than one cell holds fills the rest with -1 and -INFINITY; a query row
** outside the rows and k 0 are refused. */
TEST(nan_and_zero_rows_and_short_cells_are_handled) {
  enum { M = 400, NLIST = 8, KK = 120 };
  float *X = planted_rows(14), *sim = cur_mallocarray(M, KK * sizeof *sim);
  int64_t *nbr = cur_mallocarray(M, KK * sizeof *nbr);
  REQUIRE(X && sim && nbr);
  for (int j = 0; j < D; j++) X[7 * D + j] = NAN, X[9 * D + j] = 0;
  knn_ivf *ix = NULL;
  REQUIRE_OK(knn_ivf_new(X, M, D, NLIST, 8, 2, &ix));
  REQUIRE_OK(knn_ivf_search(ix, 1, KK, NULL, M, nbr, sim));
  long listed_nan = 0, empty_tail = 0, bad_order = 0;
  for (int q = 0; q < M; q++)
    for (int a = 0; a < KK; a++) {
      int64_t b = nbr[q * KK + a];
      listed_nan += b == 7;
      empty_tail += b < 0 && sim[q * KK + a] == -INFINITY;
      if (a > 0 && b >= 0) bad_order += nbr[q * KK + a - 1] < 0 || sim[q * KK + a] > sim[q * KK + a - 1];
    }
  CHECK_INT(nbr[7 * KK], -1);
  CHECK_INT(listed_nan, 0);
  CHECK_INT(bad_order, 0);
  CHECK(empty_tail > 0);                 /* 400 rows in 8 cells: fewer than 120 in some */
  for (int a = 0; a < KK && nbr[9 * KK + a] >= 0; a++) CHECK(sim[9 * KK + a] == 0);
  REQUIRE_OK(knn_ivf_search(ix, 0, 3, NULL, M, nbr, sim));     /* nprobe 0 reads as 1 */
  int64_t outside[1] = {M};
  CHECK(knn_ivf_search(ix, 2, 3, outside, 1, nbr, sim) == CUR_EINPUT);
  CHECK(knn_ivf_search(ix, 2, 0, NULL, M, nbr, sim) == CUR_EINPUT);
  knn_ivf_free(ix);
  cur_free(X), cur_free(sim), cur_free(nbr);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(probing_every_cell_gives_the_exact_neighbours);
  RUN(probing_some_cells_gives_the_exact_neighbours_among_their_rows);
  RUN(neighbours_do_not_depend_on_the_thread_count);
  RUN(nan_and_zero_rows_and_short_cells_are_handled);
  return test_finish();
}
