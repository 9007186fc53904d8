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
#include <faiss/invlists/InvertedLists.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <vector>

extern "C" {
#include "knn.h"
}
#include "knn_faiss_internal.h"

/* An IVF index with the quantizer it points to. */
struct ivf_index {
  faiss::IndexFlatIP quantizer;
  faiss::IndexIVFFlat index;
  ivf_index(int d, int nlist)
      : quantizer(d), index(&quantizer, d, (size_t)nlist, faiss::METRIC_INNER_PRODUCT) {}
};

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

/* Every row of R filed in the IVF INDEX.  faiss's add grows each cell's
** list by doubling, which left the lists a third larger than their rows
** on average (at 10^6 rows of 192 values, about 300 MB more than the
** 768 MB of rows); so the cells of all rows are found first, block by
** block (as add would find them), each list is reserved at its final
** size, and the rows are then filed with those cells. */
static void add_rows_ivf(faiss::IndexIVF &index, const row_source &r) {
  std::vector<faiss::Index::idx_t> cell((size_t)r.n);
  std::vector<float> block;
  for (int64_t first = 0, count; first < r.n; first += count) {
    count = block_rows(r, first);
    fetch(r, first, count, block);
    index.quantizer->assign(count, block.data(), cell.data() + first);
  }
  auto *lists = dynamic_cast<faiss::ArrayInvertedLists *>(index.invlists);
  if (lists) {
    std::vector<size_t> size(index.nlist);
    for (faiss::Index::idx_t c : cell)
      if (c >= 0) size[(size_t)c]++;
    for (size_t l = 0; l < index.nlist; l++) {
      lists->codes[l].reserve(size[l] * lists->code_size);
      lists->ids[l].reserve(size[l]);
    }
  }
  for (int64_t first = 0, count; first < r.n; first += count) {
    count = block_rows(r, first);
    fetch(r, first, count, block);
    index.add_core(count, block.data(), nullptr, cell.data() + first);
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
    omp_set_num_threads(threads);
    row_source r = {get, ctx, n, d};
    faiss::IndexFlatIP flat(d);
    add_rows(flat, r);
    search(flat, k, r, query, m, nbr, sim);
  });
}

/* Trains the cells on the rows TRAIN[0..n_train) (faiss's k-means, fixed
** seed), then files all N rows. */
int knn__faiss_ivf_new(int threads, knn__rows_fn get, void *ctx, int64_t n, int d, int nlist,
                       const int64_t *train, int64_t n_train, void **out, char *err,
                       size_t err_cap) {
  ivf_index *ix = nullptr;
  int rc = guarded(err, err_cap, [&] {
    omp_set_num_threads(threads);
    row_source r = {get, ctx, n, d};
    std::unique_ptr<ivf_index> made(new ivf_index(d, nlist));
    std::vector<float> sample;
    gather(r, train, n_train, sample);
    made->index.train(n_train, sample.data());
    std::vector<float>().swap(sample);
    add_rows_ivf(made->index, r);
    ix = made.release();
  });
  *out = ix;
  return rc;
}

int knn__faiss_ivf_search(void *ivf, int threads, int nprobe, int k, knn__rows_fn get, void *ctx,
                          int64_t n, int d, const int64_t *query, int64_t m, int64_t *nbr,
                          float *sim, char *err, size_t err_cap) {
  return guarded(err, err_cap, [&] {
    omp_set_num_threads(threads);
    ivf_index *ix = static_cast<ivf_index *>(ivf);
    ix->index.nprobe = (size_t)nprobe;
    search(ix->index, k, row_source{get, ctx, n, d}, query, m, nbr, sim);
  });
}

void knn__faiss_ivf_free(void *ivf) { delete static_cast<ivf_index *>(ivf); }
