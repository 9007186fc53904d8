/* head.c -- head lifecycle, feature row views, prediction, softmax cross-entropy and the shared affine layer. */
#include "head_internal.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "curate.h"
#include "half.h"

/* Rows per forward pass in prediction: bounds scratch memory for large n. */
#define PREDICT_CHUNK 2048

void head_config_default(head_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = HEAD_LOGREG;
  cfg->hidden = 256;
  cfg->epochs = 30;
  cfg->batch_size = 128;
  cfg->lr = 0.1f;
  cfg->schedule = HEAD_LR_COSINE;
  cfg->step_epochs = 10;
  cfg->step_gamma = 0.1f;
  cfg->momentum = 0.9f;
  cfg->weight_decay = 1e-4f;
  cfg->seed = 1;
  cfg->uda_threshold = 0.8f;
  cfg->uda_temperature = 0.4f;
}

/* The tasks' class counts: a multi-task head's, or one task of k. */
static int check_tasks(const head_config *c, int k) {
  if (c->n_tasks < 0 || c->n_tasks > HEAD_MAX_TASKS)
    return cur_errorc(CUR_ECONFIG, "head: %d tasks, expected 0 to %d", c->n_tasks, HEAD_MAX_TASKS);
  if (c->n_tasks <= 1) return CUR_OK;
  if (!c->task_classes) return cur_errorc(CUR_ECONFIG, "head: %d tasks without class counts", c->n_tasks);
  long sum = 0;
  for (int t = 0; t < c->n_tasks; t++) {
    if (c->task_classes[t] < 2)
      return cur_errorc(CUR_ECONFIG, "head: task %d has %d classes, needs >= 2", t, c->task_classes[t]);
    sum += c->task_classes[t];
  }
  if (sum != k)
    return cur_errorc(CUR_ECONFIG, "head: the tasks' classes add up to %ld, not k=%d", sum, k);
  return CUR_OK;
}

static int check_techniques(const head_config *c) {
  if (!(c->ema_decay >= 0 && c->ema_decay < 1))
    return cur_errorc(CUR_ECONFIG, "head: ema decay %g not in [0, 1)", c->ema_decay);
  if (!(c->uda_weight >= 0 && isfinite(c->uda_weight)) ||
      !(c->uda_threshold >= 0 && c->uda_threshold <= 1) ||
      !(c->uda_temperature > 0 && isfinite(c->uda_temperature)))
    return cur_errorc(CUR_ECONFIG, "head: uda weight %g, threshold %g or temperature %g out of range",
                      c->uda_weight, c->uda_threshold, c->uda_temperature);
  return CUR_OK;
}

static int check_config(const head_config *c, int d, int k) {
  if (c->kind != HEAD_LOGREG && c->kind != HEAD_MLP)
    return cur_errorc(CUR_ECONFIG, "head: unknown kind %d", (int)c->kind);
  if (d < 1 || k < 2)
    return cur_errorc(CUR_ECONFIG, "head: need >= 1 feature and >= 2 classes, got d=%d k=%d", d, k);
  if (c->kind == HEAD_MLP && c->hidden < 1)
    return cur_errorc(CUR_ECONFIG, "head: mlp hidden size %d must be >= 1", c->hidden);
  if (c->epochs < 0 || c->batch_size < 1)
    return cur_errorc(CUR_ECONFIG, "head: epochs %d / batch size %d out of range", c->epochs,
                      c->batch_size);
  if (!(c->lr >= 0 && isfinite(c->lr)) || !(c->momentum >= 0 && c->momentum < 1) ||
      !(c->weight_decay >= 0 && isfinite(c->weight_decay)))
    return cur_errorc(CUR_ECONFIG, "head: lr %g, momentum %g or weight decay %g out of range",
                      c->lr, c->momentum, c->weight_decay);
  if (!(c->label_smoothing >= 0 && c->label_smoothing < 1))
    return cur_errorc(CUR_ECONFIG, "head: label smoothing %g not in [0, 1)", c->label_smoothing);
  if (c->schedule < HEAD_LR_CONSTANT || c->schedule > HEAD_LR_STEP)
    return cur_errorc(CUR_ECONFIG, "head: unknown lr schedule %d", (int)c->schedule);
  if (c->schedule == HEAD_LR_STEP && (c->step_epochs < 1 || !(c->step_gamma > 0)))
    return cur_errorc(CUR_ECONFIG, "head: step schedule needs step_epochs >= 1, gamma > 0");
  for (int i = 0; c->class_weights && i < k; i++)
    if (!(c->class_weights[i] >= 0 && isfinite(c->class_weights[i])))
      return cur_errorc(CUR_ECONFIG, "head: class weight %d is %g", i, c->class_weights[i]);
  int rc = check_tasks(c, k);
  return rc == CUR_OK ? check_techniques(c) : rc;
}

/* The task blocks of invariant 4. */
static int set_tasks(head *h, const head_config *cfg) {
  h->n_tasks = cfg->n_tasks > 1 ? cfg->n_tasks : 1;
  h->task_k = cur_mallocarray((size_t)h->n_tasks, sizeof *h->task_k);
  h->task_off = cur_mallocarray((size_t)h->n_tasks, sizeof *h->task_off);
  if (!h->task_k || !h->task_off) return CUR_ENOMEM;
  for (int t = 0, off = 0; t < h->n_tasks; off += h->task_k[t++]) {
    h->task_k[t] = cfg->n_tasks > 1 ? cfg->task_classes[t] : h->k;
    h->task_off[t] = off;
  }
  h->cfg.task_classes = h->task_k;
  return CUR_OK;
}

int head_new(const head_config *cfg, int d, int k, head **out) {
  *out = NULL;
  int rc = check_config(cfg, d, k);
  if (rc != CUR_OK) return rc;
  head *h = cur_calloc(1, sizeof *h);
  if (!h) return CUR_ENOMEM;
  h->cfg = *cfg;
  h->ops = cfg->kind == HEAD_MLP ? &head__mlp_ops : &head__logreg_ops;
  h->d = d;
  h->k = k;
  cur_rng_seed(&h->rng, cfg->seed);
  rc = h->ops->layout(h);
  if (rc != CUR_OK) goto cleanup;
  rc = CUR_ENOMEM;
  h->params = cur_mallocarray(h->n_params, sizeof(float));
  h->grad = cur_mallocarray(h->n_params, sizeof(float));
  h->velocity = cur_mallocarray(h->n_params, sizeof(float));
  if (!h->params || !h->grad || !h->velocity) goto cleanup;
  if (cfg->ema_decay > 0 && !(h->ema = cur_mallocarray(h->n_params, sizeof(float)))) goto cleanup;
  if (cfg->uda_weight > 0 && !(h->grad_aux = cur_mallocarray(h->n_params, sizeof(float))))
    goto cleanup;
  if ((rc = set_tasks(h, cfg)) != CUR_OK) goto cleanup;
  rc = CUR_ENOMEM;
  if (cfg->class_weights) {
    h->class_w = cur_mallocarray((size_t)k, sizeof(float));
    if (!h->class_w) goto cleanup;
    memcpy(h->class_w, cfg->class_weights, (size_t)k * sizeof(float));
  }
  h->cfg.class_weights = h->class_w;
  h->ops->init(h);
  *out = h;
  return CUR_OK;
cleanup:
  head_free(h);
  return rc;
}

void head_free(head *h) {
  if (!h) return;
  cur_free(h->params);
  cur_free(h->grad);
  cur_free(h->velocity);
  cur_free(h->class_w);
  cur_free(h->task_k);
  cur_free(h->task_off);
  cur_free(h->ema);
  cur_free(h->grad_aux);
  cur_free(h);
}

int head_n_features(const head *h) { return h->d; }
int head_n_classes(const head *h) { return h->k; }
int head_n_tasks(const head *h) { return h->n_tasks; }

void head__init_normal(head *h, float *p, size_t len, double scale) {
  for (size_t i = 0; i < len; i++) p[i] = (float)(scale * cur_rng_normal(&h->rng));
}

void head__affine_forward(const float *A, int n, int in, const float *W, const float *b,
                          int out, float *Z) {
  for (int i = 0; i < n; i++) memcpy(Z + (size_t)i * out, b, (size_t)out * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, A, in, W, out,
              1.0f, Z, out);
}

void head__affine_backward(const float *A, int n, int in, const float *W, const float *G,
                           int out, float *dW, float *db, float *dA) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, n, 1.0f, A, in, G, out, 0.0f,
              dW, out);
  memset(db, 0, (size_t)out * sizeof(float));
  for (int i = 0; i < n; i++)
    for (int j = 0; j < out; j++) db[j] += G[(size_t)i * out + j];
  if (dA)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, in, out, 1.0f, G, out, W, out,
                0.0f, dA, in);
}

int head__work_new(const head *h, int cap, head_work *w) {
  memset(w, 0, sizeof *w);
  w->cap = cap;
  size_t hid = h->cfg.kind == HEAD_MLP ? (size_t)cap * (size_t)h->cfg.hidden : 0;
  w->logits = cur_mallocarray((size_t)cap * (size_t)h->k, sizeof(float));
  w->dlogits = cur_mallocarray((size_t)cap * (size_t)h->k, sizeof(float));
  w->hid = hid ? cur_mallocarray(hid, sizeof(float)) : NULL;
  w->dhid = hid ? cur_mallocarray(hid, sizeof(float)) : NULL;
  int uda = h->cfg.uda_weight > 0;
  w->target = uda ? cur_mallocarray((size_t)cap * (size_t)h->k, sizeof(float)) : NULL;
  if (!w->logits || !w->dlogits || (hid && (!w->hid || !w->dhid)) || (uda && !w->target)) {
    head__work_free(w);
    return CUR_ENOMEM;
  }
  return CUR_OK;
}

void head__work_free(head_work *w) {
  if (!w) return;
  cur_free(w->hid);
  cur_free(w->dhid);
  cur_free(w->logits);
  cur_free(w->dlogits);
  cur_free(w->target);
  memset(w, 0, sizeof *w);
}

head_rows head_rows_float(const float *X, int n, int d) {
  return (head_rows){.f32 = X, .rows = n > 0 ? (size_t)n : 0, .d = d, .n = n};
}

head_rows head_rows_half(const uint16_t *X, int n, int d) {
  return (head_rows){.half = X, .rows = n > 0 ? (size_t)n : 0, .d = d, .n = n};
}

head_rows head_rows_pick(const head_rows *X, const uint32_t *sel, int m, uint32_t *idx) {
  head_rows v = *X;
  for (int j = 0; j < m; j++) idx[j] = X->idx ? X->idx[sel[j]] : sel[j];
  v.idx = idx;
  v.n = m;
  return v;
}

void head_rows_get(const head_rows *X, int i, float *out) {
  size_t d = (size_t)X->d, r = X->idx ? X->idx[i] : (size_t)i;
  if (X->half && X->mean) {
    cur_half_to_floats_scaled(X->half + r * d, d, X->mean, X->inv_sd, out);
    return;
  }
  if (X->half) cur_half_to_floats(X->half + r * d, d, out);
  else memcpy(out, X->f32 + r * d, d * sizeof *out);
  if (X->mean)
    for (size_t j = 0; j < d; j++) out[j] = (out[j] - X->mean[j]) * X->inv_sd[j];
}

void head__rows_gather(const head_rows *X, const uint32_t *which, int first, int m,
                       uint16_t *stage, float *out) {
  size_t d = (size_t)X->d;
  if (!X->half) {
    for (int j = 0; j < m; j++) head_rows_get(X, which ? (int)which[j] : first + j, out + j * d);
    return;
  }
  for (int j = 0; j < m; j++) {
    size_t i = which ? which[j] : (size_t)(first + j), r = X->idx ? X->idx[i] : i;
    memcpy(stage + j * d, X->half + r * d, d * sizeof *stage);
  }
  for (int j = 0; j < m; j++)
    if (X->mean) cur_half_to_floats_scaled(stage + j * d, d, X->mean, X->inv_sd, out + j * d);
    else cur_half_to_floats(stage + j * d, d, out + j * d);
}

int head__check_view(const head *h, const char *who, const head_rows *X) {
  if (!X || X->n < 0 || (X->n > 0 && !X->half && !X->f32))
    return cur_errorc(CUR_EINPUT, "head: %s: bad input (no rows or a negative count)", who);
  if (X->n > 0 && X->d != h->d)
    return cur_errorc(CUR_EINPUT, "head: %s: rows of %d values for a head of %d", who, X->d, h->d);
  if (X->mean && !X->inv_sd)
    return cur_errorc(CUR_EINPUT, "head: %s: a standardisation without its scales", who);
  if (!X->idx && (size_t)X->n > X->rows)
    return cur_errorc(CUR_EINPUT, "head: %s: %d rows of a matrix of %zu", who, X->n, X->rows);
  for (int i = 0; X->idx && i < X->n; i++)
    if (X->idx[i] >= X->rows)
      return cur_errorc(CUR_EINPUT, "head: %s: row %d is matrix row %u of %zu", who, i,
                        (unsigned)X->idx[i], X->rows);
  return CUR_OK;
}

int head__check_rows(const head *h, const char *who, const head_rows *X, const int *y,
                     const float *w) {
  int rc = head__check_view(h, who, X);
  if (rc != CUR_OK) return rc;
  int n = X->n;
  if (n > 0 && !y) return cur_errorc(CUR_EINPUT, "head: %s: %d rows without labels", who, n);
  int T = h->n_tasks;
  for (int i = 0; i < n; i++) {
    for (int t = 0; t < T; t++) {
      int yt = y[(size_t)i * T + t];
      /* a multi-task row may lack a task's label; a single task needs one */
      if (yt < (T > 1 ? -1 : 0) || yt >= h->task_k[t])
        return cur_errorc(CUR_EINPUT, "head: %s: row %d has label %d outside [0, %d)%s", who, i,
                          yt, h->task_k[t], T > 1 ? " (or -1)" : "");
    }
    if (w && !(w[i] >= 0 && isfinite(w[i])))
      return cur_errorc(CUR_EINPUT, "head: %s: row %d has sample weight %g", who, i, w[i]);
  }
  return CUR_OK;
}

/* Adds to SUMS[t], per task t, the sum over the rows labelled for it of
** w_i * l_it (head.h); when dZ is not NULL also writes
** dZ = w_i (softmax(z_it) - q_it) / NORM[t], and 0 where a label is missing. */
static void softmax_xent(const head *h, const float *Z, int n, const int *y, const float *sw,
                         const double *norm, float *dZ, double *sums) {
  int k = h->k, T = h->n_tasks;
  double eps = h->cfg.label_smoothing;
  if (dZ) memset(dZ, 0, (size_t)n * (size_t)k * sizeof *dZ);
  for (int i = 0; i < n; i++)
    for (int t = 0; t < T; t++) {
      int yt = y[(size_t)i * T + t], kt = h->task_k[t], off = h->task_off[t];
      if (yt < 0) continue;  /* no label for this task: no loss, no gradient */
      const float *z = Z + (size_t)i * k + off;
      double zmax = z[0], s = 0, zsum = 0;
      for (int c = 1; c < kt; c++) zmax = z[c] > zmax ? z[c] : zmax;
      for (int c = 0; c < kt; c++) {
        s += exp(z[c] - zmax);
        zsum += z[c];
      }
      double lse = zmax + log(s);
      double wi = (sw ? sw[i] : 1.0) * (h->class_w ? h->class_w[off + yt] : 1.0);
      sums[t] += wi * (lse - (1 - eps) * z[yt] - eps / kt * zsum);
      for (int c = 0; dZ && c < kt; c++) {
        double q = eps / kt + (c == yt ? 1 - eps : 0);
        dZ[(size_t)i * k + off + c] = (float)(wi * (exp(z[c] - lse) - q) / norm[t]);
      }
    }
}

/* Rows labelled for each task among n rows of y. */
static void count_labelled(const head *h, const int *y, int n, double *count) {
  for (int t = 0; t < h->n_tasks; t++) count[t] = 0;
  for (int i = 0; i < n; i++)
    for (int t = 0; t < h->n_tasks; t++) count[t] += y[(size_t)i * h->n_tasks + t] >= 0;
}

/* The data term: each task's sum over its labelled rows' count, added up. */
static double task_means(const head *h, const double *sums, const double *count) {
  double data = 0;
  for (int t = 0; t < h->n_tasks; t++) data += count[t] > 0 ? sums[t] / count[t] : 0;
  return data;
}

int head__batch_grad(head *h, const float *X, int n, const int *y, const float *sw,
                     head_work *w, double *loss) {
  assert(n >= 1 && n <= w->cap);
  double sums[HEAD_MAX_TASKS] = {0}, count[HEAD_MAX_TASKS];
  count_labelled(h, y, n, count);
  h->ops->forward(h, X, n, w);
  softmax_xent(h, w->logits, n, y, sw, count, w->dlogits, sums);
  double data = task_means(h, sums, count);
  h->ops->backward(h, X, n, w, h->grad);
  double decay = 0, wd = h->cfg.weight_decay;
  for (int b = 0; b < h->n_wblock; b++) {
    const float *p = h->params + h->wblock[b].off;
    float *g = h->grad + h->wblock[b].off;
    for (size_t j = 0; j < h->wblock[b].len; j++) {
      decay += (double)p[j] * p[j];
      g[j] += (float)wd * p[j];
    }
  }
  *loss = data + 0.5 * wd * decay;
  if (!isfinite(*loss)) return cur_errorc(CUR_ERR, "head: loss is %g", *loss);
  return CUR_OK;
}

/* Log-sum-exp of LEN logits Z scaled by 1/TAU. */
static double lse_scaled(const float *z, int len, double tau) {
  double zmax = z[0] / tau, s = 0;
  for (int c = 1; c < len; c++) zmax = z[c] / tau > zmax ? z[c] / tau : zmax;
  for (int c = 0; c < len; c++) s += exp(z[c] / tau - zmax);
  return zmax + log(s);
}

int head__consistency_grad(head *h, const float *Xu, const float *Xa, int m, head_work *w,
                           double *loss) {
  assert(m >= 1 && m <= w->cap && h->grad_aux && w->target);
  int k = h->k;
  double lambda = h->cfg.uda_weight, tau = h->cfg.uda_temperature, total = 0;
  /* the targets: the clean rows' predictions, sharpened, or NaN where masked */
  h->ops->forward(h, Xu, m, w);
  for (int i = 0; i < m; i++)
    for (int t = 0; t < h->n_tasks; t++) {
      const float *z = w->logits + (size_t)i * k + h->task_off[t];
      float *p = w->target + (size_t)i * k + h->task_off[t];
      int kt = h->task_k[t];
      double top = 0, lse = lse_scaled(z, kt, 1.0), lse_tau = lse_scaled(z, kt, tau);
      for (int c = 0; c < kt; c++) top = fmax(top, exp(z[c] - lse));
      for (int c = 0; c < kt; c++)
        p[c] = top >= h->cfg.uda_threshold ? (float)exp(z[c] / tau - lse_tau) : NAN;
    }
  /* KL(p || q) of the variants' predictions q; its gradient in their logits is q - p */
  h->ops->forward(h, Xa, m, w);
  for (size_t j = 0; j < (size_t)m * k; j += (size_t)k)
    for (int t = 0; t < h->n_tasks; t++) {
      size_t at = j + (size_t)h->task_off[t];
      int kt = h->task_k[t];
      const float *z = w->logits + at, *p = w->target + at;
      double lse = lse_scaled(z, kt, 1.0);
      for (int c = 0; c < kt; c++) {
        if (isnan(p[c])) {
          w->dlogits[at + c] = 0;
          continue;
        }
        double logq = z[c] - lse;
        if (p[c] > 0) total += p[c] * (log(p[c]) - logq);
        w->dlogits[at + c] = (float)(lambda * (exp(logq) - p[c]) / m);
      }
    }
  h->ops->backward(h, Xa, m, w, h->grad_aux);
  for (size_t j = 0; j < h->n_params; j++) h->grad[j] += h->grad_aux[j];
  *loss = lambda * total / m;
  if (!isfinite(*loss)) return cur_errorc(CUR_ERR, "head: consistency loss is %g", *loss);
  return CUR_OK;
}

void head__ema_update(head *h, long t) {
  double d = fmin(h->cfg.ema_decay, (1.0 + (double)t) / (10.0 + (double)t));
  for (size_t i = 0; i < h->n_params; i++)
    h->ema[i] = (float)(d * h->ema[i] + (1 - d) * h->params[i]);
}

/* Runs forward passes over X in chunks, each converted into one float
** buffer (through a half one when X holds half floats); per chunk calls fn
** on the logits. */
static int predict_chunks(const head *h, const head_rows *X,
                          void (*fn)(const head *h, const float *Z, int row0, int m, void *ctx),
                          void *ctx) {
  int rc = head__check_view(h, "predict", X), n = X ? X->n : 0;
  if (rc != CUR_OK || n == 0) return rc;
  head_work w;
  int cap = n < PREDICT_CHUNK ? n : PREDICT_CHUNK;
  float *xb = cur_mallocarray((size_t)cap, (size_t)h->d * sizeof *xb);
  uint16_t *stage = X->half ? cur_mallocarray((size_t)cap, (size_t)h->d * sizeof *stage) : NULL;
  rc = xb && (stage || !X->half) ? head__work_new(h, cap, &w) : CUR_ENOMEM;
  for (int r = 0; rc == CUR_OK && r < n; r += w.cap) {
    int m = n - r < w.cap ? n - r : w.cap;
    head__rows_gather(X, NULL, r, m, stage, xb);
    h->ops->forward(h, xb, m, &w);
    fn(h, w.logits, r, m, ctx);
  }
  if (rc == CUR_OK) head__work_free(&w);
  cur_free(xb);
  cur_free(stage);
  return rc;
}

static void copy_logits(const head *h, const float *Z, int row0, int m, void *ctx) {
  float *out = ctx;
  memcpy(out + (size_t)row0 * h->k, Z, (size_t)m * h->k * sizeof(float));
}

/* A softmax over each task's block of each row. */
static void softmax_rows(const head *h, const float *Z, int row0, int m, void *ctx) {
  float *out = (float *)ctx + (size_t)row0 * h->k;
  for (size_t r = 0; r < (size_t)m * h->k; r += h->k)
    for (int t = 0; t < h->n_tasks; t++) {
      size_t i = r + (size_t)h->task_off[t];
      int kt = h->task_k[t];
      float zmax = Z[i];
      double s = 0;
      for (int c = 1; c < kt; c++) zmax = Z[i + c] > zmax ? Z[i + c] : zmax;
      for (int c = 0; c < kt; c++) s += (out[i + c] = expf(Z[i + c] - zmax));
      for (int c = 0; c < kt; c++) out[i + c] = (float)(out[i + c] / s);
    }
}

typedef struct loss_ctx {
  const int *y;                /* labels of all rows (n x tasks) */
  const float *w;              /* sample weights or NULL */
  double sums[HEAD_MAX_TASKS];      /* running sums of w_i l_it per task */
} loss_ctx;

static void add_loss(const head *h, const float *Z, int row0, int m, void *ctx) {
  loss_ctx *lc = ctx;
  softmax_xent(h, Z, m, lc->y + (size_t)row0 * h->n_tasks, lc->w ? lc->w + row0 : NULL, NULL,
               NULL, lc->sums);
}

int head_predict_logits(const head *h, const head_rows *X, float *out) {
  return predict_chunks(h, X, copy_logits, out);
}

int head_predict_proba(const head *h, const head_rows *X, float *out) {
  return predict_chunks(h, X, softmax_rows, out);
}

int head_loss(const head *h, const head_rows *X, const int *y, const float *w, double *loss) {
  int rc = head__check_rows(h, "loss", X, y, w);
  if (rc != CUR_OK) return rc;
  loss_ctx lc = {y, w, {0}};
  rc = predict_chunks(h, X, add_loss, &lc);
  if (rc != CUR_OK) return rc;
  double count[HEAD_MAX_TASKS];
  count_labelled(h, y, X->n, count);
  *loss = task_means(h, lc.sums, count);
  return CUR_OK;
}
