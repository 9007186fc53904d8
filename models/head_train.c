/* head_train.c -- the minibatch SGD loop shared by every head kind.
**
** One epoch visits the rows in a fresh seeded permutation, in minibatches of
** cfg.batch_size (the last one may be shorter).  Each step gathers its rows
** into one float buffer (head_rows_get converts and standardises them: the
** only float copy of the rows), runs head__batch_grad and applies heavy-ball
** momentum:
**   v = mu v + g;   p = p - lr(t) v
** where lr(t) follows the configured schedule over steps (cosine) or
** epochs (step).  The logits of the forward pass are copied per row into an
** n x k buffer that the epoch callback receives.  With UDA on, the step also
** takes the next batch of unlabelled pairs (a seeded permutation, drawn
** anew each time it runs out) and adds their consistency gradient; with EMA
** on, the average follows every step and becomes the weights at the end.
*/
#include "head_internal.h"

#include <math.h>
#include <string.h>

#include "curate.h"

/* Scratch of one training run, freed together. */
typedef struct train_buf {
  uint32_t *order;             /* n: this epoch's row permutation */
  float *xb;                   /* batch x d: gathered rows */
  uint16_t *stage;             /* batch x d: their half floats on the way, NULL for float rows */
  int *yb;                     /* batch labels (batch x tasks) */
  float *wb;                   /* batch sample weights, NULL if none */
  float *epoch_logits;         /* n x k for the callback, NULL if none */
  head_work work;              /* forward/backward scratch for one batch */
  const head_unlabelled *u;    /* UDA's pairs, NULL when UDA does not run */
  uint32_t *u_order;           /* u->n: the pairs' current permutation */
  int u_next;                  /* the next pair of u_order to take */
  uint32_t *u_take;            /* batch: the pairs of this step */
  float *xu, *xa;              /* batch x d: gathered pairs */
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
  cur_free(b->stage);
  cur_free(b->yb);
  cur_free(b->wb);
  cur_free(b->epoch_logits);
  cur_free(b->u_order);
  cur_free(b->u_take);
  cur_free(b->xu);
  cur_free(b->xa);
  head__work_free(&b->work);
}

static int train_buf_new(const head *h, int n, int want_w, int want_logits,
                         const head_unlabelled *u, int half, train_buf *b) {
  int bs = h->cfg.batch_size < n ? h->cfg.batch_size : n;
  memset(b, 0, sizeof *b);
  b->stage = half ? cur_mallocarray((size_t)bs, (size_t)h->d * sizeof *b->stage) : NULL;
  if (half && !b->stage) return CUR_ENOMEM;
  if (u) {
    b->u = u;
    b->u_order = cur_mallocarray((size_t)u->X.n, sizeof(uint32_t));
    b->u_take = cur_mallocarray((size_t)bs, sizeof(uint32_t));
    b->xu = cur_mallocarray((size_t)bs * (size_t)h->d, sizeof(float));
    b->xa = cur_mallocarray((size_t)bs * (size_t)h->d, sizeof(float));
    if (!b->u_order || !b->u_take || !b->xu || !b->xa) {
      train_buf_free(b);
      return CUR_ENOMEM;
    }
    for (int i = 0; i < u->X.n; i++) b->u_order[i] = (uint32_t)i;
    b->u_next = u->X.n;  /* shuffled before the first take */
  }
  b->order = cur_mallocarray((size_t)n, sizeof(uint32_t));
  b->xb = cur_mallocarray((size_t)bs * (size_t)h->d, sizeof(float));
  b->yb = cur_mallocarray((size_t)bs, (size_t)h->n_tasks * sizeof(int));
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

/* Adds the consistency gradient of the next M unlabelled pairs to h->grad. */
static int consistency_step(head *h, train_buf *b, int m) {
  const head_unlabelled *u = b->u;
  int n = u->X.n;
  if (m > n) m = n;
  for (int j = 0; j < m; j++) {
    if (b->u_next == n) {
      cur_rng_shuffle(&h->rng, b->u_order, (size_t)n);
      b->u_next = 0;
    }
    b->u_take[j] = b->u_order[b->u_next++];
  }
  head__rows_gather(&u->X, b->u_take, 0, m, b->stage, b->xu);
  head__rows_gather(&u->X_aug, b->u_take, 0, m, b->stage, b->xa);
  double loss;
  return head__consistency_grad(h, b->xu, b->xa, m, &b->work, &loss);
}

/* One SGD step on rows order[r0 .. r0+m). */
static int train_step(head *h, const head_rows *X, const int *y, const float *w, train_buf *b,
                      int r0, int m, float lr) {
  size_t k = (size_t)h->k, T = (size_t)h->n_tasks;
  head__rows_gather(X, b->order + r0, 0, m, b->stage, b->xb);
  for (int j = 0; j < m; j++) {
    uint32_t r = b->order[r0 + j];
    memcpy(b->yb + j * T, y + r * T, T * sizeof(int));
    if (w) b->wb[j] = w[r];
  }
  double loss;
  int rc = head__batch_grad(h, b->xb, m, b->yb, w ? b->wb : NULL, &b->work, &loss);
  if (rc != CUR_OK) return rc;
  for (int j = 0; b->epoch_logits && j < m; j++)
    memcpy(b->epoch_logits + b->order[r0 + j] * k, b->work.logits + j * k, k * sizeof(float));
  /* after the copy: the unlabelled passes reuse the batch's scratch */
  if (b->u && (rc = consistency_step(h, b, m)) != CUR_OK) return rc;
  float mu = h->cfg.momentum;
  for (size_t i = 0; i < h->n_params; i++) {
    h->velocity[i] = mu * h->velocity[i] + h->grad[i];
    h->params[i] -= lr * h->velocity[i];
  }
  return CUR_OK;
}

int head_train(head *h, const head_rows *X, const int *y, const float *w, head_epoch_fn epoch_fn,
               void *ctx) {
  return head_train_with(h, X, y, w, NULL, epoch_fn, ctx);
}

/* The pairs U: as many variants as rows, each view valid for H. */
static int check_pairs(const head *h, const head_unlabelled *u) {
  if (u->X.n != u->X_aug.n)
    return cur_errorc(CUR_EINPUT, "head: train: %d unlabelled rows but %d variants", u->X.n,
                      u->X_aug.n);
  int rc = head__check_view(h, "train (unlabelled rows)", &u->X);
  return rc == CUR_OK ? head__check_view(h, "train (their variants)", &u->X_aug) : rc;
}

int head_train_with(head *h, const head_rows *X, const int *y, const float *w,
                    const head_unlabelled *u, head_epoch_fn epoch_fn, void *ctx) {
  int rc = head__check_rows(h, "train", X, y, w);
  if (rc != CUR_OK) return rc;
  int n = X->n;
  if (n < 1) return cur_errorc(CUR_EINPUT, "head: train: no training rows");
  if (u && (u->X.n > 0 || u->X_aug.n > 0) && (rc = check_pairs(h, u)) != CUR_OK) return rc;
  int uda = h->cfg.uda_weight > 0 && u && u->X.n > 0;
  train_buf b;
  int half = X->half || (uda && (u->X.half || u->X_aug.half));
  rc = train_buf_new(h, n, w != NULL, epoch_fn != NULL, uda ? u : NULL, half, &b);
  if (rc != CUR_OK) return rc;
  if (h->ema) memcpy(h->ema, h->params, h->n_params * sizeof(float));
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
      else if (h->ema)
        head__ema_update(h, step);
    }
    if (rc == CUR_OK && epoch_fn) rc = epoch_fn(ctx, e, b.epoch_logits, n, h->k);
  }
  /* the evaluated model is the average */
  if (rc == CUR_OK && h->ema) memcpy(h->params, h->ema, h->n_params * sizeof(float));
  train_buf_free(&b);
  return rc;
}
