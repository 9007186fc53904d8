/* audit_hash.c -- pHash distances between images and the pairs within a distance, by multi-index hashing.
**
** The index files every hash of every image (all its views) under each of
** BANDS 16-bit bands, as one counting-sorted list per band: start[v] ..
** start[v + 1] are the images with a hash whose band equals v.  A query is
** an image's whole-image hash: for each band, every value within r = d /
** BANDS bits of the query's band is looked up, d the larger of the two
** thresholds.  If two hashes are within d bits, some band differs in at
** most r (pigeonhole: otherwise every band differs in r + 1 or more,
** BANDS (r + 1) > d bits in all), so every image one of whose hashes is
** within d of the query's whole hash is found.  A pair whose distance is
** reached only by the other image's whole hash against this one's views is
** found when the other image is the query; a pair both queries meet is
** kept from the smaller one only.
*/
#include "audit_detect.h"

#include <math.h>
#include <stdlib.h>

#include "curate.h"

#define BANDS 4
#define BAND_BITS 16
#define BAND_VALUES (1 << BAND_BITS)

static int popcount64(uint64_t x) { return __builtin_popcountll(x); }

static unsigned band_of(uint64_t h, int band) {
  return (unsigned)(h >> (BAND_BITS * band)) & (BAND_VALUES - 1);
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

typedef struct hash_index {
  int64_t *start[BANDS];       /* BAND_VALUES + 1 offsets per band */
  int64_t *image[BANDS];       /* n x views image indices per band, by band value */
} hash_index;

static void index_free(hash_index *ix) {
  for (int b = 0; b < BANDS; b++) cur_free(ix->start[b]), cur_free(ix->image[b]);
}

static int index_build(hash_index *ix, const uint64_t *hash, int64_t n, int views) {
  size_t entries = (size_t)n * (size_t)views;
  for (int b = 0; b < BANDS; b++) {
    ix->start[b] = cur_calloc(BAND_VALUES + 1, sizeof *ix->start[b]);
    ix->image[b] = cur_mallocarray(entries ? entries : 1, sizeof *ix->image[b]);
    if (!ix->start[b] || !ix->image[b]) return CUR_ENOMEM;
    int64_t *start = ix->start[b];
    for (size_t e = 0; e < entries; e++) start[band_of(hash[e], b) + 1]++;
    for (int v = 0; v < BAND_VALUES; v++) start[v + 1] += start[v];
    for (size_t e = 0; e < entries; e++)   /* fill, then shift the offsets back */
      ix->image[b][start[band_of(hash[e], b)]++] = (int64_t)(e / (size_t)views);
    for (int v = BAND_VALUES; v > 0; v--) start[v] = start[v - 1];
    start[0] = 0;
  }
  return CUR_OK;
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
  const hash_index *ix;
  const uint64_t *hash;
  int64_t a;                   /* the querying image */
  int views, max_whole, max_view;
  int r;                       /* bits probed per band */
  int64_t *seen;               /* per image: the last query + 1 that looked at it */
  audit_pair **pairs;
  int64_t *n_pairs, *cap;
} query;

/* Whether the query of whole hash W looks at image B (one of B's hashes
** within R bits of W on some band). */
static int meets(uint64_t w, const uint64_t *b, int views, int r) {
  for (int v = 0; v < views; v++)
    for (int band = 0; band < BANDS; band++)
      if (popcount64((uint64_t)(band_of(w, band) ^ band_of(b[v], band))) <= r) return 1;
  return 0;
}

/* Candidate B of query A: kept when a pair and, if B's own query also
** meets A, when A is the smaller. */
static int consider(query *q, int64_t b) {
  if (b == q->a || q->seen[b] == q->a + 1) return CUR_OK;
  q->seen[b] = q->a + 1;
  const uint64_t *ha = q->hash + q->a * q->views, *hb = q->hash + b * q->views;
  if (!audit_hash_is_pair(ha, hb, q->views, q->max_whole, q->max_view)) return CUR_OK;
  if (b < q->a && meets(hb[0], ha, q->views, q->r)) return CUR_OK;   /* B's query keeps it */
  audit_pair p = {q->a < b ? q->a : b, q->a < b ? b : q->a, NAN,
                  audit_hash_distance(ha, hb, q->views)};
  return append_pair(q->pairs, q->n_pairs, q->cap, p);
}

/* Every band value within R bits of VALUE (flipping bits from FROM up), looked up in BAND. */
static int probe(query *q, int band, unsigned value, int from, int r) {
  const int64_t *start = q->ix->start[band], *image = q->ix->image[band];
  for (int64_t e = start[value]; e < start[value + 1]; e++) {
    int rc = consider(q, image[e]);
    if (rc) return rc;
  }
  for (int bit = from; r > 0 && bit < BAND_BITS; bit++) {
    int rc = probe(q, band, value ^ (1u << bit), bit + 1, r - 1);
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
  if (n < 2 || views < 1 || (max_whole < 0 && max_view < 0)) return CUR_OK;
  hash_index ix = {{0}, {0}};
  int64_t first = *n_pairs, *seen = cur_calloc((size_t)n, sizeof *seen);
  int rc = seen ? index_build(&ix, hash, n, views) : CUR_ENOMEM;
  int d = max_whole > max_view ? max_whole : max_view, r = d / BANDS;
  query q = {&ix, hash, 0, views, max_whole, max_view, r > BAND_BITS ? BAND_BITS : r, seen,
             pairs, n_pairs, cap};
  for (q.a = 0; rc == CUR_OK && q.a < n; q.a++)
    for (int b = 0; rc == CUR_OK && b < BANDS; b++)
      rc = probe(&q, b, band_of(hash[q.a * views], b), 0, q.r);
  index_free(&ix);
  cur_free(seen);
  if (rc == CUR_OK && *n_pairs > first)
    qsort(*pairs + first, (size_t)(*n_pairs - first), sizeof **pairs, cmp_pair);
  return rc;
}
