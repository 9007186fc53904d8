/* knn_faiss_internal.h -- the extern "C" functions knn_faiss.cpp exports to knn.c and knn_ivf.c.
**
** One declaration for both languages, so a change on either side of the
** C/C++ boundary fails to compile instead of mismatching at link time.
** Each returns 0 on success, -2 out of memory, -1 another failure (message
** in ERR).
*/
#ifndef CURATE_KNN_FAISS_INTERNAL_H
#define CURATE_KNN_FAISS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Rows come from GET(CTX, FIRST, COUNT, OUT) (knn.h's knn_rows). */
typedef void (*knn__rows_fn)(void *ctx, int64_t first, int64_t count, float *out);

int knn__faiss_exact(int threads, int k, knn__rows_fn get, void *ctx, int64_t n, int d,
                     const int64_t *query, int64_t m, int64_t *nbr, float *sim, char *err,
                     size_t err_cap);
int knn__faiss_train_cells(int threads, const float *sample, int64_t n_train, int d, int nlist,
                           float *centroids, char *err, size_t err_cap);

#ifdef __cplusplus
}
#endif

#endif
