/* head.c -- head lifecycle, prediction, softmax cross-entropy and the shared affine layer. */
#include "head_internal.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "curate.h"

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
  cur_free(h);
}

int head_n_features(const head *h) { return h->d; }
int head_n_classes(const head *h) { return h->k; }

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
  if (!w->logits || !w->dlogits || (hid && (!w->hid || !w->dhid))) {
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
  memset(w, 0, sizeof *w);
}

int head__check_rows(const head *h, const char *who, const float *X, int n, const int *y,
                     const float *w) {
  if (n < 0 || (n > 0 && (!X || !y)))
    return cur_errorc(CUR_EINPUT, "head: %s: bad input (n=%d, X or y missing)", who, n);
  for (int i = 0; i < n; i++) {
    if (y[i] < 0 || y[i] >= h->k)
      return cur_errorc(CUR_EINPUT, "head: %s: row %d has label %d outside [0, %d)", who, i,
                        y[i], h->k);
    if (w && !(w[i] >= 0 && isfinite(w[i])))
      return cur_errorc(CUR_EINPUT, "head: %s: row %d has sample weight %g", who, i, w[i]);
  }
  return CUR_OK;
}

/* Sum over the n rows of w_i * l_i (head.h) for logits Z; when dZ is not
** NULL also writes dZ = w_i (softmax(z_i) - q_i) / norm. */
static double softmax_xent(const head *h, const float *Z, int n, const int *y, const float *sw,
                           double norm, float *dZ) {
  int k = h->k;
  double eps = h->cfg.label_smoothing, total = 0;
  for (int i = 0; i < n; i++) {
    const float *z = Z + (size_t)i * k;
    double zmax = z[0], s = 0, zsum = 0;
    for (int c = 1; c < k; c++) zmax = z[c] > zmax ? z[c] : zmax;
    for (int c = 0; c < k; c++) {
      s += exp(z[c] - zmax);
      zsum += z[c];
    }
    double lse = zmax + log(s);
    double wi = (sw ? sw[i] : 1.0) * (h->class_w ? h->class_w[y[i]] : 1.0);
    total += wi * (lse - (1 - eps) * z[y[i]] - eps / k * zsum);
    for (int c = 0; dZ && c < k; c++) {
      double q = eps / k + (c == y[i] ? 1 - eps : 0);
      dZ[(size_t)i * k + c] = (float)(wi * (exp(z[c] - lse) - q) / norm);
    }
  }
  return total;
}

int head__batch_grad(head *h, const float *X, int n, const int *y, const float *sw,
                     head_work *w, double *loss) {
  assert(n >= 1 && n <= w->cap);
  h->ops->forward(h, X, n, w);
  double data = softmax_xent(h, w->logits, n, y, sw, n, w->dlogits) / n;
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

/* Runs forward passes over X in chunks; per chunk calls fn on the logits. */
static int predict_chunks(const head *h, const float *X, int n,
                          void (*fn)(const head *h, const float *Z, int row0, int m, void *ctx),
                          void *ctx) {
  if (n < 0 || (n > 0 && !X)) return cur_errorc(CUR_EINPUT, "head: predict: bad input n=%d", n);
  if (n == 0) return CUR_OK;
  head_work w;
  int rc = head__work_new(h, n < PREDICT_CHUNK ? n : PREDICT_CHUNK, &w);
  if (rc != CUR_OK) return rc;
  for (int r = 0; r < n; r += w.cap) {
    int m = n - r < w.cap ? n - r : w.cap;
    h->ops->forward(h, X + (size_t)r * h->d, m, &w);
    fn(h, w.logits, r, m, ctx);
  }
  head__work_free(&w);
  return CUR_OK;
}

static void copy_logits(const head *h, const float *Z, int row0, int m, void *ctx) {
  float *out = ctx;
  memcpy(out + (size_t)row0 * h->k, Z, (size_t)m * h->k * sizeof(float));
}

static void softmax_rows(const head *h, const float *Z, int row0, int m, void *ctx) {
  float *out = (float *)ctx + (size_t)row0 * h->k;
  for (size_t i = 0; i < (size_t)m * h->k; i += h->k) {
    float zmax = Z[i];
    double s = 0;
    for (int c = 1; c < h->k; c++) zmax = Z[i + c] > zmax ? Z[i + c] : zmax;
    for (int c = 0; c < h->k; c++) s += (out[i + c] = expf(Z[i + c] - zmax));
    for (int c = 0; c < h->k; c++) out[i + c] = (float)(out[i + c] / s);
  }
}

typedef struct loss_ctx {
  const int *y;                /* labels of all rows */
  const float *w;              /* sample weights or NULL */
  double total;                /* running sum of w_i l_i */
} loss_ctx;

static void add_loss(const head *h, const float *Z, int row0, int m, void *ctx) {
  loss_ctx *lc = ctx;
  lc->total += softmax_xent(h, Z, m, lc->y + row0, lc->w ? lc->w + row0 : NULL, 1, NULL);
}

int head_predict_logits(const head *h, const float *X, int n, float *out) {
  return predict_chunks(h, X, n, copy_logits, out);
}

int head_predict_proba(const head *h, const float *X, int n, float *out) {
  return predict_chunks(h, X, n, softmax_rows, out);
}

int head_loss(const head *h, const float *X, int n, const int *y, const float *w, double *loss) {
  int rc = head__check_rows(h, "loss", X, n, y, w);
  if (rc != CUR_OK) return rc;
  loss_ctx lc = {y, w, 0};
  rc = predict_chunks(h, X, n, add_loss, &lc);
  if (rc != CUR_OK) return rc;
  *loss = n ? lc.total / n : 0;
  return CUR_OK;
}

