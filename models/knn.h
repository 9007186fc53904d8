/* knn.h -- k nearest neighbours of every row of a set of vectors, by inner product (faiss).
**
** The rows are searched against themselves: each row's k nearest other rows
** (itself left out, wherever the index ranks it) by inner product, largest
** first; with unit-length rows that is cosine similarity.  Exact search
** (faiss::IndexFlatIP) compares every pair; IVF (faiss::IndexIVFFlat, Jegou,
** Douze & Schmid, "Product quantization for nearest neighbor search", TPAMI
** 2011) clusters the rows into nlist k-means cells and compares a query only
** with the rows of its nprobe nearest cells: approximate, much faster on
** large sets.  faiss trains its k-means with a fixed seed, so a search
** gives the same neighbours every time for the same rows and threads.
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
  int threads;          /* OpenMP threads faiss may use, >= 1 */
} knn_config;

/* Fills NBR (row indices) and SIM (inner products), M x k each, for the
** rows QUERY[0..M) of the N x D rows X (QUERY NULL: every row, M = N).
** CUR_OK, CUR_ENOMEM, or CUR_ERR with faiss's message. */
int knn_search(const knn_config *cfg, const float *X, int64_t n, int d, const int64_t *query,
               int64_t m, int64_t *nbr, float *sim);

/* recall@k of APPROX against EXACT neighbour lists (n x k each): the share of
** each row's exact neighbours that the approximate list also holds, averaged. */
double knn_recall(const int64_t *exact, const int64_t *approx, int64_t n, int k);

#endif
