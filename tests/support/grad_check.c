/* grad_check.c -- a central-difference check of a head's analytic gradient, for the head tests. */
#include "grad_check.h"

#include <math.h>
#include <string.h>

#include "curate.h"

int grad_check(head *h, grad_loss_fn loss, void *ctx, size_t first, size_t count, float step,
               grad_gap *gap) {
  double l0, lp, lm;
  *gap = (grad_gap){0};
  if (first > h->n_params || count > h->n_params - first)
    return cur_errorc(CUR_EINPUT, "grad_check: parameters %zu+%zu of %zu", first, count,
                      h->n_params);
  float *g = cur_mallocarray(h->n_params, sizeof *g);
  if (!g) return CUR_ENOMEM;
  int rc = loss(ctx, h, &l0);
  if (rc == CUR_OK) memcpy(g, h->grad, h->n_params * sizeof *g);
  for (size_t i = first; rc == CUR_OK && i < first + count; i++) {
    float p = h->params[i];
    h->params[i] = p + step;
    rc = loss(ctx, h, &lp);
    h->params[i] = p - step;
    if (rc == CUR_OK) rc = loss(ctx, h, &lm);
    h->params[i] = p;
    double numeric = (lp - lm) / (2.0 * step), err = fabs(g[i] - numeric);
    /* a NaN gap is the worst of all */
    if (rc == CUR_OK && (!(err <= gap->worst) || i == first))
      *gap = (grad_gap){isnan(err) ? INFINITY : err, i, g[i], numeric};
  }
  cur_free(g);
  return rc;
}
