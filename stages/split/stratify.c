/* stratify.c -- iterative stratification of whole groups into train, val and test.
**
** Sechidis, Tsoumakas & Vlahavas (2011), "On the stratification of
** multi-label data", adapted to groups: take the class with the fewest rows
** still unplaced, place each unplaced group holding it (most rows of that
** class first), then take the next rarest class.  A group goes to the split
** where it lowers the squared distance to the targets the most, summed over
** its classes, each term divided by that split's target for the class: so
** a split is filled in proportion to its share, and a big group is not sent
** to train merely because train's absolute deficit is the largest (that
** left whole classes without a val row on real photos).  For a group of one
** row this is Sechidis' rule, the split that wants the class most relative
** to its share.  Ties go to the split that wants rows most overall, then to
** the group's seeded hash.
** Groups without labelled rows come last and balance the row count only.
** Groups placed before (pinned by the source, or by an earlier run) count
** toward the targets, so a later run fills in around them.
*/
#include "stratify.h"

#include <stdlib.h>

#include "curate.h"

#define N_SPLITS 3
#define EPS 1e-9  /* costs are sums of a few ratios of counts: equal below this */

typedef struct strat {
  cur_strat_group *groups;
  const cur_strat_entry *entries;
  const double *frac;
  int n_classes;
  double *placed;           /* [split * n_classes + class] rows placed */
  double *total;            /* [class] all rows */
  double placed_rows[N_SPLITS], all_rows;
  int64_t *remaining;       /* [class] rows in groups not placed yet */
} strat;

/* Change in the squared distance to the targets, each term relative to its
** target, if group G went to split S: *by_class over its classes, *by_rows
** over the row count.  Only splits with a share > 0 are asked. */
static void cost(const strat *t, const cur_strat_group *g, int s, double *by_class, double *by_rows) {
  *by_class = 0;
  for (int e = g->first; e < g->first + g->n; e++) {
    int c = t->entries[e].cls;
    double k = (double)t->entries[e].count;
    double over = t->placed[s * t->n_classes + c] - t->frac[s] * t->total[c];
    *by_class += k * (2 * over + k) / (t->frac[s] * t->total[c]);
  }
  double k = (double)g->size, over = t->placed_rows[s] - t->frac[s] * t->all_rows;
  *by_rows = t->all_rows > 0 ? k * (2 * over + k) / (t->frac[s] * t->all_rows) : 0;
}

static int choose(const strat *t, const cur_strat_group *g) {
  if (g->size == 0) {  /* nothing to balance (e.g. all quarantined): by the shares */
    double u = g->tie, acc = 0;
    for (int s = 0; s < N_SPLITS - 1; s++)
      if (t->frac[s] > 0 && u < (acc += t->frac[s])) return s;
    return t->frac[N_SPLITS - 1] > 0 ? N_SPLITS - 1 : 0;
  }
  int tied[N_SPLITS], n_tied = 0;
  double best_a = 0, best_b = 0;
  for (int s = 0; s < N_SPLITS; s++) {
    if (t->frac[s] <= 0) continue;
    double by_class, by_rows;
    cost(t, g, s, &by_class, &by_rows);
    double a = g->n > 0 ? by_class : by_rows, b = g->n > 0 ? by_rows : 0;
    if (n_tied == 0 || a < best_a - EPS || (a <= best_a + EPS && b < best_b - EPS)) {
      n_tied = 0;
      best_a = a;
      best_b = b;
    } else if (a > best_a + EPS || b > best_b + EPS) {
      continue;
    }
    tied[n_tied++] = s;
  }
  return tied[(int)(g->tie * n_tied)];
}

static void place(strat *t, cur_strat_group *g, int s) {
  g->split = s;
  t->placed_rows[s] += (double)g->size;
  for (int e = g->first; e < g->first + g->n; e++) {
    t->placed[s * t->n_classes + t->entries[e].cls] += (double)t->entries[e].count;
    t->remaining[t->entries[e].cls] -= t->entries[e].count;
  }
}

/* The order groups are placed in: most rows of the class being placed
** first (0 for groups without labels), then bigger groups, then the tie. */
typedef struct order {
  int64_t count, size;
  double tie;
  int group;
} order;

static int by_order(const void *pa, const void *pb) {
  const order *a = pa, *b = pb;
  if (a->count != b->count) return a->count > b->count ? -1 : 1;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  if (a->tie != b->tie) return a->tie < b->tie ? -1 : 1;
  return (a->group > b->group) - (a->group < b->group);
}

/* The rarest class that still has unplaced rows, or -1. */
static int rarest(const strat *t) {
  int best = -1;
  for (int c = 0; c < t->n_classes; c++)
    if (t->remaining[c] > 0 && (best < 0 || t->remaining[c] < t->remaining[best])) best = c;
  return best;
}

/* Places, in order, the unplaced groups holding class C (every unplaced
** group without labels when C is -1). */
static void place_class(strat *t, int n_groups, int c, order *buf) {
  int n = 0;
  for (int g = 0; g < n_groups; g++) {
    const cur_strat_group *gr = &t->groups[g];
    if (gr->split >= 0 || (c < 0 && gr->n > 0)) continue;
    int64_t count = 0;
    for (int e = gr->first; c >= 0 && e < gr->first + gr->n; e++)
      if (t->entries[e].cls == c) count = t->entries[e].count;
    if (c >= 0 && count == 0) continue;
    buf[n++] = (order){.count = count, .size = gr->size, .tie = gr->tie, .group = g};
  }
  qsort(buf, (size_t)n, sizeof *buf, by_order);
  for (int i = 0; i < n; i++) place(t, &t->groups[buf[i].group], choose(t, &t->groups[buf[i].group]));
}

int cur_stratify(cur_strat_group *groups, int n_groups, const cur_strat_entry *entries,
                 int n_classes, const double frac[3]) {
  strat t = {.groups = groups, .entries = entries, .frac = frac, .n_classes = n_classes};
  order *buf = cur_mallocarray((size_t)n_groups + 1, sizeof *buf);
  t.placed = cur_calloc((size_t)N_SPLITS * (size_t)n_classes + 1, sizeof *t.placed);
  t.total = cur_calloc((size_t)n_classes + 1, sizeof *t.total);
  t.remaining = cur_calloc((size_t)n_classes + 1, sizeof *t.remaining);
  int rc = buf && t.placed && t.total && t.remaining ? CUR_OK : CUR_ENOMEM;
  for (int g = 0; rc == CUR_OK && g < n_groups; g++) {
    const cur_strat_group *gr = &groups[g];
    t.all_rows += (double)gr->size;
    if (gr->split >= 0) t.placed_rows[gr->split] += (double)gr->size;
    for (int e = gr->first; e < gr->first + gr->n; e++) {
      t.total[entries[e].cls] += (double)entries[e].count;
      if (gr->split >= 0) t.placed[gr->split * n_classes + entries[e].cls] += (double)entries[e].count;
      else t.remaining[entries[e].cls] += entries[e].count;
    }
  }
  /* one pass per class: rarest first, recounted after each */
  for (int c; rc == CUR_OK && (c = rarest(&t)) >= 0;) place_class(&t, n_groups, c, buf);
  if (rc == CUR_OK) place_class(&t, n_groups, -1, buf);
  cur_free(buf);
  cur_free(t.placed);
  cur_free(t.total);
  cur_free(t.remaining);
  return rc;
}
