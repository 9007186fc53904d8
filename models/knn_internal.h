/* knn_internal.h -- what knn.c (exact search, sampling, tuning) shares with knn_ivf.c (the IVF index). */
#ifndef CURATE_KNN_INTERNAL_H
#define CURATE_KNN_INTERNAL_H

#include <stdint.h>

/* knn_rows over a plain matrix X of D values a row (knn_search, knn_ivf_new). */
typedef struct knn_matrix_rows {
  const float *X;
  int d;
} knn_matrix_rows;
void knn_matrix_get(void *ctx, int64_t first, int64_t count, float *out);

/* CUR_OK, or CUR_EINPUT naming the bad value: K, D, N and THREADS out of
** range, or a row of QUERY[0..m) outside 0..N). */
int knn__check_request(int k, int d, int64_t n, int threads, const int64_t *query, int64_t m);
/* A knn_faiss_internal.h code (0, -2, -1 with ERR) as curate's, for N x D rows. */
int knn__shim_rc(int rc, const char *err, int64_t n, int d);

#endif
