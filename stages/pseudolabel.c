/* pseudolabel.c -- the pseudolabel stage: a calibrated teacher labels the unlabelled training images.
**
** Per task, the teacher is a classifier head trained on the trusted labels
** of the training split (human and review labels that no pending flag holds
** back), on the standardised embeddings of one model (held as the half
** floats they are stored as, converted a minibatch at a time); or, with
** `teacher_file`, an external model's class probabilities read from a file.
** Its logits are temperature-scaled, T fitted on the labelled validation
** rows (models/calibrate.h), and the expected calibration error is measured
** before and after on the validation and test rows.
**
** Candidates are the ok original training images without a human or review
** label.  One is accepted when its calibrated confidence reaches `threshold`
** and its out-of-distribution score is not below the `ood_percentile`-th
** percentile of the validation rows' scores; then, per class, the most
** confident accepted candidates are kept up to a cap, so that no class ends
** with more than `class_cap` times the largest labelled class.
**
** A task is computed in memory and written in one transaction (teacher
** labels, a `teacher` score per candidate, metrics, the `candidates` metric
** last), so a killed run resumed under its id skips finished tasks and
** recomputes the rest from the same seed.
**
** With pseudolabel.multitask (off by default) one teacher learns the tasks
** together: a multi-task head (a softmax per task) on the union of their
** trusted training rows, trained before the first task is labelled (and
** again by a resumed run, from the same seed); each task then scores its
** rows within its own block of logits, and calibration, thresholds and cap
** stay the task's own, so an image may be pseudo-labelled for one task and
** not another.  Why an option and not the policy's multitask decision:
** docs/stages/pseudolabel.md.  The current_labels view counts
** only the newest complete pseudolabel run's teacher labels, so a rerun
** that accepts fewer images leaves no stale labels behind.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "curate.h"
#include "feat.h"
#include "half.h"
#include "head.h"
#include "head_options.h"
#include "metrics.h"
#include "stages.h"
#include "store_embed.h"
#include "store_labels.h"
#include "store_metrics.h"
#include "store_scores.h"
#include "store_teacher.h"
#include "task_union.h"
#include "teacherfile.h"

/* ECE bins, as Guo et al. report it */
#define ECE_BINS 15

static int check_ood(const cJSON *v, const char *name) {
  return cur_option_check_word(v, name, "max_softmax|energy|none");
}

static int check_percentile(const cJSON *v, const char *name) {
  return v->valuedouble >= 0 && v->valuedouble < 100
             ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must be at least 0 and below 100", name);
}

static const cur_option pseudolabel_options[] = {
    {"tasks", CUR_OPT_STRS, "[]", "tasks to pseudo-label; [] = every task with two or more classes", NULL},
    {"threshold", CUR_OPT_NUM, "0.9", "calibrated confidence a pseudo-label needs",
     cur_option_check_fraction},
    {"ood", CUR_OPT_STR, "\"max_softmax\"",
     "out-of-distribution score: max_softmax, energy (needs logits: not with teacher_file) or none",
     check_ood},
    {"ood_percentile", CUR_OPT_NUM, "5",
     "reject a candidate whose OOD score is below this percentile of the val rows' scores",
     check_percentile},
    {"class_cap", CUR_OPT_NUM, "2",
     "no class ends with more than class_cap x the largest labelled class (labels + pseudo-labels)",
     cur_option_check_positive},
    {"head", CUR_OPT_STR, "\"logreg\"", "teacher head: logreg or mlp", cur_head_option_check},
    {"hidden", CUR_OPT_INT, "256", "mlp hidden units", cur_option_check_positive},
    {"epochs", CUR_OPT_INT, "30", "passes over the trusted rows", cur_option_check_positive},
    {"lr", CUR_OPT_NUM, "0.1", "initial learning rate (cosine schedule, momentum 0.9)",
     cur_option_check_positive},
    {"weight_decay", CUR_OPT_NUM, "0.0001", "L2 weight decay", cur_option_check_nonnegative},
    {"batch_size", CUR_OPT_INT, "128", "rows per SGD step", cur_option_check_positive},
    {"model", CUR_OPT_STR, "\"\"",
     "embeddings model key; empty: the model with vectors for the most ok images", NULL},
    {"teacher_file", CUR_OPT_STR, "\"\"",
     "CSV or JSONL of an external teacher's class probabilities (replaces the built-in head)", NULL},
    {"teacher_task", CUR_OPT_STR, "\"label\"", "the task teacher_file gives probabilities for", NULL},
    {"multitask", CUR_OPT_BOOL, "false",
     "one teacher for the tasks together: a multi-task head (a softmax per task) instead of a "
     "head per task (not with teacher_file)", NULL},
    {NULL, 0, NULL, NULL, NULL}};

/* Rows of one role: features (built-in teacher, width = dim, the half
** floats of the embeddings as stored) until the teacher has scored them,
** then logits (width = k); an external teacher's values are logits from the
** start. */
typedef struct rowset {
  int64_t *ids;
  int *y;                      /* class idx (-1 for candidates) */
  uint16_t *half;              /* n x width embeddings, until scored (built-in teacher) */
  float *X;                    /* n x width logits */
  int n, cap, width;
} rowset;

/* Candidate outcomes */
enum { ACCEPTED, BELOW_THRESHOLD, OUT_OF_DISTRIBUTION, OVER_CAP };

typedef struct teacher {
  cur_run *run;
  const cJSON *opt;
  cur_store *st;
  char *model;                 /* built-in: embeddings key */
  cur_teacherfile *file;       /* external teacher, or NULL */
  /* the task in hand */
  int64_t task_id;
  const char *task;
  char **classes;
  int64_t *class_ids;
  int k;
  rowset train, val, test, cand;
  int64_t *labelled;           /* k: trusted training rows per class */
  int64_t unscored;            /* candidates without an embedding / a file row */
  /* results */
  double temperature, ood_threshold;
  float *conf;                 /* cand.n calibrated confidences */
  int *top, *outcome;          /* cand.n predicted class idx, outcome */
  float *ood;                  /* cand.n OOD scores */
  /* pseudolabel.multitask: the teacher the tasks share, or NULL */
  head *joint;
  feat_scaler *joint_scaler;   /* fitted on its training rows */
  int n_joint;                 /* the tasks it learnt, in its block order */
  int64_t joint_ids[HEAD_MAX_TASKS];
  int joint_k[HEAD_MAX_TASKS];
  rowset joint_rows[HEAD_MAX_TASKS];  /* while it is made: each task's trusted training rows */
} teacher;

static void rowset_free(rowset *r) {
  cur_free(r->ids);
  cur_free(r->y);
  cur_free(r->half);
  cur_free(r->X);
  *r = (rowset){0};
}

/* Appends a row; *DST receives where its WIDTH values go: half floats
** (HALF) or floats. */
static int rowset_add(rowset *r, int64_t id, int y, int width, int half, void **dst) {
  if (r->n == 0 && r->cap == 0) r->width = width;
  if (width != r->width)
    return cur_errorc(CUR_EINPUT, "pseudolabel: image %lld has %d values, others %d",
                      (long long)id, width, r->width);
  if (r->n == r->cap) {
    int cap = r->cap ? r->cap * 2 : 1024;
    int64_t *ids = cur_reallocarray(r->ids, (size_t)cap, sizeof *ids);
    if (ids) r->ids = ids;
    int *ys = cur_reallocarray(r->y, (size_t)cap, sizeof *ys);
    if (ys) r->y = ys;
    void *xs = cur_reallocarray(half ? (void *)r->half : (void *)r->X, (size_t)cap * (size_t)width,
                                half ? sizeof *r->half : sizeof *r->X);
    if (xs && half) r->half = xs;
    else if (xs) r->X = xs;
    if (!ids || !ys || !xs) return CUR_ENOMEM;
    r->cap = cap;
  }
  r->ids[r->n] = id;
  r->y[r->n] = y;
  size_t at = (size_t)r->n++ * width;
  *dst = half ? (void *)(r->half + at) : (void *)(r->X + at);
  return CUR_OK;
}

/* The values the teacher scores for ROW: its embedding, or the file's
** probabilities as logits (log p, so that softmax gives p back).  *width is
** 0 when there are none. */
static const void *row_values(teacher *t, const cur_teacher_row *row, int *width) {
  if (!t->file) {
    *width = row->vector ? row->dim : 0;
    return row->vector;
  }
  const float *p = cur_teacherfile_find(t->file, row->source_path, row->sha256);
  *width = p ? t->k : 0;
  return p;
}

static void put_values(const teacher *t, const void *values, int width, void *dst) {
  if (!t->file) {
    cur_half_unpack(values, (size_t)width, dst);
    return;
  }
  const float *p = values;
  float *X = dst;
  for (int c = 0; c < width; c++) X[c] = logf(p[c] > 1e-12f ? p[c] : 1e-12f);
}

/* Store callback for one split: trusted rows to TRAIN (or val, test),
** unlabelled training rows to the candidates. */
typedef struct loader {
  teacher *t;
  rowset *trusted;             /* where this split's trusted rows go */
  int is_train;
} loader;

static int take_row(void *ctx, const cur_teacher_row *row) {
  loader *l = ctx;
  teacher *t = l->t;
  rowset *to = row->trusted >= 0 ? l->trusted : l->is_train && row->unlabelled ? &t->cand : NULL;
  int width;
  if (l->is_train && row->trusted >= 0) t->labelled[row->trusted]++;
  if (!to) return CUR_OK;
  const void *values = row_values(t, row, &width);
  if (!values) {
    t->unscored += to == &t->cand;
    return CUR_OK;
  }
  /* the external teacher is not trained: its trusted training rows only count */
  if (t->file && to == &t->train) return CUR_OK;
  void *dst = NULL;
  int rc = rowset_add(to, row->image_id, row->trusted, width, !t->file, &dst);
  if (rc == CUR_OK) put_values(t, values, width, dst);
  return rc;
}

static int load_rows(teacher *t) {
  loader train = {t, &t->train, 1}, val = {t, &t->val, 0}, test = {t, &t->test, 0};
  const char *model = t->file ? NULL : t->model;
  int rc = cur_store_teacher_rows(t->st, t->task_id, "train", model, take_row, &train);
  if (rc == CUR_OK) rc = cur_store_teacher_rows(t->st, t->task_id, "val", model, take_row, &val);
  if (rc == CUR_OK) rc = cur_store_teacher_rows(t->st, t->task_id, "test", model, take_row, &test);
  return rc;
}

/* Epoch callback: one step of the progress bar, then Ctrl-C's check. */
static int count_epoch(void *ctx, int epoch, const float *logits, int n, int k) {
  cur_run_progress_add(ctx, 1);
  return head_stop_when_interrupted(NULL, epoch, logits, n, k);
}

/* Replaces the features of R by the head's logits of one task: the KT
** from OFF of each row's (all of them for a head of one task); SCALER
** standardises the features as the head reads them. */
static int to_logits(const head *h, const feat_scaler *scaler, rowset *r, int off, int kt) {
  int k = head_n_classes(h);
  float *Z = cur_mallocarray((size_t)r->n + 1, (size_t)k * sizeof *Z);
  /* the head's width: an empty set has none of its own (checked equal otherwise) */
  head_rows X = head_rows_half(r->half, r->n, head_n_features(h));
  feat_scaler_view(scaler, &X);
  int rc = Z ? head_predict_logits(h, &X, Z) : CUR_ENOMEM;
  if (rc) {
    cur_free(Z);
    return rc;
  }
  /* row i's block moves to i x kt, never after where it was: memmove */
  for (int i = 0; kt < k && i < r->n; i++)
    memmove(Z + (size_t)i * kt, Z + (size_t)i * k + off, (size_t)kt * sizeof *Z);
  cur_free(r->half);
  r->half = NULL;
  r->X = Z;
  r->width = kt;
  return CUR_OK;
}

/* The built-in teacher: train on the trusted rows, standardised, and score the rest. */
static int train_teacher(teacher *t) {
  feat_scaler *scaler = NULL;
  head *h = NULL;
  head_config cfg;
  cur_head_options_config(t->opt, cur_run_seed(t->run), t->task_id, &cfg);
  rowset *scored[] = {&t->val, &t->test, &t->cand};
  head_rows X = head_rows_half(t->train.half, t->train.n, t->train.width);
  /* the epsilon keeps constant columns (e.g. a border pixel) finite */
  int rc = feat_scaler_fit_rows(&X, 1e-6f, &scaler);
  for (size_t i = 0; rc == CUR_OK && i < CUR_ARRAY_LEN(scored); i++)
    if (scored[i]->n && scored[i]->width != t->train.width)
      rc = cur_errorc(CUR_EINPUT, "pseudolabel: embeddings of %d and %d values under %s",
                      scored[i]->width, t->train.width, t->model);
  if (rc == CUR_OK) rc = head_new(&cfg, t->train.width, t->k, &h);
  if (rc == CUR_OK) {
    feat_scaler_view(scaler, &X);
    cur_run_progress_start(t->run, "training the teacher (epochs)", cfg.epochs);
    rc = head_train(h, &X, t->train.y, NULL, count_epoch, t->run);
  }
  for (size_t i = 0; rc == CUR_OK && i < CUR_ARRAY_LEN(scored); i++)
    rc = to_logits(h, scaler, scored[i], 0, t->k);
  head_free(h);
  feat_scaler_free(scaler);
  return rc;
}

/* The shared teacher's logits of the task (its J-th), standardised by its scaler. */
static int joint_scores(teacher *t, int j) {
  rowset *scored[] = {&t->val, &t->test, &t->cand};
  int off = 0, dim = head_n_features(t->joint), rc = CUR_OK;
  for (int i = 0; i < j; i++) off += t->joint_k[i];
  for (size_t i = 0; rc == CUR_OK && i < CUR_ARRAY_LEN(scored); i++) {
    if (scored[i]->n && scored[i]->width != dim)
      return cur_errorc(CUR_EINPUT, "pseudolabel: embeddings of %d and %d values under %s",
                        scored[i]->width, dim, t->model);
    rc = to_logits(t->joint, t->joint_scaler, scored[i], off, t->k);
  }
  return rc;
}

/* The task's place among the shared teacher's, or -1 (no shared teacher, or not one of its tasks). */
static int joint_index(const teacher *t) {
  for (int j = 0; t->joint && j < t->n_joint; j++)
    if (t->joint_ids[j] == t->task_id) return j;
  return -1;
}

/* The task's teacher: the shared one when it learnt the task, else its own. */
static int teach(teacher *t) {
  int j = joint_index(t);
  return j >= 0 ? joint_scores(t, j) : train_teacher(t);
}

/* Fits T on the val rows and the OOD threshold on their scores. */
static int calibrate(teacher *t) {
  const char *ood = cur_opt_str(t->opt, "ood");
  t->temperature = 1.0;
  t->ood_threshold = -INFINITY;
  if (t->val.n == 0) {
    cur_warn("pseudolabel: task %s: no labelled val rows the teacher can score: confidences "
             "stay uncalibrated (T = 1) and no image counts as out-of-distribution; give the "
             "data a val split (e.g. ingest.val_from_train)", t->task);
    return CUR_OK;
  }
  t->temperature = calib_fit_temperature(t->val.X, t->val.y, t->val.n, t->k);
  if (strcmp(ood, "none") == 0) return CUR_OK;
  calib_ood kind = strcmp(ood, "energy") == 0 ? CALIB_OOD_ENERGY : CALIB_OOD_MAX_SOFTMAX;
  float *scores = cur_mallocarray((size_t)t->val.n, sizeof *scores);
  if (!scores) return CUR_ENOMEM;
  for (int i = 0; i < t->val.n; i++)
    scores[i] = (float)calib_ood_score(t->val.X + (size_t)i * t->k, t->k, kind);
  t->ood_threshold = head_percentile(scores, t->val.n, cur_opt_num(t->opt, "ood_percentile"));
  cur_free(scores);
  return CUR_OK;
}

/* An accepted candidate in the order the cap keeps them: most confident
** first, then the lower image id. */
typedef struct ranked {
  float conf;
  int64_t id;
  int i;
} ranked;

static int by_confidence(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->conf != y->conf) return x->conf > y->conf ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Keeps, per class, the most confident accepted candidates up to the cap. */
static int apply_cap(teacher *t) {
  int64_t largest = 0;
  ranked *order = cur_mallocarray((size_t)t->cand.n + 1, sizeof *order);
  int64_t *kept = cur_calloc((size_t)t->k, sizeof *kept);
  int n = 0;
  if (!order || !kept) {
    cur_free(order);
    cur_free(kept);
    return CUR_ENOMEM;
  }
  for (int c = 0; c < t->k; c++)
    if (t->labelled[c] > largest) largest = t->labelled[c];
  int64_t ceiling = (int64_t)floor(cur_opt_num(t->opt, "class_cap") * (double)largest);
  for (int i = 0; i < t->cand.n; i++)
    if (t->outcome[i] == ACCEPTED) order[n++] = (ranked){t->conf[i], t->cand.ids[i], i};
  qsort(order, (size_t)n, sizeof *order, by_confidence);
  for (int j = 0; j < n; j++) {
    int i = order[j].i, c = t->top[i];
    if (t->labelled[c] + kept[c] < ceiling) kept[c]++;
    else t->outcome[i] = OVER_CAP;
  }
  cur_free(order);
  cur_free(kept);
  return CUR_OK;
}

/* Confidence, class, OOD score and outcome of every candidate. */
static int decide(teacher *t) {
  int n = t->cand.n, k = t->k;
  const char *ood = cur_opt_str(t->opt, "ood");
  calib_ood kind = strcmp(ood, "energy") == 0 ? CALIB_OOD_ENERGY : CALIB_OOD_MAX_SOFTMAX;
  double threshold = cur_opt_num(t->opt, "threshold");
  float *p = cur_mallocarray((size_t)k, sizeof *p);
  t->conf = cur_mallocarray((size_t)n + 1, sizeof *t->conf);
  t->ood = cur_mallocarray((size_t)n + 1, sizeof *t->ood);
  t->top = cur_mallocarray((size_t)n + 1, sizeof *t->top);
  t->outcome = cur_mallocarray((size_t)n + 1, sizeof *t->outcome);
  int rc = p && t->conf && t->ood && t->top && t->outcome ? CUR_OK : CUR_ENOMEM;
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    const float *z = t->cand.X + (size_t)i * k;
    calib_softmax(z, k, t->temperature, p);
    int top = 0;
    for (int c = 1; c < k; c++)
      if (p[c] > p[top]) top = c;
    t->top[i] = top;
    t->conf[i] = p[top];
    t->ood[i] = (float)calib_ood_score(z, k, kind);
    t->outcome[i] = p[top] < threshold ? BELOW_THRESHOLD
                    : t->ood[i] < t->ood_threshold ? OUT_OF_DISTRIBUTION : ACCEPTED;
  }
  cur_free(p);
  return rc == CUR_OK ? apply_cap(t) : rc;
}

/* A per-task metric "<task>.<what>" of this run. */
static int put_metric(teacher *t, const char *what, double value) {
  char name[256];
  snprintf(name, sizeof name, "%s.%s", t->task, what);
  return cur_store_metric_put(t->st, cur_run_id(t->run), name, value, NULL);
}

/* ECE before and after scaling on one split's labelled rows (if any). */
static int put_ece(teacher *t, const rowset *r, const char *split, double ece[2]) {
  char what[64];
  int rc = CUR_OK;
  if (r->n == 0) return CUR_OK;
  ece[0] = calib_ece(r->X, r->y, r->n, t->k, 1.0, ECE_BINS);
  ece[1] = calib_ece(r->X, r->y, r->n, t->k, t->temperature, ECE_BINS);
  snprintf(what, sizeof what, "ece_%s_before", split);
  rc = put_metric(t, what, ece[0]);
  snprintf(what, sizeof what, "ece_%s_after", split);
  return rc ? rc : put_metric(t, what, ece[1]);
}

static void count_outcomes(const teacher *t, int64_t counts[4]) {
  memset(counts, 0, 4 * sizeof *counts);
  for (int i = 0; i < t->cand.n; i++) counts[t->outcome[i]]++;
}

/* Writes the task's labels, scores and metrics in one transaction; the
** candidates metric goes last and marks the task done. */
static int write_task(teacher *t, double ece_val[2], double ece_test[2]) {
  int64_t run_id = cur_run_id(t->run), counts[4];
  int rc = cur_store_begin(t->st);
  if (rc) return rc;
  for (int i = 0; rc == CUR_OK && i < t->cand.n; i++) {
    int64_t image = t->cand.ids[i], class_id = t->class_ids[t->top[i]];
    rc = cur_store_score_add(t->st, run_id, "teacher", image, t->task_id, t->conf[i], class_id);
    if (rc == CUR_OK && t->outcome[i] == ACCEPTED)
      rc = cur_store_label_add(t->st, image, t->task_id, class_id, "teacher", t->conf[i], run_id);
  }
  count_outcomes(t, counts);
  if (rc == CUR_OK) rc = put_metric(t, "temperature", t->temperature);
  if (rc == CUR_OK) rc = put_ece(t, &t->val, "val", ece_val);
  if (rc == CUR_OK) rc = put_ece(t, &t->test, "test", ece_test);
  if (rc == CUR_OK && isfinite(t->ood_threshold)) rc = put_metric(t, "ood_threshold", t->ood_threshold);
  if (rc == CUR_OK) rc = put_metric(t, "teacher_rows", t->train.n);
  if (rc == CUR_OK && joint_index(t) >= 0) rc = put_metric(t, "teacher_tasks", t->n_joint);
  if (rc == CUR_OK) rc = put_metric(t, "calibration_rows", t->val.n);
  if (rc == CUR_OK) rc = put_metric(t, "accepted", (double)counts[ACCEPTED]);
  if (rc == CUR_OK) rc = put_metric(t, "below_threshold", (double)counts[BELOW_THRESHOLD]);
  if (rc == CUR_OK) rc = put_metric(t, "out_of_distribution", (double)counts[OUT_OF_DISTRIBUTION]);
  if (rc == CUR_OK) rc = put_metric(t, "over_cap", (double)counts[OVER_CAP]);
  if (rc == CUR_OK) rc = put_metric(t, "unscored", (double)t->unscored);
  if (rc == CUR_OK) rc = put_metric(t, "candidates", t->cand.n);
  if (rc == CUR_OK) return cur_store_commit(t->st);
  cur_store_rollback(t->st);
  return rc;
}

/* What the task's run did, for the curator. */
static void report(const teacher *t, const double ece_val[2], const double ece_test[2]) {
  int64_t counts[4], *accepted = cur_calloc((size_t)t->k, sizeof *accepted);
  count_outcomes(t, counts);
  char test[64] = "";
  if (t->test.n)
    snprintf(test, sizeof test, "; test (%d rows) %.4f -> %.4f", t->test.n, ece_test[0], ece_test[1]);
  cur_info("pseudolabel: task %s: temperature %.3f from %d val rows", t->task, t->temperature, t->val.n);
  cur_info("  expected calibration error: val %.4f -> %.4f%s", ece_val[0], ece_val[1], test);
  cur_info("  %d candidates: %lld accepted, %lld below %.2f, %lld out-of-distribution, %lld over "
           "the class cap; %lld without %s", t->cand.n, (long long)counts[ACCEPTED],
           (long long)counts[BELOW_THRESHOLD], cur_opt_num(t->opt, "threshold"),
           (long long)counts[OUT_OF_DISTRIBUTION], (long long)counts[OVER_CAP],
           (long long)t->unscored, t->file ? "a teacher-file row" : "an embedding");
  if (!accepted) return;
  for (int i = 0; i < t->cand.n; i++) accepted[t->top[i]] += t->outcome[i] == ACCEPTED;
  cur_info("  %-20s %9s %9s", "class", "labelled", "accepted");
  for (int c = 0; c < t->k; c++)
    cur_info("  %-20s %9lld %9lld", t->classes[c], (long long)t->labelled[c], (long long)accepted[c]);
  cur_free(accepted);
}

/* Marks a task the teacher cannot learn done, with a warning. */
static int skip_task(teacher *t) {
  cur_warn("pseudolabel: task %s: %d trusted training rows with %s; the teacher needs at least "
           "two; not pseudo-labelled", t->task, t->train.n, t->model ? "an embedding" : "labels");
  int rc = cur_store_begin(t->st);
  if (rc == CUR_OK && (rc = put_metric(t, "candidates", 0)) == CUR_OK) return cur_store_commit(t->st);
  cur_store_rollback(t->st);
  return rc;
}

static int label_task(teacher *t) {
  double ece_val[2] = {0, 0}, ece_test[2] = {0, 0};
  int rc = load_rows(t);
  if (rc) return rc;
  int64_t trusted = 0;
  for (int c = 0; c < t->k; c++) trusted += t->labelled[c];
  cur_info("pseudolabel: task %s: %lld trusted training rows, %d candidates", t->task,
           (long long)trusted, t->cand.n);
  if (!t->file && t->train.n < 2) return skip_task(t);
  if (!t->file && (rc = teach(t))) return rc;
  if ((rc = calibrate(t)) || (rc = decide(t)) || (rc = write_task(t, ece_val, ece_test))) return rc;
  report(t, ece_val, ece_test);
  return CUR_OK;
}

static void task_clear(teacher *t) {
  rowset *sets[] = {&t->train, &t->val, &t->test, &t->cand};
  for (size_t i = 0; i < CUR_ARRAY_LEN(sets); i++) rowset_free(sets[i]);
  cur_store_names_free(t->classes, t->k);
  cur_free(t->class_ids);
  cur_free(t->labelled);
  cur_free(t->conf);
  cur_free(t->ood);
  cur_free(t->top);
  cur_free(t->outcome);
  t->classes = NULL;
  t->class_ids = t->labelled = NULL;
  t->conf = t->ood = NULL;
  t->top = t->outcome = NULL;
  t->k = 0;
  t->unscored = 0;
}

static void report_file_row(void *ctx, const char *msg) {
  cur_run_input_error(ctx, "pseudolabel: %s", msg);
}

static int on_task(void *ctx, int64_t id, const char *name) {
  teacher *t = ctx;
  char done[256];
  int found, rc;
  snprintf(done, sizeof done, "%s.candidates", name);
  if ((rc = cur_store_metric_exists(t->st, cur_run_id(t->run), done, &found)) || found) return rc;
  t->task_id = id;
  t->task = name;
  rc = cur_store_class_names(t->st, id, &t->classes, &t->k);
  if (rc == CUR_OK) rc = cur_store_class_ids(t->st, id, &t->class_ids, &t->k);
  if (rc == CUR_OK && !(t->labelled = cur_calloc((size_t)t->k + 1, sizeof *t->labelled))) rc = CUR_ENOMEM;
  if (rc == CUR_OK && t->k >= 2 && cur_opt_str(t->opt, "teacher_file")[0])
    rc = cur_teacherfile_load(cur_opt_str(t->opt, "teacher_file"), t->classes, t->k,
                              report_file_row, t->run, &t->file);
  if (rc == CUR_OK && t->k >= 2) rc = label_task(t);
  if (rc == CUR_OK && t->file) {
    size_t unused = cur_teacherfile_valid(t->file) - cur_teacherfile_used(t->file);
    if (unused)
      cur_warn("pseudolabel: %s: %zu rows name no candidate or labelled image of the database "
               "(by source path or sha256)", cur_opt_str(t->opt, "teacher_file"), unused);
  }
  cur_teacherfile_free(t->file);
  t->file = NULL;
  task_clear(t);
  return rc;
}

/* Every task with two or more classes (the others have nothing to choose). */
static int on_any_task(void *ctx, int64_t id, const char *name) {
  teacher *t = ctx;
  int64_t n;
  int rc = cur_store_class_count(t->st, id, &n);
  return rc || n < 2 ? rc : on_task(ctx, id, name);
}

/* pseudolabel.multitask, a task the shared teacher may learn: one of two
** or more classes with two or more trusted training rows (as for a
** teacher of its own); its rows go to t->joint_rows. */
static int join_task(void *ctx, int64_t id, const char *name) {
  teacher *t = ctx;
  int64_t classes;
  int rc = cur_store_class_count(t->st, id, &classes);
  if (rc || classes < 2) return rc;
  if (t->n_joint == HEAD_MAX_TASKS)
    return cur_errorc(CUR_ECONFIG, "pseudolabel.multitask: more than %d tasks to learn together; "
                      "choose some with pseudolabel.tasks", HEAD_MAX_TASKS);
  rowset *r = &t->joint_rows[t->n_joint];
  loader l = {t, r, 0};  /* trusted rows only: the candidates are the task's own later */
  if ((rc = cur_store_teacher_rows(t->st, id, "train", t->model, take_row, &l)) || r->n < 2) {
    rowset_free(r);
    return rc;
  }
  cur_info("pseudolabel: task %s: %d trusted training rows for the shared teacher", name, r->n);
  t->joint_ids[t->n_joint] = id;
  t->joint_k[t->n_joint++] = (int)classes;
  return CUR_OK;
}

/* Trains the shared teacher on the union of the joined tasks' rows. */
static int train_joint(teacher *t) {
  cur_task_part parts[HEAD_MAX_TASKS];
  cur_task_union u = {0};
  head_rows X = {0};
  head_config cfg;
  int k = 0, dim = t->joint_rows[0].width, rc = CUR_OK;
  for (int j = 0; j < t->n_joint; j++) {
    rowset *r = &t->joint_rows[j];
    parts[j] = (cur_task_part){r->ids, r->y, r->half, r->n};
    k += t->joint_k[j];
    if (r->width != dim)
      rc = cur_errorc(CUR_EINPUT, "pseudolabel: embeddings of %d and %d values under %s",
                      r->width, dim, t->model);
  }
  if (rc == CUR_OK) rc = cur_task_union_build(parts, t->n_joint, dim, &t->joint_rows[0].half, &u);
  /* the union has their rows (task 0's matrix itself, the rows it lacks copied) */
  for (int j = 0; j < t->n_joint; j++) rowset_free(&t->joint_rows[j]);
  cur_head_options_config(t->opt, cur_run_seed(t->run), t->joint_ids[0], &cfg);
  cfg.n_tasks = t->n_joint;
  cfg.task_classes = t->joint_k;
  /* the epsilon keeps constant columns (e.g. a border pixel) finite */
  if (rc == CUR_OK) {
    X = cur_task_union_rows(&u);
    rc = feat_scaler_fit_rows(&X, 1e-6f, &t->joint_scaler);
  }
  if (rc == CUR_OK) {
    feat_scaler_view(t->joint_scaler, &X);
    cur_info("pseudolabel: one teacher for %d tasks: a multi-task head over %d rows, %d classes "
             "in all", t->n_joint, u.n, k);
    rc = head_new(&cfg, dim, k, &t->joint);
  }
  if (rc == CUR_OK) {
    cur_run_progress_start(t->run, "training the shared teacher (epochs)", cfg.epochs);
    rc = head_train(t->joint, &X, u.y, NULL, count_epoch, t->run);
  }
  cur_task_union_free(&u);
  return rc;
}

/* pseudolabel.multitask: the shared teacher of the tasks pseudolabel
** labels, when two or more of them can be learnt (one alone has its own). */
static int make_joint(teacher *t, const cJSON *tasks) {
  int rc = cJSON_GetArraySize(tasks) ? cur_store_tasks_listed(t->st, tasks, "pseudolabel.tasks", join_task, t)
                                     : cur_store_tasks_each(t->st, join_task, t);
  if (rc == CUR_OK && t->n_joint >= 2) rc = train_joint(t);
  for (int j = 0; j < t->n_joint; j++) rowset_free(&t->joint_rows[j]);
  if (rc == CUR_OK && t->n_joint < 2) t->n_joint = 0;
  return rc;
}

/* The external teacher's file, hashed into the input fingerprint: a new file is new input. */
static int pseudolabel_fingerprint(cur_run *run, cur_sha256 *h) {
  const char *path = cur_opt_str(cur_run_options(run), "teacher_file");
  char *text = NULL;
  size_t len = 0;
  if (!path[0]) return CUR_OK;
  int rc = cur_file_read(path, &text, &len);
  if (rc == CUR_OK) cur_sha256_update(h, text, len);
  cur_free(text);
  return rc;
}

static int pseudolabel_run(cur_run *run) {
  const cJSON *opt = cur_run_options(run);
  teacher t = {.run = run, .opt = opt, .st = cur_run_store(run)};
  int external = cur_opt_str(opt, "teacher_file")[0] != 0, found = 1, rc = CUR_OK;
  if (external && strcmp(cur_opt_str(opt, "ood"), "energy") == 0)
    return cur_errorc(CUR_ECONFIG, "pseudolabel.ood: energy needs the teacher's logits and "
                                   "teacher_file gives probabilities: use max_softmax or none");
  if (external && cur_opt_bool(opt, "multitask"))
    return cur_errorc(CUR_ECONFIG, "pseudolabel.multitask: the teacher of teacher_file is an "
                                   "external model's: there is no head to share; drop one of them");
  if (!external && cur_opt_str(opt, "model")[0]) t.model = cur_strdup(cur_opt_str(opt, "model"));
  else if (!external) rc = cur_store_embedding_model_default(t.st, &t.model, &found);
  if (rc == CUR_OK && !found)
    rc = cur_errorc(CUR_ESTATE, "pseudolabel: no embeddings: run the embed stage first");
  if (rc == CUR_OK && !external && !t.model) rc = CUR_ENOMEM;
  if (rc == CUR_OK && external) {
    cJSON *one = cJSON_CreateStringArray((const char *[]){cur_opt_str(opt, "teacher_task")}, 1);
    rc = one ? cur_store_tasks_listed(t.st, one, "pseudolabel.teacher_task", on_task, &t) : CUR_ENOMEM;
    cJSON_Delete(one);
  } else if (rc == CUR_OK) {
    cur_info("pseudolabel: teacher %s on embeddings %s", cur_opt_str(opt, "head"), t.model);
    const cJSON *tasks = cur_opt_json(opt, "tasks");
    if (cur_opt_bool(opt, "multitask")) rc = make_joint(&t, tasks);
    if (rc == CUR_OK)
      rc = cJSON_GetArraySize(tasks)
               ? cur_store_tasks_listed(t.st, tasks, "pseudolabel.tasks", on_task, &t)
               : cur_store_tasks_each(t.st, on_any_task, &t);
  }
  int64_t labels = 0, scored = 0;
  if (rc == CUR_OK && !(rc = cur_store_run_rows(t.st, cur_run_id(run), "teacher", NULL, NULL, &labels)) &&
      !(rc = cur_store_run_rows(t.st, cur_run_id(run), NULL, NULL, "teacher", &scored))) {
    cur_run_count_set(run, "accepted", labels);
    cur_run_count_set(run, "candidates", scored);
  }
  head_free(t.joint);
  feat_scaler_free(t.joint_scaler);
  cur_free(t.model);
  return rc;
}

static const char *const pseudolabel_needs[] = {"split", NULL};

const cur_stage stage_pseudolabel = {
    .name = "pseudolabel",
    .summary = "a calibrated teacher labels unlabelled training images where it is confident",
    .needs = pseudolabel_needs,
    .options = pseudolabel_options,
    .fingerprint = pseudolabel_fingerprint,
    .fingerprint_what = "the teacher file",
    .run = pseudolabel_run,
};
