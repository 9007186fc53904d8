/* knn_faiss.cpp -- the C++ side of knn.h: self-kNN over faiss's flat and IVF indexes.
**
** Debian's libfaiss.a holds no C API symbols (faiss/c_api does not link), so
** this one file speaks C++ and exports two extern "C" functions; every
** faiss exception is caught here and turned into a return code with its
** message, so none crosses into C.
*/
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <vector>

extern "C" int knn__faiss_search(int ivf, int nlist, int nprobe, int threads, int k,
                                 const float *X, int64_t n, int d, const int64_t *query,
                                 int64_t m, int64_t *nbr, float *sim, char *err, size_t err_cap);

/* Keeps, per query, the first k results that are not the query's own row. */
static void drop_self(int64_t m, const int64_t *query, int k,
                      const std::vector<faiss::Index::idx_t> &lab,
                      const std::vector<float> &dist, int64_t *nbr, float *sim) {
  for (int64_t i = 0; i < m; i++) {
    int out = 0;
    int64_t self = query ? query[i] : i;
    for (int j = 0; j <= k && out < k; j++) {
      faiss::Index::idx_t l = lab[(size_t)(i * (k + 1) + j)];
      if (l == self || l < 0) continue;
      nbr[i * k + out] = (int64_t)l;
      sim[i * k + out++] = dist[(size_t)(i * (k + 1) + j)];
    }
    for (; out < k; out++) {
      nbr[i * k + out] = -1;
      sim[i * k + out] = -INFINITY;
    }
  }
}

/* 0 on success, -2 out of memory, -1 another failure (message in ERR). */
int knn__faiss_search(int ivf, int nlist, int nprobe, int threads, int k, const float *X,
                      int64_t n, int d, const int64_t *query, int64_t m, int64_t *nbr, float *sim,
                      char *err, size_t err_cap) {
  try {
    omp_set_num_threads(threads);
    std::vector<faiss::Index::idx_t> lab((size_t)m * (size_t)(k + 1));
    std::vector<float> dist((size_t)m * (size_t)(k + 1)), gathered;
    const float *Q = X;
    if (query) {                       /* the query rows, gathered contiguous */
      gathered.resize((size_t)m * (size_t)d);
      for (int64_t i = 0; i < m; i++)
        std::copy(X + query[i] * d, X + (query[i] + 1) * d, gathered.begin() + i * d);
      Q = gathered.data();
    }
    faiss::IndexFlatIP flat(d);
    if (!ivf) {
      flat.add(n, X);
      flat.search(m, Q, k + 1, dist.data(), lab.data());
    } else {
      faiss::IndexIVFFlat index(&flat, d, (size_t)nlist, faiss::METRIC_INNER_PRODUCT);
      index.train(n, X);
      index.add(n, X);
      index.nprobe = (size_t)nprobe;
      index.search(m, Q, k + 1, dist.data(), lab.data());
    }
    drop_self(m, query, k, lab, dist, nbr, sim);
    return 0;
  } catch (const std::bad_alloc &) {
    return -2;
  } catch (const std::exception &e) {
    std::snprintf(err, err_cap, "%s", e.what());
    return -1;
  } catch (...) {
    std::snprintf(err, err_cap, "unknown C++ exception");
    return -1;
  }
}
