/* audit_write.c -- the audit stage's output: pairs, groups, per-task scores and flags, metrics.
**
** Everything below is one transaction whose last row is the metric "rows"
** (the mark that the judging pass is done).  Image-level flags are written
** once per task, since flags belong to a task: near_duplicate on every
** member of a group but the one kept (its first train image by id, else its
** first image: a copy in val or test is the one to go), leak on a val
** or test image with a pair partner in train (the detail names the train
** image), and the quality and outlier reasons where a measure passes its
** limit.  A flag's score is lower for a worse case (the modified z-score on
** the flagged side, or 1 - cosine for a pair), so `curate flagged` lists
** the clearest cases first.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "audit_internal.h"
#include "curate.h"
#include "store_labels.h"
#include "store_metrics.h"
#include "store_scores.h"

/* One task's labels, per row: class idx (-1 none) and class id. */
typedef struct task_rows {
  audit_state *a;
  int64_t task_id;
  const char *task;
  int *label;
  int64_t *class_id;
  char **class_names;
  int n_classes;
  int64_t *leaks;              /* per class */
} task_rows;

static int64_t row_of(const audit_state *a, int64_t image_id) {
  int64_t lo = 0, hi = a->n - 1;
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (a->ids[mid] == image_id) return mid;
    if (a->ids[mid] < image_id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

static int take_label(void *ctx, int64_t image_id, int class_idx, int64_t class_id) {
  task_rows *t = ctx;
  int64_t r = row_of(t->a, image_id);
  if (r >= 0) t->label[r] = class_idx, t->class_id[r] = class_id;
  return CUR_OK;
}

static int put_metric(audit_state *a, const char *name, double value) {
  return cur_store_metric_put(cur_run_store(a->run), cur_run_id(a->run), name, value, NULL);
}

static int flag(task_rows *t, const char *reason, int64_t row, double score, const char *detail) {
  audit_state *a = t->a;
  return cur_store_flag_add(cur_run_store(a->run), cur_run_id(a->run), reason, a->ids[row],
                            t->task_id, score, 0, detail);
}

/* The quality and outlier flags of row I. */
static int quality_flags(task_rows *t, int64_t i) {
  static const char *const what[Q_COUNT] = {
      "log((sharpness + 1) / (re-blurred sharpness + 1))", "log(1 + 99th percentile of brightness)",
      "log(1 + 1st percentile of brightness)", "grey-level entropy", "log(width / height)",
      "log(sqrt(width x height))", "log(1 + colourfulness)",
      "mean cosine distance to its nearest neighbours"};
  audit_state *a = t->a;
  char detail[256];
  int rc = CUR_OK;
  double rare = cur_opt_num(a->opt, "aspect_share");
  if (a->aspect_share[i] < rare) {
    double x = a->measure[Q_ODD_ASPECT][i];
    snprintf(detail, sizeof detail, "%s %.3f (%d x %d): %.2f%% of the images have an aspect "
             "within %.1f%% of it, below audit.aspect_share %.2f%%", what[Q_ODD_ASPECT], x,
             a->width[i], a->height[i], 100 * a->aspect_share[i], 100 * (exp(ASPECT_WIDTH) - 1),
             100 * rare);
    rc = flag(t, audit_reason[Q_ODD_ASPECT], i, a->aspect_share[i], detail);
  }
  for (int q = 0; rc == CUR_OK && q < Q_COUNT; q++) {
    int64_t at = q == Q_OUTLIER ? a->vec_row[i] : i;
    if (at < 0 || (q == Q_OUTLIER && !a->k)) continue;
    const audit_limits *l = &a->limits[q];
    double x = a->measure[q][at];
    if (!audit_limits_out(l, x)) continue;
    double z = audit_limits_z(l, x);
    snprintf(detail, sizeof detail, "%s %.3f %s the dataset's limit %.3f (median %.3f, "
             "modified z %.1f)", what[q], x, x < l->lo ? "below" : "above",
             x < l->lo ? l->lo : l->hi, l->median, z);
    rc = flag(t, audit_reason[q], i, -fabs(z), detail);
  }
  return rc;
}

/* Whether pair P is a closer duplicate than Q (NULL: any P is): higher
** cosine (a pair without one ranks below), then smaller pHash distance. */
static int closer(const audit_pair *p, const audit_pair *q) {
  if (!q) return 1;
  double c = isnan(p->cosine) ? -2 : p->cosine, d = isnan(q->cosine) ? -2 : q->cosine;
  return c > d || (c == d && p->hamming < q->hamming);
}

/* Per row, its closest pair with any image and its closest with a train image. */
static void best_pairs(const audit_state *a, const audit_pair **any, const audit_pair **train) {
  for (int64_t p = 0; p < a->n_pairs; p++) {
    const audit_pair *q = &a->pairs[p];
    int64_t ends[2][2] = {{q->a, q->b}, {q->b, q->a}};
    for (int e = 0; e < 2; e++) {
      int64_t me = ends[e][0], other = ends[e][1];
      if (closer(q, any[me])) any[me] = q;
      if (strcmp(a->split[other], "train") == 0 && closer(q, train[me])) train[me] = q;
    }
  }
}

static double pair_score(const audit_pair *p) {
  return isnan(p->cosine) ? p->hamming / 64.0 : 1.0 - p->cosine;
}

/* near_duplicate and leak flags of row I. */
static int pair_flags(task_rows *t, int64_t i, const audit_pair *const *any,
                      const audit_pair *const *train, const int64_t *keep) {
  audit_state *a = t->a;
  char detail[512];
  int rc = CUR_OK;
  if (a->pairs_weak) return CUR_OK;
  if (keep[a->group[i]] != i) {
    int64_t g = keep[a->group[i]];
    snprintf(detail, sizeof detail, "near-duplicate group of image %lld (%s, %s), kept; this one "
             "is in %s", (long long)a->ids[g], a->paths[g], a->split[g], a->split[i]);
    rc = flag(t, "near_duplicate", i, any[i] ? pair_score(any[i]) : 0, detail);
  }
  const audit_pair *p = train[i];
  if (rc || !p || strcmp(a->split[i], "train") == 0) return rc;
  int64_t tr = p->a == i ? p->b : p->a;
  snprintf(detail, sizeof detail, "%s image near-duplicate of train image %lld (%s): cosine %s%.3f, "
           "pHash distance %d", a->split[i], (long long)a->ids[tr], a->paths[tr],
           isnan(p->cosine) ? "n/a " : "", isnan(p->cosine) ? 0.0 : p->cosine, p->hamming);
  if (t->label[i] >= 0) t->leaks[t->label[i]]++;
  return flag(t, "leak", i, pair_score(p), detail);
}

/* kNN label consistency (the share of a row's neighbours carrying its label)
** and kNN distance, as scores of the task: kinds knn_consistency (suggested:
** the neighbours' majority class when it is not the row's) and knn_distance. */
static int knn_scores(task_rows *t, const int64_t *class_ids) {
  audit_state *a = t->a;
  cur_store *st = cur_run_store(a->run);
  if (!a->k) return CUR_OK;
  int *label = cur_mallocarray((size_t)a->n_vec, sizeof *label), *major = NULL;
  double *dist = cur_mallocarray((size_t)a->n_vec, sizeof *dist), *cons = NULL;
  major = cur_mallocarray((size_t)a->n_vec, sizeof *major);
  cons = cur_mallocarray((size_t)a->n_vec, sizeof *cons);
  int rc = label && dist && major && cons ? CUR_OK : CUR_ENOMEM;
  for (int64_t v = 0; rc == CUR_OK && v < a->n_vec; v++) label[v] = t->label[a->vec_of[v]];
  if (rc == CUR_OK) audit_knn_scores(a->nbr, a->sim, a->n_vec, a->k, label, dist, cons, major);
  for (int64_t v = 0; rc == CUR_OK && v < a->n_vec; v++) {
    int64_t image = a->ids[a->vec_of[v]];
    rc = cur_store_score_add(st, cur_run_id(a->run), "knn_distance", image, t->task_id, dist[v], 0);
    if (rc == CUR_OK && !isnan(cons[v]))
      rc = cur_store_score_add(st, cur_run_id(a->run), "knn_consistency", image, t->task_id,
                               cons[v],
                               major[v] >= 0 && major[v] != label[v] ? class_ids[major[v]] : 0);
  }
  cur_free(label), cur_free(dist), cur_free(major), cur_free(cons);
  return rc;
}

/* Per class, the leaks found in the task: metrics <task>.leak.<class>. */
static int leak_metrics(task_rows *t) {
  char name[512];
  int rc = CUR_OK;
  for (int c = 0; rc == CUR_OK && c < t->n_classes; c++) {
    snprintf(name, sizeof name, "%s.leak.%s", t->task, t->class_names[c]);
    rc = put_metric(t->a, name, (double)t->leaks[c]);
    if (rc == CUR_OK && t->leaks[c])
      cur_info("audit: task %s: class %s: %lld val/test images with a near-duplicate in train",
               t->task, t->class_names[c], (long long)t->leaks[c]);
  }
  return rc;
}

static int write_task(audit_state *a, int64_t task_id, const char *task, const audit_pair *const *any,
                      const audit_pair *const *train, const int64_t *keep) {
  cur_store *st = cur_run_store(a->run);
  task_rows t = {.a = a, .task_id = task_id, .task = task};
  int64_t *class_ids = NULL;
  int n_ids = 0;
  t.label = cur_mallocarray((size_t)(a->n ? a->n : 1), sizeof *t.label);
  t.class_id = cur_mallocarray((size_t)(a->n ? a->n : 1), sizeof *t.class_id);
  int rc = t.label && t.class_id ? CUR_OK : CUR_ENOMEM;
  for (int64_t i = 0; rc == CUR_OK && i < a->n; i++) t.label[i] = -1, t.class_id[i] = 0;
  if (rc == CUR_OK) rc = cur_store_class_names(st, task_id, &t.class_names, &t.n_classes);
  if (rc == CUR_OK) rc = cur_store_class_ids(st, task_id, &class_ids, &n_ids);
  if (rc == CUR_OK && !(t.leaks = cur_calloc((size_t)t.n_classes + 1, sizeof *t.leaks)))
    rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur_store_audit_labels(st, task_id, take_label, &t);
  for (int64_t i = 0; rc == CUR_OK && i < a->n; i++)
    if ((rc = quality_flags(&t, i)) == CUR_OK) rc = pair_flags(&t, i, any, train, keep);
  if (rc == CUR_OK) rc = knn_scores(&t, class_ids);
  if (rc == CUR_OK) rc = leak_metrics(&t);
  cur_store_names_free(t.class_names, t.n_classes);
  cur_free(class_ids), cur_free(t.label), cur_free(t.class_id), cur_free(t.leaks);
  return rc;
}

/* The tasks, collected before any write (flags are per task). */
typedef struct task_list {
  int n, cap;
  int64_t *ids;
  char **names;
} task_list;

static int take_task(void *ctx, int64_t id, const char *name) {
  task_list *l = ctx;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 8;
    int64_t *ids = cur_reallocarray(l->ids, (size_t)cap, sizeof *ids);
    if (ids) l->ids = ids;
    char **names = cur_reallocarray(l->names, (size_t)cap, sizeof *names);
    if (names) l->names = names;
    if (!ids || !names) return CUR_ENOMEM;
    l->cap = cap;
  }
  if (!(l->names[l->n] = cur_strdup(name))) return CUR_ENOMEM;
  l->ids[l->n++] = id;
  return CUR_OK;
}

/* Pairs, groups (rows in a group of two or more) and their metrics. */
static int write_pairs(audit_state *a) {
  cur_store *st = cur_run_store(a->run);
  int64_t run_id = cur_run_id(a->run), cross = 0, groups = 0, grouped = 0;
  int rc = CUR_OK;
  for (int64_t p = 0; rc == CUR_OK && p < a->n_pairs; p++) {
    const audit_pair *q = &a->pairs[p];
    cross += strcmp(a->split[q->a], a->split[q->b]) != 0;
    rc = cur_store_duplicate_pair_put(st, run_id, a->ids[q->a], a->ids[q->b], q->cosine, q->hamming);
  }
  /* a row is grouped when it is not alone: its root differs from it, or it
  ** is the root of another row (pairs always join a row to a smaller one) */
  unsigned char *is_root = cur_calloc((size_t)(a->n ? a->n : 1), 1);
  if (!is_root) return CUR_ENOMEM;
  for (int64_t i = 0; i < a->n; i++)
    if (a->group[i] != i) is_root[a->group[i]] = 1;
  for (int64_t i = 0; rc == CUR_OK && i < a->n; i++) {
    if (a->group[i] == i && !is_root[i]) continue;
    groups += a->group[i] == i;
    grouped++;
    rc = cur_store_duplicate_member_put(st, run_id, a->ids[i], a->ids[a->group[i]]);
  }
  cur_free(is_root);
  if (rc == CUR_OK) rc = put_metric(a, "pairs", (double)a->n_pairs);
  if (rc == CUR_OK) rc = put_metric(a, "cross_split_pairs", (double)cross);
  if (rc == CUR_OK) rc = put_metric(a, "groups", (double)groups);
  if (rc == CUR_OK) rc = put_metric(a, "grouped_images", (double)grouped);
  if (rc == CUR_OK && a->k) rc = put_metric(a, "cosine_pairs", (double)a->cosine_pairs);
  if (rc == CUR_OK && a->k) rc = put_metric(a, "cosine_pairs_distinct", (double)a->cosine_distinct);
  cur_info("audit: %lld near-duplicate pairs (%lld across splits) in %lld groups of %lld images",
           (long long)a->n_pairs, (long long)cross, (long long)groups, (long long)grouped);
  return rc;
}

/* Each detector's fitted limits (metrics <reason>.median, .lo, .hi; an
** unchecked side is left out) and the run's flag counts. */
static int write_limits_and_counts(audit_state *a) {
  char name[64];
  int rc = CUR_OK;
  for (int q = 0; rc == CUR_OK && q < Q_COUNT; q++) {
    const audit_limits *l = &a->limits[q];
    snprintf(name, sizeof name, "%s.median", audit_reason[q]);
    rc = put_metric(a, name, l->median);
    snprintf(name, sizeof name, "%s.lo", audit_reason[q]);
    if (rc == CUR_OK && isfinite(l->lo)) rc = put_metric(a, name, l->lo);
    snprintf(name, sizeof name, "%s.hi", audit_reason[q]);
    if (rc == CUR_OK && isfinite(l->hi)) rc = put_metric(a, name, l->hi);
  }
  if (rc == CUR_OK && !isnan(a->knn_recall)) rc = put_metric(a, "knn_recall", a->knn_recall);
  if (rc == CUR_OK && a->ivf_nprobe) rc = put_metric(a, "ivf_nprobe", a->ivf_nprobe);
  static const char *const extra[] = {"near_duplicate", "leak"};
  for (int q = 0; rc == CUR_OK && q < Q_COUNT + 2; q++) {
    const char *reason = q < Q_COUNT ? audit_reason[q] : extra[q - Q_COUNT];
    int64_t n;
    rc = cur_store_run_rows(cur_run_store(a->run), cur_run_id(a->run), NULL, reason, NULL, &n);
    snprintf(name, sizeof name, "flagged_%s", reason);
    if (rc == CUR_OK) cur_run_count_set(a->run, name, n);
  }
  return rc;
}

/* Per group root, the row kept: its first train row, else the root. */
static void kept_rows(const audit_state *a, int64_t *keep) {
  for (int64_t i = 0; i < a->n; i++) keep[i] = -1;
  for (int64_t i = 0; i < a->n; i++)
    if (keep[a->group[i]] < 0 && strcmp(a->split[i], "train") == 0) keep[a->group[i]] = i;
  for (int64_t i = 0; i < a->n; i++)
    if (keep[i] < 0) keep[i] = i;             /* roots without train rows; unused for others */
}

/* Copies of one photo (re-encoded, resized, cropped, brightened) form
** small groups: a handful of images.  When the pairs chain different
** pictures together instead (small grey images on one background, as
** Fashion-MNIST's are to pixel features and pHash), groups grow to dozens
** and, on that data, took in 76% of the images.  So when more than
** max_duplicate_share of the images sit in groups of more than
** CHAIN_GROUP images, the signal is weak: the audit says so and raises no
** pair flag, rather than take most of val and test out of the figures. */
#define CHAIN_GROUP 10

static double judge_pairs(audit_state *a) {
  int64_t *size = cur_calloc((size_t)(a->n ? a->n : 1), sizeof *size), chained = 0;
  if (!size) return 0;  /* no judgement without memory: the flags stay */
  for (int64_t i = 0; i < a->n; i++) size[a->group[i]]++;
  for (int64_t i = 0; i < a->n; i++) chained += size[a->group[i]] > CHAIN_GROUP;
  cur_free(size);
  double share = a->n ? (double)chained / (double)a->n : 0;
  double max = cur_opt_num(a->opt, "max_duplicate_share");
  a->pairs_weak = share > max;
  if (a->pairs_weak)
    cur_warn("audit: %.0f%% of the images are in near-duplicate groups of more than %d images "
             "(more than audit.max_duplicate_share, %.0f%%): the embeddings and pHash chain "
             "different pictures together, so no near_duplicate or leak flag is raised; the "
             "pairs and groups are kept (duplicate_groups)", 100 * share, CHAIN_GROUP, 100 * max);
  return share;
}

int audit_write(audit_state *a) {
  cur_store *st = cur_run_store(a->run);
  task_list tasks = {0};
  const audit_pair **any = cur_calloc((size_t)(a->n ? a->n : 1), sizeof *any);
  const audit_pair **train = cur_calloc((size_t)(a->n ? a->n : 1), sizeof *train);
  int64_t *keep = cur_mallocarray((size_t)(a->n ? a->n : 1), sizeof *keep);
  int rc = any && train && keep ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) kept_rows(a, keep);
  if (rc == CUR_OK) rc = cur_store_tasks_each(st, take_task, &tasks);
  double share = 0;
  if (rc == CUR_OK) best_pairs(a, any, train);
  if (rc == CUR_OK) share = judge_pairs(a);
  if (rc == CUR_OK && tasks.n == 0) cur_warn("audit: no tasks: pairs and groups only, no flags");
  if (rc == CUR_OK && (rc = cur_store_begin(st)) == CUR_OK) {
    rc = write_pairs(a);
    if (rc == CUR_OK) rc = put_metric(a, "duplicate_share", share);
    for (int i = 0; rc == CUR_OK && i < tasks.n; i++)
      rc = write_task(a, tasks.ids[i], tasks.names[i], any, train, keep);
    if (rc == CUR_OK) rc = write_limits_and_counts(a);
    if (rc == CUR_OK) rc = put_metric(a, "rows", (double)a->n);  /* last: the pass is done */
    if (rc == CUR_OK) rc = cur_store_commit(st);
    else cur_store_rollback(st);
  }
  for (int i = 0; i < tasks.n; i++) cur_free(tasks.names[i]);
  cur_free(tasks.names), cur_free(tasks.ids), cur_free(any), cur_free(train), cur_free(keep);
  return rc;
}
