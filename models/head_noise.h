/* head_noise.h -- mislabel scores from classifier heads: AUM and confident learning.
**
** Both methods take standardised features X (n = X->n rows of d, a
** head_rows view: half floats or floats, standardised as it says) with the
** given labels y[n] in [0, k) and train heads (head.h) on them; neither
** touches a database.  Neither copies the rows: confident learning's folds
** are index views of X.
**
** Several tasks (cfg->n_tasks > 1, Caruana, "Multitask Learning", 1997):
** y is n x T (row-major), -1 where a row has no label for a task, k the
** tasks' classes together (cfg->task_classes), and out and threshold hold T
** entries, task by task.  One multi-task head per training learns every
** task (a softmax per task block, a shared hidden layer with the MLP); each
** task's margins, probabilities, threshold samples, threshold, noise
** estimate and cap are its own, computed over the rows labelled for it, as
** a head of that task alone would have them: AUM gives each task its own
** fake class at the end of its block and its own threshold subsets (drawn
** among its labelled rows); confident learning takes each task's block of
** the out-of-fold probabilities.  A row without a label for a task gets no
** margin for it: score NaN, suggestion -1, no flag.  With one task
** everything is as above, bit for bit.  Everything random derives from cfg->seed, so the
** same inputs and seed give the same scores.
**
**   AUM (Pleiss, Zhang, Elenberg & Weinberger, "Identifying Mislabeled Data
**   using the Area Under the Margin Ranking", NeurIPS 2020).  The margin of a
**   row in an epoch is its assigned class's logit minus the largest other
**   logit; its AUM is the mean margin over the epochs.  Threshold samples: a
**   random floor(n / (k + 1)) rows are relabelled to a fake class k, so they
**   are mislabelled by construction.  Two trainings use disjoint threshold
**   subsets, so every row gets a real AUM from at least one of them (both
**   for rows in neither subset, averaged).  A row is a candidate when its
**   AUM is below the given percentile of the threshold rows' AUMs and the
**   heads' suggestion is not its label (below the threshold with its own
**   label predicted is "uncertain": scored, never flagged).
**   Noise estimate: the threshold rows stand for mislabelled rows (the
**   paper's premise), so if a share e of the rows is mislabelled, the share
**   F(t) of rows with AUM below t is at least e x G(t), G(t) the share of
**   threshold rows below t.  At t = the q-th percentile of the threshold
**   AUMs G(t) = q / 100, so e <= F(t_q) / (q / 100) for every q; the
**   estimate is the tightest of these bounds for q from 50 (at least half
**   of the threshold rows back it) up to the chosen percentile (only that
**   percentile when it is below 50), at most 1.
**
**   Confident learning (Northcutt, Jiang & Chuang, "Confident Learning:
**   Estimating Uncertainty in Dataset Labels", JAIR 2021).  Out-of-sample
**   probabilities p(i, j) come from `folds`-fold cross-validated heads; the
**   threshold of class j is the mean p(i, j) over rows labelled j; row i is
**   counted in the confident joint at (y_i, j*) where j* is its most probable
**   class among those with p(i, j) >= t_j; it is a candidate when it is
**   counted off the diagonal (j* != y_i).  Noise estimate: the off-diagonal
**   mass of the calibrated joint (each row of counts scaled to the number of
**   rows with that label, then the whole normalised to sum 1; section 3.1).
**
**   Either method flags at most floor(noise x n) of its candidates, lowest
**   score first (ties: lower row index), so a flag always suggests another
**   class and no method flags more rows than its own noise estimate.
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
  unsigned char *flag;         /* 1 when the row is flagged as mislabelled */
  double noise;                /* the method's estimate of the mislabelled share */
  int candidates;              /* rows the method calls mislabelled with another class
                                  suggested, before the cap */
  int uncertain;               /* AUM: rows below the threshold whose suggestion is
                                  their label (not flagged); confident: 0 */
} head_noise_out;

/* Threshold subsets of the two AUM trainings: sub[i] is 0 or 1 for a row
** relabelled to the fake class in that training, -1 for the rest.  Each
** subset has floor(n / (k + 1)) rows, drawn by a seeded shuffle. */
int head_aum_subsets(int n, int k, uint64_t seed, signed char *sub, int *per_subset);

/* AUM of every row (see above); *threshold receives the flagging threshold,
** the `percentile` (0..100) of the threshold rows' AUMs; flags, noise and
** counts as above.  Needs n >= k + 1 (per task: its labelled rows >= k_t + 1). */
int head_aum(const head_config *cfg, const head_rows *X, const int *y, int k, double percentile,
             head_noise_out *out, float *threshold);

/* Adds to MARGIN (n x T) each row's margin in LOGITS (n x sum of TASK_K)
** under its labels LABEL (n x T): within each task's block of TASK_K[t]
** logits, the label's logit minus the largest other of the block; nothing
** where the label is -1.  AUM's epoch callback. */
void head_aum_margins_add(const float *logits, int n, const int *task_k, int T, const int *label,
                          double *margin);

/* Confident learning with `folds` >= 2 folds (each fold must hold a row). */
int head_confident(const head_config *cfg, const head_rows *X, const int *y, int k, int folds,
                   head_noise_out *out);

#endif
