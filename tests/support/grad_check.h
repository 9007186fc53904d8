/* grad_check.h -- a central-difference check of a head's analytic gradient, for the head tests. */
#ifndef CURATE_GRAD_CHECK_H
#define CURATE_GRAD_CHECK_H

#include <stddef.h>

#include "head_internal.h"

/* Computes a loss of H at its current parameters into *loss and leaves its
** gradient in H->grad (the callback clears H->grad first when the routine it
** calls adds to it).  Returns CUR_OK or an error code. */
typedef int (*grad_loss_fn)(void *ctx, head *h, double *loss);

/* The largest gap between a parameter's analytic derivative and its central
** difference. */
typedef struct grad_gap {
  double worst;        /* |analytic - (L(p + step) - L(p - step)) / (2 step)| */
  size_t at;           /* the parameter where it is */
  double analytic, numeric;
} grad_gap;

/* Compares, for parameters FIRST .. FIRST + COUNT of H, LOSS's gradient with
** central differences of step STEP, and leaves each parameter as it was.
** Returns CUR_OK with *gap filled, or the first error of LOSS (or CUR_ENOMEM). */
int grad_check(head *h, grad_loss_fn loss, void *ctx, size_t first, size_t count, float step,
               grad_gap *gap);

#endif
