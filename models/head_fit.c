/* head_fit.c -- train a head on one set of rows and predict the classes of another.
**
** The train stage (curated and raw-label heads) and the policy stage (one
** head per candidate decision, per fold) all ask the same question: trained
** on these rows, which class does the head give those?  One function answers
** it, so every figure they compare was produced the same way.
*/
#include "head.h"

#include <math.h>

#include "curate.h"

int head_stop_when_interrupted(void *ctx, int epoch, const float *logits, int n, int k) {
  (void)ctx, (void)epoch, (void)logits, (void)n, (void)k;
  return cur_interrupted() ? CUR_EINTR : CUR_OK;
}

int head_fit_predict(const head_config *cfg, const head_rows *X, int k, const int *y,
                     const float *w, const head_unlabelled *u, const head_rows *Xev, int *pred,
                     float *conf, head_epoch_fn epoch_fn, void *ctx) {
  head *h = NULL;
  int m = Xev->n;
  float *logits = cur_mallocarray((size_t)(m > 0 ? m : 1), (size_t)k * sizeof *logits);
  int rc = logits ? head_new(cfg, X->d, k, &h) : CUR_ENOMEM;
  if (rc == CUR_OK) rc = head_train_with(h, X, y, w, u, epoch_fn, ctx);
  if (rc == CUR_OK && m > 0) rc = head_predict_logits(h, Xev, logits);
  /* each task's argmax within its own block of logits, and its softmax
  ** probability 1 / sum_c exp(z_c - z_best) (no overflow: every term <= 1) */
  int T = rc == CUR_OK ? head_n_tasks(h) : 0;
  for (int i = 0; rc == CUR_OK && i < m; i++)
    for (int t = 0, off = 0; t < T; t++) {
      int kt = T > 1 ? cfg->task_classes[t] : k, best = 0;
      const float *z = logits + (size_t)i * k + off;
      for (int c = 1; c < kt; c++)
        if (z[c] > z[best]) best = c;
      pred[(size_t)i * T + t] = best;
      if (conf) {
        double sum = 0;
        for (int c = 0; c < kt; c++) sum += exp((double)z[c] - (double)z[best]);
        conf[(size_t)i * T + t] = (float)(1.0 / sum);
      }
      off += kt;
    }
  head_free(h);
  cur_free(logits);
  return rc;
}
