/* head_mlp.c -- one-hidden-layer perceptron: logits = relu(X W1 + b1) W2 + b2.
**
** params layout (row-major): W1 (d x h), b1 (h), W2 (h x k), b2 (k).
** W1 and W2 start from He-style normals, N(0, 2/d) and N(0, 1/h), biases at
** zero; the draws come from the head's seeded rng.
*/
#include "head_internal.h"

#include <math.h>
#include <string.h>

#include "curate.h"

/* Offsets of the four blocks inside params. */
typedef struct mlp_layout {
  size_t w1, b1, w2, b2;
} mlp_layout;

static mlp_layout offsets(const head *h) {
  size_t d = (size_t)h->d, hid = (size_t)h->cfg.hidden, k = (size_t)h->k;
  mlp_layout o = {0, d * hid, 0, 0};
  o.w2 = o.b1 + hid;
  o.b2 = o.w2 + hid * k;
  return o;
}

static int mlp_layout_set(head *h) {
  size_t d = (size_t)h->d, hid = (size_t)h->cfg.hidden, k = (size_t)h->k;
  if (hid > SIZE_MAX / 4 / (d + k + 1))
    return cur_errorc(CUR_ECONFIG, "head: mlp of %zu x %zu x %zu is too large", d, hid, k);
  mlp_layout o = offsets(h);
  h->n_params = o.b2 + k;
  h->wblock[0] = (head_block){o.w1, d * hid};
  h->wblock[1] = (head_block){o.w2, hid * k};
  h->n_wblock = 2;
  return CUR_OK;
}

static void mlp_init(head *h) {
  mlp_layout o = offsets(h);
  memset(h->params, 0, h->n_params * sizeof(float));
  head__init_normal(h, h->params + o.w1, h->wblock[0].len, sqrt(2.0 / h->d));
  head__init_normal(h, h->params + o.w2, h->wblock[1].len, sqrt(1.0 / h->cfg.hidden));
}

static void mlp_forward(const head *h, const float *X, int n, head_work *w) {
  mlp_layout o = offsets(h);
  int hid = h->cfg.hidden;
  const float *p = h->params;
  head__affine_forward(X, n, h->d, p + o.w1, p + o.b1, hid, w->hid);
  for (size_t i = 0; i < (size_t)n * hid; i++) w->hid[i] = w->hid[i] > 0 ? w->hid[i] : 0;
  head__affine_forward(w->hid, n, hid, p + o.w2, p + o.b2, h->k, w->logits);
}

static void mlp_backward(const head *h, const float *X, int n, head_work *w, float *grad) {
  mlp_layout o = offsets(h);
  int hid = h->cfg.hidden;
  head__affine_backward(w->hid, n, hid, h->params + o.w2, w->dlogits, h->k, grad + o.w2,
                        grad + o.b2, w->dhid);
  /* ReLU passes the gradient only where the unit was active. */
  for (size_t i = 0; i < (size_t)n * hid; i++)
    if (!(w->hid[i] > 0)) w->dhid[i] = 0;
  head__affine_backward(X, n, h->d, h->params + o.w1, w->dhid, hid, grad + o.w1, grad + o.b1,
                        NULL);
}

const head_ops head__mlp_ops = {mlp_layout_set, mlp_init, mlp_forward, mlp_backward};
