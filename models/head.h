/* head.h -- classifier heads on embeddings: logistic regression and a one-hidden-layer MLP.
**
** A head maps rows of features X (n x d, a head_rows below) to logits
** (n x k).  Both
** kinds are trained by the same minibatch SGD loop (head_train.c) with
** momentum, weight decay, a learning-rate schedule, label smoothing, class
** weights and sample weights.  Training is deterministic for a given seed:
** all randomness (init, shuffles) comes from the head's own cur_rng.
**
** The training loss on a minibatch B of size m is
**
**   L = (1/m) * sum_{i in B} w_i * l_i  +  (wd/2) * |W|^2
**   l_i = - sum_c q_ic log softmax(z_i)_c,   q_ic = (1-eps)[c == y_i] + eps/k
**   w_i = sample_weight[i] * class_weight[y_i]   (missing weights are 1)
**
** where W are the weight matrices (never the biases) and eps is the label
** smoothing.  head_loss reports the data term over all n rows (1/n sum w_i l_i).
**
** Three techniques, each off by default (docs/stages/train.md):
**   - multi-task (n_tasks > 1): the k logits are cut into one block of
**     task_classes[t] per task, each with its own softmax; labels are n x T
**     (row-major), -1 where a row has no label for a task.  The data term is
**     the sum over tasks of the weighted mean over the rows labelled for it:
**     a missing label adds nothing to the loss, its gradient or the mean's
**     count.  With the MLP kind the hidden layer is shared by every task.
**     Class weights then hold k entries, the tasks' classes in order.
**   - EMA (ema_decay > 0): after every step the head keeps
**     E = d E + (1-d) p with d = min(ema_decay, (1+t)/(10+t)) at update t
**     (the warm-up of tf.train.ExponentialMovingAverage), E starting at the
**     initial weights; at the end of training the weights become E, so every
**     prediction uses the average (Polyak & Juditsky 1992).
**   - UDA (uda_weight > 0 and unlabelled pairs given): each step adds
**     lambda/m_u sum_i mask_i KL(sharpen(p(x_i)) || p(x_i')) over m_u pairs of
**     an unlabelled row x_i and its augmented variant x_i' (Xie et al. 2020,
**     "Unsupervised Data Augmentation for Consistency Training"): the
**     target is the clean prediction at temperature uda_temperature, held
**     fixed (no gradient flows through it), and mask_i is 1 when the clean
**     prediction's top probability is at least uda_threshold.
**
** Ownership: head_new copies the config (and its class weights); the caller
** frees the head with head_free.  Logits passed to an epoch callback belong to
** the head and are valid only during the call.
*/
#ifndef CURATE_HEAD_H
#define CURATE_HEAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct head head;

typedef enum { HEAD_LOGREG = 0, HEAD_MLP = 1 } head_kind;

/* The most tasks a multi-task head learns together. */
#define HEAD_MAX_TASKS 16
typedef enum { HEAD_LR_CONSTANT = 0, HEAD_LR_COSINE = 1, HEAD_LR_STEP = 2 } head_schedule;

typedef struct head_config {
  head_kind kind;
  int hidden;                  /* MLP hidden units (ignored by logreg) */
  int epochs;                  /* passes over the training rows */
  int batch_size;              /* rows per SGD step */
  float lr;                    /* initial learning rate */
  head_schedule schedule;      /* cosine decays to 0 over all steps */
  int step_epochs;             /* HEAD_LR_STEP: multiply lr by step_gamma */
  float step_gamma;            /*   every step_epochs epochs */
  float momentum;              /* heavy-ball: v = mu v + g; p -= lr v */
  float weight_decay;          /* L2 on weight matrices, not on biases */
  float label_smoothing;       /* eps in [0, 1) */
  const float *class_weights;  /* k weights >= 0, or NULL; copied by head_new */
  uint64_t seed;               /* init and shuffles */
  int n_tasks;                 /* 0 or 1: one task of k classes; > 1: multi-task */
  const int *task_classes;     /* n_tasks class counts summing to k; copied by head_new */
  float ema_decay;             /* 0: off; in [0, 1): the EMA's decay */
  float uda_weight;            /* lambda of the consistency loss; 0: off */
  float uda_threshold;         /* confidence mask: in [0, 1] */
  float uda_temperature;       /* sharpening of the target: > 0, 1 = none */
} head_config;

/* Rows of features, as every head function takes them: a view of n rows of
** one row-major matrix of d columns (`rows` rows in all), held as binary16
** values (as embeddings are stored: half the memory of floats) or as
** floats, optionally through row indices (so that folds and subsets of one
** matrix copy nothing) and a per-column standardisation.  Row i of the view
** is matrix row r = idx ? idx[i] : i, and its value j is
**   x = float(M[r][j]);   x = (x - mean[j]) * inv_sd[j] when mean is set,
** in float arithmetic: what feat_scaler_apply computes on the converted
** matrix, so a view of half values gives the same floats, bit for bit, as
** the matrix converted and standardised up front.  The heads convert one
** minibatch (or prediction chunk) at a time: that buffer is their only
** float copy of the rows.  Nothing is owned: every array is the caller's. */
typedef struct head_rows {
  const uint16_t *half;        /* the matrix as binary16 values, or NULL */
  const float *f32;            /* the matrix as floats, when half is NULL */
  size_t rows;                 /* rows of the matrix */
  int d;                       /* its columns */
  const uint32_t *idx;         /* n matrix rows, each < rows; NULL: rows 0 .. n-1 */
  int n;                       /* rows of the view */
  const float *mean, *inv_sd;  /* d values each, or NULL: no standardisation */
} head_rows;

/* A view of every row of a float or half matrix (n x d), unstandardised. */
head_rows head_rows_float(const float *X, int n, int d);
head_rows head_rows_half(const uint16_t *X, int n, int d);
/* A view of rows SEL[0..m) of X (its own row numbers): IDX (m, caller-owned,
** alive as long as the view) receives their matrix rows. */
head_rows head_rows_pick(const head_rows *X, const uint32_t *sel, int m, uint32_t *idx);
/* Row I of X as d floats (converted, then standardised) into OUT. */
void head_rows_get(const head_rows *X, int i, float *out);

/* Unlabelled rows for UDA: X and, row for row, an augmented variant of each
** in X_aug (both n rows, n = X.n = X_aug.n).  Both caller-owned. */
typedef struct head_unlabelled {
  head_rows X, X_aug;
} head_unlabelled;

/* Called after each epoch with the logits of every training row (n x k, in
** the rows' original order), each taken from the forward pass of the
** minibatch that held the row, just before that minibatch's update (as AUM
** records margins).  Return CUR_OK to go on; any other value stops training
** and head_train returns it (e.g. CUR_EINTR once cur_interrupted()). */
typedef int (*head_epoch_fn)(void *ctx, int epoch, const float *logits, int n, int k);

/* Fills cfg with defaults: logreg, hidden 256, 30 epochs, batch 128, lr 0.1,
** cosine, momentum 0.9, weight decay 1e-4, no smoothing, seed 1, one task,
** no EMA, no UDA (threshold 0.8, temperature 0.4 when it is turned on). */
void head_config_default(head_config *cfg);
/* Validates cfg and makes an initialised head for d features and k classes. */
int head_new(const head_config *cfg, int d, int k, head **out);
void head_free(head *h);

/* Trains on the X->n rows of X, labels y (n x T, T = the tasks, 1 unless
** multi-task) each in [0, k_t) or -1 (missing; multi-task only), optional
** sample weights w[n] (NULL = all 1).  epoch_fn may be NULL.  On failure the
** weights are partially trained; the caller should discard the head. */
int head_train(head *h, const head_rows *X, const int *y, const float *w, head_epoch_fn epoch_fn,
               void *ctx);
/* head_train with unlabelled pairs U for UDA (NULL or n = 0: none; ignored
** when cfg.uda_weight is 0).  Each step takes the next batch_size pairs of
** a seeded permutation of U. */
int head_train_with(head *h, const head_rows *X, const int *y, const float *w,
                    const head_unlabelled *u, head_epoch_fn epoch_fn, void *ctx);
/* An epoch callback that stops training once Ctrl-C was pressed
** (cur_interrupted): head_train then returns CUR_EINTR. */
int head_stop_when_interrupted(void *ctx, int epoch, const float *logits, int n, int k);
/* Trains a new head of CFG (X->d features, k classes) on X, labels y,
** optional weights w and unlabelled pairs u (may be NULL), then writes the
** argmax class of each task of each of the m = XEV->n rows of XEV into
** PRED[m x T] and, when CONF is not NULL, its softmax probability (within
** its task) into CONF[m x T].  The head is freed before returning. */
int head_fit_predict(const head_config *cfg, const head_rows *X, int k, const int *y,
                     const float *w, const head_unlabelled *u, const head_rows *Xev, int *pred,
                     float *conf, head_epoch_fn epoch_fn, void *ctx);
/* logits / probabilities (a softmax per task) of the X->n rows of X into
** out (n x k, caller-owned). */
int head_predict_logits(const head *h, const head_rows *X, float *out);
int head_predict_proba(const head *h, const head_rows *X, float *out);
/* Mean weighted cross-entropy (data term of L above) over the X->n rows. */
int head_loss(const head *h, const head_rows *X, const int *y, const float *w, double *loss);

int head_n_features(const head *h);
int head_n_classes(const head *h);
int head_n_tasks(const head *h);

#endif
