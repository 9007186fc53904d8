/* knn_ivf.c -- knn.h's IVF index: faiss's k-means cells, each cell's rows scored with BLAS sgemm.
**
** Build.  The cells' centroids are faiss's spherical k-means on a seeded
** sample of the rows (knn_faiss.cpp: as faiss's IndexIVFFlat trains them).
** Each row's NEAR_CELLS nearest centroids (largest inner product) are found
** with one sgemm per block of BLOCK rows against all centroids and a
** selection; the row is filed in the nearest, and the index keeps its own
** float copy of the rows, cell after cell, in row order within a cell.
**
** Search.  The queries go in chunks (CAND_BYTES); per chunk:
**  1. each query's nprobe nearest cells: the first nprobe of those found
**     for its row at filing, or with more, found anew as above;
**  2. that inverted into, per cell, the queries that probe it;
**  3. per cell, one sgemm of those queries (BLOCK at a time) against the
**     cell's rows; each (query, probe) pair has a slot of its own for the k
**     best rows of that cell, written by that cell's task only;
**  4. each query's k best of its nprobe slots.
** faiss's IndexIVFFlat scored a cell's rows one query at a time with a
** scalar loop (Debian builds libfaiss for baseline x86-64): at 10^6 rows of
** 192 values, nprobe 9, about 610 s of CPU; sgemm computes the same inner
** products on the CPU's vector units, many queries per pass over a cell.
**
** Ties and threads.  Candidates are ranked by similarity, then by the lower
** row index (probed cells: by similarity, then the lower cell), a total
** order, so what a selection keeps does not depend on the order candidates
** come in; every slot is written by one task, and chunks and blocks are
** cut by query position, not by thread, so the neighbours are the same for
** any thread count and any order the cells are scanned in.  A query's
** similarities come from an sgemm of its chunk's shape, so a search of
** some rows only may round a similarity differently from a search of all.
** sgemm sums in another order than faiss did: on a near tie a neighbour
** can differ from faiss's.  A row never lists itself (a query's own row is
** skipped by index, not by similarity).
*/
#include "knn.h"

#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "curate.h"
#include "knn_faiss_internal.h"
#include "knn_internal.h"
#include "parallel.h"

/* Rows per cell the cells are trained on (knn.h). */
#define TRAIN_PER_CELL 64
/* The nearest cells of each row found when it is filed (P below, or nlist
** when fewer), kept for the searches that probe no more: every row's
** centroid scores are computed once, not again for each search of all
** rows (at 10^6 rows they are twice the work of scanning the cells). */
#define NEAR_CELLS 16
/* Query vectors per sgemm. */
#define BLOCK 256
/* A cell's rows per sgemm: bounds the scores' scratch when one cell holds
** most of the rows (identical vectors all fall in one cell). */
#define ROW_BLOCK 1024
/* The candidate slots of one chunk of queries (nprobe x k each), and at most
** MAX_CHUNK queries a chunk: at nprobe 9 and k 10, 62,000 queries, about 140
** per cell of 10^6 rows in 4,000 cells, so each sgemm has rows enough. */
#define CAND_BYTES ((int64_t)64 << 20)
#define MAX_CHUNK 65536
#define MAX_WORKERS 64
/* An empty candidate slot: similarity -INFINITY and this index rank it
** after every candidate (ranks_before). */
#define EMPTY_ID INT64_MAX

/* In OpenBLAS's own header, but not in every cblas.h. */
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);

struct knn_ivf {
  int64_t n;
  int d, nlist, threads;
  float *centroid;             /* nlist x d */
  int64_t *start;              /* nlist + 1: cell c holds positions start[c] .. start[c + 1) */
  float *rows;                 /* n x d: the rows, cell after cell */
  int64_t *row_at;             /* position -> row index */
  int64_t *pos;                /* row index -> position */
  int n_near;                  /* NEAR_CELLS, at most nlist */
  int32_t *near;               /* n x n_near: each row's nearest cells, nearest first */
};

/* Whether (S, I) ranks before (T, J): the larger similarity, then the lower
** index.  A NaN similarity ranks before nothing, so it is never kept. */
static inline int ranks_before(float s, int64_t i, float t, int64_t j) {
  return s > t || (s == t && i < j);
}

/* The best SIZE candidates seen, kept as a heap whose root (HS[0], HI[0]) is
** the worst kept; every slot starts empty. */
static void top_clear(float *hs, int64_t *hi, int64_t size) {
  for (int64_t j = 0; j < size; j++) hs[j] = -INFINITY, hi[j] = EMPTY_ID;
}

/* (S, I) put in the root's place and sifted down to where it ranks. */
static void top_sift(float *hs, int64_t *hi, int size, float s, int64_t i) {
  int at = 0;
  for (int c; (c = 2 * at + 1) < size; at = c) {
    if (c + 1 < size && ranks_before(hs[c], hi[c], hs[c + 1], hi[c + 1])) c++;  /* the worse */
    if (!ranks_before(s, i, hs[c], hi[c])) break;
    hs[at] = hs[c], hi[at] = hi[c];
  }
  hs[at] = s, hi[at] = i;
}

static inline void top_push(float *hs, int64_t *hi, int size, float s, int64_t i) {
  if (ranks_before(s, i, hs[0], hi[0])) top_sift(hs, hi, size, s, i);
}

/* The heap sorted best first (heapsort: the worst goes to the end). */
static void top_sort(float *hs, int64_t *hi, int size) {
  for (int end = size - 1; end > 0; end--) {
    float s = hs[end];
    int64_t i = hi[end];
    hs[end] = hs[0], hi[end] = hi[0];
    top_sift(hs, hi, end, s, i);
  }
}

/* One worker's scratch, sized for the largest use. */
typedef struct scratch {
  float *q;                    /* BLOCK x d: a block of query vectors */
  float *score;                /* BLOCK x cols: their scores */
  float *hs;                   /* a selection of up to heap candidates */
  int64_t *hi;
} scratch;

static void scratch_free(scratch *s, int workers) {
  for (int w = 0; s && w < workers; w++)
    cur_free(s[w].q), cur_free(s[w].score), cur_free(s[w].hs), cur_free(s[w].hi);
  cur_free(s);
}

static int scratch_new(int workers, int d, int cols, int heap, scratch **out) {
  scratch *s = *out = cur_calloc((size_t)workers, sizeof *s);
  if (!s) return CUR_ENOMEM;
  for (int w = 0; w < workers; w++) {
    s[w].q = cur_mallocarray(BLOCK, (size_t)d * sizeof(float));
    s[w].score = cur_mallocarray(BLOCK, (size_t)cols * sizeof(float));
    s[w].hs = cur_mallocarray((size_t)heap, sizeof(float));
    s[w].hi = cur_mallocarray((size_t)heap, sizeof(int64_t));
    if (!s[w].q || !s[w].score || !s[w].hs || !s[w].hi) {
      scratch_free(s, workers);
      *out = NULL;
      return CUR_ENOMEM;
    }
  }
  return CUR_OK;
}

/* Tasks 0 .. n_tasks - 1, handed out one at a time to the workers, each
** worker with a scratch of its own. */
typedef struct tasks {
  atomic_size_t next;
  size_t n_tasks;
  void (*run)(void *ctx, scratch *s, size_t task);
  void *ctx;
  scratch *scratch;
} tasks;

static void tasks_worker(void *ctx, size_t worker) {
  tasks *t = ctx;
  for (size_t i; (i = atomic_fetch_add(&t->next, 1)) < t->n_tasks;)
    t->run(t->ctx, &t->scratch[worker], i);
}

static void run_tasks(scratch *s, int workers, size_t n_tasks,
                      void (*run)(void *ctx, scratch *s, size_t task), void *ctx) {
  tasks t = {.n_tasks = n_tasks, .run = run, .ctx = ctx, .scratch = s};
  atomic_init(&t.next, 0);
  cur_parallel_for((size_t)workers, workers, tasks_worker, &t);
}

static int workers_of(const knn_ivf *ix) {
  return ix->threads < MAX_WORKERS ? ix->threads : MAX_WORKERS;
}

/* The P nearest cells (largest inner product with the centroid) of each of
** the M rows Q (m x d), into CELLS (m x p, nearest first; -1 past the
** cells of a row whose scores are NaN). */
static void nearest_cells(const knn_ivf *ix, const float *Q, int m, int p, scratch *s,
                          int32_t *cells) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, ix->nlist, ix->d, 1.0f, Q, ix->d,
              ix->centroid, ix->d, 0.0f, s->score, ix->nlist);
  for (int i = 0; i < m; i++) {
    const float *score = s->score + (size_t)i * ix->nlist;
    top_clear(s->hs, s->hi, p);
    for (int c = 0; c < ix->nlist; c++) top_push(s->hs, s->hi, p, score[c], c);
    top_sort(s->hs, s->hi, p);
    for (int j = 0; j < p; j++)
      cells[(size_t)i * p + j] = s->hi[j] == EMPTY_ID ? -1 : (int32_t)s->hi[j];
  }
}

/* ---- building ---- */

/* Whether the D values at X are all finite. */
static int finite_row(const float *x, int d) {
  for (int j = 0; j < d; j++)
    if (!isfinite(x[j])) return 0;
  return 1;
}

/* The centroids: faiss's k-means on 64 rows a cell drawn with SEED.  faiss
** refuses a sample holding a NaN or an infinity (a stored vector with an
** infinity becomes NaN when scaled), so such rows are left out of it, and
** there are at most as many cells as finite rows sampled. */
static int train_cells(knn_ivf *ix, const knn_rows *rows, uint64_t seed) {
  int64_t n_train = (int64_t)ix->nlist * TRAIN_PER_CELL < ix->n
                        ? (int64_t)ix->nlist * TRAIN_PER_CELL : ix->n;
  int d = ix->d;
  int64_t *train = cur_mallocarray((size_t)n_train, sizeof *train);
  float *sample = cur_mallocarray((size_t)n_train, (size_t)d * sizeof *sample);
  ix->centroid = cur_mallocarray((size_t)ix->nlist, (size_t)d * sizeof *ix->centroid);
  int rc = train && sample && ix->centroid ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = knn_sample_rows(ix->n, n_train, seed, train);
  int64_t kept = 0;
  for (int64_t i = 0; rc == CUR_OK && i < n_train; i++) {
    rows->get(rows->ctx, train[i], 1, sample + kept * d);
    kept += finite_row(sample + kept * d, d);
  }
  if (rc == CUR_OK && kept == 0)
    rc = cur_errorc(CUR_EINPUT, "knn: every one of %lld sampled rows holds a NaN or an infinity",
                    (long long)n_train);
  if (rc == CUR_OK && kept < ix->nlist) ix->nlist = (int)kept;
  n_train = kept;
  char err[256] = "";
  if (rc == CUR_OK)
    rc = knn__shim_rc(knn__faiss_train_cells(ix->threads, sample, n_train, d, ix->nlist,
                                             ix->centroid, err, sizeof err), err, ix->n, d);
  cur_free(train), cur_free(sample);
  return rc;
}

/* The nearest cells of each row of a fetched block, BLOCK rows a task. */
typedef struct assign_job {
  const knn_ivf *ix;
  const float *X;              /* count x d */
  int64_t count;
  int32_t *near;               /* count x n_near */
} assign_job;

static void assign_task(void *ctx, scratch *s, size_t task) {
  const assign_job *j = ctx;
  int64_t first = (int64_t)task * BLOCK, m = j->count - first < BLOCK ? j->count - first : BLOCK;
  int p = j->ix->n_near;
  nearest_cells(j->ix, j->X + first * j->ix->d, (int)m, p, s, j->near + first * p);
}

/* Rows FIRST .. of ROWS in blocks of at most KNN_BLOCK_ROWS into X: their count. */
static int64_t fetch(const knn_rows *rows, int64_t first, float *X) {
  int64_t count = rows->n - first < KNN_BLOCK_ROWS ? rows->n - first : KNN_BLOCK_ROWS;
  rows->get(rows->ctx, first, count, X);
  return count;
}

/* Each row's nearest cells (it is filed in the first), then the rows copied
** cell after cell (row order within a cell).  A row whose scores are NaN
** goes in cell 0. */
static int file_rows(knn_ivf *ix, const knn_rows *rows, scratch *s) {
  int64_t n = ix->n, block = n < KNN_BLOCK_ROWS ? n : KNN_BLOCK_ROWS;
  int d = ix->d;
  float *X = cur_mallocarray((size_t)block, (size_t)d * sizeof *X);
  int p = ix->n_near;
  ix->start = cur_calloc((size_t)ix->nlist + 1, sizeof *ix->start);
  ix->rows = cur_mallocarray((size_t)n, (size_t)d * sizeof *ix->rows);
  ix->row_at = cur_mallocarray((size_t)n, sizeof *ix->row_at);
  ix->pos = cur_mallocarray((size_t)n, sizeof *ix->pos);
  ix->near = cur_mallocarray((size_t)n, (size_t)p * sizeof *ix->near);
  int32_t *near = ix->near;
  int rc = X && near && ix->start && ix->rows && ix->row_at && ix->pos ? CUR_OK : CUR_ENOMEM;
  for (int64_t first = 0, count; rc == CUR_OK && first < n; first += count) {
    count = fetch(rows, first, X);
    assign_job j = {ix, X, count, near + first * p};
    run_tasks(s, workers_of(ix), (size_t)((count + BLOCK - 1) / BLOCK), assign_task, &j);
  }
  if (rc == CUR_OK) {
    for (int64_t i = 0; i < n; i++) ix->start[(near[i * p] < 0 ? 0 : near[i * p]) + 1]++;
    for (int c = 0; c < ix->nlist; c++) ix->start[c + 1] += ix->start[c];
    /* start[c] runs through cell c as it fills, ending at start[c + 1]'s value */
    for (int64_t i = 0; i < n; i++) {
      int64_t at = ix->start[near[i * p] < 0 ? 0 : near[i * p]]++;
      ix->pos[i] = at, ix->row_at[at] = i;
    }
    for (int c = ix->nlist; c > 0; c--) ix->start[c] = ix->start[c - 1];
    ix->start[0] = 0;
  }
  for (int64_t first = 0, count; rc == CUR_OK && first < n; first += count) {
    count = fetch(rows, first, X);
    for (int64_t v = 0; v < count; v++)
      memcpy(ix->rows + ix->pos[first + v] * d, X + v * d, (size_t)d * sizeof *X);
  }
  cur_free(X);
  return rc;
}

int knn_ivf_new_rows(const knn_rows *rows, int nlist, uint64_t seed, int threads, knn_ivf **out) {
  *out = NULL;
  int64_t n = rows->n;
  int d = rows->d, rc = knn__check_request(1, d, n, threads, NULL, 0);
  if (rc) return rc;
  if (n < 1) return cur_errorc(CUR_EINPUT, "knn: an IVF index needs rows");
  if (nlist <= 0) nlist = (int)fmax(1.0, round(4.0 * sqrt((double)n)));
  if (nlist > n) nlist = (int)n;       /* k-means needs a row per cell */
  knn_ivf *ix = cur_calloc(1, sizeof *ix);
  if (!ix) return CUR_ENOMEM;
  *ix = (knn_ivf){.n = n, .d = d, .nlist = nlist, .threads = threads};
  scratch *s = NULL;
  rc = train_cells(ix, rows, seed);
  ix->n_near = ix->nlist < NEAR_CELLS ? ix->nlist : NEAR_CELLS;
  if (rc == CUR_OK) rc = scratch_new(workers_of(ix), d, ix->nlist, ix->n_near, &s);
  if (rc == CUR_OK) {
    /* our threads fill the cores; BLAS threads inside them would oversubscribe */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    rc = file_rows(ix, rows, s);
    openblas_set_num_threads(blas_threads);
  }
  scratch_free(s, workers_of(ix));
  if (rc) {
    knn_ivf_free(ix);
    return rc;
  }
  *out = ix;
  return CUR_OK;
}

int knn_ivf_new(const float *X, int64_t n, int d, int nlist, uint64_t seed, int threads,
                knn_ivf **out) {
  knn_matrix_rows mx = {X, d};
  knn_rows rows = {knn_matrix_get, &mx, n, d};
  return knn_ivf_new_rows(&rows, nlist, seed, threads, out);
}

void knn_ivf_free(knn_ivf *ix) {
  if (!ix) return;
  cur_free(ix->centroid), cur_free(ix->start), cur_free(ix->rows);
  cur_free(ix->row_at), cur_free(ix->pos), cur_free(ix->near);
  cur_free(ix);
}

int knn_ivf_nlist(const knn_ivf *ix) { return ix->nlist; }

const float *knn_ivf_centroids(const knn_ivf *ix) { return ix->centroid; }

/* ---- searching ---- */

/* One chunk of queries: positions first .. first + m - 1 of the call's. */
typedef struct search_job {
  const knn_ivf *ix;
  int k, nprobe;
  const int64_t *query;        /* the call's queries; NULL: every row */
  int64_t first, m;
  int32_t *probe;              /* m x nprobe: the cells query j probes */
  int64_t *cell_start;         /* nlist + 1: cell c's slots at entry[cell_start[c] ..] */
  int32_t *entry;              /* m x nprobe slots (query j's s-th probe: j * nprobe + s),
                                  by cell, in query order within a cell */
  float *cand_s;               /* m x nprobe x k: each slot's best rows in its cell */
  int64_t *cand_i;
  int64_t *nbr;                /* the call's output */
  float *sim;
} search_job;

/* The row of the chunk's query J. */
static int64_t query_row(const search_job *j, int64_t q) {
  return j->query ? j->query[j->first + q] : j->first + q;
}

/* Query J's vector copied from the index into OUT. */
static void query_vector(const search_job *j, int64_t q, float *out) {
  const knn_ivf *ix = j->ix;
  memcpy(out, ix->rows + ix->pos[query_row(j, q)] * ix->d, (size_t)ix->d * sizeof *out);
}

/* Step 1 for the chunk's queries TASK * BLOCK ..: their cells (those found
** when the rows were filed, if as many); slots emptied. */
static void probe_task(void *ctx, scratch *s, size_t task) {
  const search_job *j = ctx;
  const knn_ivf *ix = j->ix;
  int64_t q0 = (int64_t)task * BLOCK, m = j->m - q0 < BLOCK ? j->m - q0 : BLOCK;
  if (j->nprobe <= ix->n_near) {
    for (int64_t q = q0; q < q0 + m; q++)
      memcpy(j->probe + q * j->nprobe, ix->near + query_row(j, q) * ix->n_near,
             (size_t)j->nprobe * sizeof *j->probe);
  } else {
    for (int64_t q = 0; q < m; q++) query_vector(j, q0 + q, s->q + q * ix->d);
    nearest_cells(ix, s->q, (int)m, j->nprobe, s, j->probe + q0 * j->nprobe);
  }
  int64_t slots = (int64_t)j->nprobe * j->k;
  top_clear(j->cand_s + q0 * slots, j->cand_i + q0 * slots, m * slots);
}

/* Step 2: the probes grouped by cell (a counting sort, stable). */
static void invert(search_job *j) {
  int nlist = j->ix->nlist;
  int64_t slots = j->m * j->nprobe;
  memset(j->cell_start, 0, ((size_t)nlist + 1) * sizeof *j->cell_start);
  for (int64_t e = 0; e < slots; e++)
    if (j->probe[e] >= 0) j->cell_start[j->probe[e] + 1]++;
  for (int c = 0; c < nlist; c++) j->cell_start[c + 1] += j->cell_start[c];
  for (int64_t e = 0; e < slots; e++)        /* cell_start[c] runs through cell c */
    if (j->probe[e] >= 0) j->entry[j->cell_start[j->probe[e]]++] = (int32_t)e;
  for (int c = nlist; c > 0; c--) j->cell_start[c] = j->cell_start[c - 1];
  j->cell_start[0] = 0;
}

/* Scores S (qn x rn) of the queries of slots ENTRY[0..qn) against the rows
** at positions R0 .. R0 + rn - 1, kept in the slots they beat. */
static void keep_best(const search_job *j, const int32_t *entry, int qn, int64_t r0, int rn,
                      const float *S) {
  int k = j->k;
  for (int i = 0; i < qn; i++) {
    int64_t slot = entry[i], self = query_row(j, slot / j->nprobe);
    float *hs = j->cand_s + slot * k;
    int64_t *hi = j->cand_i + slot * k;
    const float *score = S + (size_t)i * rn;
    for (int r = 0; r < rn; r++) {
      if (score[r] < hs[0]) continue;          /* most rows: below the worst kept */
      int64_t row = j->ix->row_at[r0 + r];
      if (row != self) top_push(hs, hi, k, score[r], row);
    }
  }
}

/* Step 3 for cell TASK: its queries, BLOCK at a time, against its rows. */
static void scan_task(void *ctx, scratch *s, size_t task) {
  const search_job *j = ctx;
  const knn_ivf *ix = j->ix;
  int d = ix->d;
  int64_t e0 = j->cell_start[task], e1 = j->cell_start[task + 1];
  int64_t r0 = ix->start[task], r1 = ix->start[task + 1];
  for (int64_t eb = e0; eb < e1; eb += BLOCK) {
    int qn = (int)(e1 - eb < BLOCK ? e1 - eb : BLOCK);
    for (int i = 0; i < qn; i++) query_vector(j, j->entry[eb + i] / j->nprobe, s->q + i * d);
    for (int64_t rb = r0; rb < r1; rb += ROW_BLOCK) {
      int rn = (int)(r1 - rb < ROW_BLOCK ? r1 - rb : ROW_BLOCK);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qn, rn, d, 1.0f, s->q, d,
                  ix->rows + rb * d, d, 0.0f, s->score, rn);
      keep_best(j, j->entry + eb, qn, rb, rn, s->score);
    }
  }
}

/* Step 4 for the chunk's queries TASK * BLOCK ..: the k best of their slots. */
static void merge_task(void *ctx, scratch *s, size_t task) {
  const search_job *j = ctx;
  int k = j->k;
  int64_t q0 = (int64_t)task * BLOCK, m = j->m - q0 < BLOCK ? j->m - q0 : BLOCK;
  int64_t slots = (int64_t)j->nprobe * k;
  for (int64_t q = q0; q < q0 + m; q++) {
    top_clear(s->hs, s->hi, k);
    for (int64_t c = q * slots; c < (q + 1) * slots; c++)
      top_push(s->hs, s->hi, k, j->cand_s[c], j->cand_i[c]);
    top_sort(s->hs, s->hi, k);
    int64_t *nbr = j->nbr + (j->first + q) * k;
    float *sim = j->sim + (j->first + q) * k;
    for (int a = 0; a < k; a++) {
      int empty = s->hi[a] == EMPTY_ID;
      nbr[a] = empty ? -1 : s->hi[a];
      sim[a] = empty ? -INFINITY : s->hs[a];
    }
  }
}

static void search_chunk(search_job *j, scratch *s, int workers) {
  size_t blocks = (size_t)((j->m + BLOCK - 1) / BLOCK);
  run_tasks(s, workers, blocks, probe_task, j);
  invert(j);
  run_tasks(s, workers, (size_t)j->ix->nlist, scan_task, j);
  run_tasks(s, workers, blocks, merge_task, j);
}

int knn_ivf_search(knn_ivf *ix, int nprobe, int k, const int64_t *query, int64_t m,
                   int64_t *nbr, float *sim) {
  if (!query) m = ix->n;
  int rc = knn__check_request(k, ix->d, ix->n, ix->threads, query, m);
  if (rc || m == 0) return rc;
  nprobe = nprobe < 1 ? 1 : nprobe > ix->nlist ? ix->nlist : nprobe;
  int64_t per_query = (int64_t)nprobe * k * (int64_t)(sizeof(float) + sizeof(int64_t));
  int64_t chunk = CAND_BYTES / per_query;
  chunk = chunk < 1 ? 1 : chunk > MAX_CHUNK ? MAX_CHUNK : chunk;
  if (chunk > m) chunk = m;
  int workers = workers_of(ix), cols = ix->nlist > ROW_BLOCK ? ix->nlist : ROW_BLOCK;
  search_job j = {.ix = ix, .k = k, .nprobe = nprobe, .query = query, .nbr = nbr, .sim = sim};
  j.probe = cur_mallocarray((size_t)chunk, (size_t)nprobe * sizeof *j.probe);
  j.entry = cur_mallocarray((size_t)chunk, (size_t)nprobe * sizeof *j.entry);
  j.cell_start = cur_mallocarray((size_t)ix->nlist + 1, sizeof *j.cell_start);
  j.cand_s = cur_mallocarray((size_t)(chunk * nprobe), (size_t)k * sizeof *j.cand_s);
  j.cand_i = cur_mallocarray((size_t)(chunk * nprobe), (size_t)k * sizeof *j.cand_i);
  scratch *s = NULL;
  rc = j.probe && j.entry && j.cell_start && j.cand_s && j.cand_i ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = scratch_new(workers, ix->d, cols, nprobe > k ? nprobe : k, &s);
  if (rc == CUR_OK) {
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (j.first = 0; j.first < m; j.first += chunk) {
      j.m = m - j.first < chunk ? m - j.first : chunk;
      search_chunk(&j, s, workers);
    }
    openblas_set_num_threads(blas_threads);
  }
  scratch_free(s, workers);
  cur_free(j.probe), cur_free(j.entry), cur_free(j.cell_start);
  cur_free(j.cand_s), cur_free(j.cand_i);
  return rc;
}
