/* aum.c -- the aum stage: ranks likely mislabelled images by AUM and confident learning.
**
** Per task, it reads the current labels of the ok original images of one
** split that have an embedding under one model, keeps the vectors as the
** half floats they are stored as (2 bytes a value; the heads convert and
** standardise one minibatch at a time, head.h's head_rows) and scores every
** row with the methods of models/head_noise.h.  All of a
** task's work is done in memory and written in one transaction (scores,
** flags, metrics), so a killed run resumed under its id skips the tasks it
** finished and recomputes the rest from the same seed: the database ends
** the same as after an uninterrupted run.
**
** A flag always suggests a class other than the row's label, and each
** method flags at most its own estimate of the noisy share of the rows
** (head_noise.h); rows below AUM's threshold whose suggestion is their own
** label are "uncertain": scored, not flagged.  Rows whose current label
** comes from a review are scored but never flagged: a reviewer already
** decided them, and the runner re-runs this stage after every review.
**
** With aum.multitask (off by default), the tasks checked learn together:
** one multi-task head per training over the union of their rows (each row
** with the labels it has; task_union.h), each task scored within its own
** block of logits (head_noise.h).  Each task is still written in its own
** transaction; a resumed run trains the same joint heads again (the tasks
** in them do not depend on which are done) and writes the tasks not done.
** Why an option and not the policy's multitask decision: docs/stages/aum.md.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "curate.h"
#include "feat.h"
#include "half.h"
#include "head_noise.h"
#include "head_options.h"
#include "stages.h"
#include "task_union.h"
#include "store_labels.h"
#include "store_embed.h"
#include "store_metrics.h"
#include "store_scores.h"

static int check_mode(const cJSON *v, const char *name) {
  return cur_option_check_word(v, name, "aum|confident|both");
}

static int check_combine(const cJSON *v, const char *name) {
  return cur_option_check_word(v, name, "both|either");
}

static int check_split(const cJSON *v, const char *name) {
  return cur_option_check_word(v, name, "train|val|test");
}

static int check_percentile(const cJSON *v, const char *name) {
  return v->valuedouble >= 0 && v->valuedouble <= 100
             ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must be between 0 and 100", name);
}

static const cur_option aum_options[] = {
    {"mode", CUR_OPT_STR, "\"aum\"", "aum, confident (confident learning) or both", check_mode},
    {"combine", CUR_OPT_STR, "\"both\"",
     "with mode both: flag where both methods agree (both) or where either does (either)",
     check_combine},
    {"percentile", CUR_OPT_NUM, "99",
     "AUM: flag rows below this percentile of the threshold samples' AUM (at most its noise "
     "estimate, each suggesting another class)", check_percentile},
    {"folds", CUR_OPT_INT, "5", "confident learning: cross-validation folds", cur_option_check_folds},
    {"head", CUR_OPT_STR, "\"logreg\"", "classifier head: logreg or mlp", cur_head_option_check},
    {"hidden", CUR_OPT_INT, "256", "mlp hidden units", cur_option_check_positive},
    {"epochs", CUR_OPT_INT, "20", "epochs per head (AUM averages the margin over them)",
     cur_option_check_positive},
    {"batch_size", CUR_OPT_INT, "128", "rows per SGD step", cur_option_check_positive},
    {"lr", CUR_OPT_NUM, "0.01", "initial learning rate (cosine schedule, momentum 0.9)",
     cur_option_check_positive},
    {"weight_decay", CUR_OPT_NUM, "0.0005", "L2 weight decay", cur_option_check_nonnegative},
    {"split", CUR_OPT_STR, "\"train\"", "the split whose labels are checked", check_split},
    {"model", CUR_OPT_STR, "\"\"",
     "embeddings model key; empty: the model with vectors for the most ok images", NULL},
    {"tasks", CUR_OPT_STRS, "[]", "tasks to check; empty: every task", NULL},
    {"multitask", CUR_OPT_BOOL, "false",
     "check the tasks together with one multi-task head (a softmax per task) instead of a head "
     "per task", NULL},
    {NULL, 0, NULL, NULL, NULL}};

/* One task's rows and results. */
typedef struct scorer {
  cur_run *run;
  const cJSON *opt;
  const char *model;           /* embeddings key in use */
  int64_t task_id;
  const char *task;
  int n, cap, dim, k;
  int64_t *ids;                /* n image ids */
  int *y;                      /* n class idx */
  unsigned char *reviewed;     /* n: the label came from a review */
  uint16_t *X;                 /* n x dim half floats, as stored */
  int64_t *class_ids;          /* k: class id of each idx */
  head_noise_out aum, conf;    /* results; arrays NULL when the method is off */
  float threshold;             /* AUM flagging threshold */
  int joint_tasks;             /* tasks of the multi-task head that scored it; 0: its own head */
} scorer;

static void out_free(head_noise_out *o) {
  cur_free(o->score);
  cur_free(o->suggest);
  cur_free(o->flag);
  memset(o, 0, sizeof *o);
}

static void scorer_clear(scorer *s) {
  cur_free(s->ids);
  cur_free(s->y);
  cur_free(s->reviewed);
  cur_free(s->X);
  cur_free(s->class_ids);
  out_free(&s->aum);
  out_free(&s->conf);
  cur_run *run = s->run;
  const cJSON *opt = s->opt;
  const char *model = s->model;
  memset(s, 0, sizeof *s);
  s->run = run, s->opt = opt, s->model = model;
}

static int grow(scorer *s) {
  int cap = s->cap ? s->cap * 2 : 1024;
  int64_t *ids = cur_reallocarray(s->ids, (size_t)cap, sizeof *ids);
  if (ids) s->ids = ids;
  int *y = cur_reallocarray(s->y, (size_t)cap, sizeof *y);
  if (y) s->y = y;
  unsigned char *rev = cur_reallocarray(s->reviewed, (size_t)cap, 1);
  if (rev) s->reviewed = rev;
  uint16_t *X = cur_reallocarray(s->X, (size_t)cap * (size_t)s->dim, sizeof *X);
  if (X) s->X = X;
  if (!ids || !y || !rev || !X) return CUR_ENOMEM;
  s->cap = cap;
  return CUR_OK;
}

/* Store callback: appends one labelled row. */
static int take_row(void *ctx, int64_t image_id, int class_idx, int reviewed, const void *vector,
                    int dim) {
  scorer *s = ctx;
  if (s->n == 0 && s->cap == 0) s->dim = dim;
  if (dim != s->dim)
    return cur_errorc(CUR_EINPUT, "aum: image %lld has %d values under %s, others %d",
                      (long long)image_id, dim, s->model, s->dim);
  int rc = s->n == s->cap ? grow(s) : CUR_OK;
  if (rc) return rc;
  s->ids[s->n] = image_id;
  s->y[s->n] = class_idx;
  s->reviewed[s->n] = (unsigned char)reviewed;
  cur_half_unpack(vector, (size_t)dim, s->X + (size_t)s->n * dim);
  s->n++;
  return CUR_OK;
}

static int out_alloc(head_noise_out *o, int n) {
  o->score = cur_mallocarray((size_t)n, sizeof *o->score);
  o->suggest = cur_mallocarray((size_t)n, sizeof *o->suggest);
  o->flag = cur_malloc((size_t)n);
  return o->score && o->suggest && o->flag ? CUR_OK : CUR_ENOMEM;
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The most rows a method may flag: its noise estimate in rows (head_noise.h). */
static int noise_rows(const head_noise_out *o, int n) { return (int)floor(o->noise * n + 1e-9); }

/* Makes X standardise its rows as the heads read them; *sc (the caller's
** to free, also after a failure) holds the scaler. */
static int standardise(head_rows *X, feat_scaler **sc) {
  /* variance + 0.01, as Coates et al. standardise their features */
  int rc = feat_scaler_fit_rows(X, 0.01f, sc);
  if (rc == CUR_OK) feat_scaler_view(*sc, X);
  return rc;
}

/* One call of the configured methods on the rows X (standardised): labels
** y (X->n x T, T = hc's tasks), k classes in all; results into aum[T] and
** conf[T] (allocated here, X->n rows each; left empty for a method that is
** off), AUM's thresholds into threshold[T] and each method's seconds into
** secs[2]. */
static int run_methods(const cJSON *opt, const head_config *hc, const head_rows *X, const int *y,
                       int k, head_noise_out *aum, head_noise_out *conf, float *threshold,
                       double secs[2]) {
  const char *mode = cur_opt_str(opt, "mode");
  int T = hc->n_tasks > 1 ? hc->n_tasks : 1, rc = CUR_OK;
  struct timespec t0;
  secs[0] = secs[1] = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int t = 0; rc == CUR_OK && strcmp(mode, "confident") != 0 && t < T; t++) rc = out_alloc(&aum[t], X->n);
  if (rc == CUR_OK && strcmp(mode, "confident") != 0) {
    rc = head_aum(hc, X, y, k, cur_opt_num(opt, "percentile"), aum, threshold);
    secs[0] = seconds_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
  }
  for (int t = 0; rc == CUR_OK && strcmp(mode, "aum") != 0 && t < T; t++) rc = out_alloc(&conf[t], X->n);
  if (rc == CUR_OK && strcmp(mode, "aum") != 0) {
    rc = head_confident(hc, X, y, k, (int)cur_opt_int(opt, "folds"), conf);
    secs[1] = seconds_since(&t0);
  }
  return rc;
}

/* What the methods found for the task, with their seconds SECS. */
static void report_task(const scorer *s, const double secs[2]) {
  if (s->aum.score)
    cur_info("aum: task %s: AUM in %.1f s, threshold %.3f; noise estimate %.1f%% (%d rows): "
             "%d below the threshold suggest another class, %d suggest their own label "
             "(uncertain, not flagged)", s->task, secs[0], s->threshold,
             100 * s->aum.noise, noise_rows(&s->aum, s->n), s->aum.candidates, s->aum.uncertain);
  if (s->conf.score)
    cur_info("aum: task %s: confident learning in %.1f s; noise estimate %.1f%% (%d rows): "
             "%d confidently in another class", s->task, secs[1], 100 * s->conf.noise,
             noise_rows(&s->conf, s->n), s->conf.candidates);
}

/* Runs the configured methods on the task's rows, standardised as the
** heads read them, with a head of its own. */
static int compute(scorer *s) {
  head_config hc;
  double secs[2];
  feat_scaler *sc = NULL;
  head_rows X = head_rows_half(s->X, s->n, s->dim);
  cur_head_options_config(s->opt, cur_run_seed(s->run), s->task_id, &hc);
  int rc = standardise(&X, &sc);
  if (rc == CUR_OK)
    rc = run_methods(s->opt, &hc, &X, s->y, s->k, &s->aum, &s->conf, &s->threshold, secs);
  if (rc == CUR_OK) report_task(s, secs);
  feat_scaler_free(sc);
  return rc;
}

/* Whether row I is flagged under the mode and combine rule; *by_aum says
** which method's score and suggestion the flag carries. */
static int flag_of(const scorer *s, int i, int *by_aum) {
  int fa = s->aum.flag && s->aum.flag[i], fc = s->conf.flag && s->conf.flag[i];
  *by_aum = fa;
  if (s->aum.flag && s->conf.flag)
    return strcmp(cur_opt_str(s->opt, "combine"), "either") == 0 ? fa || fc : fa && fc;
  return fa || fc;
}

static void flag_detail(const scorer *s, int i, int by_aum, char *buf, size_t cap) {
  int both = s->aum.flag && s->conf.flag;
  if (by_aum)
    snprintf(buf, cap, "AUM %.3f < threshold %.3f%s", s->aum.score[i], s->threshold,
             !both ? "" : s->conf.flag[i] ? "; confident learning agrees"
                                           : "; confident learning disagrees");
  else
    snprintf(buf, cap, "confident learning: p(label) %.3f, confidently another class%s",
             s->conf.score[i], both ? "; AUM disagrees" : "");
}

/* A per-task metric "<task>.<what>" of this run. */
static int put_metric(scorer *s, const char *what, double value) {
  char name[256];
  snprintf(name, sizeof name, "%s.%s", s->task, what);
  return cur_store_metric_put(cur_run_store(s->run), cur_run_id(s->run), name, value, NULL);
}

/* A method's noise estimate (share and rows) and candidates before the cap. */
static int put_method_metrics(scorer *s, const char *method, const head_noise_out *o) {
  char name[64];
  int rc;
  snprintf(name, sizeof name, "%s_noise", method);
  if ((rc = put_metric(s, name, o->noise))) return rc;
  snprintf(name, sizeof name, "%s_noise_rows", method);
  if ((rc = put_metric(s, name, noise_rows(o, s->n)))) return rc;
  snprintf(name, sizeof name, "%s_candidates", method);
  return put_metric(s, name, o->candidates);
}

/* Scores and flags of row I. */
static int write_row(scorer *s, int i, int64_t counts[3]) {
  cur_store *st = cur_run_store(s->run);
  int64_t run_id = cur_run_id(s->run), image = s->ids[i];
  int by_aum, rc = CUR_OK;
  char detail[160];
  if (s->aum.score)
    rc = cur_store_score_add(st, run_id, "aum", image, s->task_id, s->aum.score[i],
                             s->class_ids[s->aum.suggest[i]]);
  if (rc == CUR_OK && s->conf.score)
    rc = cur_store_score_add(st, run_id, "confident", image, s->task_id, s->conf.score[i],
                             s->conf.suggest[i] >= 0 ? s->class_ids[s->conf.suggest[i]] : 0);
  counts[0] += s->aum.flag && s->aum.flag[i] && s->conf.flag && s->conf.flag[i];
  if (rc || s->reviewed[i] || !flag_of(s, i, &by_aum)) return rc;
  const head_noise_out *o = by_aum ? &s->aum : &s->conf;
  counts[by_aum ? 1 : 2]++;
  flag_detail(s, i, by_aum, detail, sizeof detail);
  return cur_store_flag_add(st, run_id, by_aum ? "aum" : "confident", image, s->task_id,
                            o->score[i], s->class_ids[o->suggest[i]], detail);
}

/* Writes the task's scores, flags and metrics in one transaction. */
static int write_task(scorer *s) {
  cur_store *st = cur_run_store(s->run);
  int64_t counts[3] = {0, 0, 0};  /* both methods flag; flags carried by AUM; by confident */
  int rc = cur_store_begin(st);
  if (rc) return rc;
  for (int i = 0; rc == CUR_OK && i < s->n; i++) rc = write_row(s, i, counts);
  if (rc == CUR_OK && s->aum.score) rc = put_method_metrics(s, "aum", &s->aum);
  if (rc == CUR_OK && s->conf.score) rc = put_method_metrics(s, "confident", &s->conf);
  if (rc == CUR_OK && s->aum.score) rc = put_metric(s, "aum_threshold", s->threshold);
  if (rc == CUR_OK && s->aum.score) rc = put_metric(s, "aum_uncertain", s->aum.uncertain);
  if (rc == CUR_OK && s->aum.score && s->conf.score) rc = put_metric(s, "agree", (double)counts[0]);
  if (rc == CUR_OK) rc = put_metric(s, "flagged", (double)(counts[1] + counts[2]));
  if (rc == CUR_OK && s->joint_tasks) rc = put_metric(s, "head_tasks", s->joint_tasks);
  if (rc == CUR_OK) rc = put_metric(s, "rows", s->n);  /* last: marks the task done */
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

/* Marks a task without enough rows done, with a warning. */
static int skip_task(scorer *s, int need) {
  cur_warn("aum: task %s: %d rows with a label and an embedding in split %s (%d classes); "
           "need at least %d; not checked", s->task, s->n, cur_opt_str(s->opt, "split"), s->k, need);
  cur_store *st = cur_run_store(s->run);
  int rc = cur_store_begin(st);
  if (rc == CUR_OK && (rc = put_metric(s, "rows", s->n)) == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

/* Whether this run already wrote the task (a resumed run). */
static int task_done(scorer *s, int *done) {
  char name[256];
  snprintf(name, sizeof name, "%s.rows", s->task);
  return cur_store_metric_exists(cur_run_store(s->run), cur_run_id(s->run), name, done);
}

/* Reads the task's classes and rows; *need is the rows it needs to be
** checked, 0 when it has them. */
static int load_task(scorer *s, int *need) {
  cur_store *st = cur_run_store(s->run);
  int rc = cur_store_class_ids(st, s->task_id, &s->class_ids, &s->k);
  if (rc == CUR_OK)
    rc = cur_store_labelled_vectors(st, s->task_id, cur_opt_str(s->opt, "split"), s->model, take_row, s);
  int folds = (int)cur_opt_int(s->opt, "folds");
  *need = s->k + 1 > folds ? s->k + 1 : folds;
  if (rc == CUR_OK && s->k >= 2 && s->n >= *need) {
    *need = 0;
    cur_info("aum: task %s: %d rows, %d classes, %d values per row", s->task, s->n, s->k, s->dim);
  }
  return rc;
}

static int score_task(scorer *s) {
  int done, need, rc = task_done(s, &done);
  if (rc || done || (rc = load_task(s, &need))) return rc;
  if (need) return skip_task(s, need);
  if ((rc = compute(s))) return rc;
  return write_task(s);
}

/* A method's results for the union's rows, copied to a task's N rows (AT:
** each one's row in the union); nothing when the method is off. */
static int copy_out(const head_noise_out *from, const int *at, int n, head_noise_out *to) {
  if (!from->score) return CUR_OK;
  int rc = out_alloc(to, n);
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    to->score[i] = from->score[at[i]];
    to->suggest[i] = from->suggest[at[i]];
    to->flag[i] = from->flag[at[i]];
  }
  to->noise = from->noise;
  to->candidates = from->candidates;
  to->uncertain = from->uncertain;
  return rc;
}

/* The methods on the union of the T tasks' rows (a multi-task head), each
** task's results back in its scorer. */
static int compute_union(scorer **task, int T) {
  cur_task_part parts[HEAD_MAX_TASKS] = {{0}};
  int task_k[HEAD_MAX_TASKS], k = 0, dim = task[0]->dim, rc = CUR_OK;
  head_noise_out aum[HEAD_MAX_TASKS] = {{0}}, conf[HEAD_MAX_TASKS] = {{0}};
  float thr[HEAD_MAX_TASKS];
  double secs[2];
  head_config hc;
  feat_scaler *sc = NULL;
  cur_task_union u = {0};
  head_rows X = {0};
  for (int j = 0; rc == CUR_OK && j < T; j++) {
    parts[j] = (cur_task_part){task[j]->ids, task[j]->y, task[j]->X, task[j]->n};
    k += task_k[j] = task[j]->k;
    if (task[j]->dim != dim)
      rc = cur_errorc(CUR_EINPUT, "aum: tasks %s and %s have embeddings of %d and %d values",
                      task[0]->task, task[j]->task, dim, task[j]->dim);
  }
  if (rc == CUR_OK) rc = cur_task_union_build(parts, T, dim, &task[0]->X, &u);
  /* the union has their rows (task 0's matrix itself, the rows it lacks copied) */
  for (int j = 0; j < T; j++) cur_free(task[j]->X), task[j]->X = NULL;
  cur_head_options_config(task[0]->opt, cur_run_seed(task[0]->run), task[0]->task_id, &hc);
  hc.n_tasks = T;
  hc.task_classes = task_k;
  if (rc == CUR_OK) {
    char names[HEAD_MAX_TASKS * 130] = "";
    for (int j = 0, len = 0; j < T && len < (int)sizeof names; j++)
      len += snprintf(names + len, sizeof names - (size_t)len, "%s%s", j ? ", " : "", task[j]->task);
    cur_info("aum: tasks %s together: one multi-task head over %d rows, %d classes in all", names,
             u.n, k);
    X = cur_task_union_rows(&u);
    rc = standardise(&X, &sc);
  }
  if (rc == CUR_OK) rc = run_methods(task[0]->opt, &hc, &X, u.y, k, aum, conf, thr, secs);
  for (int j = 0; rc == CUR_OK && j < T; j++) {
    task[j]->threshold = thr[j];
    task[j]->joint_tasks = T;
    if ((rc = copy_out(&aum[j], u.at[j], task[j]->n, &task[j]->aum)) == CUR_OK &&
        (rc = copy_out(&conf[j], u.at[j], task[j]->n, &task[j]->conf)) == CUR_OK)
      report_task(task[j], secs);
  }
  for (int j = 0; j < T; j++) out_free(&aum[j]), out_free(&conf[j]);
  feat_scaler_free(sc);
  cur_task_union_free(&u);
  return rc;
}

/* aum.multitask: the N tasks that have enough rows are checked together
** (one that has not, or one alone, as without the option); the tasks this
** run already wrote take part again, so the heads are those of the
** uninterrupted run, but are not written again. */
static int score_together(scorer *all, int n) {
  scorer *ready[HEAD_MAX_TASKS];
  int done[HEAD_MAX_TASKS], T = 0, pending = 0, rc = CUR_OK;
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    int was_done, need;
    if ((rc = task_done(&all[i], &was_done)) || (rc = load_task(&all[i], &need))) break;
    if (need) {
      rc = was_done ? CUR_OK : skip_task(&all[i], need);
      continue;
    }
    if (T == HEAD_MAX_TASKS)
      return cur_errorc(CUR_ECONFIG, "aum.multitask: more than %d tasks to check together; "
                        "choose some with aum.tasks", HEAD_MAX_TASKS);
    ready[T] = &all[i];
    done[T++] = was_done;
    pending += !was_done;
  }
  if (rc || pending == 0) return rc;
  rc = T == 1 ? compute(ready[0]) : compute_union(ready, T);
  for (int j = 0; rc == CUR_OK && j < T; j++)
    if (!done[j]) rc = write_task(ready[j]);
  return rc;
}

/* The tasks to check: every task, or the ones the option names. */
typedef struct task_list {
  const cJSON *want;           /* option tasks (empty: all) */
  int n;
  int64_t ids[64];
  char names[64][128];
} task_list;

static int take_task(void *ctx, int64_t id, const char *name) {
  task_list *t = ctx;
  int wanted = cJSON_GetArraySize(t->want) == 0;
  const cJSON *w;
  cJSON_ArrayForEach(w, t->want) wanted |= strcmp(w->valuestring, name) == 0;
  if (!wanted) return CUR_OK;
  if (t->n == (int)CUR_ARRAY_LEN(t->ids))
    return cur_errorc(CUR_ECONFIG, "aum: more than %d tasks; choose some with aum.tasks",
                      (int)CUR_ARRAY_LEN(t->ids));
  t->ids[t->n] = id;
  snprintf(t->names[t->n++], sizeof t->names[0], "%s", name);
  return CUR_OK;
}

static int check_tasks(const task_list *t) {
  const cJSON *w;
  cJSON_ArrayForEach(w, t->want) {
    int known = 0;
    for (int i = 0; i < t->n; i++) known |= strcmp(t->names[i], w->valuestring) == 0;
    if (!known) return cur_errorc(CUR_ECONFIG, "aum.tasks: no task named '%s'", w->valuestring);
  }
  return CUR_OK;
}

static int count_results(cur_run *run) {
  static const char *const kinds[][2] = {{"aum", "scored_aum"}, {"confident", "scored_confident"}};
  cur_store *st = cur_run_store(run);
  int64_t n;
  for (size_t i = 0; i < CUR_ARRAY_LEN(kinds); i++) {
    int rc = cur_store_run_rows(st, cur_run_id(run), NULL, NULL, kinds[i][0], &n);
    if (rc == CUR_OK) cur_run_count_set(run, kinds[i][1], n);
    if (rc == CUR_OK) rc = cur_store_run_rows(st, cur_run_id(run), NULL, kinds[i][0], NULL, &n);
    if (rc) return rc;
    cur_run_count_set(run, i == 0 ? "flagged_aum" : "flagged_confident", n);
  }
  return CUR_OK;
}

static int aum_run(cur_run *run) {
  const cJSON *opt = cur_run_options(run);
  cur_store *st = cur_run_store(run);
  char *top = NULL;
  task_list *tasks = cur_calloc(1, sizeof *tasks);
  int rc = tasks ? CUR_OK : CUR_ENOMEM;
  scorer s = {.run = run, .opt = opt, .model = cur_opt_str(opt, "model")};
  int found = 0;
  if (rc == CUR_OK && !s.model[0] && (rc = cur_store_embedding_model_default(st, &top, &found)) == CUR_OK) {
    if (!found || !top) rc = cur_errorc(CUR_ESTATE, "aum: no embeddings: run the embed stage first");
    s.model = top;
  }
  if (rc == CUR_OK) {
    tasks->want = cur_opt_json(opt, "tasks");
    if ((rc = cur_store_tasks_each(st, take_task, tasks)) == CUR_OK) rc = check_tasks(tasks);
  }
  if (rc == CUR_OK) cur_info("aum: embeddings %s, split %s", s.model, cur_opt_str(opt, "split"));
  if (rc == CUR_OK && cur_opt_bool(opt, "multitask")) {
    scorer *all = cur_calloc((size_t)tasks->n + 1, sizeof *all);
    rc = all ? CUR_OK : CUR_ENOMEM;
    for (int i = 0; all && i < tasks->n; i++)
      all[i] = (scorer){.run = run, .opt = opt, .model = s.model, .task_id = tasks->ids[i],
                        .task = tasks->names[i]};
    if (rc == CUR_OK) rc = score_together(all, tasks->n);
    for (int i = 0; all && i < tasks->n; i++) scorer_clear(&all[i]);
    cur_free(all);
  }
  for (int i = 0; rc == CUR_OK && !cur_opt_bool(opt, "multitask") && i < tasks->n; i++) {
    s.task_id = tasks->ids[i];
    s.task = tasks->names[i];
    rc = score_task(&s);
    scorer_clear(&s);
  }
  if (rc == CUR_OK) rc = count_results(run);
  cur_free(tasks);
  cur_free(top);
  return rc;
}

static const char *const aum_needs[] = {"embed", NULL};

const cur_stage stage_aum = {
    .name = "aum",
    .summary = "rank likely mislabelled images (AUM, confident learning) and flag them",
    .needs = aum_needs,
    .options = aum_options,
    .fingerprint = NULL,
    .run = aum_run,
};
