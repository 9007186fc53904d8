/* head_noise.c -- AUM with threshold samples, and confident learning from cross-validated heads.
**
** Seeds: every training draws its head seed from cur_rng_seed_keys over
** {cfg->seed, method word, training number}, so the trainings of one call are
** independent streams and the same seed always gives the same heads.
**
** Tasks: every function works on T task blocks (one block of k classes
** unless cfg->n_tasks > 1).  The heads learn all tasks together; the
** scores of task t are computed from its rows alone (those labelled for
** it), gathered into compact arrays, so that with one task the arithmetic
** is exactly that of a head per task.
*/
#include "head_noise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "metrics.h"
#include "rng.h"

#define AUM_RUNS 2                          /* trainings with disjoint threshold subsets */
#define KEY_AUM 0x61756dull                 /* "aum" */
#define KEY_SUBSETS 0x746872657368ull       /* "thresh" */
#define KEY_CONFIDENT 0x636f6e666964ull     /* "confid" */

static uint64_t derive_seed(uint64_t seed, uint64_t word, uint64_t n) {
  cur_rng r;
  cur_rng_seed_keys(&r, (uint64_t[]){seed, word, n}, 3);
  return cur_rng_next(&r);
}

/* A seeded permutation of 0..n-1; the caller frees it. */
static uint32_t *permutation(int n, uint64_t seed, uint64_t word) {
  uint32_t *perm = cur_mallocarray((size_t)n, sizeof *perm);
  if (!perm) return NULL;
  for (int i = 0; i < n; i++) perm[i] = (uint32_t)i;
  cur_rng r;
  cur_rng_seed_keys(&r, (uint64_t[]){seed, word}, 2);
  cur_rng_shuffle(&r, perm, (size_t)n);
  return perm;
}

/* The task blocks of a call: one of k classes, or cfg's tasks. */
typedef struct blocks {
  int T;                       /* tasks; labels are n x T */
  int k[HEAD_MAX_TASKS];       /* real classes of each task */
  int off[HEAD_MAX_TASKS];     /* where each task's classes start among the k */
} blocks;

static int blocks_of(const head_config *cfg, int k, const char *who, blocks *b) {
  b->T = cfg->n_tasks > 1 ? cfg->n_tasks : 1;
  if (b->T > HEAD_MAX_TASKS || (b->T > 1 && !cfg->task_classes))
    return cur_errorc(CUR_ECONFIG, "%s: %d tasks, without class counts or over %d", who, b->T,
                      HEAD_MAX_TASKS);
  int sum = 0;
  for (int t = 0; t < b->T; t++) {
    b->k[t] = b->T > 1 ? cfg->task_classes[t] : k;
    b->off[t] = sum;
    sum += b->k[t];
    if (b->k[t] < 2) return cur_errorc(CUR_EINPUT, "%s: task %d has %d classes, needs 2", who, t, b->k[t]);
  }
  return sum == k ? CUR_OK
                  : cur_errorc(CUR_ECONFIG, "%s: the tasks' classes add up to %d, not %d", who, sum, k);
}

/* One task's rows in compact form: the nt rows labelled for it (their
** indices among the n rows), their labels, and the method's results for
** them before they are spread back over the n rows. */
typedef struct task_rows {
  int *idx, *y;                /* nt each */
  int nt;
  head_noise_out o;            /* score, suggest, flag: nt each */
} task_rows;

static void task_rows_free(task_rows *r) {
  cur_free(r->idx);
  cur_free(r->y);
  cur_free(r->o.score);
  cur_free(r->o.suggest);
  cur_free(r->o.flag);
  memset(r, 0, sizeof *r);
}

/* The rows of Y (n x T) labelled for task t. */
static int task_rows_new(const int *y, int n, int T, int t, task_rows *r) {
  memset(r, 0, sizeof *r);
  for (int i = 0; i < n; i++) r->nt += y[(size_t)i * T + t] >= 0;
  if (r->nt == 0) return cur_errorc(CUR_EINPUT, "head: task %d: no row has a label", t);
  size_t cap = r->nt ? (size_t)r->nt : 1;
  r->idx = cur_mallocarray(cap, sizeof *r->idx);
  r->y = cur_mallocarray(cap, sizeof *r->y);
  r->o.score = cur_mallocarray(cap, sizeof *r->o.score);
  r->o.suggest = cur_mallocarray(cap, sizeof *r->o.suggest);
  r->o.flag = cur_malloc(cap);
  if (!r->idx || !r->y || !r->o.score || !r->o.suggest || !r->o.flag) {
    task_rows_free(r);
    return CUR_ENOMEM;
  }
  for (int i = 0, j = 0; i < n; i++)
    if (y[(size_t)i * T + t] >= 0) r->idx[j] = i, r->y[j++] = y[(size_t)i * T + t];
  return CUR_OK;
}

/* Spreads R's results over OUT's n rows: a row without a label for the
** task has no score (NaN), no suggestion (-1) and no flag. */
static void task_rows_spread(const task_rows *r, int n, head_noise_out *out) {
  for (int i = 0; i < n; i++) out->score[i] = NAN, out->suggest[i] = -1, out->flag[i] = 0;
  for (int j = 0; j < r->nt; j++) {
    out->score[r->idx[j]] = r->o.score[j];
    out->suggest[r->idx[j]] = r->o.suggest[j];
    out->flag[r->idx[j]] = r->o.flag[j];
  }
  out->noise = r->o.noise;
  out->candidates = r->o.candidates;
  out->uncertain = r->o.uncertain;
}

int head_aum_subsets(int n, int k, uint64_t seed, signed char *sub, int *per_subset) {
  if (k < 2) return cur_errorc(CUR_EINPUT, "aum: need at least 2 classes, got %d", k);
  int m = n / (k + 1);
  if (m < 1)
    return cur_errorc(CUR_EINPUT, "aum: %d rows are too few for threshold samples of %d classes "
                      "(need at least %d)", n, k, k + 1);
  uint32_t *perm = permutation(n, seed, KEY_SUBSETS);
  if (!perm) return CUR_ENOMEM;
  memset(sub, -1, (size_t)n);
  /* k >= 2 makes m <= n / 3, so the two subsets fit side by side */
  for (int j = 0; j < AUM_RUNS * m; j++) sub[perm[j]] = (signed char)(j / m);
  *per_subset = m;
  cur_free(perm);
  return CUR_OK;
}

void head_aum_margins_add(const float *logits, int n, const int *task_k, int T, const int *label,
                          double *margin) {
  int k = 0;
  for (int t = 0; t < T; t++) k += task_k[t];
  for (int i = 0; i < n; i++)
    for (int t = 0, off = 0; t < T; off += task_k[t++]) {
      const float *z = logits + (size_t)i * k + off;
      int c = label[(size_t)i * T + t];
      if (c < 0) continue;  /* no label for this task: no margin */
      float other = -INFINITY;
      for (int j = 0; j < task_k[t]; j++)
        if (j != c && z[j] > other) other = z[j];
      margin[(size_t)i * T + t] += z[c] - other;
    }
}

/* One AUM training, seen from the epoch callback. */
typedef struct aum_pass {
  const int *label;            /* n x T: training labels (k_t for threshold rows) */
  const int *task_k;           /* T: classes per task, the fake one included */
  int T;
  double *margin_sum;          /* n x T: sum of margins so far */
} aum_pass;

static int add_margins(void *ctx, int epoch, const float *logits, int n, int k) {
  aum_pass *p = ctx;
  (void)epoch, (void)k;
  head_aum_margins_add(logits, n, p->task_k, p->T, p->label, p->margin_sum);
  return cur_interrupted() ? CUR_EINTR : CUR_OK;
}

/* Adds, for each row labelled for a task and not in that task's subset R
** (SUB, T x n), the softmax over the task's real classes (the first k_t of
** its block of k_t + 1 logits) to prob (n x k). */
static void add_real_proba(const float *logits, int n, const blocks *b, const signed char *sub,
                           int r, const int *label, double *prob) {
  int T = b->T, k = b->off[T - 1] + b->k[T - 1], kk = k + T;
  for (int i = 0; i < n; i++)
    for (int t = 0; t < T; t++) {
      if (sub[(size_t)t * n + i] == r || label[(size_t)i * T + t] < 0) continue;
      const float *z = logits + (size_t)i * kk + b->off[t] + t;  /* t fake classes before */
      double *p = prob + (size_t)i * k + b->off[t];
      double zmax = z[0], s = 0;
      for (int j = 1; j < b->k[t]; j++) zmax = z[j] > zmax ? z[j] : zmax;
      for (int j = 0; j < b->k[t]; j++) s += exp(z[j] - zmax);
      for (int j = 0; j < b->k[t]; j++) p[j] += exp(z[j] - zmax) / s;
    }
}

/* Training R: each task's threshold subset R (SUB, T x n) relabelled to the
** task's fake class k_t, appended to its block.  Writes each row's AUM per
** task under its training label into aum (n x T) and adds the trained
** head's real-class probabilities of the other rows to prob (n x k). */
static int aum_train(const head_config *cfg, const head_rows *X, const int *y, const blocks *b,
                     const signed char *sub, int r, float *aum, double *prob) {
  head_config c = *cfg;
  int n = X->n;
  head *h = NULL;
  int T = b->T, k = b->off[T - 1] + b->k[T - 1], kk[HEAD_MAX_TASKS];
  size_t nT = (size_t)n * (size_t)T;
  int *label = cur_mallocarray(nT, sizeof *label);
  double *sum = cur_calloc(nT, sizeof *sum);
  float *logits = cur_mallocarray((size_t)n * (size_t)(k + T), sizeof *logits);
  int rc = label && sum && logits ? CUR_OK : CUR_ENOMEM;
  if (rc) goto cleanup;
  for (int t = 0; t < T; t++) kk[t] = b->k[t] + 1;
  for (size_t j = 0; j < nT; j++) {
    int t = (int)(j % (size_t)T);
    label[j] = y[j] < 0 ? -1 : sub[(size_t)t * n + j / (size_t)T] == r ? b->k[t] : y[j];
  }
  c.seed = derive_seed(cfg->seed, KEY_AUM, (uint64_t)r);
  c.class_weights = NULL;  /* given for k classes; this head has k + T */
  if (T > 1) c.task_classes = kk;
  aum_pass pass = {label, kk, T, sum};
  if ((rc = head_new(&c, X->d, k + T, &h)) ||
      (rc = head_train(h, X, label, NULL, add_margins, &pass)) ||
      (rc = head_predict_logits(h, X, logits)))
    goto cleanup;
  for (size_t j = 0; j < nT; j++) aum[j] = (float)(sum[j] / c.epochs);
  add_real_proba(logits, n, b, sub, r, y, prob);
cleanup:
  head_free(h);
  cur_free(label);
  cur_free(sum);
  cur_free(logits);
  return rc;
}

static int argmax_d(const double *v, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (v[j] > v[best]) best = j;
  return best;
}

/* Count of the sorted V[m] below T. */
static int count_below(const float *v, int m, float t) {
  int lo = 0, hi = m;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (v[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int cmp_float_asc(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* AUM's noise estimate (head_noise.h): the smallest F(t_q) / (q / 100) for
** the whole percentiles q from 50 to PERCENTILE, and PERCENTILE itself.
** THR (nt) and REAL (n) are sorted here. */
static double aum_noise(float *thr, int nt, float *real, int n, double percentile) {
  qsort(real, (size_t)n, sizeof *real, cmp_float_asc);
  double best = 1.0;
  /* from 50, or from the option itself when it is lower (the loop once ran
  ** from 50 only, so a percentile under 50 gave no bound at all) */
  for (int q = percentile < 50 ? (int)percentile : 50; q <= (int)percentile + 1; q++) {
    double pq = q > percentile ? percentile : q;  /* the last step is the option itself */
    if (pq <= 0) break;  /* no threshold row is below the 0th percentile: no bound */
    double bound = count_below(real, n, head_percentile(thr, nt, pq)) / (double)n / (pq / 100.0);
    best = bound < best ? bound : best;
    if (pq == percentile) break;
  }
  return best;
}

/* Row order for the cap: lowest score first, then lower index. */
typedef struct ranked {
  float score;
  int row;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

/* Flags the floor(noise x n) candidates (flag[i] == 1 on entry) with the
** lowest scores and clears the rest; counts the candidates. */
static int flag_capped(head_noise_out *out, int n) {
  int nc = 0, cap = (int)floor(out->noise * n + 1e-9);
  ranked *cand = cur_mallocarray((size_t)n, sizeof *cand);
  if (!cand) return CUR_ENOMEM;
  for (int i = 0; i < n; i++)
    if (out->flag[i]) cand[nc++] = (ranked){out->score[i], i};
  qsort(cand, (size_t)nc, sizeof *cand, cmp_ranked);
  for (int j = cap; j < nc; j++) out->flag[cand[j].row] = 0;
  out->candidates = nc;
  cur_free(cand);
  return CUR_OK;
}

/* Real AUM of each row (the mean over the trainings where it kept its
** label), suggestions, the threshold and the noise estimate, then the
** capped flags; the threshold rows' fake-class AUMs go into thr. */
static int aum_combine(const float *aum2, const double *prob, const signed char *sub, const int *y,
                       int n, int k, double percentile, float *thr, head_noise_out *out,
                       float *threshold) {
  int nt = 0;
  float *real = cur_mallocarray((size_t)n, sizeof *real);
  if (!real) return CUR_ENOMEM;
  for (int i = 0; i < n; i++) {
    const float *a0 = aum2, *a1 = aum2 + n;
    real[i] = out->score[i] = sub[i] == 0 ? a1[i] : sub[i] == 1 ? a0[i] : (a0[i] + a1[i]) / 2;
    if (sub[i] >= 0) thr[nt++] = aum2[(size_t)sub[i] * n + i];
    out->suggest[i] = argmax_d(prob + (size_t)i * k, k);
  }
  *threshold = head_percentile(thr, nt, percentile);
  out->uncertain = 0;
  for (int i = 0; i < n; i++) {
    int below = out->score[i] < *threshold;
    out->flag[i] = below && out->suggest[i] != y[i];
    out->uncertain += below && out->suggest[i] == y[i];
  }
  out->noise = aum_noise(thr, nt, real, n, percentile);
  cur_free(real);
  return flag_capped(out, n);
}

/* Task t's threshold subsets among its labelled rows R, spread over the n
** rows into SUB (n; -1 for the rest).  Task 0 draws from the seed itself,
** so that one task gets the subsets it always had. */
static int task_subsets(const task_rows *r, int n, int t, uint64_t seed, int k, signed char *sub) {
  int m;
  signed char *own = cur_malloc(r->nt ? (size_t)r->nt : 1);
  int rc = own ? head_aum_subsets(r->nt, k, t == 0 ? seed : derive_seed(seed, KEY_SUBSETS, (uint64_t)t),
                                  own, &m)
               : CUR_ENOMEM;
  memset(sub, -1, (size_t)n);
  for (int j = 0; rc == CUR_OK && j < r->nt; j++) sub[r->idx[j]] = own[j];
  cur_free(own);
  return rc;
}

/* Task t's AUM results from both trainings (AUM2: AUM_RUNS x n x T) and the
** probabilities (PROB: n x k), computed over its labelled rows R alone and
** spread over the n rows of OUT. */
static int aum_task(const float *aum2, const double *prob, const signed char *sub, const blocks *b,
                    int t, int n, task_rows *r, double percentile, head_noise_out *out,
                    float *threshold) {
  int nt = r->nt, kt = b->k[t], k = b->off[b->T - 1] + b->k[b->T - 1];
  float *a2 = cur_mallocarray((size_t)AUM_RUNS * (size_t)nt + 1, sizeof *a2);
  double *p = cur_mallocarray((size_t)nt * (size_t)kt + 1, sizeof *p);
  signed char *s = cur_malloc((size_t)nt + 1);
  float *thr = cur_mallocarray((size_t)nt + 1, sizeof *thr);
  int rc = a2 && p && s && thr ? CUR_OK : CUR_ENOMEM;
  for (int j = 0; rc == CUR_OK && j < nt; j++) {
    size_t i = (size_t)r->idx[j];
    for (int run = 0; run < AUM_RUNS; run++)
      a2[(size_t)run * nt + j] = aum2[((size_t)run * n + i) * b->T + t];
    memcpy(p + (size_t)j * kt, prob + i * k + b->off[t], (size_t)kt * sizeof *p);
    s[j] = sub[i];
  }
  if (rc == CUR_OK) rc = aum_combine(a2, p, s, r->y, nt, kt, percentile, thr, &r->o, threshold);
  if (rc == CUR_OK) task_rows_spread(r, n, out);
  cur_free(a2);
  cur_free(p);
  cur_free(s);
  cur_free(thr);
  return rc;
}

int head_aum(const head_config *cfg, const head_rows *X, const int *y, int k, double percentile,
             head_noise_out *out, float *threshold) {
  int n = X->n;
  if (!(percentile >= 0 && percentile <= 100))
    return cur_errorc(CUR_ECONFIG, "aum: percentile %g is not in [0, 100]", percentile);
  if (cfg->epochs < 1) return cur_errorc(CUR_ECONFIG, "aum: needs at least one epoch");
  blocks b;
  task_rows rows[HEAD_MAX_TASKS] = {{0}};
  int rc = blocks_of(cfg, k, "aum", &b);
  if (rc) return rc;
  signed char *sub = cur_mallocarray((size_t)b.T, (size_t)n + 1);
  float *aum2 = cur_mallocarray((size_t)AUM_RUNS * (size_t)n * (size_t)b.T + 1, sizeof *aum2);
  double *prob = cur_calloc((size_t)n * (size_t)k + 1, sizeof *prob);
  rc = sub && aum2 && prob ? CUR_OK : CUR_ENOMEM;
  for (int t = 0; rc == CUR_OK && t < b.T; t++)
    if ((rc = task_rows_new(y, n, b.T, t, &rows[t])) == CUR_OK)
      rc = task_subsets(&rows[t], n, t, cfg->seed, b.k[t], sub + (size_t)t * n);
  for (int r = 0; rc == CUR_OK && r < AUM_RUNS; r++)
    rc = aum_train(cfg, X, y, &b, sub, r, aum2 + (size_t)r * n * b.T, prob);
  for (int t = 0; rc == CUR_OK && t < b.T; t++)
    rc = aum_task(aum2, prob, sub + (size_t)t * n, &b, t, n, &rows[t], percentile, &out[t],
                  &threshold[t]);
  for (int t = 0; t < b.T; t++) task_rows_free(&rows[t]);
  cur_free(sub);
  cur_free(aum2);
  cur_free(prob);
  return rc;
}

static int poll_interrupt(void *ctx, int epoch, const float *logits, int n, int k) {
  (void)ctx, (void)epoch, (void)logits, (void)n, (void)k;
  return cur_interrupted() ? CUR_EINTR : CUR_OK;
}

/* Trains on every row outside fold F (labels Y: n x T) and writes the
** held-out rows' probabilities (a softmax per task) into P (n x k).  Both
** sets are index views of X. */
static int fold_train(const head_config *cfg, const head_rows *X, const int *y, int T, int k,
                      const int *fold, int f, float *P) {
  int n = X->n, nt = 0, nh = 0, held = 0;
  for (int i = 0; i < n; i++) held += fold[i] == f;
  head_config c = *cfg;
  head *h = NULL;
  uint32_t *sel = cur_mallocarray((size_t)n, sizeof *sel);  /* training rows, then held-out ones */
  uint32_t *idx = cur_mallocarray((size_t)n, sizeof *idx);
  float *ph = cur_mallocarray((size_t)held + 1, (size_t)k * sizeof *ph);
  int *yt = cur_mallocarray((size_t)(n - held) + 1, (size_t)T * sizeof *yt);
  int rc = sel && idx && ph && yt ? CUR_OK : CUR_ENOMEM;
  if (rc) goto cleanup;
  for (int i = 0; i < n; i++)
    if (fold[i] != f) {
      memcpy(yt + (size_t)nt * T, y + (size_t)i * T, (size_t)T * sizeof *yt);
      sel[nt++] = (uint32_t)i;
    }
  for (int i = 0; i < n; i++)
    if (fold[i] == f) sel[nt + nh++] = (uint32_t)i;
  head_rows train = head_rows_pick(X, sel, nt, idx), test = head_rows_pick(X, sel + nt, nh, idx + nt);
  c.seed = derive_seed(cfg->seed, KEY_CONFIDENT, (uint64_t)f);
  if ((rc = head_new(&c, X->d, k, &h)) || (rc = head_train(h, &train, yt, NULL, poll_interrupt, NULL)) ||
      (rc = head_predict_proba(h, &test, ph)))
    goto cleanup;
  for (int j = 0; j < nh; j++)
    memcpy(P + (size_t)sel[nt + j] * k, ph + (size_t)j * k, (size_t)k * sizeof *P);
cleanup:
  head_free(h);
  cur_free(sel);
  cur_free(idx);
  cur_free(ph);
  cur_free(yt);
  return rc;
}

/* Off-diagonal mass of the calibrated confident joint: counts C[y][j*],
** each label's row scaled to the number of rows with that label, the whole
** normalised to sum 1 (Northcutt et al., section 3.1).  LABELLED[k] holds
** the rows per label. */
static double joint_off_diagonal(const int *y, const int *suggest, int n, int k,
                                 const int *labelled, double *row_total) {
  double off = 0, total = 0;
  memset(row_total, 0, (size_t)k * sizeof *row_total);
  for (int i = 0; i < n; i++) row_total[y[i]] += suggest[i] >= 0;
  for (int i = 0; i < n; i++)
    if (suggest[i] >= 0 && suggest[i] != y[i]) off += labelled[y[i]] / row_total[y[i]];
  for (int j = 0; j < k; j++) total += row_total[j] > 0 ? labelled[j] : 0;
  return total > 0 ? off / total : 0;
}

/* Per-class thresholds (mean self-confidence), then each row's place in the
** confident joint, the noise estimate and the capped flags.  A class nobody
** is labelled with gets an infinite threshold: no row is confidently in it. */
static int confident_joint(const float *P, int n, const int *y, int k, head_noise_out *out) {
  double *t = cur_calloc((size_t)k, sizeof *t);
  int *cnt = cur_calloc((size_t)k, sizeof *cnt);
  int rc = t && cnt ? CUR_OK : CUR_ENOMEM;
  if (rc) goto cleanup;
  for (int i = 0; i < n; i++) {
    t[y[i]] += P[(size_t)i * k + y[i]];
    cnt[y[i]]++;
  }
  for (int j = 0; j < k; j++) t[j] = cnt[j] ? t[j] / cnt[j] : INFINITY;
  for (int i = 0; i < n; i++) {
    const float *p = P + (size_t)i * k;
    int best = -1;
    for (int j = 0; j < k; j++)
      if (p[j] >= t[j] && (best < 0 || p[j] > p[best])) best = j;
    out->score[i] = p[y[i]];
    out->suggest[i] = best;
    out->flag[i] = best >= 0 && best != y[i];
  }
  out->noise = joint_off_diagonal(y, out->suggest, n, k, cnt, t);  /* t reused as scratch */
  out->uncertain = 0;
  rc = flag_capped(out, n);
cleanup:
  cur_free(t);
  cur_free(cnt);
  return rc;
}

/* Task t's confident learning over its labelled rows R, from the
** out-of-sample probabilities P (n x k), spread over the n rows of OUT. */
static int confident_task(const float *P, int n, const blocks *b, int t, task_rows *r,
                          head_noise_out *out) {
  int kt = b->k[t], k = b->off[b->T - 1] + b->k[b->T - 1];
  float *p = cur_mallocarray((size_t)r->nt * (size_t)kt + 1, sizeof *p);
  if (!p) return CUR_ENOMEM;
  for (int j = 0; j < r->nt; j++)
    memcpy(p + (size_t)j * kt, P + (size_t)r->idx[j] * k + b->off[t], (size_t)kt * sizeof *p);
  int rc = confident_joint(p, r->nt, r->y, kt, &r->o);
  if (rc == CUR_OK) task_rows_spread(r, n, out);
  cur_free(p);
  return rc;
}

int head_confident(const head_config *cfg, const head_rows *X, const int *y, int k, int folds,
                   head_noise_out *out) {
  int n = X->n;
  if (folds < 2 || folds > n)
    return cur_errorc(CUR_ECONFIG, "confident: %d folds for %d rows: need 2 <= folds <= rows",
                      folds, n);
  blocks b;
  int rc = blocks_of(cfg, k, "confident", &b);
  if (rc) return rc;
  int *fold = cur_mallocarray((size_t)n, sizeof *fold);
  float *P = cur_mallocarray((size_t)n * (size_t)k, sizeof *P);
  uint32_t *perm = permutation(n, cfg->seed, KEY_CONFIDENT);
  rc = fold && P && perm ? CUR_OK : CUR_ENOMEM;
  for (int j = 0; rc == CUR_OK && j < n; j++) fold[perm[j]] = j % folds;
  for (int f = 0; rc == CUR_OK && f < folds; f++) rc = fold_train(cfg, X, y, b.T, k, fold, f, P);
  for (int t = 0; rc == CUR_OK && t < b.T; t++) {
    task_rows r;
    if ((rc = task_rows_new(y, n, b.T, t, &r)) == CUR_OK) rc = confident_task(P, n, &b, t, &r, &out[t]);
    task_rows_free(&r);
  }
  cur_free(fold);
  cur_free(P);
  cur_free(perm);
  return rc;
}
