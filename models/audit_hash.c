/* audit_hash.c -- pHash distances between images and the pairs within them, by multi-index hashing.
**
** Two indexes: the whole-image hashes, searched within max_whole bits, and
** the other views' hashes, searched within max_view bits; each image's
** whole-image hash is the query in both.  An index files every hash it
** holds under each of m bands (m disjoint sets of the 64 bits), as one
** counting-sorted list per band: start[v] .. start[v + 1] are the hashes
** whose band equals v, each stored whole beside its image, so a query reads
** a band value's hashes in one sequential run and compares them on the spot
** (no look-up of the image's hashes elsewhere: at 10^6 images those random
** reads, two cache misses a candidate, were most of the time).  A query
** looks up, for each band, every band value within r = d / m bits of its
** own.  If two hashes are within d bits, some band differs in at most r
** (pigeonhole: otherwise every band differs in r + 1 or more, m (r + 1) > d
** bits in all), so every hash within d of the query is met: the search is
** exact.
**
** Band b holds bits b, b + m, b + 2m, ... (stored permuted so that each
** band is a contiguous field): pHash bits next to each other are
** neighbouring DCT coefficients of one row, whose signs go together, and
** contiguous bands gave fuller band values (on the scale benchmark's 8 x 8
** images, 10-40% more hashes met per query than strided bands).  m (3 to 8)
** is chosen per index from the hashes themselves: for each m, a fixed
** sample of queries against a fixed sample of the filed hashes counts how
** many hashes a query would read, and the m with the least work (values
** looked up, each a random read of the offsets, plus hashes read) is used.
** The hashes' own distribution counts, not an even spread: real hashes and
** small images cluster, and their band values are far from uniform.
**
** A view hash equal to the image's whole hash (when max_view <= max_whole:
** whatever it meets the whole hash pairs anyway) or to another of its views
** is filed once: on images of a few pixels the crops round to the whole
** image or to each other (8 x 8: three distinct hashes of eight).
**
** Whole-against-whole pairs are kept from the smaller image's query (a
** band's hashes are in image order: the scan stops at the query's own);
** whole-against-view pairs from whichever query meets them.  The pairs of
** all queries are sorted and made unique at the end, then given their
** distance (the least over all views, audit_hash_distance).
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
#define QUERIES_PER_TASK 4096  /* queries per parallel task */

/* Bits set in X.  The build assumes no CPU extension, so GCC's
** __builtin_popcountll calls libgcc's __popcountdi2 (a table look-up per
** byte), which was a large part of the search's profile; this sum of bit
** fields compiles to a dozen register operations on any CPU. */
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

/* One index over a hash list, searched within D bits, R a band. */
typedef struct hash_index {
  int d, bands, r;
  int shift[MAX_BANDS], bits[MAX_BANDS];
  uint32_t *start[MAX_BANDS];  /* 2^bits + 1 offsets per band */
  uint64_t *hash[MAX_BANDS];   /* the filed hashes, permuted, by band value */
  uint32_t *image[MAX_BANDS];  /* and their images */
} hash_index;

static void index_free(hash_index *ix) {
  for (int b = 0; b < MAX_BANDS; b++)
    cur_free(ix->start[b]), cur_free(ix->hash[b]), cur_free(ix->image[b]);
}

/* The strided layout of M bands (file comment): band b holds the hash's
** bits b, b + m, b + 2m, ... below 64, and the permuted hash's bit
** shift[b] + j is bit b + j m of the hash. */
static void set_bands(hash_index *ix, int m, int d) {
  ix->d = d, ix->bands = m, ix->r = d / m;
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

/* Expected work of a query on IX's layout over L: values looked up, and
** the hashes read, estimated on a fixed sample (every (n / s)-th). */
static double layout_cost(const hash_index *ix, const hash_list *l, const uint64_t *query,
                          int64_t n_query, int views) {
  size_t s = l->n < SAMPLE_HASHES ? l->n : SAMPLE_HASHES;
  int64_t q = n_query < SAMPLE_QUERIES ? n_query : SAMPLE_QUERIES;
  uint64_t filed[SAMPLE_HASHES];
  for (size_t i = 0; i < s; i++) filed[i] = permute(ix, l->hash[i * (l->n / s)]);
  double met = 0, lookups = 0;
  for (int64_t i = 0; i < q; i++) {
    uint64_t w = permute(ix, query[i * (n_query / q) * views]);
    for (int b = 0; b < ix->bands; b++) {
      uint64_t mask = (((uint64_t)1 << ix->bits[b]) - 1) << ix->shift[b];
      for (size_t e = 0; e < s; e++) met += popcount64((w ^ filed[e]) & mask) <= ix->r;
    }
  }
  for (int b = 0; b < ix->bands; b++) lookups += ball(ix->bits[b], ix->r);
  return lookups * LOOKUP_COST + (s ? met / (double)q * (double)l->n / (double)s : 0);
}

/* Files the hashes of L for a search within D bits, with the band count
** of least measured work (file comment). */
static int index_build(hash_index *ix, const hash_list *l, const uint64_t *query, int64_t n_query,
                       int views, int d) {
  int best = MIN_BANDS;
  double best_cost = INFINITY;
  for (int m = MIN_BANDS; m <= MAX_BANDS; m++) {
    set_bands(ix, m, d);
    double cost = layout_cost(ix, l, query, n_query, views);
    if (cost < best_cost) best = m, best_cost = cost;
  }
  set_bands(ix, best, d);
  uint64_t *permuted = cur_mallocarray(l->n ? l->n : 1, sizeof *permuted);
  if (!permuted) return CUR_ENOMEM;
  for (size_t i = 0; i < l->n; i++) permuted[i] = permute(ix, l->hash[i]);
  int rc = CUR_OK;
  for (int b = 0; rc == CUR_OK && b < ix->bands; b++) {
    size_t values = (size_t)1 << ix->bits[b];
    uint32_t *start = ix->start[b] = cur_calloc(values + 1, sizeof *start);
    ix->hash[b] = cur_mallocarray(l->n ? l->n : 1, sizeof *ix->hash[b]);
    ix->image[b] = cur_mallocarray(l->n ? l->n : 1, sizeof *ix->image[b]);
    if (!start || !ix->hash[b] || !ix->image[b]) {
      rc = CUR_ENOMEM;
      break;
    }
    for (size_t i = 0; i < l->n; i++) start[band_of(ix, permuted[i], b) + 1]++;
    for (size_t v = 0; v < values; v++) start[v + 1] += start[v];
    for (size_t i = 0; i < l->n; i++) {  /* fill in image order, then shift the offsets back */
      uint32_t at = start[band_of(ix, permuted[i], b)]++;
      ix->hash[b][at] = permuted[i];
      ix->image[b][at] = l->image[i];
    }
    for (size_t v = values; v > 0; v--) start[v] = start[v - 1];
    start[0] = 0;
  }
  cur_free(permuted);
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

static int append_pair(audit_pair **pairs, int64_t *n_pairs, int64_t *cap, int64_t a, int64_t b) {
  if (*n_pairs == *cap) {
    int64_t grown = *cap ? 2 * *cap : 256;
    audit_pair *q = cur_reallocarray(*pairs, (size_t)grown, sizeof *q);
    if (!q) return CUR_ENOMEM;
    *pairs = q;
    *cap = grown;
  }
  (*pairs)[(*n_pairs)++] = (audit_pair){a < b ? a : b, a < b ? b : a, NAN, 0};
  return CUR_OK;
}

/* One parallel task's queries and what they found. */
typedef struct task {
  audit_pair *pairs;
  int64_t n, cap;
  int rc;
} task;

typedef struct search {
  const hash_index *ix[2];     /* whole hashes; views (NULL: not searched) */
  const uint64_t *hash;
  int64_t n;
  int views;
  task *tasks;
} search;

/* The hashes filed under VALUE on BAND of IX within IX->d bits of query W
** (permuted) of image A: a whole-hash index reads only images after A. */
static int scan_value(const hash_index *ix, int whole, int band, unsigned value, uint64_t w,
                      int64_t a, task *t) {
  const uint64_t *hash = ix->hash[band];
  const uint32_t *image = ix->image[band];
  int rc = CUR_OK;
  for (uint32_t e = ix->start[band][value + 1]; rc == CUR_OK && e > ix->start[band][value];) {
    e--;
    if (whole && image[e] <= a) break;
    if (popcount64(w ^ hash[e]) <= ix->d && image[e] != a)
      rc = append_pair(&t->pairs, &t->n, &t->cap, a, image[e]);
  }
  return rc;
}

/* Every value within R bits of VALUE on BAND (flipping bits from FROM up), scanned. */
static int probe(const hash_index *ix, int whole, int band, unsigned value, int from, int r,
                 uint64_t w, int64_t a, task *t) {
  int rc = scan_value(ix, whole, band, value, w, a, t);
  for (int bit = from; rc == CUR_OK && r > 0 && bit < ix->bits[band]; bit++)
    rc = probe(ix, whole, band, value ^ (1u << bit), bit + 1, r - 1, w, a, t);
  return rc;
}

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

/* A task's queries; each query's finds are made unique at once (a near
** image is met on several bands, and through several of its views), so
** that a loose limit on clustered hashes does not pile up repeats. */
static void search_task(void *ctx, size_t i) {
  search *s = ctx;
  task *t = &s->tasks[i];
  int64_t end = (int64_t)(i + 1) * QUERIES_PER_TASK < s->n ? (int64_t)(i + 1) * QUERIES_PER_TASK
                                                           : s->n;
  for (int64_t a = (int64_t)i * QUERIES_PER_TASK; t->rc == CUR_OK && a < end; a++) {
    int64_t before = t->n;
    for (int x = 0; x < 2; x++) {
      const hash_index *ix = s->ix[x];
      if (!ix) continue;
      uint64_t w = permute(ix, s->hash[a * s->views]);
      for (int b = 0; t->rc == CUR_OK && b < ix->bands; b++)
        t->rc = probe(ix, x == 0, b, band_of(ix, w, b), 0, ix->r, w, a, t);
    }
    t->n = before + sort_unique(t->pairs + before, t->n - before);
  }
}

/* The tasks' pairs appended to *PAIRS, sorted, each once, with its distance. */
static int gather(search *s, size_t n_tasks, audit_pair **pairs, int64_t *n_pairs, int64_t *cap) {
  int64_t first = *n_pairs;
  for (size_t i = 0; i < n_tasks; i++) {
    if (s->tasks[i].rc) return s->tasks[i].rc;
    for (int64_t j = 0; j < s->tasks[i].n; j++) {
      audit_pair p = s->tasks[i].pairs[j];
      int rc = append_pair(pairs, n_pairs, cap, p.a, p.b);
      if (rc) return rc;
    }
  }
  audit_pair *p = *pairs + first;
  int64_t out = sort_unique(p, *n_pairs - first);
  for (int64_t i = 0; i < out; i++)
    p[i].hamming = audit_hash_distance(s->hash + p[i].a * s->views, s->hash + p[i].b * s->views,
                                       s->views);
  *n_pairs = first + out;
  return CUR_OK;
}

int audit_hash_pairs(const uint64_t *hash, int64_t n, int views, int max_whole, int max_view,
                     int threads, audit_pair **pairs, int64_t *n_pairs, int64_t *cap) {
  if (n < 2 || views < 1) return CUR_OK;
  if ((uint64_t)n * (uint64_t)views > UINT32_MAX)
    return cur_errorc(CUR_EINPUT, "audit: %lld images of %d pHashes: more than the pHash "
                      "index holds (2^32 hashes)", (long long)n, views);
  hash_index index[2] = {{0}};
  hash_list list[2] = {{0}};
  size_t n_tasks = (size_t)((n + QUERIES_PER_TASK - 1) / QUERIES_PER_TASK);
  search s = {{NULL, NULL}, hash, n, views, cur_calloc(n_tasks, sizeof(task))};
  int rc = s.tasks ? CUR_OK : CUR_ENOMEM;
  /* a negative limit searches nothing: its index is not built */
  int limit[2] = {max_whole, views > 1 ? max_view : -1};
  for (int x = 0; x < 2 && rc == CUR_OK; x++) {
    if (limit[x] < 0) continue;
    rc = list_hashes(&list[x], hash, n, views, x == 0, max_view > max_whole);
    if (rc == CUR_OK) rc = index_build(&index[x], &list[x], hash, n, views, limit[x]);
    list_free(&list[x]);
    s.ix[x] = &index[x];
  }
  if (rc == CUR_OK) cur_parallel_for(n_tasks, threads < 1 ? 1 : threads, search_task, &s);
  if (rc == CUR_OK) rc = gather(&s, n_tasks, pairs, n_pairs, cap);
  for (size_t i = 0; s.tasks && i < n_tasks; i++) cur_free(s.tasks[i].pairs);
  cur_free(s.tasks);
  index_free(&index[0]), index_free(&index[1]);
  return rc;
}
