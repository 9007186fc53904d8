/* head_internal.h -- the head struct and the per-kind operations shared by head*.c.
**
** Invariants:
**   1. params holds n_params floats laid out as the kind's layout() says;
**      grad and velocity have the same length and layout.
**   2. wblock[0..n_wblock) are the weight matrices inside params (the only
**      parameters that weight decay touches); biases are never listed.
**   3. A head_work holds scratch for at most cap rows; a forward pass over
**      n <= cap rows leaves the logits in logits and, for the MLP, the
**      post-ReLU activations in hid, which backward() then reads.
**   4. Task t owns logits task_off[t] .. task_off[t] + task_k[t]; the blocks
**      tile [0, k) in order (one block of k for a single-task head).
**   5. ema (EMA on) and grad_aux (UDA on) have n_params floats, else NULL.
**
** tests/test_head.c includes this header to check gradients against finite
** differences through head__batch_grad, the routine every SGD step uses.
*/
#ifndef CURATE_HEAD_INTERNAL_H
#define CURATE_HEAD_INTERNAL_H

#include "head.h"
#include "rng.h"

typedef struct head_work {
  int cap;                     /* rows the buffers hold */
  float *hid;                  /* cap x hidden, MLP only */
  float *dhid;                 /* cap x hidden, MLP only */
  float *logits;               /* cap x k */
  float *dlogits;              /* cap x k: dL/dlogits */
  float *target;               /* cap x k: UDA's sharpened targets, NULL when UDA is off */
} head_work;

typedef struct head_ops {
  /* Sets n_params and the weight blocks for h's d, k and hidden. */
  int (*layout)(head *h);
  /* Draws the initial parameters from h->rng. */
  void (*init)(head *h);
  /* logits (and activations) of n <= w->cap rows of X into w. */
  void (*forward)(const head *h, const float *X, int n, head_work *w);
  /* Gradient of the data term into grad from w->dlogits and w's activations. */
  void (*backward)(const head *h, const float *X, int n, head_work *w, float *grad);
} head_ops;

typedef struct head_block {
  size_t off, len;             /* a weight matrix inside params */
} head_block;

struct head {
  head_config cfg;             /* copy; cfg.class_weights points at class_w */
  const head_ops *ops;         /* logreg or mlp */
  int d, k;                    /* features, classes */
  float *class_w;              /* k class weights, or NULL for all 1 */
  size_t n_params;             /* length of params, grad, velocity */
  float *params;               /* see invariant 1 */
  float *grad;                 /* last minibatch gradient */
  float *velocity;             /* momentum buffer */
  head_block wblock[2];        /* see invariant 2 */
  int n_wblock;
  int n_tasks;                 /* >= 1 */
  int *task_k, *task_off;      /* see invariant 4 */
  float *ema;                  /* see invariant 5 */
  float *grad_aux;             /* UDA's gradient before it is added to grad */
  cur_rng rng;                 /* init and shuffles */
};

extern const head_ops head__logreg_ops;
extern const head_ops head__mlp_ops;

/* Z (n x out) = A (n x in) W (in x out) + b. */
void head__affine_forward(const float *A, int n, int in, const float *W, const float *b,
                          int out, float *Z);
/* dW = A^T G, db = column sums of G, and dA = G W^T when dA is not NULL. */
void head__affine_backward(const float *A, int n, int in, const float *W, const float *G,
                           int out, float *dW, float *db, float *dA);
/* Fills a block with N(0, scale^2) draws from h->rng. */
void head__init_normal(head *h, float *p, size_t len, double scale);

int head__work_new(const head *h, int cap, head_work *w);
void head__work_free(head_work *w);
/* Checks the view X (h's width, row indices inside its matrix), labels
** and sample weights of its rows; names `who` in the error. */
int head__check_rows(const head *h, const char *who, const head_rows *X, const int *y,
                     const float *w);
/* M rows of X (its own row numbers WHICH[0..m), or FIRST .. FIRST+m-1 when
** WHICH is NULL) as floats into OUT (m x d).  Half rows are first copied
** whole into STAGE (m x d, or NULL for a float view), then converted: a
** minibatch's rows are scattered over the matrix, and plain copies keep
** many of those reads in flight at once, where converting straight from
** the matrix waited for each row in turn (15% more CPU for the aum stage). */
void head__rows_gather(const head_rows *X, const uint32_t *which, int first, int m,
                       uint16_t *stage, float *out);
/* Checks the view X alone: h's width, its matrix, its row indices. */
int head__check_view(const head *h, const char *who, const head_rows *X);
/* Forward, loss and gradient of the n <= w->cap rows of X into h->grad;
** *loss is L of head.h (data term plus weight decay). */
int head__batch_grad(head *h, const float *X, int n, const int *y, const float *sw,
                     head_work *w, double *loss);
/* Adds the UDA term of m <= w->cap pairs (rows of XU, their variants in XA)
** to h->grad (through h->grad_aux); *loss is the term (lambda times the
** masked mean KL).  UDA must be on (h->grad_aux and w->target exist). */
int head__consistency_grad(head *h, const float *Xu, const float *Xa, int m, head_work *w,
                           double *loss);
/* One EMA update after update number T (0-based) of training. */
void head__ema_update(head *h, long t);

#endif
