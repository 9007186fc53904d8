/* head_noise.h -- mislabel scores from classifier heads: AUM and confident learning.
**
** Both methods take standardised features X (n x d, row-major) with the
** given labels y[n] in [0, k) and train heads (head.h) on them; neither
** touches a database.  Everything random derives from cfg->seed, so the
** same inputs and seed give the same scores.
**
**   AUM (Pleiss, Zhang, Elenberg & Weinberger, "Identifying Mislabeled Data
**   using the Area Under the Margin Ranking", NeurIPS 2020).  The margin of a
**   row in an epoch is its assigned class's logit minus the largest other
**   logit; its AUM is the mean margin over the epochs.  Threshold samples: a
**   random floor(n / (k + 1)) rows are relabelled to a fake class k, so they
**   are mislabelled by construction.  Two trainings use disjoint threshold
**   subsets, so every row gets a real AUM from at least one of them (both
**   for rows in neither subset, averaged).  A row is flagged when its AUM is
**   below the given percentile of the threshold rows' AUMs.
**
**   Confident learning (Northcutt, Jiang & Chuang, "Confident Learning:
**   Estimating Uncertainty in Dataset Labels", JAIR 2021).  Out-of-sample
**   probabilities p(i, j) come from `folds`-fold cross-validated heads; the
**   threshold of class j is the mean p(i, j) over rows labelled j; row i is
**   counted in the confident joint at (y_i, j*) where j* is its most probable
**   class among those with p(i, j) >= t_j; it is a label issue when it is
**   counted off the diagonal (j* != y_i).
**
** Both stop with CUR_EINTR at an epoch boundary once cur_interrupted().
** Output arrays are caller-owned, n entries each.
*/
#ifndef CURATE_HEAD_NOISE_H
#define CURATE_HEAD_NOISE_H

#include <stdint.h>

#include "head.h"

/* Per-row results of one method. */
typedef struct head_noise_out {
  float *score;                /* AUM, or p(given label) for confident learning */
  int *suggest;                /* AUM: the heads' prediction among the real
                                  classes; confident: j*, or -1 when no class
                                  reaches its threshold */
  unsigned char *flag;         /* 1 when the method counts the row as mislabelled */
} head_noise_out;

/* Threshold subsets of the two AUM trainings: sub[i] is 0 or 1 for a row
** relabelled to the fake class in that training, -1 for the rest.  Each
** subset has floor(n / (k + 1)) rows, drawn by a seeded shuffle. */
int head_aum_subsets(int n, int k, uint64_t seed, signed char *sub, int *per_subset);

/* AUM of every row (see above); *threshold receives the flagging threshold,
** the `percentile` (0..100) of the threshold rows' AUMs.  Needs n >= k + 1. */
int head_aum(const head_config *cfg, const float *X, int n, int d, const int *y, int k,
             double percentile, head_noise_out *out, float *threshold);

/* Confident learning with `folds` >= 2 folds (each fold must hold a row). */
int head_confident(const head_config *cfg, const float *X, int n, int d, const int *y, int k,
                   int folds, head_noise_out *out);

#endif
