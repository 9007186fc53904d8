/* audit_hash.c -- pHash distances between images and the pairs within them, by multi-index hashing.
**
** Two indexes: the whole-image hashes, searched within max_whole bits, and
** the other views' hashes, searched within max_view bits; each image's
** whole-image hash is the query in both.  An index files every hash it
** holds under each of m bands (m contiguous bit ranges of the 64 bits), as
** one counting-sorted list per band: start[v] .. start[v + 1] are the
** images with a hash whose band equals v.  A query looks up, for each band,
** every band value within r = d / m bits of its own.  If two hashes are
** within d bits, some band differs in at most r (pigeonhole: otherwise
** every band differs in r + 1 or more, m (r + 1) > d bits in all), so every
** image one of whose hashes is within d of the query is met.  m (3 to 8)
** is the one with the least expected work per query for hashes spread
** evenly: the values looked up, plus the hashes filed under them.  Short
** bands put many hashes under each value, long ones need many values looked
** up (Norouzi, Punjani & Fleet take bands of about log2(hashes) bits).  A pair whose distance is reached only
** by the other image's whole hash against this one's views is met when the
** other image is the query; a pair both queries meet is kept from the
** smaller one only.
*/
#include "audit_detect.h"

#include <math.h>
#include <stdlib.h>

#include "curate.h"

#define MAX_BANDS 8
#define MIN_BANDS 3            /* bands of at most 22 bits: 4M offsets a band */

static int popcount64(uint64_t x) { return __builtin_popcountll(x); }

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

/* One index: the hashes FROM..TO of each image (of VIEWS), searched within R bits a band. */
typedef struct hash_index {
  int from, to, views;
  int bands, r;
  int shift[MAX_BANDS], bits[MAX_BANDS];
  int64_t *start[MAX_BANDS];   /* 2^bits + 1 offsets per band */
  int64_t *image[MAX_BANDS];   /* image indices per band, by band value */
} hash_index;

static unsigned band_of(const hash_index *ix, uint64_t h, int band) {
  return (unsigned)(h >> ix->shift[band]) & ((1u << ix->bits[band]) - 1);
}

static void index_free(hash_index *ix) {
  for (int b = 0; b < MAX_BANDS; b++) cur_free(ix->start[b]), cur_free(ix->image[b]);
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

/* The band count with the least expected work per query (file comment). */
static int best_bands(double entries, int d) {
  int best = MIN_BANDS;
  double best_cost = INFINITY;
  for (int m = MIN_BANDS; m <= MAX_BANDS; m++) {
    double cost = 0;
    for (int b = 0; b < m; b++) {
      int bits = 64 * (b + 1) / m - 64 * b / m;
      cost += ball(bits, d / m) * (1 + entries / ldexp(1.0, bits));
    }
    if (cost < best_cost) best = m, best_cost = cost;
  }
  return best;
}

/* Files hashes FROM..TO of N images, for a search within D bits. */
static int index_build(hash_index *ix, const uint64_t *hash, int64_t n, int views, int from,
                       int to, int d) {
  size_t per = (size_t)(to - from), entries = (size_t)n * per;
  int m = best_bands((double)entries, d);
  *ix = (hash_index){.from = from, .to = to, .views = views, .bands = m, .r = d / m};
  for (int b = 0; b < m; b++) {
    ix->shift[b] = 64 * b / m;
    ix->bits[b] = 64 * (b + 1) / m - ix->shift[b];
    size_t values = (size_t)1 << ix->bits[b];
    ix->start[b] = cur_calloc(values + 1, sizeof *ix->start[b]);
    ix->image[b] = cur_mallocarray(entries ? entries : 1, sizeof *ix->image[b]);
    if (!ix->start[b] || !ix->image[b]) return CUR_ENOMEM;
    int64_t *start = ix->start[b];
    for (int64_t i = 0; i < n; i++)
      for (int v = from; v < to; v++) start[band_of(ix, hash[i * views + v], b) + 1]++;
    for (size_t v = 0; v < values; v++) start[v + 1] += start[v];
    for (int64_t i = 0; i < n; i++)      /* fill, then shift the offsets back */
      for (int v = from; v < to; v++) ix->image[b][start[band_of(ix, hash[i * views + v], b)]++] = i;
    for (size_t v = values; v > 0; v--) start[v] = start[v - 1];
    start[0] = 0;
  }
  return CUR_OK;
}

/* Whether index IX's query of whole hash W meets image B (one of B's
** filed hashes within r bits of W on some band). */
static int meets(const hash_index *ix, uint64_t w, const uint64_t *b) {
  for (int v = ix->from; v < ix->to; v++)
    for (int band = 0; band < ix->bands; band++)
      if (popcount64((uint64_t)(band_of(ix, w, band) ^ band_of(ix, b[v], band))) <= ix->r)
        return 1;
  return 0;
}

static int append_pair(audit_pair **pairs, int64_t *n_pairs, int64_t *cap, audit_pair p) {
  if (*n_pairs == *cap) {
    int64_t grown = *cap ? 2 * *cap : 256;
    audit_pair *q = cur_reallocarray(*pairs, (size_t)grown, sizeof *q);
    if (!q) return CUR_ENOMEM;
    *pairs = q;
    *cap = grown;
  }
  (*pairs)[(*n_pairs)++] = p;
  return CUR_OK;
}

typedef struct query {
  const hash_index *ix[2];     /* whole hashes; views (NULL when VIEWS is 1) */
  const uint64_t *hash;
  int64_t a;                   /* the querying image */
  int views, max_whole, max_view;
  int64_t *seen;               /* per image: the last query + 1 that looked at it */
  audit_pair **pairs;
  int64_t *n_pairs, *cap;
} query;

/* Candidate B of query A: kept when a pair and, if B's own query also
** meets A, when A is the smaller. */
static int consider(query *q, int64_t b) {
  if (b == q->a || q->seen[b] == q->a + 1) return CUR_OK;
  q->seen[b] = q->a + 1;
  const uint64_t *ha = q->hash + q->a * q->views, *hb = q->hash + b * q->views;
  if (!audit_hash_is_pair(ha, hb, q->views, q->max_whole, q->max_view)) return CUR_OK;
  if (b < q->a && (meets(q->ix[0], hb[0], ha) || (q->ix[1] && meets(q->ix[1], hb[0], ha))))
    return CUR_OK;             /* B's query keeps it */
  audit_pair p = {q->a < b ? q->a : b, q->a < b ? b : q->a, NAN,
                  audit_hash_distance(ha, hb, q->views)};
  return append_pair(q->pairs, q->n_pairs, q->cap, p);
}

/* Every value within R bits of VALUE on BAND of IX (flipping bits from FROM up), looked up. */
static int probe(query *q, const hash_index *ix, int band, unsigned value, int from, int r) {
  const int64_t *start = ix->start[band], *image = ix->image[band];
  for (int64_t e = start[value]; e < start[value + 1]; e++) {
    int rc = consider(q, image[e]);
    if (rc) return rc;
  }
  for (int bit = from; r > 0 && bit < ix->bits[band]; bit++) {
    int rc = probe(q, ix, band, value ^ (1u << bit), bit + 1, r - 1);
    if (rc) return rc;
  }
  return CUR_OK;
}

static int cmp_pair(const void *x, const void *y) {
  const audit_pair *p = x, *q = y;
  if (p->a != q->a) return p->a < q->a ? -1 : 1;
  return (p->b > q->b) - (p->b < q->b);
}

int audit_hash_pairs(const uint64_t *hash, int64_t n, int views, int max_whole, int max_view,
                     audit_pair **pairs, int64_t *n_pairs, int64_t *cap) {
  if (n < 2 || views < 1) return CUR_OK;
  hash_index whole = {0}, other = {0};
  int64_t first = *n_pairs, *seen = cur_calloc((size_t)n, sizeof *seen);
  int rc = seen ? CUR_OK : CUR_ENOMEM;
  /* a negative limit searches nothing: an index built for it is skipped */
  int use_whole = max_whole >= 0, use_views = views > 1 && max_view >= 0;
  if (rc == CUR_OK && use_whole) rc = index_build(&whole, hash, n, views, 0, 1, max_whole);
  if (rc == CUR_OK && use_views) rc = index_build(&other, hash, n, views, 1, views, max_view);
  const hash_index *ix[2] = {use_whole ? &whole : NULL, use_views ? &other : NULL};
  query q = {{&whole, use_views ? &other : NULL}, hash, 0, views, max_whole, max_view, seen,
             pairs, n_pairs, cap};
  for (q.a = 0; rc == CUR_OK && q.a < n; q.a++)
    for (int i = 0; i < 2; i++)
      for (int b = 0; rc == CUR_OK && ix[i] && b < ix[i]->bands; b++)
        rc = probe(&q, ix[i], b, band_of(ix[i], hash[q.a * views], b), 0, ix[i]->r);
  index_free(&whole);
  index_free(&other);
  cur_free(seen);
  if (rc == CUR_OK && *n_pairs > first)
    qsort(*pairs + first, (size_t)(*n_pairs - first), sizeof **pairs, cmp_pair);
  return rc;
}
