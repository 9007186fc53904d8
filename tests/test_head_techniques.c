/* test_head_techniques.c -- the heads' optional techniques: EMA, multi-task, UDA (models/head*.c).
**
** ema-1: the trained weights equal an EMA recomputed by hand from the
**        weights of plain runs stopped after 0, 1, ..., E steps.
** mtl-1: multi-task gradients match finite differences (missing labels,
**        weights, smoothing on).
** mtl-2: a missing label adds nothing: the loss is the hand-computed sum of
**        per-task means, the task's bias gradient the hand sum, and a row
**        with no label at all leaves loss and gradient unchanged.
** mtl-3: a multi-task MLP learns two tasks with half the second's labels
**        missing, and head_fit_predict returns one class per task.
** uda-1: the consistency loss is zero (and adds no gradient) when the
**        variant equals its source without sharpening; with sharpening it is
**        the hand-computed KL; a mask threshold above every prediction
**        silences it.
** uda-2: its gradient in the weights matches finite differences (the shared
**        grad_check of tests/support, as mtl-1) while the
**        targets stay fixed (clean rows of zeros: targets from the bias alone).
*/
#include "testlib.h"

#include "grad_check.h"
#include "head.h"
#include "head_internal.h"
#include "rng.h"

/* Normal features and labels: task 0 = i % 3, task 1 (if T = 2) = (i % 3 == 0). */
static void make_rows(int n, int d, int T, uint64_t seed, float *X, int *y) {
  cur_rng r;
  cur_rng_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    int c = i % 3;
    for (int j = 0; j < d; j++)
      X[i * d + j] = (float)((j == c ? 6.0 : 0.0) + cur_rng_normal(&r));
    y[i * T] = c;
    if (T == 2) y[i * T + 1] = c == 0;
  }
}

static void randomise(head *h, uint64_t seed) {
  cur_rng r;
  cur_rng_seed(&r, seed);
  for (size_t i = 0; i < h->n_params; i++) h->params[i] = (float)(0.5 * cur_rng_normal(&r));
}

/* ---- EMA ----------------------------------------------------------------- */

static void ema_config(head_config *c, int epochs, float decay) {
  head_config_default(c);
  c->kind = HEAD_MLP;
  c->hidden = 5;
  c->epochs = epochs;
  c->batch_size = 12;  /* the whole set: one step per epoch */
  c->schedule = HEAD_LR_CONSTANT;
  c->lr = 0.05f;
  c->ema_decay = decay;
}

TEST(ema_equals_a_hand_computed_average_of_the_plain_runs) {
  enum { N = 12, D = 3, K = 3, E = 8 };
  float X[N * D];
  int y[N];
  make_rows(N, D, 1, 21, X, y);
  head_rows rows = head_rows_float(X, N, D);
  head_config c;
  head *h;
  /* P_t: the weights of a plain run after t steps (a run of t epochs) */
  ema_config(&c, 0, 0);
  REQUIRE_OK(head_new(&c, D, K, &h));
  size_t np = h->n_params;
  double *avg = cur_mallocarray(np, sizeof *avg);
  float *last = cur_mallocarray(np, sizeof *last);
  REQUIRE(avg && last);
  for (size_t i = 0; i < np; i++) avg[i] = h->params[i];
  head_free(h);
  for (int t = 0; t < E; t++) {
    ema_config(&c, t + 1, 0);
    REQUIRE_OK(head_new(&c, D, K, &h));
    REQUIRE_OK(head_train(h, &rows, y, NULL, NULL, NULL));
    /* decay with tf.train.ExponentialMovingAverage's warm-up, by hand */
    double d = (1.0 + t) / (10.0 + t) < 0.3 ? (1.0 + t) / (10.0 + t) : 0.3;
    for (size_t i = 0; i < np; i++) avg[i] = d * avg[i] + (1 - d) * h->params[i];
    memcpy(last, h->params, np * sizeof *last);
    head_free(h);
  }
  ema_config(&c, E, 0.3f);
  REQUIRE_OK(head_new(&c, D, K, &h));
  REQUIRE_OK(head_train(h, &rows, y, NULL, NULL, NULL));
  double apart = 0;
  for (size_t i = 0; i < np; i++) {
    CHECK_NEAR(h->params[i], avg[i], 1e-5);
    apart = fmax(apart, fabs(avg[i] - last[i]));
  }
  /* the average is not the last step's weights: the check above can fail */
  CHECK_MSG(apart > 1e-3, "EMA and the last weights differ by only %g", apart);
  head_free(h);
  cur_free(avg);
  cur_free(last);
}

/* ---- multi-task ---------------------------------------------------------- */

static const int task_classes[2] = {3, 2};

static head *make_mtl_head(head_kind kind, int d, const float *cw, float wd, float eps) {
  head_config c;
  head_config_default(&c);
  c.kind = kind;
  c.hidden = 7;
  c.weight_decay = wd;
  c.label_smoothing = eps;
  c.class_weights = cw;
  c.n_tasks = 2;
  c.task_classes = task_classes;
  head *h;
  if (head_new(&c, d, 5, &h) != CUR_OK) return NULL;
  randomise(h, 11);
  return h;
}

/* The rows a loss callback of grad_check trains on. */
typedef struct batch {
  const float *X, *Xa, *sw;
  const int *y;
  int n;
  head_work *w;
} batch;

static int batch_loss(void *ctx, head *h, double *loss) {
  batch *b = ctx;
  return head__batch_grad(h, b->X, b->n, b->y, b->sw, b->w, loss);
}

/* UDA's term alone: head__consistency_grad adds to h->grad. */
static int consistency_loss(void *ctx, head *h, double *loss) {
  batch *b = ctx;
  memset(h->grad, 0, h->n_params * sizeof *h->grad);
  return head__consistency_grad(h, b->X, b->Xa, b->n, b->w, loss);
}

TEST(multi_task_gradient_matches_finite_differences) {
  enum { N = 8, D = 3 };
  float X[N * D], sw[N], cw[5] = {1.0f, 2.0f, 0.5f, 1.5f, 0.75f};
  int y[N * 2];
  make_rows(N, D, 2, 7, X, y);
  y[1 * 2 + 1] = -1, y[4 * 2 + 0] = -1, y[6 * 2 + 1] = -1;
  for (int i = 0; i < N; i++) sw[i] = 0.5f + 0.25f * (float)(i % 3);
  head *h = make_mtl_head(HEAD_MLP, D, cw, 0.05f, 0.1f);
  REQUIRE(h != NULL);
  head_work w;
  REQUIRE_OK(head__work_new(h, N, &w));
  batch b = {X, NULL, sw, y, N, &w};
  grad_gap gap;
  CHECK_OK(grad_check(h, batch_loss, &b, 0, h->n_params, 2e-3f, &gap));
  /* as in test_head.c: O(step^2) error plus float32 rounding of the logits */
  CHECK_MSG(gap.worst <= 5e-4, "parameter %zu: gradient %g, central difference %g", gap.at,
            gap.analytic, gap.numeric);
  head__work_free(&w);
  head_free(h);
}

TEST(a_missing_label_adds_nothing_to_loss_or_gradient) {
  enum { N = 6, D = 3, K = 5 };
  float X[(N + 1) * D], Z[N * K];
  int y[(N + 1) * 2];
  make_rows(N + 1, D, 2, 9, X, y);
  y[2 * 2 + 1] = -1;  /* row 2 has no label for task 1 */
  head *h = make_mtl_head(HEAD_MLP, D, NULL, 0, 0);
  REQUIRE(h != NULL);
  head_work w;
  REQUIRE_OK(head__work_new(h, N + 1, &w));
  double loss;
  REQUIRE_OK(head__batch_grad(h, X, N, y, NULL, &w, &loss));
  head_rows rows = head_rows_float(X, N, D);
  REQUIRE_OK(head_predict_logits(h, &rows, Z));
  /* by hand: mean cross-entropy of task 0 over 6 rows plus task 1 over 5 */
  double want = 0, db1[2] = {0, 0};
  for (int t = 0; t < 2; t++) {
    int off = t ? 3 : 0, kt = task_classes[t], count = 0;
    double sum = 0;
    for (int i = 0; i < N; i++) count += y[i * 2 + t] >= 0;
    for (int i = 0; i < N; i++) {
      if (y[i * 2 + t] < 0) continue;
      double s = 0;
      for (int c = 0; c < kt; c++) s += exp(Z[i * K + off + c]);
      sum += log(s) - Z[i * K + off + y[i * 2 + t]];
      for (int c = 0; t == 1 && c < kt; c++)
        db1[c] += (exp(Z[i * K + off + c]) / s - (c == y[i * 2 + t])) / count;
    }
    want += sum / count;
  }
  CHECK_NEAR(loss, want, 1e-5);
  /* b2 is the last k parameters; task 1's block is its last two */
  for (int c = 0; c < 2; c++) CHECK_NEAR(h->grad[h->n_params - 2 + c], db1[c], 1e-5);
  float *g = cur_mallocarray(h->n_params, sizeof(float));
  REQUIRE(g != NULL);
  memcpy(g, h->grad, h->n_params * sizeof(float));
  /* a seventh row with no label at all */
  y[N * 2] = y[N * 2 + 1] = -1;
  double loss7;
  REQUIRE_OK(head__batch_grad(h, X, N + 1, y, NULL, &w, &loss7));
  CHECK_NEAR(loss7, loss, 1e-6);
  double worst = 0;
  for (size_t i = 0; i < h->n_params; i++) worst = fmax(worst, fabs(h->grad[i] - g[i]));
  CHECK_MSG(worst <= 1e-6, "an unlabelled row moved the gradient by %g", worst);
  cur_free(g);
  head__work_free(&w);
  head_free(h);
}

TEST(multi_task_mlp_learns_both_tasks_with_labels_missing) {
  enum { N = 300, D = 4 };
  static float X[N * D], Xt[N * D];
  static int y[N * 2], yt[N * 2], pred[N * 2];
  make_rows(N, D, 2, 31, X, y);
  make_rows(N, D, 2, 32, Xt, yt);
  for (int i = 0; i < N; i += 2) y[i * 2 + 1] = -1;
  head_config c;
  head_config_default(&c);
  c.kind = HEAD_MLP;
  c.hidden = 16;
  c.epochs = 20;
  c.batch_size = 32;
  c.n_tasks = 2;
  c.task_classes = task_classes;
  head_rows train = head_rows_float(X, N, D), test = head_rows_float(Xt, N, D);
  REQUIRE_OK(head_fit_predict(&c, &train, 5, y, NULL, NULL, &test, pred, NULL, NULL, NULL));
  int right[2] = {0, 0};
  for (int i = 0; i < N; i++)
    for (int t = 0; t < 2; t++) right[t] += pred[i * 2 + t] == yt[i * 2 + t];
  CHECK_MSG(right[0] >= N - 3, "task 0: %d of %d right", right[0], N);
  CHECK_MSG(right[1] >= N - 3, "task 1: %d of %d right", right[1], N);
}

TEST(multi_task_configs_and_labels_are_checked) {
  head_config c;
  head *h = NULL;
  head_config_default(&c);
  c.n_tasks = 2;
  c.task_classes = task_classes;
  CHECK_INT(head_new(&c, 3, 6, &h), CUR_ECONFIG);  /* 3 + 2 != 6 */
  CHECK(strstr(cur_error(), "add up to 5, not k=6") != NULL);
  REQUIRE_OK(head_new(&c, 3, 5, &h));
  float X[3] = {0, 0, 0};
  int y[2] = {0, 2};  /* task 1 has 2 classes */
  head_rows rows = head_rows_float(X, 1, 3);
  CHECK_INT(head_train(h, &rows, y, NULL, NULL, NULL), CUR_EINPUT);
  CHECK(strstr(cur_error(), "row 0 has label 2 outside [0, 2) (or -1)") != NULL);
  head_free(h);
  head_config_default(&c);
  REQUIRE_OK(head_new(&c, 3, 3, &h));
  int y1 = -1;  /* one task: every row needs its label */
  CHECK_INT(head_train(h, &rows, &y1, NULL, NULL, NULL), CUR_EINPUT);
  head_free(h);
}

/* ---- UDA ----------------------------------------------------------------- */

static head *make_uda_head(head_kind kind, int d, int k, float tau, float beta) {
  head_config c;
  head_config_default(&c);
  c.kind = kind;
  c.hidden = 6;
  c.uda_weight = 2.0f;
  c.uda_temperature = tau;
  c.uda_threshold = beta;
  head *h;
  if (head_new(&c, d, k, &h) != CUR_OK) return NULL;
  randomise(h, 5);
  return h;
}

TEST(consistency_loss_is_zero_when_the_variant_equals_its_source) {
  enum { M = 5, D = 3, K = 4 };
  float Xu[M * D], Xa[M * D], Z[M * K];
  int y[M];
  make_rows(M, D, 1, 13, Xu, y);
  head *h = make_uda_head(HEAD_MLP, D, K, 1.0f, 0.0f);
  REQUIRE(h != NULL);
  head_work w;
  REQUIRE_OK(head__work_new(h, M, &w));
  double loss = -1;
  memset(h->grad, 0, h->n_params * sizeof(float));
  REQUIRE_OK(head__consistency_grad(h, Xu, Xu, M, &w, &loss));
  CHECK_NEAR(loss, 0, 1e-7);
  double worst = 0;
  for (size_t i = 0; i < h->n_params; i++) worst = fmax(worst, fabs(h->grad[i]));
  CHECK_MSG(worst <= 1e-7, "identical pairs gave a gradient of %g", worst);
  head_free(h);
  head__work_free(&w);

  /* sharpened at tau 0.4: lambda/M sum KL(softmax(z/tau) || softmax(z')) by hand */
  h = make_uda_head(HEAD_MLP, D, K, 0.4f, 0.0f);
  REQUIRE(h != NULL);
  REQUIRE_OK(head__work_new(h, M, &w));
  for (int i = 0; i < M * D; i++) Xa[i] = Xu[i] + 0.3f * (float)((i % 3) - 1);
  float Za[M * K];
  head_rows ru = head_rows_float(Xu, M, D), ra = head_rows_float(Xa, M, D);
  REQUIRE_OK(head_predict_logits(h, &ru, Z));
  REQUIRE_OK(head_predict_logits(h, &ra, Za));
  double want = 0;
  for (int i = 0; i < M; i++) {
    double sp = 0, sq = 0;
    for (int c = 0; c < K; c++) sp += exp(Z[i * K + c] / 0.4), sq += exp(Za[i * K + c]);
    for (int c = 0; c < K; c++) {
      double p = exp(Z[i * K + c] / 0.4) / sp, q = exp(Za[i * K + c]) / sq;
      want += p * log(p / q);
    }
  }
  want *= 2.0 / M;
  REQUIRE_OK(head__consistency_grad(h, Xu, Xa, M, &w, &loss));
  CHECK(want > 1e-3);
  CHECK_NEAR(loss, want, 1e-5 * want);
  head_free(h);
  head__work_free(&w);

  /* a threshold no prediction reaches masks every pair out */
  h = make_uda_head(HEAD_MLP, D, K, 0.4f, 1.0f);
  REQUIRE(h != NULL);
  REQUIRE_OK(head__work_new(h, M, &w));
  memset(h->grad, 0, h->n_params * sizeof(float));
  REQUIRE_OK(head__consistency_grad(h, Xu, Xa, M, &w, &loss));
  CHECK_NEAR(loss, 0, 0);
  worst = 0;
  for (size_t i = 0; i < h->n_params; i++) worst = fmax(worst, fabs(h->grad[i]));
  CHECK_NEAR(worst, 0, 0);
  head_free(h);
  head__work_free(&w);
}

TEST(consistency_gradient_matches_finite_differences_with_fixed_targets) {
  enum { M = 6, D = 3, K = 4 };
  float Xu[M * D] = {0}, Xa[M * D];
  int y[M];
  make_rows(M, D, 1, 17, Xa, y);
  /* logreg on rows of zeros: the targets come from the bias alone, so moving
  ** a weight of W moves only the variants' side, as the gradient assumes */
  head *h = make_uda_head(HEAD_LOGREG, D, K, 0.5f, 0.0f);
  REQUIRE(h != NULL);
  head_work w;
  REQUIRE_OK(head__work_new(h, M, &w));
  batch b = {Xu, Xa, NULL, NULL, M, &w};
  double loss;
  REQUIRE_OK(consistency_loss(&b, h, &loss));
  CHECK(loss > 1e-3);
  grad_gap gap;
  CHECK_OK(grad_check(h, consistency_loss, &b, 0, (size_t)D * K, 2e-3f, &gap));
  CHECK_MSG(gap.worst <= 5e-4, "parameter %zu: gradient %g, central difference %g", gap.at,
            gap.analytic, gap.numeric);
  head__work_free(&w);
  head_free(h);
}

TEST(uda_training_runs_and_is_deterministic) {
  enum { N = 60, D = 3, K = 3 };
  float X[N * D], Xa[N * D], out[2][D * K + K];
  int y[N];
  make_rows(N, D, 1, 41, X, y);
  for (int i = 0; i < N * D; i++) Xa[i] = X[i] + 0.1f;
  head_rows rows = head_rows_float(X, N, D);
  head_unlabelled u = {rows, head_rows_float(Xa, N, D)};
  for (int run = 0; run < 2; run++) {
    head_config c;
    head_config_default(&c);
    c.epochs = 3;
    c.batch_size = 16;
    c.uda_weight = 1.0f;
    head *h;
    REQUIRE_OK(head_new(&c, D, K, &h));
    REQUIRE_OK(head_train_with(h, &rows, y, NULL, &u, NULL, NULL));
    memcpy(out[run], h->params, sizeof out[run]);
    head_free(h);
  }
  CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
  head_unlabelled bad = {head_rows_float(NULL, 3, D), head_rows_float(Xa, 3, D)};
  head_config c;
  head_config_default(&c);
  c.uda_weight = 1.0f;
  head *h;
  REQUIRE_OK(head_new(&c, D, K, &h));
  CHECK_INT(head_train_with(h, &rows, y, NULL, &bad, NULL, NULL), CUR_EINPUT);
  head_free(h);
  c.uda_temperature = 0;
  CHECK_INT(head_new(&c, D, K, &h), CUR_ECONFIG);
  head_config_default(&c);
  c.ema_decay = 1.0f;
  CHECK_INT(head_new(&c, D, K, &h), CUR_ECONFIG);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(ema_equals_a_hand_computed_average_of_the_plain_runs);
  RUN(multi_task_gradient_matches_finite_differences);
  RUN(a_missing_label_adds_nothing_to_loss_or_gradient);
  RUN(multi_task_mlp_learns_both_tasks_with_labels_missing);
  RUN(multi_task_configs_and_labels_are_checked);
  RUN(consistency_loss_is_zero_when_the_variant_equals_its_source);
  RUN(consistency_gradient_matches_finite_differences_with_fixed_targets);
  RUN(uda_training_runs_and_is_deterministic);
  return test_finish();
}
