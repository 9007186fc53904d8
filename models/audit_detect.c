/* audit_detect.c -- modified z-score limits, union-find, kNN scores and the kNN pair test (pHash pairs: audit_hash.c). */
#include "audit_detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of sorted S[n]. */
static double median_sorted(const double *s, int64_t n) {
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

int audit_limits_fit(const double *x, int64_t n, audit_side side, double z, double floor,
                     audit_limits *out) {
  memset(out, 0, sizeof *out);
  out->lo = -INFINITY;
  out->hi = INFINITY;
  if (n <= 0) return CUR_OK;
  double *s = cur_mallocarray((size_t)n, sizeof *s);
  if (!s) return CUR_ENOMEM;
  memcpy(s, x, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  double med = median_sorted(s, n), mean_abs = 0;
  for (int64_t i = 0; i < n; i++) {
    s[i] = fabs(x[i] - med);
    mean_abs += s[i];
  }
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  double mad = median_sorted(s, n);
  cur_free(s);
  out->median = med;
  out->scale = fmax(floor, mad > 0 ? 1.4826 * mad : 1.2533 * mean_abs / (double)n);
  if (out->scale <= 0) return CUR_OK;
  if (side != AUDIT_HIGH) out->lo = med - z * out->scale;
  if (side != AUDIT_LOW) out->hi = med + z * out->scale;
  return CUR_OK;
}

int audit_limits_out(const audit_limits *l, double x) { return x < l->lo || x > l->hi; }

double audit_limits_z(const audit_limits *l, double x) {
  return l->scale > 0 ? (x - l->median) / l->scale : 0;
}

/* Sorted values with their positions, for the windows of audit_share_near. */
typedef struct ranked {
  double x;
  int64_t at;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *p = a, *q = b;
  return (p->x > q->x) - (p->x < q->x);
}

/* Two pointers over the sorted values: [lo, hi) is the window of the i-th. */
int audit_share_near(const double *x, int64_t n, double width, double *share) {
  if (n <= 0) return CUR_OK;
  ranked *r = cur_mallocarray((size_t)n, sizeof *r);
  if (!r) return CUR_ENOMEM;
  for (int64_t i = 0; i < n; i++) r[i] = (ranked){x[i], i};
  qsort(r, (size_t)n, sizeof *r, cmp_ranked);
  int64_t lo = 0, hi = 0;
  for (int64_t i = 0; i < n; i++) {
    while (r[lo].x < r[i].x - width) lo++;
    while (hi < n && r[hi].x <= r[i].x + width) hi++;
    share[r[i].at] = (double)(hi - lo) / (double)n;
  }
  cur_free(r);
  return CUR_OK;
}

struct audit_groups {
  int64_t n;
  int64_t *parent;
};

audit_groups *audit_groups_new(int64_t n) {
  audit_groups *g = cur_calloc(1, sizeof *g);
  if (!g) return NULL;
  g->parent = cur_mallocarray((size_t)(n > 0 ? n : 1), sizeof *g->parent);
  if (!g->parent) {
    cur_free(g);
    return NULL;
  }
  g->n = n;
  for (int64_t i = 0; i < n; i++) g->parent[i] = i;
  return g;
}

void audit_groups_free(audit_groups *g) {
  if (!g) return;
  cur_free(g->parent);
  cur_free(g);
}

int64_t audit_groups_find(audit_groups *g, int64_t a) {
  while (g->parent[a] != a) {           /* path halving */
    g->parent[a] = g->parent[g->parent[a]];
    a = g->parent[a];
  }
  return a;
}

/* The root is always the smaller of the two roots, so a group's root is its
** smallest member whatever order the pairs come in. */
void audit_groups_union(audit_groups *g, int64_t a, int64_t b) {
  int64_t ra = audit_groups_find(g, a), rb = audit_groups_find(g, b);
  if (ra == rb) return;
  if (ra < rb) g->parent[rb] = ra;
  else g->parent[ra] = rb;
}

void audit_knn_scores(const int64_t *nbr, const float *sim, int64_t n, int k, const int *label,
                      double *distance, double *consistency, int *majority) {
  for (int64_t i = 0; i < n; i++) {
    double dsum = 0;
    int used = 0, labelled = 0, same = 0, best = -1, best_count = 0;
    for (int j = 0; j < k; j++) {
      int64_t m = nbr[i * k + j];
      if (m < 0) continue;
      dsum += 1.0 - sim[i * k + j];
      used++;
      if (!label || label[m] < 0) continue;
      labelled++;
      same += label[m] == label[i];
      int count = 0;                     /* k is small: count this label's votes */
      for (int q = 0; q < k; q++) count += nbr[i * k + q] >= 0 && label[nbr[i * k + q]] == label[m];
      if (count > best_count || (count == best_count && label[m] < best))
        best = label[m], best_count = count;
    }
    distance[i] = used ? dsum / used : NAN;
    if (consistency)
      consistency[i] = label && label[i] >= 0 && labelled ? (double)same / labelled : NAN;
    if (majority) majority[i] = best;
  }
}

double audit_knn_reach(const int64_t *nbr, const float *sim, int k, int64_t row) {
  double least = NAN;
  for (int j = 0; j < k; j++) {
    double s = sim[row * k + j];
    if (nbr[row * k + j] >= 0 && (isnan(least) || s < least)) least = s;
  }
  return least;
}

int audit_knn_distinct(double cosine, double reach_a, double reach_b, double ratio) {
  double d = 1.0 - cosine;
  return d <= ratio * (1.0 - reach_a) && d <= ratio * (1.0 - reach_b);
}
