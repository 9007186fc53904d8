/* head_noise.c -- AUM with threshold samples, and confident learning from cross-validated heads.
**
** Seeds: every training draws its head seed from cur_rng_seed_keys over
** {cfg->seed, method word, training number}, so the trainings of one call are
** independent streams and the same seed always gives the same heads.
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

/* One AUM training, seen from the epoch callback. */
typedef struct aum_pass {
  const int *label;            /* n: training labels (class k for threshold rows) */
  double *margin_sum;          /* n: sum of margins so far */
} aum_pass;

static int add_margins(void *ctx, int epoch, const float *logits, int n, int k) {
  aum_pass *p = ctx;
  (void)epoch;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * k;
    int t = p->label[i];
    float other = -INFINITY;
    for (int j = 0; j < k; j++)
      if (j != t && z[j] > other) other = z[j];
    p->margin_sum[i] += z[t] - other;
  }
  return cur_interrupted() ? CUR_EINTR : CUR_OK;
}

/* Adds softmax over the first k of kk logits of each row not in subset R to prob (n x k). */
static void add_real_proba(const float *logits, int n, int k, int kk, const signed char *sub,
                           int r, double *prob) {
  for (int i = 0; i < n; i++) {
    if (sub[i] == r) continue;
    const float *z = logits + (size_t)i * kk;
    double zmax = z[0], s = 0;
    for (int j = 1; j < k; j++) zmax = z[j] > zmax ? z[j] : zmax;
    for (int j = 0; j < k; j++) s += exp(z[j] - zmax);
    for (int j = 0; j < k; j++) prob[(size_t)i * k + j] += exp(z[j] - zmax) / s;
  }
}

/* Training R: threshold subset R relabelled to class k.  Writes each row's
** AUM under its training label into aum[n] and adds the trained head's
** real-class probabilities of the other rows to prob (n x k). */
static int aum_train(const head_config *cfg, const head_rows *X, const int *y, int k,
                     const signed char *sub, int r, float *aum, double *prob) {
  head_config c = *cfg;
  int n = X->n;
  head *h = NULL;
  int *label = cur_mallocarray((size_t)n, sizeof *label);
  double *sum = cur_calloc((size_t)n, sizeof *sum);
  float *logits = cur_mallocarray((size_t)n * (size_t)(k + 1), sizeof *logits);
  int rc = label && sum && logits ? CUR_OK : CUR_ENOMEM;
  if (rc) goto cleanup;
  for (int i = 0; i < n; i++) label[i] = sub[i] == r ? k : y[i];
  c.seed = derive_seed(cfg->seed, KEY_AUM, (uint64_t)r);
  c.class_weights = NULL;  /* given for k classes; this head has k + 1 */
  aum_pass pass = {label, sum};
  if ((rc = head_new(&c, X->d, k + 1, &h)) || (rc = head_train(h, X, label, NULL, add_margins, &pass)) ||
      (rc = head_predict_logits(h, X, logits)))
    goto cleanup;
  for (int i = 0; i < n; i++) aum[i] = (float)(sum[i] / c.epochs);
  add_real_proba(logits, n, k, k + 1, sub, r, prob);
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

int head_aum(const head_config *cfg, const head_rows *X, const int *y, int k, double percentile,
             head_noise_out *out, float *threshold) {
  int n = X->n;
  if (!(percentile >= 0 && percentile <= 100))
    return cur_errorc(CUR_ECONFIG, "aum: percentile %g is not in [0, 100]", percentile);
  if (cfg->epochs < 1) return cur_errorc(CUR_ECONFIG, "aum: needs at least one epoch");
  int m;
  signed char *sub = cur_malloc((size_t)n);
  float *aum2 = cur_mallocarray((size_t)AUM_RUNS * (size_t)n, sizeof *aum2);
  double *prob = cur_calloc((size_t)n * (size_t)k, sizeof *prob);
  float *thr = cur_mallocarray((size_t)n, sizeof *thr);
  int rc = sub && aum2 && prob && thr ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = head_aum_subsets(n, k, cfg->seed, sub, &m);
  for (int r = 0; rc == CUR_OK && r < AUM_RUNS; r++)
    rc = aum_train(cfg, X, y, k, sub, r, aum2 + (size_t)r * n, prob);
  if (rc == CUR_OK) rc = aum_combine(aum2, prob, sub, y, n, k, percentile, thr, out, threshold);
  cur_free(sub);
  cur_free(aum2);
  cur_free(prob);
  cur_free(thr);
  return rc;
}

static int poll_interrupt(void *ctx, int epoch, const float *logits, int n, int k) {
  (void)ctx, (void)epoch, (void)logits, (void)n, (void)k;
  return cur_interrupted() ? CUR_EINTR : CUR_OK;
}

/* Trains on every row outside fold F and writes the held-out rows'
** probabilities into P (n x k).  Both sets are index views of X. */
static int fold_train(const head_config *cfg, const head_rows *X, const int *y, int k,
                      const int *fold, int f, float *P) {
  int n = X->n, nt = 0, nh = 0, held = 0;
  for (int i = 0; i < n; i++) held += fold[i] == f;
  head_config c = *cfg;
  head *h = NULL;
  uint32_t *sel = cur_mallocarray((size_t)n, sizeof *sel);  /* training rows, then held-out ones */
  uint32_t *idx = cur_mallocarray((size_t)n, sizeof *idx);
  float *ph = cur_mallocarray((size_t)held + 1, (size_t)k * sizeof *ph);
  int *yt = cur_mallocarray((size_t)(n - held) + 1, sizeof *yt);
  int rc = sel && idx && ph && yt ? CUR_OK : CUR_ENOMEM;
  if (rc) goto cleanup;
  for (int i = 0; i < n; i++)
    if (fold[i] != f) yt[nt] = y[i], sel[nt++] = (uint32_t)i;
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

int head_confident(const head_config *cfg, const head_rows *X, const int *y, int k, int folds,
                   head_noise_out *out) {
  int n = X->n;
  if (folds < 2 || folds > n)
    return cur_errorc(CUR_ECONFIG, "confident: %d folds for %d rows: need 2 <= folds <= rows",
                      folds, n);
  int *fold = cur_mallocarray((size_t)n, sizeof *fold);
  float *P = cur_mallocarray((size_t)n * (size_t)k, sizeof *P);
  uint32_t *perm = permutation(n, cfg->seed, KEY_CONFIDENT);
  int rc = fold && P && perm ? CUR_OK : CUR_ENOMEM;
  for (int j = 0; rc == CUR_OK && j < n; j++) fold[perm[j]] = j % folds;
  for (int f = 0; rc == CUR_OK && f < folds; f++) rc = fold_train(cfg, X, y, k, fold, f, P);
  if (rc == CUR_OK) rc = confident_joint(P, n, y, k, out);
  cur_free(fold);
  cur_free(P);
  cur_free(perm);
  return rc;
}
