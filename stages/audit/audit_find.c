/* audit_find.c -- the audit stage's judging pass: rows in, pairs, groups, kNN scores and limits out.
**
** Near-duplicate pairs are the union of two sets: kNN-graph pairs whose
** embedding cosine reaches audit.cosine and whose cosine distance is at
** most audit.cosine_ratio times each image's distance to its k-th nearest
** neighbour (a cosine ordinary in the images' neighbourhoods does not
** count), and pHash pairs: whole-image hashes at most audit.phash_distance
** bits apart, or one's whole hash at most audit.phash_view_distance from
** the other's mirror or crop views (models/audit_detect.h).  Each pair's
** cosine is recomputed in double precision from the stored vectors, so
** what is written does not depend on faiss's summation order.  Groups are
** the connected components of the pairs (union-find).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"
#include "curate.h"
#include "half.h"
#include "knn.h"
#include "rng.h"

const char *const audit_reason[Q_COUNT] = {"blurry", "dark", "bright", "low_information",
                                           "odd_aspect", "odd_size", "grayscale", "outlier"};

void audit_state_free(audit_state *a) {
  for (int64_t i = 0; a->paths && i < a->n; i++) cur_free(a->paths[i]);
  void *owned[] = {a->ids, a->split, a->paths, a->width, a->height, a->stats, a->vec_row,
                   a->vec_of, a->half, a->mean, a->row_a, a->row_b, a->pairs, a->group, a->nbr,
                   a->sim, a->aspect_share};
  for (size_t i = 0; i < CUR_ARRAY_LEN(owned); i++) cur_free(owned[i]);
  for (int q = 0; q < Q_COUNT; q++) cur_free(a->measure[q]);
}

static int grow_rows(audit_state *a, int dim) {
  int64_t cap = a->cap ? 2 * a->cap : 1024;
  size_t c = (size_t)cap;
  void **slots[] = {(void **)&a->ids, (void **)&a->split, (void **)&a->paths, (void **)&a->width,
                    (void **)&a->height, (void **)&a->stats, (void **)&a->vec_row};
  size_t sizes[] = {sizeof *a->ids, sizeof *a->split, sizeof *a->paths, sizeof *a->width,
                    sizeof *a->height, sizeof *a->stats, sizeof *a->vec_row};
  for (size_t i = 0; i < CUR_ARRAY_LEN(slots); i++) {
    void *p = cur_reallocarray(*slots[i], c, sizes[i]);
    if (!p) return CUR_ENOMEM;
    *slots[i] = p;
  }
  unsigned char *half = dim ? cur_reallocarray(a->half, c, (size_t)dim * 2) : a->half;
  if (dim && !half) return CUR_ENOMEM;
  a->half = half;
  a->cap = cap;
  return CUR_OK;
}

/* Store callback: one row, its vector normalised to unit length. */
static int take_row(void *ctx, const cur_audit_row *r) {
  audit_state *a = ctx;
  if (r->vector && a->dim == 0) a->dim = r->dim;
  if (r->vector && r->dim != a->dim)
    return cur_errorc(CUR_EINPUT, "audit: image %lld has %d values under %s, others %d",
                      (long long)r->id, r->dim, a->model, a->dim);
  int rc = a->n == a->cap ? grow_rows(a, a->dim) : CUR_OK;
  /* the first vector may come after rows without one: half is allocated then */
  if (rc == CUR_OK && a->dim && !a->half) rc = grow_rows(a, a->dim);
  if (rc) return rc;
  int64_t i = a->n;
  a->ids[i] = r->id;
  snprintf(a->split[i], sizeof a->split[i], "%s", r->split ? r->split : "");
  if (!(a->paths[i] = cur_strdup(r->path ? r->path : ""))) return CUR_ENOMEM;
  a->width[i] = r->width;
  a->height[i] = r->height;
  a->stats[i] = r->stats;
  a->vec_row[i] = -1;
  a->n++;
  if (!r->vector) return CUR_OK;
  memcpy(a->half + (size_t)a->n_vec * a->dim * 2, r->vector, (size_t)a->dim * 2);
  a->vec_row[i] = a->n_vec++;
  return CUR_OK;
}

/* The vectors are centred on their mean and scaled to unit length, so
** that inner products are cosines about the dataset's centre: features
** that are all positive (the patches features, ReLU outputs) otherwise put
** every pair above any useful threshold.  The mean is summed here; each
** unit vector is made from its stored halves when asked (audit_vector),
** the same floats every time. */
static int vector_mean(audit_state *a) {
  int dim = a->dim ? a->dim : 1;
  a->mean = cur_calloc((size_t)dim, sizeof *a->mean);
  a->row_a = cur_mallocarray((size_t)dim, sizeof *a->row_a);
  a->row_b = cur_mallocarray((size_t)dim, sizeof *a->row_b);
  if (!a->mean || !a->row_a || !a->row_b) return CUR_ENOMEM;
  for (int64_t v = 0; v < a->n_vec; v++) {
    cur_half_decode(a->half + (size_t)v * a->dim * 2, (size_t)a->dim, a->row_a);
    for (int j = 0; j < a->dim; j++) a->mean[j] += a->row_a[j];
  }
  for (int j = 0; j < a->dim; j++) a->mean[j] /= (double)(a->n_vec ? a->n_vec : 1);
  return CUR_OK;
}

/* Vector V centred on the mean and scaled to unit length, into X (dim). */
static void audit_vector(const audit_state *a, int64_t v, float *x) {
  cur_half_decode(a->half + (size_t)v * a->dim * 2, (size_t)a->dim, x);
  double norm = 0;
  for (int j = 0; j < a->dim; j++) {
    x[j] = (float)(x[j] - a->mean[j]);
    norm += (double)x[j] * x[j];
  }
  norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
  for (int j = 0; j < a->dim; j++) x[j] = (float)(x[j] * norm);
}

/* knn_rows' source: COUNT unit vectors from FIRST into OUT. */
static void audit_rows(void *ctx, int64_t first, int64_t count, float *out) {
  const audit_state *a = ctx;
  for (int64_t v = 0; v < count; v++) audit_vector(a, first + v, out + (size_t)v * a->dim);
}

static knn_rows vector_rows(audit_state *a) {
  return (knn_rows){audit_rows, a, a->n_vec, a->dim};
}

int audit_load(audit_state *a) {
  int rc = cur_store_audit_rows(cur_run_store(a->run), a->model, take_row, a);
  if (rc == CUR_OK) rc = vector_mean(a);
  if (rc) return rc;
  a->vec_of = cur_mallocarray((size_t)(a->n_vec ? a->n_vec : 1), sizeof *a->vec_of);
  if (!a->vec_of) return CUR_ENOMEM;
  for (int64_t i = 0; i < a->n; i++)
    if (a->vec_row[i] >= 0) a->vec_of[a->vec_row[i]] = i;
  cur_info("audit: %lld images, %lld with embeddings %s", (long long)a->n, (long long)a->n_vec,
           a->model[0] ? a->model : "(none)");
  return CUR_OK;
}

/* The cosine of vectors V1 and V2 in double, given V1's unit vector X. */
static double vector_cosine(audit_state *a, const float *x, int64_t v2) {
  audit_vector(a, v2, a->row_b);
  double s = 0;
  for (int j = 0; j < a->dim; j++) s += (double)x[j] * a->row_b[j];
  return s;
}

/* Cosine of two rows' vectors in double; NAN when either has none. */
static double pair_cosine(audit_state *a, int64_t r1, int64_t r2) {
  int64_t v1 = a->vec_row[r1], v2 = a->vec_row[r2];
  if (v1 < 0 || v2 < 0) return NAN;
  audit_vector(a, v1, a->row_a);
  return vector_cosine(a, a->row_a, v2);
}

/* The exact neighbours of ROWS[0..s) into EXACT (s x k). */
static int exact_of(audit_state *a, int k, const int64_t *rows, int64_t s, int64_t *exact) {
  float *sim = cur_mallocarray((size_t)(s ? s : 1), (size_t)k * sizeof *sim);
  if (!sim) return CUR_ENOMEM;
  knn_config ex = {.k = k, .threads = cur_run_threads(a->run)};
  knn_rows all = vector_rows(a);
  int rc = knn_search_rows(&ex, &all, rows, s, exact, sim);
  cur_free(sim);
  return rc;
}

/* The IVF graph: cells trained on a seeded sample; nprobe is ivf_nprobe,
** or (0) the least that reaches ivf_recall on ivf_check held-out rows;
** then the recall@k of the graph is measured on ivf_check other rows. */
static int ivf_graph(audit_state *a) {
  int64_t m = a->n_vec, s = cur_opt_int(a->opt, "ivf_check"), *rows = NULL, *exact = NULL;
  int k = a->k, nprobe = (int)cur_opt_int(a->opt, "ivf_nprobe");
  if (2 * s > m) s = m / 2;
  knn_ivf *ix = NULL;
  uint64_t seed = cur_run_seed(a->run);
  knn_rows all = vector_rows(a);
  rows = cur_mallocarray((size_t)(2 * s + 1), sizeof *rows);
  exact = cur_mallocarray((size_t)(2 * s + 1), (size_t)k * sizeof *exact);
  int rc = rows && exact ? CUR_OK : CUR_ENOMEM;
  /* rows[0..s): tuning; rows[s..2s): the check; their exact neighbours
  ** first, so that the exact search's copy of the vectors is gone before
  ** the IVF makes its own */
  if (rc == CUR_OK) rc = knn_sample_rows(m, 2 * s, seed ^ 0x6976665f636865ull, rows);
  if (rc == CUR_OK) rc = exact_of(a, k, rows, 2 * s, exact);
  if (rc == CUR_OK) rc = knn_ivf_new_rows(&all, 0, seed, cur_run_threads(a->run), &ix);
  double tuned = NAN;
  if (rc == CUR_OK && nprobe == 0)
    rc = knn_ivf_tune(ix, k, rows, s, exact, cur_opt_num(a->opt, "ivf_recall"), &nprobe, &tuned);
  if (rc == CUR_OK) rc = knn_ivf_search(ix, nprobe, k, NULL, m, a->nbr, a->sim);
  if (rc == CUR_OK) {
    int64_t *approx = cur_mallocarray((size_t)(s + 1), (size_t)k * sizeof *approx);
    if (!approx) rc = CUR_ENOMEM;
    for (int64_t i = 0; rc == CUR_OK && i < s; i++)
      memcpy(approx + i * k, a->nbr + rows[s + i] * k, (size_t)k * sizeof *approx);
    if (rc == CUR_OK) a->knn_recall = knn_recall(exact + s * k, approx, s, k);
    cur_free(approx);
  }
  if (rc == CUR_OK) {
    a->ivf_nprobe = nprobe;
    cur_info("audit: IVF kNN, %d cells, %d probed (recall@%d %.3f on %lld tuning images); "
             "recall@%d against exact search on %lld other images: %.3f", knn_ivf_nlist(ix),
             nprobe, k, tuned, (long long)s, k, (long long)s, a->knn_recall);
  }
  knn_ivf_free(ix);
  cur_free(rows), cur_free(exact);
  return rc;
}

/* The kNN graph over the vectors: exact up to exact_max rows, else IVF
** (above).  Similarities are recomputed in double (see the file comment). */
static int knn_graph(audit_state *a) {
  int64_t m = a->n_vec;
  a->knn_recall = NAN;
  if (m < 2) return CUR_OK;
  a->k = (int)cur_opt_int(a->opt, "k");
  if (a->k > m - 1) a->k = (int)(m - 1);
  int k = a->k;
  a->nbr = cur_mallocarray((size_t)m, (size_t)k * sizeof *a->nbr);
  a->sim = cur_mallocarray((size_t)m, (size_t)k * sizeof *a->sim);
  if (!a->nbr || !a->sim) return CUR_ENOMEM;
  knn_config cfg = {.k = k, .threads = cur_run_threads(a->run)};
  knn_rows all = vector_rows(a);
  int rc = m > cur_opt_int(a->opt, "exact_max") ? ivf_graph(a)
                                                 : knn_search_rows(&cfg, &all, NULL, m, a->nbr,
                                                                   a->sim);
  for (int64_t v = 0; rc == CUR_OK && v < m; v++) {
    audit_vector(a, v, a->row_a);
    for (int64_t j = v * k; j < (v + 1) * k; j++)
      if (a->nbr[j] >= 0) a->sim[j] = (float)vector_cosine(a, a->row_a, a->nbr[j]);
  }
  return rc;
}

static int cmp_pair(const void *x, const void *y) {
  const audit_pair *p = x, *q = y;
  if (p->a != q->a) return p->a < q->a ? -1 : 1;
  return (p->b > q->b) - (p->b < q->b);
}

static int push_pair(audit_state *a, int64_t r1, int64_t r2) {
  if (a->n_pairs == a->cap_pairs) {
    int64_t grown = a->cap_pairs ? 2 * a->cap_pairs : 256;
    audit_pair *p = cur_reallocarray(a->pairs, (size_t)grown, sizeof *p);
    if (!p) return CUR_ENOMEM;
    a->pairs = p, a->cap_pairs = grown;
  }
  a->pairs[a->n_pairs++] = (audit_pair){r1 < r2 ? r1 : r2, r1 < r2 ? r2 : r1, NAN, 0};
  return CUR_OK;
}

/* Whether vector W lists V among its neighbours at or above COS_MIN. */
static int lists(const audit_state *a, int64_t w, int64_t v, double cos_min) {
  for (int j = 0; j < a->k; j++)
    if (a->nbr[w * a->k + j] == v && a->sim[w * a->k + j] >= cos_min) return 1;
  return 0;
}

/* The kNN pairs at or above audit.cosine that stand out from both images'
** neighbourhoods (audit_knn_distinct, audit.cosine_ratio).  Weak features
** put whole regions close together: on CIFAR-10 the patches features gave
** different plain-sky pictures cosines of 0.95 to 0.99 and chained 165 of
** them into one group, while such a cosine was ordinary among each image's
** ten nearest.  Counted once per pair (both ends may list it); the verdict
** is symmetric, since the cosine is recomputed from the vectors. */
static int embedding_pairs(audit_state *a) {
  double cos_min = cur_opt_num(a->opt, "cosine"), ratio = cur_opt_num(a->opt, "cosine_ratio");
  double *reach = cur_mallocarray((size_t)(a->n_vec ? a->n_vec : 1), sizeof *reach);
  if (!reach) return CUR_ENOMEM;
  for (int64_t v = 0; v < a->n_vec; v++) reach[v] = audit_knn_reach(a->nbr, a->sim, a->k, v);
  int rc = CUR_OK;
  for (int64_t v = 0; rc == CUR_OK && v < a->n_vec; v++)
    for (int j = 0; rc == CUR_OK && j < a->k; j++) {
      int64_t w = a->nbr[v * a->k + j];
      double c = a->sim[v * a->k + j];
      if (w < 0 || c < cos_min || (w < v && lists(a, w, v, cos_min))) continue;
      a->cosine_pairs++;
      if (!audit_knn_distinct(c, reach[v], reach[w], ratio)) continue;
      a->cosine_distinct++;
      rc = push_pair(a, a->vec_of[v], a->vec_of[w]);
    }
  cur_free(reach);
  int64_t dropped = a->cosine_pairs - a->cosine_distinct;
  if (rc == CUR_OK && a->cosine_pairs)
    cur_info("audit: %lld embedding pairs at cosine %.2f or more, %lld of them distinct from "
             "their images' %d nearest (audit.cosine_ratio %.2f)", (long long)a->cosine_pairs,
             cos_min, (long long)a->cosine_distinct, a->k, ratio);
  if (rc == CUR_OK && 2 * dropped > a->cosine_pairs)
    cur_warn("audit: %lld of %lld embedding pairs at cosine %.2f or more are no closer than "
             "audit.cosine_ratio times their distance to the farthest of their %d nearest: the "
             "embeddings put different images that close here, so those pairs are not counted "
             "(the pHash pairs are)", (long long)dropped, (long long)a->cosine_pairs, cos_min,
             a->k);
  return rc;
}

/* pHash pairs plus the kNN pairs that count (above), sorted, unique, each
** with both its cosine and its Hamming distance. */
static int find_pairs(audit_state *a) {
  uint64_t *hash = cur_mallocarray((size_t)(a->n ? a->n : 1), sizeof a->stats->phash);
  if (!hash) return CUR_ENOMEM;
  for (int64_t i = 0; i < a->n; i++)
    memcpy(hash + i * CUR_PHASH_VIEWS, a->stats[i].phash, sizeof a->stats->phash);
  int rc = audit_hash_pairs(hash, a->n, CUR_PHASH_VIEWS, (int)cur_opt_int(a->opt, "phash_distance"),
                            (int)cur_opt_int(a->opt, "phash_view_distance"),
                            cur_run_threads(a->run), &a->pairs, &a->n_pairs, &a->cap_pairs);
  if (rc == CUR_OK && a->k) rc = embedding_pairs(a);
  cur_free(hash);
  if (rc) return rc;
  if (a->n_pairs) qsort(a->pairs, (size_t)a->n_pairs, sizeof *a->pairs, cmp_pair);
  int64_t out = 0;
  for (int64_t i = 0; i < a->n_pairs; i++) {
    if (out && cmp_pair(&a->pairs[out - 1], &a->pairs[i]) == 0) continue;
    audit_pair p = a->pairs[i];
    p.cosine = (float)pair_cosine(a, p.a, p.b);
    p.hamming = audit_hash_distance(a->stats[p.a].phash, a->stats[p.b].phash, CUR_PHASH_VIEWS);
    a->pairs[out++] = p;
  }
  a->n_pairs = out;
  return CUR_OK;
}

static int find_groups(audit_state *a) {
  audit_groups *g = audit_groups_new(a->n);
  a->group = cur_mallocarray((size_t)(a->n ? a->n : 1), sizeof *a->group);
  if (!g || !a->group) {
    audit_groups_free(g);
    return CUR_ENOMEM;
  }
  for (int64_t i = 0; i < a->n_pairs; i++) audit_groups_union(g, a->pairs[i].a, a->pairs[i].b);
  for (int64_t i = 0; i < a->n; i++) a->group[i] = audit_groups_find(g, i);
  audit_groups_free(g);
  return CUR_OK;
}

/* The value each detector tests, on the scale its limit is fitted on: logs
** for the measures that are ratios (a blur divides sharpness, darkening
** scales brightness), the others as they are.  Blur is the Laplacian's
** variance over its variance after a re-blur (models/imstats.h): contrast
** and texture cancel, so a dark or smooth image is not called blurry for
** them, while an image already blurred loses little more detail. */
static double measure_of(const audit_state *a, int q, int64_t i) {
  const cur_image_stats *s = &a->stats[i];
  double w = a->width[i] > 0 ? a->width[i] : 1, h = a->height[i] > 0 ? a->height[i] : 1;
  switch (q) {
  case Q_BLURRY: return log((s->sharpness + 1) / (s->sharpness_reblur + 1));
  case Q_DARK: return log1p(s->bright_p99);
  case Q_BRIGHT: return log1p(s->bright_p01);
  case Q_LOW_INFORMATION: return s->entropy;
  case Q_ODD_ASPECT: return log(w / h);
  case Q_ODD_SIZE: return 0.5 * log(w * h);
  case Q_GRAYSCALE: return log1p(s->colourfulness);
  default: return NAN;
  }
}

static const audit_side detector_side[Q_COUNT] = {AUDIT_LOW, AUDIT_LOW, AUDIT_HIGH, AUDIT_LOW,
                                                  AUDIT_BOTH, AUDIT_BOTH, AUDIT_LOW, AUDIT_HIGH};

/* The least scale each detector's limit is fitted with, on its value's
** scale: with a median/MAD scale near 0 (most images 400 x 533, most
** brightness clipped at 255) a modified z-score would flag ordinary
** variation.  0.1 on a log scale is a 10% change (a 42% change at z 3.5),
** 0.2 for aspect and size (a factor of 2 at z 3.5: smaller differences are
** ordinary framing), 0.1 bits of entropy; none for kNN distance. */
static const double scale_floor[Q_COUNT] = {0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.1, 0};

static int fit_limits(audit_state *a) {
  double z = cur_opt_num(a->opt, "z");
  for (int q = 0; q < Q_COUNT; q++) {
    int64_t m = q == Q_OUTLIER ? a->n_vec : a->n;
    if (!(a->measure[q] = cur_mallocarray((size_t)(m ? m : 1), sizeof(double)))) return CUR_ENOMEM;
  }
  for (int q = 0; q < Q_OUTLIER; q++)
    for (int64_t i = 0; i < a->n; i++) a->measure[q][i] = measure_of(a, q, i);
  if (a->k) audit_knn_scores(a->nbr, a->sim, a->n_vec, a->k, NULL, a->measure[Q_OUTLIER], NULL, NULL);
  for (int q = 0; q < Q_COUNT; q++) {
    int64_t m = q == Q_OUTLIER ? (a->k ? a->n_vec : 0) : a->n;
    int rc = audit_limits_fit(a->measure[q], m, detector_side[q], z, scale_floor[q], &a->limits[q]);
    if (rc) return rc;
  }
  /* odd_aspect is rarity, not distance from the median: a set of portrait
  ** photos with landscape groups has two or three common aspects, and
  ** the median/MAD limit called a whole group (the clothing photos' 84
  ** 16:9 shots) odd */
  a->limits[Q_ODD_ASPECT].lo = -INFINITY;
  a->limits[Q_ODD_ASPECT].hi = INFINITY;
  a->aspect_share = cur_mallocarray((size_t)(a->n ? a->n : 1), sizeof *a->aspect_share);
  if (!a->aspect_share) return CUR_ENOMEM;
  return audit_share_near(a->measure[Q_ODD_ASPECT], a->n, ASPECT_WIDTH, a->aspect_share);
}

int audit_find(audit_state *a) {
  int rc = knn_graph(a);
  if (rc == CUR_OK) rc = find_pairs(a);
  if (rc == CUR_OK) rc = find_groups(a);
  if (rc == CUR_OK) rc = fit_limits(a);
  return rc;
}
