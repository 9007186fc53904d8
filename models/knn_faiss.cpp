/* knn_faiss.cpp -- the C++ side of knn.h: exact self-kNN over faiss's flat index, and the IVF cells' k-means.
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

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <vector>

extern "C" {
#include "knn.h"
}
#include "knn_faiss_internal.h"

/* Keeps, per query, the first k results that are not the query's own row
** (QUERY[i], or FIRST + i without QUERY). */
static void drop_self(int64_t m, const int64_t *query, int64_t first, int k,
                      const std::vector<faiss::Index::idx_t> &lab,
                      const std::vector<float> &dist, int64_t *nbr, float *sim) {
  for (int64_t i = 0; i < m; i++) {
    int out = 0;
    int64_t self = query ? query[i] : first + i;
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

/* Where rows come from (knn.h's knn_rows). */
struct row_source {
  knn__rows_fn get;
  void *ctx;
  int64_t n;
  int d;
};

/* The rows of the block starting at FIRST: KNN_BLOCK_ROWS, the last block
** the rest (up to twice that, so that no block is a small remainder). */
static int64_t block_rows(const row_source &r, int64_t first) {
  return r.n - first < 2 * KNN_BLOCK_ROWS ? r.n - first : KNN_BLOCK_ROWS;
}

static void fetch(const row_source &r, int64_t first, int64_t count, std::vector<float> &out) {
  out.resize((size_t)count * (size_t)r.d);
  r.get(r.ctx, first, count, out.data());
}

/* Rows ROWS[0..m) gathered contiguous into OUT. */
static void gather(const row_source &r, const int64_t *rows, int64_t m, std::vector<float> &out) {
  out.resize((size_t)m * (size_t)r.d);
  for (int64_t i = 0; i < m; i++) r.get(r.ctx, rows[i], 1, out.data() + i * r.d);
}

/* Every row of R added to INDEX, block by block. */
static void add_rows(faiss::Index &index, const row_source &r) {
  std::vector<float> block;
  for (int64_t first = 0, count; first < r.n; first += count) {
    count = block_rows(r, first);
    fetch(r, first, count, block);
    index.add(count, block.data());
  }
}

/* The k + 1 nearest in INDEX of M query rows Q (QUERY[i], or FIRST + i
** without QUERY), self dropped. */
static void search_block(const faiss::Index &index, int k, const float *Q, int64_t first,
                         const int64_t *query, int64_t m, int64_t *nbr, float *sim) {
  std::vector<faiss::Index::idx_t> lab((size_t)m * (size_t)(k + 1));
  std::vector<float> dist((size_t)m * (size_t)(k + 1));
  index.search(m, Q, k + 1, dist.data(), lab.data());
  drop_self(m, query, first, k, lab, dist, nbr, sim);
}

/* The k nearest other rows of QUERY[0..m), or of every row of R block by block. */
static void search(const faiss::Index &index, int k, const row_source &r, const int64_t *query,
                   int64_t m, int64_t *nbr, float *sim) {
  std::vector<float> Q;
  if (query) {
    gather(r, query, m, Q);
    search_block(index, k, Q.data(), 0, query, m, nbr, sim);
    return;
  }
  for (int64_t first = 0, count; first < r.n; first += count) {
    count = block_rows(r, first);
    fetch(r, first, count, Q);
    search_block(index, k, Q.data(), first, NULL, count, nbr + first * k, sim + first * k);
  }
}

/* In OpenBLAS's own header, but not in every cblas.h. */
extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

/* faiss on one OpenMP thread, its BLAS on THREADS, for the object's
** lifetime.  faiss's time here is sgemm; between two sgemm calls it opens a
** short OpenMP region per block of 4,096 x 1,024 scores (a heap update, or
** k-means' assignment), and libgomp's idle threads spin-wait between
** regions (GOMP_SPINCOUNT) on the cores OpenBLAS wants.  Measured on the
** audit benchmark (2 cores, load 2 to 3, alternated twice): the exact
** search of 10^5 images of 192 values 66 -> 47 s of CPU, 38 -> 29 s wall;
** k-means on 256,000 rows and filing 10^6, 78 -> 57 s CPU, 40 -> 29 s
** wall.  Neither's results depend on the thread counts: BLAS splits the
** rows and columns of a product, not its sums, and each k-means centroid
** sums its rows in row order. */
struct faiss_threads {
  int blas;
  explicit faiss_threads(int threads) : blas(openblas_get_num_threads()) {
    omp_set_num_threads(1);
    openblas_set_num_threads(threads);
  }
  ~faiss_threads() { openblas_set_num_threads(blas); }
};

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

int knn__faiss_exact(int threads, int k, knn__rows_fn get, void *ctx, int64_t n, int d,
                     const int64_t *query, int64_t m, int64_t *nbr, float *sim, char *err,
                     size_t err_cap) {
  return guarded(err, err_cap, [&] {
    faiss_threads on(threads);
    row_source r = {get, ctx, n, d};
    faiss::IndexFlatIP flat(d);
    add_rows(flat, r);
    search(flat, k, r, query, m, nbr, sim);
  });
}

/* faiss's k-means, as IndexIVFFlat trains its cells for inner product
** (spherical: unit-length centroids; faiss's fixed seed), on the N_TRAIN
** rows SAMPLE; the NLIST centroids into CENTROIDS. */
int knn__faiss_train_cells(int threads, const float *sample, int64_t n_train, int d, int nlist,
                           float *centroids, char *err, size_t err_cap) {
  return guarded(err, err_cap, [&] {
    faiss_threads on(threads);
    faiss::IndexFlatIP quantizer(d);
    faiss::IndexIVFFlat ivf(&quantizer, d, (size_t)nlist, faiss::METRIC_INNER_PRODUCT);
    ivf.train(n_train, sample);
    quantizer.reconstruct_n(0, nlist, centroids);
  });
}
