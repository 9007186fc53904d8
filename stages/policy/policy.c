/* policy.c -- the policy stage: keeps each automatic curation decision only where it does not hurt.
**
** Earlier stages propose changes to the training set: aum (and others) flag
** rows, pseudolabel adds teacher labels, balance re-weights classes and
** augment adds variants.  For every task with labels, this stage trains the
** train stage's head on the raw labels (the human and review labels of the
** train split, weight 1) and measures macro-F1 on held-out rows; then it
** tries the decisions in order -- drop flagged rows, add pseudo-labels,
** balance -- each on top of those kept so far, and keeps one only when the
** 5th percentile of its paired bootstrap gain in macro-F1 is no worse than
** -policy.tolerance, against the set it was tried on and against the raw
** labels (a small held-out set then keeps nothing by chance).  The
** held-out rows are the val split's labelled
** rows, or, when val has fewer than policy.min_val_rows, folds of the train
** split (whole groups per fold, a variant with its original).  Test rows
** are never read.  Then, on top of the rows chosen, it tries the train
** section's head techniques the same way -- EMA of the weights, the
** multi-task head, UDA (policy_heads.c) -- each only when it is configured;
** train uses one only when the policy kept it.  The chosen rows go to
** policy_rows, which export takes as the task's training rows; every try
** goes to policy_decisions and is printed in one line.  All of a task's work is one transaction, after
** deleting the run's earlier rows, so a resumed run ends the same.
*/
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "embedder.h"
#include "feat.h"
#include "half.h"
#include "head.h"
#include "head_options.h"
#include "metrics.h"
#include "policy_heads.h"
#include "rng.h"
#include "stages.h"
#include "store_embed.h"
#include "store_labels.h"
#include "store_policy.h"

/* The decisions, in the order they are tried; each is a bit of a state.  The
** first three choose rows, the last three (TECHNIQUES) the head. */
enum { DROP_FLAGGED = 1, PSEUDOLABELS = 2, BALANCE = 4, EMA = 8, MULTITASK = 16, UDA = 32 };
enum { TECHNIQUES = EMA | MULTITASK | UDA };
static const struct {
  int bit;
  const char *name, *what;
} decisions[] = {{DROP_FLAGGED, "drop_flagged", "drop rows with a pending flag"},
                 {PSEUDOLABELS, "pseudolabels", "add the teacher's pseudo-labels"},
                 {BALANCE, "balance", "balance classes (weights, augmented variants)"},
                 {EMA, "ema", "average the head's weights (train.ema_decay)"},
                 {MULTITASK, "multitask", "learn train.tasks jointly (a shared hidden layer)"},
                 {UDA, "uda", "add UDA's consistency loss on unlabelled rows' pairs"}};

/* The bits of a mode that names decisions ("drop_flagged,balance"), or -1
** when MODE is not such a list. */
static int forced_bits(const char *mode) {
  int bits = 0;
  for (const char *p = mode; *p;) {
    size_t n = strcspn(p, ","), d = 0;
    while (d < CUR_ARRAY_LEN(decisions) &&
           (strlen(decisions[d].name) != n || strncmp(decisions[d].name, p, n) != 0))
      d++;
    if (n == 0 || d == CUR_ARRAY_LEN(decisions)) return -1;
    bits |= decisions[d].bit;
    p += n + (p[n] == ',');
  }
  return mode[0] ? bits : -1;
}

static int check_mode(const cJSON *v, const char *name) {
  const char *m = v->valuestring;
  if (strcmp(m, "auto") == 0 || strcmp(m, "all") == 0 || strcmp(m, "none") == 0 ||
      forced_bits(m) >= 0)
    return CUR_OK;
  return cur_errorc(CUR_ECONFIG, "%s: '%s' is not auto, all, none or a list of decisions to "
                    "apply (drop_flagged,pseudolabels,balance,ema,multitask,uda)", name, m);
}

static const cur_option policy_options[] = {
    {"mode", CUR_OPT_STR, "\"auto\"",
     "auto: keep each decision only where validation macro-F1 does not fall; all: apply every "
     "decision; none: train on the raw labels; or the decisions to apply, e.g. "
     "\"drop_flagged,pseudolabels\"", check_mode},
    {"tolerance", CUR_OPT_NUM, "0.005",
     "how much validation macro-F1 a decision may cost (5th percentile of its paired "
     "bootstrap) and still be kept",
     cur_option_check_nonnegative},
    {"min_val_rows", CUR_OPT_INT, "50",
     "fewer labelled val rows than this: folds of the train split decide instead",
     cur_option_check_positive},
    {"folds", CUR_OPT_INT, "5", "folds when the train split decides", cur_option_check_folds},
    {NULL, 0, NULL, NULL, NULL}};

/* One task being decided. */
typedef struct task_eval {
  cur_run *run;
  int64_t task_id;
  const char *task;
  int k, dim;
  cur_policy_row *rows;
  size_t n;
  uint16_t *X;               /* n x dim half floats, as stored */
  feat_scaler *scaler;       /* fitted on the raw training rows; the heads apply it */
  int folds;                 /* 0: the val split decides */
  size_t n_held;             /* held-out rows over all folds */
  char method[16];
  policy_heads heads;        /* the head techniques' candidates */
} task_eval;

/* One row's embedding being read into X. */
typedef struct fetch {
  task_eval *t;
  size_t i;
  int got;
} fetch;

/* Store callback: decodes row f->i's embedding into X (allocated at the first). */
static int take_vector(void *ctx, int64_t id, const void *bytes, size_t len) {
  fetch *f = ctx;
  task_eval *t = f->t;
  if (t->dim == 0) t->dim = (int)(len / 2);
  if (len != (size_t)t->dim * 2)
    return cur_errorf("policy: image %lld: embedding of %zu values, expected %d", (long long)id,
                      len / 2, t->dim);
  if (!t->X && !(t->X = cur_mallocarray(t->n, (size_t)t->dim * sizeof *t->X))) return CUR_ENOMEM;
  cur_half_unpack(bytes, (size_t)t->dim, t->X + f->i * (size_t)t->dim);
  f->got = 1;
  return CUR_OK;
}

/* Reads every row's embedding for MODEL; *missing counts rows without one. */
static int load_vectors(task_eval *t, const char *model, int64_t *missing) {
  *missing = 0;
  for (size_t i = 0; i < t->n; i++) {
    fetch f = {t, i, 0};
    int rc = cur_store_embedding_of(cur_run_store(t->run), model, t->rows[i].image_id, take_vector, &f);
    if (rc) return rc;
    *missing += !f.got;
  }
  return CUR_OK;
}

/* The row of IMAGE_ID (rows are in image id order), or -1. */
static long find_row(const task_eval *t, int64_t image_id) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->rows[mid].image_id < image_id) lo = mid + 1;
    else hi = mid;
  }
  return lo < t->n && t->rows[lo].image_id == image_id ? (long)lo : -1;
}

/* Whether training row I belongs to the set STATE describes. */
static int row_in(const task_eval *t, int state, size_t i) {
  const cur_policy_row *r = &t->rows[i];
  assert(r->split != 'e');  /* cur_store_policy_rows never returns test rows */
  if (r->split != 't') return 0;
  int dropped = (state & DROP_FLAGGED) && r->flagged;
  switch (r->kind) {
  case 'h': return !dropped;
  case 'p': return (state & PSEUDOLABELS) && !dropped;
  case 'a': {  /* a variant goes with its original */
    long parent = (state & BALANCE) ? find_row(t, r->parent_id) : -1;
    return parent >= 0 && t->rows[parent].kind != 'a' && row_in(t, state, (size_t)parent);
  }
  }
  return 0;
}

static float row_weight(const task_eval *t, int state, size_t i) {
  return (state & BALANCE) ? (float)t->rows[i].weight : 1.0f;
}

static int fold_of(const task_eval *t, size_t i) {
  return t->folds ? (int)(t->rows[i].group % (uint64_t)t->folds) : -1;
}

/* Held-out row I for fold F: a human label of val (F = -1) or of train in fold F. */
static int held_out(const task_eval *t, size_t i, int f) {
  const cur_policy_row *r = &t->rows[i];
  if (r->kind != 'h') return 0;
  return f < 0 ? r->split == 'v' : r->split == 't' && fold_of(t, i) == f;
}

/* The M rows IDX of the task's matrix, standardised by its scaler once it
** has one: a view, no copy. */
static head_rows view_of(const task_eval *t, const uint32_t *idx, int m) {
  head_rows v = head_rows_half(t->X, (int)t->n, t->dim);
  v.idx = idx;
  v.n = m;
  if (t->scaler) feat_scaler_view(t->scaler, &v);
  return v;
}

/* The rows selected by IN (a 0/1 array over rows) as row indices into the
** task's matrix, with T labels a row: the task's, then (T > 1) the other
** tasks'. */
static int gather(const task_eval *t, const int *in, uint32_t **X, int **y, float **w, int *m,
                  int state, int T) {
  int count = 0;
  for (size_t i = 0; i < t->n; i++) count += in[i];
  *X = cur_mallocarray((size_t)count + 1, sizeof **X);
  *y = cur_calloc((size_t)count + 1, (size_t)T * sizeof **y);
  *w = cur_calloc((size_t)count + 1, sizeof **w);
  if (!*X || !*y || !*w) return CUR_ENOMEM;
  int j = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (!in[i]) continue;
    (*X)[j] = (uint32_t)i;
    (*y)[(size_t)j * T] = t->rows[i].class_idx;
    for (int a = 1; a < T; a++)
      (*y)[(size_t)j * T + a] = t->heads.aux[i * (size_t)(T - 1) + (size_t)(a - 1)];
    (*w)[j++] = row_weight(t, state, i);
  }
  *m = count;
  return CUR_OK;
}

/* What a head trained on one candidate set said about the held-out rows:
** the rows in a fixed order (fold by fold, then row order), so that two
** candidates' predictions pair row by row. */
typedef struct held {
  int m;
  int *truth, *pred;
  double macro;          /* macro-F1 over them; NaN when there are none */
} held;

static void held_free(held *h) {
  cur_free(h->truth);
  cur_free(h->pred);
  *h = (held){0};
}

/* Macro-F1 of rows IDX[0..m) (all rows when IDX is NULL) of H; CONF and PER
** are k x k and k scratch. */
static double macro_of(const task_eval *t, const held *h, const int *idx, int m, int64_t *conf,
                       head_class_metrics *per) {
  double acc, macro = NAN;
  memset(conf, 0, (size_t)t->k * (size_t)t->k * sizeof *conf);
  for (int i = 0; i < m; i++) {
    int r = idx ? idx[i] : i;
    conf[(size_t)h->truth[r] * t->k + h->pred[r]]++;
  }
  if (m > 0) head_metrics_compute(conf, t->k, per, &acc, &macro);
  return macro;
}

/* Trains on STATE's rows outside fold F and appends the predictions for fold
** F's held-out rows (F = -1: val) to OUT. */
static int eval_fold(task_eval *t, int state, int f, held *out) {
  int *train = cur_calloc(t->n, sizeof *train), *test = cur_calloc(t->n, sizeof *test);
  uint32_t *Xtr = NULL, *Xte = NULL;
  float *wtr = NULL, *wte = NULL;
  int *ytr = NULL, *yte = NULL, ntr = 0, nte = 0;
  int rc = train && test ? CUR_OK : CUR_ENOMEM;
  for (size_t i = 0; rc == CUR_OK && i < t->n; i++) {
    long own = t->rows[i].kind == 'a' ? find_row(t, t->rows[i].parent_id) : (long)i;
    int fold = own >= 0 ? fold_of(t, (size_t)own) : -1;
    train[i] = row_in(t, state, i) && (f < 0 || fold != f);
    test[i] = held_out(t, i, f);
  }
  int T = (state & MULTITASK) ? t->heads.n_tasks : 1;
  int *pred = NULL;
  if (rc == CUR_OK) rc = gather(t, train, &Xtr, &ytr, &wtr, &ntr, state, T);
  if (rc == CUR_OK) rc = gather(t, test, &Xte, &yte, &wte, &nte, 0, 1);
  if (rc == CUR_OK && !(pred = cur_calloc((size_t)nte + 1, (size_t)T * sizeof *pred))) rc = CUR_ENOMEM;
  if (rc == CUR_OK && nte > 0) {
    head_config cfg;
    head_unlabelled u;
    const cJSON *train_opt = cur_run_options_of(t->run, "train");
    /* the same stream for every candidate: differences come from the rows
    ** and the techniques */
    cur_head_options_config(train_opt, cur_run_seed(t->run), t->task_id * 64 + f + 1, &cfg);
    cur_policy_heads_config(&t->heads, train_opt, state & EMA, state & MULTITASK, state & UDA,
                            t->scaler, &cfg, &u);
    head_rows tr = view_of(t, Xtr, ntr), te = view_of(t, Xte, nte);
    /* a fold with no training rows predicts class 0: counted, not skipped */
    if (ntr > 0)
      rc = head_fit_predict(&cfg, &tr, T > 1 ? t->heads.k_all : t->k, ytr, wtr, &u, &te, pred,
                            NULL, head_stop_when_interrupted, NULL);
    /* the task is the first of the tasks */
    for (int i = 0; i < nte; i++) out->pred[out->m + i] = pred[(size_t)i * T];
    memcpy(out->truth + out->m, yte, (size_t)nte * sizeof *yte);
    out->m += nte;
  }
  cur_free(train); cur_free(test); cur_free(Xtr); cur_free(ytr); cur_free(wtr);
  cur_free(Xte); cur_free(yte); cur_free(wte); cur_free(pred);
  return rc;
}

/* The held-out predictions of a head trained on STATE's rows. */
static int evaluate(task_eval *t, int state, held *out) {
  int64_t *conf = cur_calloc((size_t)t->k * (size_t)t->k, sizeof *conf);
  head_class_metrics *per = cur_calloc((size_t)t->k, sizeof *per);
  *out = (held){.truth = cur_calloc(t->n_held + 1, sizeof *out->truth),
                .pred = cur_calloc(t->n_held + 1, sizeof *out->pred)};
  int rc = conf && per && out->truth && out->pred ? CUR_OK : CUR_ENOMEM;
  for (int f = t->folds ? 0 : -1; rc == CUR_OK && f < (t->folds ? t->folds : 0); f++) {
    rc = eval_fold(t, state, f, out);
    if (rc == CUR_OK && cur_interrupted()) rc = CUR_EINTR;
  }
  out->macro = rc == CUR_OK ? macro_of(t, out, NULL, out->m, conf, per) : NAN;
  cur_free(conf);
  cur_free(per);
  return rc;
}

#define RESAMPLES 200

/* The 5th percentile of macro-F1(B) - macro-F1(A) over paired bootstrap
** resamples of the held-out rows: how much B may really lose against A,
** given how many rows measured it (Efron & Tibshirani 1993, the percentile
** interval).  NaN without rows. */
static double low_delta(const task_eval *t, const held *a, const held *b) {
  int64_t *conf = cur_calloc((size_t)t->k * (size_t)t->k, sizeof *conf);
  head_class_metrics *per = cur_calloc((size_t)t->k, sizeof *per);
  int *idx = cur_calloc((size_t)a->m + 1, sizeof *idx);
  float *deltas = cur_calloc(RESAMPLES, sizeof *deltas);
  double low = NAN;
  if (conf && per && idx && deltas && a->m > 0 && a->m == b->m) {
    cur_rng r;
    cur_rng_seed_keys(&r, (uint64_t[]){cur_run_seed(t->run), (uint64_t)t->task_id, 0x626f6f74ull}, 3);
    for (int s = 0; s < RESAMPLES; s++) {
      for (int i = 0; i < a->m; i++) idx[i] = (int)cur_rng_below(&r, (uint64_t)a->m);
      deltas[s] = (float)(macro_of(t, b, idx, a->m, conf, per) - macro_of(t, a, idx, a->m, conf, per));
    }
    low = head_percentile(deltas, RESAMPLES, 5);
  }
  cur_free(conf); cur_free(per); cur_free(idx); cur_free(deltas);
  return low;
}

/* Rows of STATE's set, and how many of them DECISION adds, removes or
** re-weights; for a technique, what it adds: the other tasks' labels
** (multi-task), the pairs (UDA), nothing (EMA). */
static void count_rows(const task_eval *t, int state, int decision, int64_t *rows, int64_t *changed) {
  *rows = *changed = 0;
  if (decision & TECHNIQUES) {
    count_rows(t, state, 0, rows, changed);
    *changed = decision == MULTITASK ? t->heads.aux_labels : decision == UDA ? t->heads.n_pairs : 0;
    return;
  }
  for (size_t i = 0; i < t->n; i++) {
    int with = row_in(t, state | decision, i), without = row_in(t, state & ~decision, i);
    *rows += with;
    *changed += with != without ||
                (with && row_weight(t, state | decision, i) != row_weight(t, state & ~decision, i));
  }
}

/* Fits the scaler that standardises every row the heads read (the task's
** and UDA's pairs) on the raw training rows. */
static int standardise(task_eval *t) {
  int *raw = cur_calloc(t->n, sizeof *raw);
  uint32_t *X = NULL;
  float *w = NULL;
  int *y = NULL, m = 0;
  int rc = raw ? CUR_OK : CUR_ENOMEM;
  for (size_t i = 0; rc == CUR_OK && i < t->n; i++) raw[i] = row_in(t, 0, i);
  if (rc == CUR_OK) rc = gather(t, raw, &X, &y, &w, &m, 0, 1);
  head_rows v = view_of(t, X, m);
  /* the epsilon keeps constant columns (e.g. a border pixel) finite */
  if (rc == CUR_OK) rc = feat_scaler_fit_rows(&v, 1e-6f, &t->scaler);
  cur_free(raw); cur_free(X); cur_free(y); cur_free(w);
  return rc;
}

/* One try: printed, and stored in the open transaction. */
static int record_try(task_eval *t, int step, const char *name, const char *what, int state,
                      int decision, double f1, double before, double low, int kept,
                      const char *why) {
  int64_t rows, changed;
  count_rows(t, state, decision, &rows, &changed);
  if (step == 0)
    cur_info("policy: %s: raw labels, %lld training rows: %s macro-F1 %.4f (%d held-out rows)",
             t->task, (long long)rows, t->method, f1, (int)t->n_held);
  else if (isnan(f1))
    cur_info("policy: %s: %s (%lld rows): not measured -> %s (%s)", t->task, what,
             (long long)changed, kept ? "kept" : "refused", why);
  else
    cur_info("policy: %s: %s (%lld rows): %s macro-F1 %.4f vs %.4f -> %s (%s)", t->task, what,
             (long long)changed, t->method, f1, before, kept ? "kept" : "refused", why);
  return cur_store_policy_decision_put(cur_run_store(t->run), cur_run_id(t->run), t->task_id, step,
                                       name, rows, changed, f1, before, low, kept, t->method, why);
}

/* Whether a decision stays, and one line saying why.  LOW and LOW_RAW are
** the 5th percentiles of its paired bootstrap gain over the set it was
** tried on and over the raw labels: it stays when neither says it may cost
** more than the tolerance.  A small or noisy held-out set widens them, so a
** weak signal leaves the data as it was. */
static int judge(const task_eval *t, const char *mode, int bit, double tol, double low,
                 double low_raw, char *why, size_t cap) {
  int forced = forced_bits(mode);
  if (strcmp(mode, "all") == 0) return snprintf(why, cap, "policy.mode is all"), 1;
  if (forced >= 0)
    return snprintf(why, cap, "policy.mode %s it", (forced & bit) ? "names" : "leaves out"),
           (forced & bit) != 0;
  /* the teacher learned from every trusted train row, the held-out folds
  ** included: its labels would score themselves */
  if (bit == PSEUDOLABELS && t->folds)
    return snprintf(why, cap, "the teacher was trained on the folds that would judge it: needs "
                    "a val split (split.val, ingest.val_from_train)"), 0;
  if (isnan(low) || isnan(low_raw))
    return snprintf(why, cap, "no held-out rows to measure it on: not applied"), 0;
  if (low < -tol)
    return snprintf(why, cap, "may cost up to %.4f (5th percentile of %d paired resamples), "
                    "more than the tolerance %.4f", -low, RESAMPLES, tol), 0;
  if (low_raw < -tol)
    return snprintf(why, cap, "may cost up to %.4f against the raw labels, more than the "
                    "tolerance %.4f", -low_raw, tol), 0;
  return snprintf(why, cap, "costs at most %.4f (5th percentile of %d paired resamples), within "
                  "the tolerance %.4f", low < 0 ? -low : 0.0, RESAMPLES, tol), 1;
}

/* Whether the train section configures technique BIT for this task. */
static int configured(const task_eval *t, int bit) {
  switch (bit) {
  case EMA: return t->heads.ema_decay > 0;
  case MULTITASK: return t->heads.n_tasks > 1;
  case UDA: return t->heads.n_pairs > 0;
  }
  return 0;
}

/* Tries each decision that changes something (each technique that is
** configured); returns the chosen state. */
static int decide(task_eval *t, int *chosen) {
  const cJSON *opt = cur_run_options(t->run);
  const char *mode = cur_opt_str(opt, "mode");
  double tol = cur_opt_num(opt, "tolerance");
  held raw = {0}, best = {0};
  int state = 0, step = 0, rc = evaluate(t, 0, &raw);
  if (rc == CUR_OK)
    rc = record_try(t, step++, "raw", "raw labels", 0, 0, raw.macro, raw.macro, 0, 1, "the baseline");
  const held *cur = &raw;
  for (size_t d = 0; rc == CUR_OK && d < CUR_ARRAY_LEN(decisions); d++) {
    int64_t rows, changed;
    count_rows(t, state, decisions[d].bit, &rows, &changed);
    if (!(decisions[d].bit & TECHNIQUES) ? changed == 0 : !configured(t, decisions[d].bit)) continue;
    held cand = {.macro = NAN};
    double low = NAN;
    char why[200];
    int kept = 0;
    if (strcmp(mode, "none") == 0) snprintf(why, sizeof why, "policy.mode is none");
    else if ((rc = evaluate(t, state | decisions[d].bit, &cand)) == CUR_OK) {
      low = low_delta(t, cur, &cand);
      kept = judge(t, mode, decisions[d].bit, tol, low,
                   cur == &raw ? low : low_delta(t, &raw, &cand), why, sizeof why);
    }
    if (rc == CUR_OK)
      rc = record_try(t, step++, decisions[d].name, decisions[d].what, state, decisions[d].bit,
                      cand.macro, cur->macro, low, kept, why);
    if (kept) {
      state |= decisions[d].bit;
      held_free(&best);
      best = cand;
      cur = &best;
    } else {
      held_free(&cand);
    }
  }
  held_free(&raw);
  held_free(&best);
  *chosen = state;
  return rc;
}

/* Writes the chosen rows with their weights. */
static int write_rows(task_eval *t, int state) {
  int rc = CUR_OK;
  for (size_t i = 0; rc == CUR_OK && i < t->n; i++)
    if (row_in(t, state, i))
      rc = cur_store_policy_row_put(cur_run_store(t->run), cur_run_id(t->run), t->task_id,
                                    t->rows[i].image_id, row_weight(t, state, i));
  return rc;
}

/* Held-out rows: val when it has enough labelled rows, else folds of train. */
static void choose_method(task_eval *t) {
  int64_t val = 0;
  for (size_t i = 0; i < t->n; i++) val += t->rows[i].kind == 'h' && t->rows[i].split == 'v';
  int64_t min_val = cur_opt_int(cur_run_options(t->run), "min_val_rows");
  t->folds = val >= min_val ? 0 : (int)cur_opt_int(cur_run_options(t->run), "folds");
  t->n_held = 0;
  for (size_t i = 0; i < t->n; i++) t->n_held += held_out(t, i, t->folds ? (int)fold_of(t, i) : -1);
  if (t->folds) snprintf(t->method, sizeof t->method, "cv%d", t->folds);
  else snprintf(t->method, sizeof t->method, "val");
  if (t->folds)
    cur_info("policy: %s: %lld labelled val rows (policy.min_val_rows %lld): %d folds of the train "
             "split decide", t->task, (long long)val, (long long)min_val, t->folds);
}

/* Decides one task and records it in one transaction. */
static int decide_task(task_eval *t, const char *model) {
  cur_store *st = cur_run_store(t->run);
  int64_t missing = 0, classes = 0;
  int state = 0, rc = cur_store_policy_rows(st, t->task_id, &t->rows, &t->n);
  if (rc == CUR_OK) rc = cur_store_class_count(st, t->task_id, &classes);
  t->k = (int)classes;
  if (rc == CUR_OK) rc = load_vectors(t, model, &missing);
  /* rows made after the embed stage ran (augmented variants) have none yet;
  ** the fill may quarantine one it cannot decode, so the rows are read anew */
  if (rc == CUR_OK && missing && (rc = cur_embedder_fill_newest(t->run, "policy", missing)) == CUR_OK) {
    cur_free(t->rows);
    cur_free(t->X);
    t->rows = NULL, t->X = NULL, t->dim = 0;
    rc = cur_store_policy_rows(st, t->task_id, &t->rows, &t->n);
    if (rc == CUR_OK) rc = load_vectors(t, model, &missing);
  }
  if (rc == CUR_OK && missing)
    return cur_errorc(CUR_ESTATE, "policy: %lld rows of task %s have no embedding for model %s",
                      (long long)missing, t->task, model);
  if (rc) return rc;
  size_t raw = 0;
  for (size_t i = 0; i < t->n; i++) raw += row_in(t, 0, i);
  if (t->dim == 0 || raw == 0) {  /* labelled on val or test only, or by a teacher only */
    cur_info("policy: %s: no human or review label on the train split; nothing to decide", t->task);
    return CUR_OK;
  }
  choose_method(t);
  rc = cur_policy_heads_load(t->run, t->task_id, t->task, model, t->rows, t->n, t->dim, &t->heads);
  if (rc == CUR_OK) rc = standardise(t);
  if (rc == CUR_OK) rc = cur_store_begin(st);
  if (rc) return rc;
  rc = decide(t, &state);
  if (rc == CUR_OK) rc = write_rows(t, state);
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

typedef struct policy_ctx {
  cur_run *run;
  const char *model;
} policy_ctx;

static int decide_each(void *ctx, int64_t id, const char *name) {
  policy_ctx *c = ctx;
  task_eval t = {.run = c->run, .task_id = id, .task = name};
  int rc = decide_task(&t, c->model);
  cur_free(t.rows);
  cur_free(t.X);
  feat_scaler_free(t.scaler);
  cur_policy_heads_free(&t.heads);
  return rc;
}

static int policy_run(cur_run *run) {
  cur_store *st = cur_run_store(run);
  const char *model = cur_opt_str(cur_run_options_of(run, "train"), "model");
  char *top = NULL;
  int found = 1, rc = CUR_OK;
  if (!model[0] && (rc = cur_store_embedding_model_default(st, &top, &found)) == CUR_OK && found)
    model = top;
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_ESTATE, "policy: no embeddings: run the embed stage first");
  if (rc == CUR_OK && (rc = cur_store_begin(st)) == CUR_OK) {
    rc = cur_store_policy_clear(st, cur_run_id(run));
    rc = rc == CUR_OK ? cur_store_commit(st) : (cur_store_rollback(st), rc);
  }
  policy_ctx c = {run, model};
  if (rc == CUR_OK) rc = cur_store_tasks_each(st, decide_each, &c);
  cur_free(top);
  return rc;
}

/* The heads are the train stage's: its options are part of this stage's input. */
static int policy_fingerprint(cur_run *run, cur_sha256 *h) {
  char hash[65];
  int rc = cur_config_hash(cur_run_options_of(run, "train"), NULL, cur_run_seed(run), hash);
  if (rc == CUR_OK) cur_sha256_str(h, hash);
  return rc;
}

static const char *const policy_needs[] = {"ingest", "embed", NULL};

const cur_stage stage_policy = {
    .name = "policy",
    .summary = "keep each curation decision only where validation macro-F1 does not fall",
    .needs = policy_needs,
    .options = policy_options,
    .fingerprint = policy_fingerprint,
    .fingerprint_what = "the train stage's options",
    .run = policy_run,
};
