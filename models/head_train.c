/* head_train.c -- the minibatch SGD loop shared by every head kind.
**
** One epoch visits the rows in a fresh seeded permutation, in minibatches of
** cfg.batch_size (the last one may be shorter).  Each step gathers its rows,
** runs head__batch_grad and applies heavy-ball momentum:
**   v = mu v + g;   p = p - lr(t) v
** where lr(t) follows the configured schedule over steps (cosine) or
** epochs (step).  The logits of the forward pass are copied per row into an
** n x k buffer that the epoch callback receives.
*/
#include "head_internal.h"

#include <math.h>
#include <string.h>

#include "curate.h"

/* Scratch of one training run, freed together. */
typedef struct train_buf {
  uint32_t *order;             /* n: this epoch's row permutation */
  float *xb;                   /* batch x d: gathered rows */
  int *yb;                     /* batch labels */
  float *wb;                   /* batch sample weights, NULL if none */
  float *epoch_logits;         /* n x k for the callback, NULL if none */
  head_work work;              /* forward/backward scratch for one batch */
} train_buf;

static float lr_at(const head_config *c, long step, long total_steps, int epoch) {
  switch (c->schedule) {
  case HEAD_LR_COSINE:
    return (float)(0.5 * c->lr * (1.0 + cos(M_PI * (double)step / (double)total_steps)));
  case HEAD_LR_STEP:
    return (float)(c->lr * pow(c->step_gamma, epoch / c->step_epochs));
  default:
    return c->lr;
  }
}

static void train_buf_free(train_buf *b) {
  cur_free(b->order);
  cur_free(b->xb);
  cur_free(b->yb);
  cur_free(b->wb);
  cur_free(b->epoch_logits);
  head__work_free(&b->work);
}

static int train_buf_new(const head *h, int n, int want_w, int want_logits, train_buf *b) {
  int bs = h->cfg.batch_size < n ? h->cfg.batch_size : n;
  memset(b, 0, sizeof *b);
  b->order = cur_mallocarray((size_t)n, sizeof(uint32_t));
  b->xb = cur_mallocarray((size_t)bs * (size_t)h->d, sizeof(float));
  b->yb = cur_mallocarray((size_t)bs, sizeof(int));
  b->wb = want_w ? cur_mallocarray((size_t)bs, sizeof(float)) : NULL;
  b->epoch_logits = want_logits ? cur_mallocarray((size_t)n * (size_t)h->k, sizeof(float)) : NULL;
  if (!b->order || !b->xb || !b->yb || (want_w && !b->wb) || (want_logits && !b->epoch_logits) ||
      head__work_new(h, bs, &b->work) != CUR_OK) {
    train_buf_free(b);
    return CUR_ENOMEM;
  }
  for (int i = 0; i < n; i++) b->order[i] = (uint32_t)i;
  return CUR_OK;
}

/* One SGD step on rows order[r0 .. r0+m). */
static int train_step(head *h, const float *X, const int *y, const float *w, train_buf *b,
                      int r0, int m, float lr) {
  size_t d = (size_t)h->d, k = (size_t)h->k;
  for (int j = 0; j < m; j++) {
    uint32_t r = b->order[r0 + j];
    memcpy(b->xb + j * d, X + r * d, d * sizeof(float));
    b->yb[j] = y[r];
    if (w) b->wb[j] = w[r];
  }
  double loss;
  int rc = head__batch_grad(h, b->xb, m, b->yb, w ? b->wb : NULL, &b->work, &loss);
  if (rc != CUR_OK) return rc;
  for (int j = 0; b->epoch_logits && j < m; j++)
    memcpy(b->epoch_logits + b->order[r0 + j] * k, b->work.logits + j * k, k * sizeof(float));
  float mu = h->cfg.momentum;
  for (size_t i = 0; i < h->n_params; i++) {
    h->velocity[i] = mu * h->velocity[i] + h->grad[i];
    h->params[i] -= lr * h->velocity[i];
  }
  return CUR_OK;
}

int head_train(head *h, const float *X, int n, const int *y, const float *w,
               head_epoch_fn epoch_fn, void *ctx) {
  int rc = head__check_rows(h, "train", X, n, y, w);
  if (rc != CUR_OK) return rc;
  if (n < 1) return cur_errorc(CUR_EINPUT, "head: train: no training rows");
  train_buf b;
  rc = train_buf_new(h, n, w != NULL, epoch_fn != NULL, &b);
  if (rc != CUR_OK) return rc;
  int bs = b.work.cap;
  long steps_per_epoch = (n + bs - 1) / bs, step = 0;
  long total = steps_per_epoch * h->cfg.epochs;
  memset(h->velocity, 0, h->n_params * sizeof(float));
  for (int e = 0; e < h->cfg.epochs && rc == CUR_OK; e++) {
    cur_rng_shuffle(&h->rng, b.order, (size_t)n);
    for (int r0 = 0; r0 < n && rc == CUR_OK; r0 += bs, step++) {
      int m = n - r0 < bs ? n - r0 : bs;
      rc = train_step(h, X, y, w, &b, r0, m, lr_at(&h->cfg, step, total, e));
      if (rc != CUR_OK)
        rc = cur_errorc(rc, "head: train: loss diverged in epoch %d; lower the lr", e);
    }
    if (rc == CUR_OK && epoch_fn) rc = epoch_fn(ctx, e, b.epoch_logits, n, h->k);
  }
  train_buf_free(&b);
  return rc;
}
