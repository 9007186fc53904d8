/* knn_faiss.cpp -- the C++ side of knn.h: self-kNN over faiss's flat and IVF indexes.
**
** Debian's libfaiss.a holds no C API symbols (faiss/c_api does not link), so
** this one file speaks C++ and exports extern "C" functions; every faiss
** exception is caught here and turned into a return code with its message,
** so none crosses into C.  Each returns 0 on success, -2 out of memory, -1
** another failure (message in ERR).
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

#include "knn_faiss_internal.h"

/* An IVF index with the quantizer it points to. */
struct ivf_index {
  faiss::IndexFlatIP quantizer;
  faiss::IndexIVFFlat index;
  ivf_index(int d, int nlist)
      : quantizer(d), index(&quantizer, d, (size_t)nlist, faiss::METRIC_INNER_PRODUCT) {}
};

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

/* Rows ROWS[0..m) of X gathered contiguous into OUT. */
static void gather(const float *X, int d, const int64_t *rows, int64_t m, std::vector<float> &out) {
  out.resize((size_t)m * (size_t)d);
  for (int64_t i = 0; i < m; i++)
    std::copy(X + rows[i] * d, X + (rows[i] + 1) * d, out.begin() + i * d);
}

/* The k + 1 nearest of each query row (X itself when QUERY is NULL) in INDEX, self dropped. */
static void search(const faiss::Index &index, int k, const float *X, int d, const int64_t *query,
                   int64_t m, int64_t *nbr, float *sim) {
  std::vector<faiss::Index::idx_t> lab((size_t)m * (size_t)(k + 1));
  std::vector<float> dist((size_t)m * (size_t)(k + 1)), gathered;
  const float *Q = X;
  if (query) {
    gather(X, d, query, m, gathered);
    Q = gathered.data();
  }
  index.search(m, Q, k + 1, dist.data(), lab.data());
  drop_self(m, query, k, lab, dist, nbr, sim);
}

/* Runs F, turning exceptions into the return codes above. */
template <class F> static int guarded(char *err, size_t err_cap, F f) {
  try {
    f();
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

int knn__faiss_exact(int threads, int k, const float *X, int64_t n, int d, const int64_t *query,
                     int64_t m, int64_t *nbr, float *sim, char *err, size_t err_cap) {
  return guarded(err, err_cap, [&] {
    omp_set_num_threads(threads);
    faiss::IndexFlatIP flat(d);
    flat.add(n, X);
    search(flat, k, X, d, query, m, nbr, sim);
  });
}

/* Trains the cells on the rows TRAIN[0..n_train) (faiss's k-means, fixed
** seed), then files all N rows. */
int knn__faiss_ivf_new(int threads, const float *X, int64_t n, int d, int nlist,
                       const int64_t *train, int64_t n_train, void **out, char *err,
                       size_t err_cap) {
  ivf_index *ix = nullptr;
  int rc = guarded(err, err_cap, [&] {
    omp_set_num_threads(threads);
    std::unique_ptr<ivf_index> made(new ivf_index(d, nlist));
    std::vector<float> sample;
    gather(X, d, train, n_train, sample);
    made->index.train(n_train, sample.data());
    made->index.add(n, X);
    ix = made.release();
  });
  *out = ix;
  return rc;
}

int knn__faiss_ivf_search(void *ivf, int threads, int nprobe, int k, const float *X, int d,
                          const int64_t *query, int64_t m, int64_t *nbr, float *sim, char *err,
                          size_t err_cap) {
  return guarded(err, err_cap, [&] {
    omp_set_num_threads(threads);
    ivf_index *ix = static_cast<ivf_index *>(ivf);
    ix->index.nprobe = (size_t)nprobe;
    search(ix->index, k, X, d, query, m, nbr, sim);
  });
}

void knn__faiss_ivf_free(void *ivf) { delete static_cast<ivf_index *>(ivf); }
