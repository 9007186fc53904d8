/* head_logreg.c -- multinomial logistic regression: logits = X W + b.
**
** params layout: W (d x k, row-major) then b (k).  W starts at zero: the
** loss is convex, so no symmetry needs breaking and the start is seed-free.
*/
#include "head_internal.h"

#include <string.h>

#include "curate.h"

static int logreg_layout(head *h) {
  size_t dk = (size_t)h->d * (size_t)h->k;
  h->n_params = dk + (size_t)h->k;
  h->wblock[0] = (head_block){0, dk};
  h->n_wblock = 1;
  return CUR_OK;
}

static void logreg_init(head *h) {
  memset(h->params, 0, h->n_params * sizeof(float));
}

static void logreg_forward(const head *h, const float *X, int n, head_work *w) {
  const float *W = h->params, *b = h->params + (size_t)h->d * h->k;
  head__affine_forward(X, n, h->d, W, b, h->k, w->logits);
}

static void logreg_backward(const head *h, const float *X, int n, head_work *w, float *grad) {
  size_t dk = (size_t)h->d * h->k;
  head__affine_backward(X, n, h->d, h->params, w->dlogits, h->k, grad, grad + dk, NULL);
}

const head_ops head__logreg_ops = {logreg_layout, logreg_init, logreg_forward, logreg_backward};
