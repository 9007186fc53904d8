/* knn.h -- k nearest neighbours of every row of a set of vectors, by inner product.
**
** The rows are searched against themselves: each row's k nearest other rows
** (itself left out, wherever the index ranks it) by inner product, largest
** first; with unit-length rows that is cosine similarity.  Exact search
** (faiss::IndexFlatIP) compares every pair; IVF (the inverted file of
** Jegou, Douze & Schmid, "Product quantization for nearest neighbor
** search", TPAMI 2011, as faiss's IndexIVFFlat) clusters the rows into nlist
** k-means cells and compares a query only with the rows of its nprobe
** nearest cells: approximate, much faster on large sets.  Its cells are
** trained with faiss's k-means on a seeded sample of the rows, 64 per cell:
** faiss's k-means wants at least 39 and gains little from more than a few
** dozen, while training on every row was most of the time on 200,000 rows.
** The cells are then scanned with BLAS (knn_ivf.c), ties broken by the
** lower row index, so an IVF search gives the same neighbours for the same
** rows, sample and nprobe whatever the thread count.  How many cells to
** probe is chosen on held-out queries (knn_ivf_tune), not on the rows whose
** recall is reported.
**
** Output arrays are caller-owned, one row of k per query; a row with fewer than k other
** rows reachable gets -1 and -INFINITY in the unused slots.
*/
#ifndef CURATE_KNN_H
#define CURATE_KNN_H

#include <stdint.h>

typedef struct knn_config {
  int k;                /* neighbours per row, >= 1 */
  int ivf;              /* 0: exact search, 1: IVF */
  int nlist;            /* IVF cells (0: about 4 x sqrt(n)) */
  int nprobe;           /* IVF cells searched per query */
  int threads;          /* threads the search may use (faiss's BLAS, the IVF's own), >= 1 */
} knn_config;

/* Fills NBR (row indices) and SIM (inner products), M x k each, for the
** rows QUERY[0..M) of the N x D rows X (QUERY NULL: every row, M = N).
** CUR_OK, CUR_ENOMEM, or CUR_ERR with faiss's message. */
int knn_search(const knn_config *cfg, const float *X, int64_t n, int d, const int64_t *query,
               int64_t m, int64_t *nbr, float *sim);

/* Rows handed over in blocks instead of one matrix, for a caller that
** keeps its vectors in another form (the audit stage: half floats) and
** makes the float rows when asked, so that they are never all in memory
** at once: GET(CTX, FIRST, COUNT, OUT) writes rows FIRST .. FIRST + COUNT - 1
** (COUNT x D values) into OUT, the same values every time it is asked.
** Blocks are of at most KNN_BLOCK_ROWS rows (the exact search's last one up
** to twice that): a multiple of faiss's own blocks of queries (4,096) and
** of rows added (65,536), so the results are those of one call over the
** whole matrix. */
#define KNN_BLOCK_ROWS 65536
typedef struct knn_rows {
  void (*get)(void *ctx, int64_t first, int64_t count, float *out);
  void *ctx;
  int64_t n;
  int d;
} knn_rows;
/* As knn_search, over rows handed over by ROWS. */
int knn_search_rows(const knn_config *cfg, const knn_rows *rows, const int64_t *query, int64_t m,
                    int64_t *nbr, float *sim);

/* recall@k of APPROX against EXACT neighbour lists (n x k each): the share of
** each row's exact neighbours that the approximate list also holds, averaged. */
double knn_recall(const int64_t *exact, const int64_t *approx, int64_t n, int k);

/* M distinct rows of 0..N) drawn with SEED, in draw order, into ROWS (M <= N). */
int knn_sample_rows(int64_t n, int64_t m, uint64_t seed, int64_t *rows);

/* An IVF index: it holds a float copy of every row, filed cell by cell, and
** reads X (or ROWS) only while it is built. */
typedef struct knn_ivf knn_ivf;
/* NLIST cells (0: about 4 x sqrt(n); at most n, and at most the sampled
** rows without a NaN or an infinity, which are left out of training)
** trained on 64 rows per cell (all when fewer) drawn with SEED; each row
** filed in its nearest cell.
** CUR_OK, CUR_ENOMEM or CUR_ERR.  The caller frees it with knn_ivf_free. */
int knn_ivf_new(const float *X, int64_t n, int d, int nlist, uint64_t seed, int threads,
                knn_ivf **out);
/* The same over rows handed over by ROWS. */
int knn_ivf_new_rows(const knn_rows *rows, int nlist, uint64_t seed, int threads, knn_ivf **out);
void knn_ivf_free(knn_ivf *ix);                 /* NULL-safe */
int knn_ivf_nlist(const knn_ivf *ix);
/* The nlist x d centroids (unit length), owned by the index.  A row is
** filed in the cell whose centroid has the largest inner product with it
** (ties to the lower cell). */
const float *knn_ivf_centroids(const knn_ivf *ix);
/* As knn_search, probing NPROBE cells (clamped to 1..nlist): each query's
** NPROBE nearest centroids (ties to the lower cell), and its k best rows
** there by inner product, ties to the lower row index. */
int knn_ivf_search(knn_ivf *ix, int nprobe, int k, const int64_t *query, int64_t m,
                   int64_t *nbr, float *sim);
/* The least nprobe of 1, 2, 3, 4, 6, 8, 12, ... (about x1.5 a step) up to
** nlist whose recall@k against EXACT (m x k, the exact neighbours of the
** held-out rows QUERY) reaches TARGET, nlist when none does; its recall in
** *RECALL. */
int knn_ivf_tune(knn_ivf *ix, int k, const int64_t *query, int64_t m, const int64_t *exact,
                 double target, int *nprobe, double *recall);

#endif
