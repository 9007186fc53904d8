/* audit_hash.c -- pHash distances between images and the pairs within them, by multi-index hashing.
**
** Two indexes, built and searched one after the other: the whole-image
** hashes, searched within max_whole bits, and the other views' hashes,
** searched within max_view bits; each image's whole-image hash is the query
** in both.  An index files every hash it holds under each of m bands (m
** disjoint sets of the 64 bits), as one counting-sorted table per band:
** start[v] .. start[v + 1] are the hashes whose band equals v, each stored
** whole beside its image, in image order.  Band b is searched within r[b]
** bits: every band value within r[b] of the query's is looked up and its
** hashes compared on the spot.  If two hashes are within d bits and
** sum (r[b] + 1) > d, some band b differs in at most r[b] (pigeonhole:
** otherwise the bands differ in sum (r[b] + 1) > d bits in all), so every
** hash within d of the query is met: the search is exact.  A band with
** r[b] = -1 is neither filed nor searched.
**
** The queries are searched in batches: the queries are counting-sorted by
** their band value as well (for the whole-hash index, its own table), and
** the queries sharing a value look up the values around it once and
** compare each hash met against all of them.  Searching query by query in
** image order, every look-up was a random read of a table far larger than
** the caches (two cache misses a value: at 10^6 images about 360 values a
** query, 80 us of its 82); in batches a value's hashes are read once for
** all its queries, and the values are visited in order.
**
** Band b holds bits b, b + m, b + 2m, ... (stored permuted so that each
** band is a contiguous field): pHash bits next to each other are
** neighbouring DCT coefficients of one row, whose signs go together, and
** contiguous bands gave fuller band values (on the scale benchmark's 8 x 8
** images, 10-40% more hashes met per query than strided bands).  m (3 to 8)
** and the radii are chosen per index from the hashes themselves and their
** number (layout_cost): for each m, a fixed sample of queries against a
** fixed sample of the filed hashes counts the hashes each band would meet
** at each radius, the look-ups are counted from the band values the
** queries hold, and the radii of least work are used.  The hashes' own
** distribution counts, not an even spread: real hashes and small images
** cluster, and their band values are far from uniform.  As n grows the
** bands' hashes per value grow, and longer bands (fewer of them, larger
** radii) become the cheaper layout: the choice follows.
**
** A view hash equal to the image's whole hash (when max_view <= max_whole:
** whatever it meets the whole hash pairs anyway) or to another of its views
** is filed once: on images of a few pixels the crops round to the whole
** image or to each other (8 x 8: three distinct hashes of eight).
**
** Whole-against-whole pairs are kept from the smaller image's query (a
** value's hashes are in image order); whole-against-view pairs from
** whichever query meets them.  Each task's pairs are made unique whenever
** its list fills (a near image is met on several bands, and through
** several of its views), and all pairs are sorted and made unique at the
** end, then given their distance (the least over all views,
** audit_hash_distance).
*/
#include "audit_detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "parallel.h"

#define MAX_BANDS 8
#define MIN_BANDS 3            /* bands of at most 22 bits: 4M offsets a band */
#define SAMPLE_QUERIES 256     /* the band-count choice's sample (file comment) */
#define SAMPLE_HASHES 4096
/* A value looked up costs about as much as this many hashes read: a random
** read of the offsets and of the run's first cache line, against a
** sequential read of 12 bytes and a popcount. */
#define LOOKUP_COST 16
#define QUERIES_PER_TASK 4096  /* queries per parallel task: a run of band values holding them */

/* Bits set in X.  The build assumes no CPU extension, so GCC's
** __builtin_popcountll calls libgcc's __popcountdi2 (a table look-up per
** byte), which was a large part of the search's profile; this sum of bit
** fields compiles to a dozen register operations on any CPU.  The search's
** inner loop uses the POPCNT instruction where the CPU has it (scan_value). */
static inline int popcount64(uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (int)((x * 0x0101010101010101ull) >> 56);
}

/* The least distance between whole-image hash W and hashes FROM..VIEWS of image B. */
static int whole_to_views(uint64_t w, const uint64_t *b, int from, int views) {
  int best = 64;
  for (int v = from; v < views; v++) {
    int d = popcount64(w ^ b[v]);
    if (d < best) best = d;
  }
  return best;
}

int audit_hash_distance(const uint64_t *a, const uint64_t *b, int views) {
  int ab = whole_to_views(a[0], b, 0, views), ba = whole_to_views(b[0], a, 0, views);
  return ab < ba ? ab : ba;
}

int audit_hash_is_pair(const uint64_t *a, const uint64_t *b, int views, int max_whole,
                       int max_view) {
  if (popcount64(a[0] ^ b[0]) <= max_whole) return 1;
  return whole_to_views(a[0], b, 1, views) <= max_view ||
         whole_to_views(b[0], a, 1, views) <= max_view;
}

/* The hashes one index files: HASH[i] of image IMAGE[i]. */
typedef struct hash_list {
  uint64_t *hash;
  uint32_t *image;
  size_t n;
} hash_list;

/* Hashes (permuted) by their value on one band: start[v] .. start[v + 1]
** index those whose band holds v, in image order. */
typedef struct band_table {
  uint32_t *start;             /* 2^bits + 1 offsets */
  uint64_t *hash;
  uint32_t *image;
} band_table;

/* One index over a hash list, searched within D bits: band b within R[b]
** bits (-1: the band is neither filed nor searched). */
typedef struct hash_index {
  int d, bands, whole;
  int popcnt;                  /* the CPU's popcount: 0 none, 1 POPCNT, 2 AVX-512's too */
  int shift[MAX_BANDS], bits[MAX_BANDS], r[MAX_BANDS];
  band_table filed[MAX_BANDS];
  band_table queries[MAX_BANDS];   /* the queries by band value (whole: FILED itself) */
} hash_index;

static void table_free(band_table *t) {
  cur_free(t->start), cur_free(t->hash), cur_free(t->image);
}

static void index_free(hash_index *ix) {
  for (int b = 0; b < MAX_BANDS; b++) {
    if (ix->queries[b].start != ix->filed[b].start) table_free(&ix->queries[b]);
    table_free(&ix->filed[b]);
  }
}

/* The strided layout of M bands (file comment): band b holds the hash's
** bits b, b + m, b + 2m, ... below 64, and the permuted hash's bit
** shift[b] + j is bit b + j m of the hash. */
static void set_bands(hash_index *ix, int m, int d) {
  ix->d = d, ix->bands = m;
  for (int b = 0, shift = 0; b < m; b++) {
    ix->shift[b] = shift;
    shift += ix->bits[b] = (64 - b + m - 1) / m;
  }
}

static uint64_t permute(const hash_index *ix, uint64_t h) {
  uint64_t out = 0;
  for (int b = 0; b < ix->bands; b++)
    for (int j = 0; j < ix->bits[b]; j++)
      out |= ((h >> (b + j * ix->bands)) & 1) << (ix->shift[b] + j);
  return out;
}

static unsigned band_of(const hash_index *ix, uint64_t permuted, int band) {
  return (unsigned)(permuted >> ix->shift[band]) & ((1u << ix->bits[band]) - 1);
}

/* The number of values within R bits of one of BITS bits. */
static double ball(int bits, int r) {
  double total = 0, term = 1;             /* term = C(bits, i) */
  for (int i = 0; i <= r && i <= bits; i++) {
    total += term;
    term = term * (bits - i) / (i + 1);
  }
  return total;
}

/* The least expected work of IX's layout, searching N_QUERY queries over
** L, with the radii that give it set in IX->r.  Band b's work at radius r
** is the values looked up, each a random read (ball(bits, r) for each
** band value the queries hold: about 2^bits (1 - e^(-n / 2^bits)) of them),
** plus the hashes compared, counted on a fixed sample of queries against a
** fixed sample of the filed hashes (every (n / s)-th) and scaled to all
** (half for whole-hash pairs, each kept from one side).  The search stays
** exact whenever sum (r[b] + 1) > d (file comment), so the radii are a
** small knapsack: the cheapest per-band radii reaching d + 1, band by band
** (a band may also be left out: r = -1 adds nothing). */
static double layout_cost(hash_index *ix, const hash_list *l, const uint64_t *query,
                          int64_t n_query, int views) {
  size_t s = l->n < SAMPLE_HASHES ? l->n : SAMPLE_HASHES;
  int64_t q = n_query < SAMPLE_QUERIES ? n_query : SAMPLE_QUERIES;
  uint64_t filed[SAMPLE_HASHES];
  double met[MAX_BANDS][65] = {{0}};   /* [b][r]: sampled hashes r bits away on band b */
  for (size_t i = 0; i < s; i++) filed[i] = permute(ix, l->hash[i * (l->n / s)]);
  for (int64_t i = 0; i < q; i++) {
    uint64_t w = permute(ix, query[i * (n_query / q) * views]);
    for (int b = 0; b < ix->bands; b++) {
      uint64_t mask = (((uint64_t)1 << ix->bits[b]) - 1) << ix->shift[b];
      for (size_t e = 0; e < s; e++) met[b][popcount64((w ^ filed[e]) & mask)]++;
    }
  }
  double per_pair = s ? (double)l->n / (double)s * (double)n_query / (double)q : 0;
  if (ix->whole) per_pair /= 2;
  /* need[k]: least work of the bands so far whose (r + 1) sum to at least k */
  enum { COVER = 66 };
  double need[COVER], next[COVER];
  int pick[MAX_BANDS][COVER];
  int cover = ix->d + 1 < COVER ? ix->d + 1 : COVER - 1;
  for (int k = 0; k <= cover; k++) need[k] = k ? INFINITY : 0;
  for (int b = 0; b < ix->bands; b++) {
    double values = ldexp(1, ix->bits[b]);
    double held = values * -expm1(-(double)n_query / values), compared = 0;
    for (int k = 0; k <= cover; k++) next[k] = need[k], pick[b][k] = -1;
    for (int r = 0; r <= ix->bits[b] && r < cover; r++) {
      compared += met[b][r] * per_pair;
      double cost = compared + held * ball(ix->bits[b], r) * LOOKUP_COST;
      for (int k = 0; k <= cover; k++) {
        double c = need[k > r + 1 ? k - r - 1 : 0] + cost;
        if (c < next[k]) next[k] = c, pick[b][k] = r;
      }
    }
    memcpy(need, next, sizeof need);
  }
  for (int b = ix->bands - 1, k = cover; b >= 0; b--) {
    ix->r[b] = pick[b][k];
    k = k > ix->r[b] + 1 ? k - ix->r[b] - 1 : 0;
  }
  return need[cover];
}

/* Counting-sorts the N hashes PERMUTED of images IMAGE by their value on BAND into T. */
static int table_build(const hash_index *ix, int band, const uint64_t *permuted,
                       const uint32_t *image, size_t n, band_table *t) {
  size_t values = (size_t)1 << ix->bits[band];
  uint32_t *start = t->start = cur_calloc(values + 1, sizeof *start);
  t->hash = cur_mallocarray(n ? n : 1, sizeof *t->hash);
  t->image = cur_mallocarray(n ? n : 1, sizeof *t->image);
  if (!start || !t->hash || !t->image) return CUR_ENOMEM;
  for (size_t i = 0; i < n; i++) start[band_of(ix, permuted[i], band) + 1]++;
  for (size_t v = 0; v < values; v++) start[v + 1] += start[v];
  for (size_t i = 0; i < n; i++) {  /* fill in image order, then shift the offsets back */
    uint32_t at = start[band_of(ix, permuted[i], band)]++;
    t->hash[at] = permuted[i];
    t->image[at] = image[i];
  }
  for (size_t v = values; v > 0; v--) start[v] = start[v - 1];
  start[0] = 0;
  return CUR_OK;
}

/* Files the hashes of L, and the whole hashes as queries, for a search
** within D bits, with the band count and radii of least measured work
** (file comment). */
static int index_build(hash_index *ix, const hash_list *l, const uint64_t *query, int64_t n_query,
                       int views, int d, int whole) {
  hash_index best = {0};
  double best_cost = INFINITY;
  for (int m = MIN_BANDS; m <= MAX_BANDS; m++) {
    *ix = (hash_index){.whole = whole};
    set_bands(ix, m, d);
    double cost = layout_cost(ix, l, query, n_query, views);
    if (cost < best_cost) best = *ix, best_cost = cost;
  }
  *ix = best;
#if defined(__x86_64__)
  ix->popcnt = __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512vl")
                   ? 2 : __builtin_cpu_supports("popcnt");
#endif
  size_t n = l->n > (size_t)n_query ? l->n : (size_t)n_query;
  uint64_t *permuted = cur_mallocarray(n ? n : 1, sizeof *permuted);
  uint32_t *image = whole ? NULL : cur_mallocarray(n ? n : 1, sizeof *image);
  int rc = permuted && (whole || image) ? CUR_OK : CUR_ENOMEM;
  for (size_t i = 0; rc == CUR_OK && i < l->n; i++) permuted[i] = permute(ix, l->hash[i]);
  for (int b = 0; rc == CUR_OK && b < ix->bands; b++)
    if (ix->r[b] >= 0) rc = table_build(ix, b, permuted, l->image, l->n, &ix->filed[b]);
  if (whole) {     /* the filed hashes are the queries, in the same order */
    memcpy(ix->queries, ix->filed, sizeof ix->queries);
  } else {
    for (int64_t i = 0; rc == CUR_OK && i < n_query; i++)
      permuted[i] = permute(ix, query[i * views]), image[i] = (uint32_t)i;
    for (int b = 0; rc == CUR_OK && b < ix->bands; b++)
      if (ix->r[b] >= 0)
        rc = table_build(ix, b, permuted, image, (size_t)n_query, &ix->queries[b]);
  }
  cur_free(permuted), cur_free(image);
  return rc;
}

/* The whole hashes (VIEW 0), or the other views' without repeats (file
** comment), of N images. */
static int list_hashes(hash_list *l, const uint64_t *hash, int64_t n, int views, int whole,
                       int keep_whole_equal) {
  size_t per = whole ? 1 : (size_t)(views - 1);
  l->hash = cur_mallocarray((size_t)n * per + 1, sizeof *l->hash);
  l->image = cur_mallocarray((size_t)n * per + 1, sizeof *l->image);
  l->n = 0;
  if (!l->hash || !l->image) return CUR_ENOMEM;
  for (int64_t i = 0; i < n; i++) {
    const uint64_t *h = hash + i * views;
    for (int v = whole ? 0 : 1; v < (whole ? 1 : views); v++) {
      int repeat = !whole && !keep_whole_equal && h[v] == h[0];
      for (int u = 1; !whole && u < v; u++) repeat |= h[u] == h[v];
      if (repeat) continue;
      l->hash[l->n] = h[v];
      l->image[l->n++] = (uint32_t)i;
    }
  }
  return CUR_OK;
}

static void list_free(hash_list *l) { cur_free(l->hash), cur_free(l->image); }

static int cmp_pair(const void *x, const void *y) {
  const audit_pair *p = x, *q = y;
  if (p->a != q->a) return p->a < q->a ? -1 : 1;
  return (p->b > q->b) - (p->b < q->b);
}

/* Sorts P[0..n) and keeps each pair once; returns how many are left. */
static int64_t sort_unique(audit_pair *p, int64_t n) {
  int64_t out = 0;
  if (n > 1) qsort(p, (size_t)n, sizeof *p, cmp_pair);
  for (int64_t i = 0; i < n; i++)
    if (!out || cmp_pair(&p[out - 1], &p[i]) != 0) p[out++] = p[i];
  return out;
}

/* Appends pair (A, B) to a task's list; a full list is first made unique,
** and grows only when that leaves it more than half full (file comment). */
static int append_pair(audit_pair **pairs, int64_t *n_pairs, int64_t *cap, int64_t a, int64_t b) {
  if (*n_pairs == *cap) {
    *n_pairs = sort_unique(*pairs, *n_pairs);
    if (*cap == 0 || *n_pairs > *cap / 2) {
      int64_t grown = *cap ? 2 * *cap : 256;
      audit_pair *q = cur_reallocarray(*pairs, (size_t)grown, sizeof *q);
      if (!q) return CUR_ENOMEM;
      *pairs = q;
      *cap = grown;
    }
  }
  (*pairs)[(*n_pairs)++] = (audit_pair){a < b ? a : b, a < b ? b : a, NAN, 0};
  return CUR_OK;
}

/* One parallel task: the queries of band BAND whose value is in
** [FROM, TO), and the pairs they found. */
typedef struct task {
  int band;
  uint32_t from, to;
  audit_pair *pairs;
  int64_t n, cap;
  int rc;
} task;

typedef struct search {
  const hash_index *ix;
  task *tasks;
  size_t n_tasks;
} search;

/* Bits set in X: the POPCNT instruction when INSN (a constant where this
** is inlined), else popcount64. */
static inline int bits_set(uint64_t x, int insn) {
  return insn ? __builtin_popcountll((unsigned long long)x) : popcount64(x);
}

/* The filed hashes under VALUE on T's band within IX->d bits of the
** queries Q0..Q1 of T's band: a whole-hash index pairs a query only with
** images after it (both are in image order, so the queries before a hash's
** image are a prefix that grows along the value's hashes).  Counting the
** near queries first keeps the loop over the queries free of branches;
** most hashes have none. */
static inline __attribute__((always_inline)) int scan_with(const hash_index *ix, unsigned value,
                                                           uint32_t q0, uint32_t q1, task *t,
                                                           int insn) {
  const band_table *f = &ix->filed[t->band], *q = &ix->queries[t->band];
  const uint64_t *qhash = q->hash;
  const uint32_t *qimage = q->image;
  uint32_t end = ix->whole ? q0 : q1;
  int d = ix->d, rc = CUR_OK;
  for (uint32_t e = f->start[value]; rc == CUR_OK && e < f->start[value + 1]; e++) {
    uint64_t h = f->hash[e];
    uint32_t b = f->image[e];
    while (ix->whole && end < q1 && qimage[end] < b) end++;
    int near = 0;
    for (uint32_t j = q0; j < end; j++) near += bits_set(h ^ qhash[j], insn) <= d;
    for (uint32_t j = q0; near && rc == CUR_OK && j < end; j++)
      if (bits_set(h ^ qhash[j], insn) <= d && qimage[j] != b)
        rc = append_pair(&t->pairs, &t->n, &t->cap, qimage[j], b);
  }
  return rc;
}

#if defined(__x86_64__)
/* The scan with the POPCNT instruction, on a CPU that has it (search.popcnt):
** the build targets every x86-64, where GCC's popcount is a call into
** libgcc (a table look-up per byte). */
__attribute__((target("popcnt"))) static int scan_popcnt(const hash_index *ix, unsigned value,
                                                         uint32_t q0, uint32_t q1, task *t) {
  return scan_with(ix, value, q0, q1, t, 1);
}

__attribute__((target("popcnt,avx2,avx512f,avx512vl,avx512vpopcntdq"))) static int
scan_vpopcnt(const hash_index *ix, unsigned value, uint32_t q0, uint32_t q1, task *t) {
  return scan_with(ix, value, q0, q1, t, 1);
}
#endif

static int scan_value(const hash_index *ix, unsigned value, uint32_t q0, uint32_t q1, task *t) {
#if defined(__x86_64__)
  if (ix->popcnt == 2) return scan_vpopcnt(ix, value, q0, q1, t);
  if (ix->popcnt) return scan_popcnt(ix, value, q0, q1, t);
#endif
  return scan_with(ix, value, q0, q1, t, 0);
}

/* Every value within R bits of VALUE (flipping bits from FROM up), scanned
** for the queries Q0..Q1 of T's band. */
static int probe(const hash_index *ix, unsigned value, int from, int r, uint32_t q0, uint32_t q1,
                 task *t) {
  int rc = scan_value(ix, value, q0, q1, t);
  for (int bit = from; rc == CUR_OK && r > 0 && bit < ix->bits[t->band]; bit++)
    rc = probe(ix, value ^ (1u << bit), bit + 1, r - 1, q0, q1, t);
  return rc;
}

/* A task's band values, each with the queries that hold it. */
static void search_task(void *ctx, size_t i) {
  search *s = ctx;
  task *t = &s->tasks[i];
  const uint32_t *start = s->ix->queries[t->band].start;
  for (uint32_t v = t->from; t->rc == CUR_OK && v < t->to; v++)
    if (start[v] < start[v + 1])
      t->rc = probe(s->ix, v, 0, s->ix->r[t->band], start[v], start[v + 1], t);
}

/* Cuts IX's searched bands into runs of values holding about
** QUERIES_PER_TASK queries each, appended to S's tasks. */
static int plan_tasks(const hash_index *ix, search *s) {
  size_t cap = s->n_tasks;
  for (int b = 0; b < ix->bands; b++) {
    if (ix->r[b] < 0) continue;
    const uint32_t *start = ix->queries[b].start;
    uint32_t values = 1u << ix->bits[b];
    for (uint32_t from = 0, v = 0; v < values; from = v) {
      while (v < values && start[v] - start[from] < QUERIES_PER_TASK) v++;
      if (s->n_tasks == cap) {
        cap = cap ? 2 * cap : 64;
        task *grown = cur_reallocarray(s->tasks, cap, sizeof *grown);
        if (!grown) return CUR_ENOMEM;
        s->tasks = grown;
      }
      s->tasks[s->n_tasks++] = (task){.band = b, .from = from, .to = v};
    }
  }
  return CUR_OK;
}

/* Searches IX on THREADS threads; the pairs found appended to *PAIRS (not
** yet unique). */
static int index_search(const hash_index *ix, int threads, audit_pair **pairs, int64_t *n_pairs,
                        int64_t *cap) {
  search s = {ix, NULL, 0};
  int rc = plan_tasks(ix, &s);
  if (rc == CUR_OK) cur_parallel_for(s.n_tasks, threads, search_task, &s);
  int64_t total = *n_pairs;
  for (size_t i = 0; rc == CUR_OK && i < s.n_tasks; i++) rc = s.tasks[i].rc, total += s.tasks[i].n;
  if (rc == CUR_OK && total > *cap) {
    audit_pair *grown = cur_reallocarray(*pairs, (size_t)total, sizeof *grown);
    if (!grown) rc = CUR_ENOMEM;
    else *pairs = grown, *cap = total;
  }
  for (size_t i = 0; rc == CUR_OK && i < s.n_tasks; i++) {
    if (s.tasks[i].n) memcpy(*pairs + *n_pairs, s.tasks[i].pairs, (size_t)s.tasks[i].n * sizeof **pairs);
    *n_pairs += s.tasks[i].n;
  }
  for (size_t i = 0; i < s.n_tasks; i++) cur_free(s.tasks[i].pairs);
  cur_free(s.tasks);
  return rc;
}

int audit_hash_pairs(const uint64_t *hash, int64_t n, int views, int max_whole, int max_view,
                     int threads, audit_pair **pairs, int64_t *n_pairs, int64_t *cap) {
  if (n < 2 || views < 1) return CUR_OK;
  if ((uint64_t)n * (uint64_t)views > UINT32_MAX)
    return cur_errorc(CUR_EINPUT, "audit: %lld images of %d pHashes: more than the pHash "
                      "index holds (2^32 hashes)", (long long)n, views);
  int64_t first = *n_pairs;
  int rc = CUR_OK;
  /* a negative limit searches nothing: its index is not built */
  int limit[2] = {max_whole, views > 1 ? max_view : -1};
  for (int x = 0; x < 2 && rc == CUR_OK; x++) {
    if (limit[x] < 0) continue;
    hash_index ix = {0};
    hash_list list = {0};
    rc = list_hashes(&list, hash, n, views, x == 0, max_view > max_whole);
    if (rc == CUR_OK) rc = index_build(&ix, &list, hash, n, views, limit[x], x == 0);
    list_free(&list);
    if (rc == CUR_OK) rc = index_search(&ix, threads < 1 ? 1 : threads, pairs, n_pairs, cap);
    index_free(&ix);
  }
  if (rc != CUR_OK) return rc;
  audit_pair *p = *pairs + first;
  int64_t out = sort_unique(p, *n_pairs - first);
  for (int64_t i = 0; i < out; i++)
    p[i].hamming = audit_hash_distance(hash + p[i].a * views, hash + p[i].b * views, views);
  *n_pairs = first + out;
  return CUR_OK;
}
