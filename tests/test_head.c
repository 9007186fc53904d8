/* test_head.c -- classifier heads (models/head*.c).
**
** head-1.*: training reaches full accuracy on separable data (both kinds).
** head-2.*: gradients match closed form (logreg) and finite differences (both,
**           through tests/support/grad_check.c, which must catch a wrong one).
** head-3.*: determinism: same seed, bit-identical weights.
** head-4.*: loss formula: label smoothing, class weights, sample weights.
** head-5.*: per-epoch logits, probabilities, and input validation.
*/
#include "testlib.h"

#include <stdlib.h>

#include "head.h"
#include "grad_check.h"
#include "head_internal.h"
#include "rng.h"

/* n points in d dimensions around k well-separated centres (distance >= 8
** between centres, unit noise), labels cycling 0..k-1. */
static void make_blobs(int n, int d, int k, uint64_t seed, float *X, int *y) {
  cur_rng r;
  cur_rng_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    y[i] = i % k;
    for (int j = 0; j < d; j++)
      X[i * d + j] = (float)((j == y[i] % d ? 8.0 * (1 + y[i] / d) : 0.0) + cur_rng_normal(&r));
  }
}

static double accuracy(const head *h, const float *X, int n, const int *y) {
  int k = head_n_classes(h), right = 0;
  float *Z = cur_mallocarray((size_t)n * k, sizeof(float));
  head_rows rows = head_rows_float(X, n, head_n_features(h));
  if (!Z || head_predict_logits(h, &rows, Z) != CUR_OK) {
    cur_free(Z);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < k; c++) best = Z[i * k + c] > Z[i * k + best] ? c : best;
    right += best == y[i];
  }
  cur_free(Z);
  return (double)right / n;
}

TEST(logreg_reaches_full_accuracy_on_separable_blobs) {
  enum { N = 600, D = 5, K = 4 };
  static float X[N * D], Xt[N * D];
  static int y[N], yt[N];
  make_blobs(N, D, K, 1, X, y);
  make_blobs(N, D, K, 2, Xt, yt);
  head_config c;
  head_config_default(&c);
  c.epochs = 10;
  head *h;
  REQUIRE_OK(head_new(&c, D, K, &h));
  head_rows rows = head_rows_float(X, N, D);
  CHECK_OK(head_train(h, &rows, y, NULL, NULL, NULL));
  CHECK_NEAR(accuracy(h, X, N, y), 1.0, 0);
  CHECK_NEAR(accuracy(h, Xt, N, yt), 1.0, 0);
  head_free(h);
}

TEST(mlp_reaches_full_accuracy_on_xor_which_logreg_cannot) {
  enum { N = 400 };
  static float X[N * 2];
  static int y[N];
  cur_rng r;
  cur_rng_seed(&r, 3);
  /* Four clusters at (+-2, +-2); the class is the XOR of the signs. */
  for (int i = 0; i < N; i++) {
    int sx = i & 1, sy = (i >> 1) & 1;
    X[2 * i] = (float)((sx ? 2 : -2) + 0.3 * cur_rng_normal(&r));
    X[2 * i + 1] = (float)((sy ? 2 : -2) + 0.3 * cur_rng_normal(&r));
    y[i] = sx ^ sy;
  }
  head_config c;
  head_config_default(&c);
  c.kind = HEAD_MLP;
  c.hidden = 16;
  c.epochs = 40;
  c.batch_size = 32;
  head *h, *lin;
  REQUIRE_OK(head_new(&c, 2, 2, &h));
  head_rows rows = head_rows_float(X, N, 2);
  CHECK_OK(head_train(h, &rows, y, NULL, NULL, NULL));
  CHECK_NEAR(accuracy(h, X, N, y), 1.0, 0);
  c.kind = HEAD_LOGREG;
  REQUIRE_OK(head_new(&c, 2, 2, &lin));
  CHECK_OK(head_train(lin, &rows, y, NULL, NULL, NULL));
  CHECK(accuracy(lin, X, N, y) < 0.8);
  head_free(lin);
  head_free(h);
}

/* A head with random parameters (scale 0.5) and every loss option on. */
static head *make_test_head(head_kind kind, int d, int k, const float *cw) {
  head_config c;
  head_config_default(&c);
  c.kind = kind;
  c.hidden = 7;
  c.weight_decay = 0.05f;
  c.label_smoothing = 0.1f;
  c.class_weights = cw;
  head *h;
  if (head_new(&c, d, k, &h) != CUR_OK) return NULL;
  cur_rng r;
  cur_rng_seed(&r, 11);
  for (size_t i = 0; i < h->n_params; i++) h->params[i] = (float)(0.5 * cur_rng_normal(&r));
  return h;
}

TEST(logreg_gradient_matches_closed_form) {
  enum { N = 9, D = 4, K = 3 };
  float X[N * D], sw[N], cw[K] = {2.0f, 0.5f, 1.0f};
  int y[N];
  make_blobs(N, D, K, 5, X, y);
  for (int i = 0; i < N; i++) sw[i] = 0.25f * (float)(i % 4);
  head *h = make_test_head(HEAD_LOGREG, D, K, cw);
  REQUIRE(h != NULL);
  head_work w;
  REQUIRE_OK(head__work_new(h, N, &w));
  double loss;
  CHECK_OK(head__batch_grad(h, X, N, y, sw, &w, &loss));
  /* dW = X^T G + wd W, db = sum_i G_i with G = w_i (p_i - q_i) / N. */
  double dW[D * K] = {0}, db[K] = {0}, eps = 0.1;
  for (int i = 0; i < N; i++) {
    double z[K], s = 0;
    for (int c = 0; c < K; c++) {
      z[c] = h->params[D * K + c];
      for (int j = 0; j < D; j++) z[c] += X[i * D + j] * h->params[j * K + c];
      s += exp(z[c]);
    }
    for (int c = 0; c < K; c++) {
      double g = sw[i] * cw[y[i]] * (exp(z[c]) / s - eps / K - (c == y[i]) * (1 - eps)) / N;
      db[c] += g;
      for (int j = 0; j < D; j++) dW[j * K + c] += X[i * D + j] * g;
    }
  }
  /* float32 GEMM over 9 rows against double sums: 1e-5 is ~100 ulps. */
  for (int j = 0; j < D * K; j++) CHECK_NEAR(h->grad[j], dW[j] + 0.05 * h->params[j], 1e-5);
  for (int c = 0; c < K; c++) CHECK_NEAR(h->grad[D * K + c], db[c], 1e-5);
  head__work_free(&w);
  head_free(h);
}

/* Central finite differences of L against head__batch_grad for every parameter. */
/* The rows a loss callback of grad_check trains on. */
typedef struct batch {
  const float *X, *sw;
  const int *y;
  int n;
  head_work *w;
} batch;

static int batch_loss(void *ctx, head *h, double *loss) {
  batch *b = ctx;
  return head__batch_grad(h, b->X, b->n, b->y, b->sw, b->w, loss);
}

static void check_finite_differences(head_kind kind) {
  enum { N = 8, D = 3, K = 4 };
  float X[N * D], sw[N], cw[K] = {1.0f, 2.0f, 0.5f, 1.5f};
  int y[N];
  make_blobs(N, D, K, 7, X, y);
  for (int i = 0; i < N; i++) sw[i] = 0.5f + 0.25f * (float)(i % 3);
  head *h = make_test_head(kind, D, K, cw);
  REQUIRE(h != NULL);
  head_work w;
  REQUIRE_OK(head__work_new(h, N, &w));
  batch b = {X, sw, y, N, &w};
  grad_gap gap;
  CHECK_OK(grad_check(h, batch_loss, &b, 0, h->n_params, 2e-3f, &gap));
  /* Central differences err by O(step^2 L''') ~ 1e-5 here, plus float32
  ** rounding of the logits (~1e-7 / step = 5e-5); a ReLU kink crossed by
  ** +-step or a wrong gradient shows as a much larger error. */
  CHECK_MSG(gap.worst <= 5e-4, "parameter %zu: gradient %g, central difference %g", gap.at,
            gap.analytic, gap.numeric);
  head__work_free(&w);
  head_free(h);
}

/* batch_loss with one derivative made wrong by 0.01: what a gradient bug looks like. */
static int wrong_loss(void *ctx, head *h, double *loss) {
  int rc = batch_loss(ctx, h, loss);
  h->grad[3] += 0.01f;
  return rc;
}

TEST(the_gradient_check_catches_a_wrong_derivative) {
  enum { N = 8, D = 3, K = 4 };
  float X[N * D];
  int y[N];
  make_blobs(N, D, K, 7, X, y);
  head *h = make_test_head(HEAD_MLP, D, K, NULL);
  REQUIRE(h != NULL);
  head_work w;
  REQUIRE_OK(head__work_new(h, N, &w));
  batch b = {X, NULL, y, N, &w};
  float before = h->params[3];
  grad_gap gap;
  CHECK_OK(grad_check(h, wrong_loss, &b, 0, h->n_params, 2e-3f, &gap));
  CHECK_INT(gap.at, 3);
  CHECK_NEAR(gap.worst, 0.01, 1e-3);
  CHECK(h->params[3] == before);  /* every parameter is put back */
  head__work_free(&w);
  head_free(h);
}

TEST(logreg_gradient_matches_finite_differences) {
  check_finite_differences(HEAD_LOGREG);
}

TEST(mlp_gradient_matches_finite_differences) {
  check_finite_differences(HEAD_MLP);
}

/* Trains a fresh head with seed s and returns it, or NULL. */
static head *train_seeded(head_kind kind, uint64_t s, const float *X, const int *y, int n) {
  head_config c;
  head_config_default(&c);
  c.kind = kind;
  c.hidden = 12;
  c.epochs = 3;
  c.batch_size = 16;
  c.label_smoothing = 0.05f;
  c.seed = s;
  head *h;
  if (head_new(&c, 5, 3, &h) != CUR_OK) return NULL;
  head_rows rows = head_rows_float(X, n, 5);
  if (head_train(h, &rows, y, NULL, NULL, NULL) != CUR_OK) {
    head_free(h);
    return NULL;
  }
  return h;
}

static void check_determinism(head_kind kind) {
  enum { N = 100 };
  static float X[N * 5];
  static int y[N];
  make_blobs(N, 5, 3, 9, X, y);
  head *a = train_seeded(kind, 42, X, y, N), *b = train_seeded(kind, 42, X, y, N);
  head *c = train_seeded(kind, 43, X, y, N);
  REQUIRE(a && b && c);
  CHECK(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0);
  CHECK(memcmp(a->params, c->params, a->n_params * sizeof(float)) != 0);
  head_free(a);
  head_free(b);
  head_free(c);
}

TEST(logreg_same_seed_gives_bit_identical_weights) {
  check_determinism(HEAD_LOGREG);
}

TEST(mlp_same_seed_gives_bit_identical_weights) {
  check_determinism(HEAD_MLP);
}

/* The expected losses below are worked out by hand from the definition of
** smoothed cross-entropy, -sum_c q_c log p_c with q_c = eps/K + (1 - eps)[c = y]
** and log p_c = z_c - lse, lse = log(e^2 + e^0 + e^-1) = 2.16984601955628...
** for logits z = (2, 0, -1), K = 3 (not through head.h's rearranged form):
**   y = 0:  lse - 2 q_0 + q_2           = lse - 2 + 5 eps / 3   (eps = 0: lse - 2)
**   y = 2:  lse - 2 eps / 3 + q_2 ...   = lse + 1 - 4 eps / 3   (eps = 0: lse + 1) */
TEST(label_smoothing_and_weights_change_the_loss_as_the_formula_says) {
  enum { N = 3, K = 3 };
  /* Logreg with W = 0 and b = (2, 0, -1): every row has logits b. */
  float X[N] = {1, 2, 3}, cw[K] = {3.0f, 1.0f, 0.5f}, sw[N] = {1.0f, 0.0f, 2.0f};
  int y[N] = {0, 0, 2};
  double eps = (double)0.2f;   /* the float the head stores */
  double lse = log(exp(2.0) + 1 + exp(-1.0));
  /* rows y = (0, 0, 2), mean over N = 3:
  ** plain: (2 (lse - 2) + (lse + 1)) / 3                                  = lse - 1
  ** sample x class weights (1 x 3, 0 x 3, 2 x 0.5):
  **   (3 (lse - 2 + 5 eps/3) + (lse + 1 - 4 eps/3)) / 3                   = (4 lse - 5 + 11 eps/3) / 3
  ** class weights only (3, 3, 0.5):
  **   (6 (lse - 2 + 5 eps/3) + 0.5 (lse + 1 - 4 eps/3)) / 3               = (6.5 lse - 11.5 + 28 eps/3) / 3 */
  double expect_plain = lse - 1, expect_weighted = (4 * lse - 5 + 11 * eps / 3) / 3;
  double expect_cw = (6.5 * lse - 11.5 + 28 * eps / 3) / 3;
  /* the same numbers, as computed once by hand with eps = 0.2f */
  CHECK_NEAR(expect_plain, 1.16984601955629, 1e-13);
  CHECK_NEAR(expect_weighted, 1.47090580749533, 1e-13);
  CHECK_NEAR(expect_cw, 1.49022194053267, 1e-13);
  head_config c;
  head_config_default(&c);
  head *plain, *smooth;
  REQUIRE_OK(head_new(&c, 1, K, &plain));
  c.label_smoothing = 0.2f;
  c.class_weights = cw;
  REQUIRE_OK(head_new(&c, 1, K, &smooth));
  static const float z[K] = {2, 0, -1};
  for (int i = 0; i < K; i++) plain->params[K + i] = smooth->params[K + i] = z[i];
  double lp, lw, lu;
  head_rows rows = head_rows_float(X, N, 1);
  CHECK_OK(head_loss(plain, &rows, y, NULL, &lp));
  CHECK_OK(head_loss(smooth, &rows, y, sw, &lw));
  /* Unit sample weights leave only class weights. */
  float ones[N] = {1, 1, 1};
  CHECK_OK(head_loss(smooth, &rows, y, ones, &lu));
  /* Logits are exact in float (small integers), the rest is double: 1e-12. */
  CHECK_NEAR(lp, expect_plain, 1e-12);
  CHECK_NEAR(lw, expect_weighted, 1e-12);
  CHECK_NEAR(lu, expect_cw, 1e-12);
  head_free(plain);
  head_free(smooth);
}

typedef struct epoch_log {
  int calls, stop_at;          /* callbacks seen; epoch at which to stop */
  float *first;                /* logits of epoch 0 (n x k) */
} epoch_log;

static int on_epoch(void *ctx, int epoch, const float *logits, int n, int k) {
  epoch_log *log = ctx;
  if (epoch == 0) memcpy(log->first, logits, (size_t)n * k * sizeof(float));
  log->calls++;
  return epoch == log->stop_at ? CUR_EINTR : CUR_OK;
}

TEST(epoch_callback_gets_every_rows_logits_in_row_order) {
  enum { N = 50, D = 4, K = 3 };
  static float X[N * D], first[N * K], pred[N * K];
  static int y[N];
  make_blobs(N, D, K, 13, X, y);
  head_config c;
  head_config_default(&c);
  c.kind = HEAD_MLP;
  c.hidden = 8;
  c.batch_size = 8;
  c.epochs = 4;
  c.lr = 0;                    /* frozen weights: recorded logits = predictions */
  head *h;
  REQUIRE_OK(head_new(&c, D, K, &h));
  epoch_log log = {0, -1, first};
  head_rows rows = head_rows_float(X, N, D);
  CHECK_OK(head_train(h, &rows, y, NULL, on_epoch, &log));
  CHECK_INT(log.calls, 4);
  REQUIRE_OK(head_predict_logits(h, &rows, pred));
  /* Same weights, different GEMM batch shapes: equal up to float rounding. */
  for (int i = 0; i < N * K; i++) CHECK_NEAR(first[i], pred[i], 1e-5);
  epoch_log stop = {0, 1, first};
  CHECK_INT(head_train(h, &rows, y, NULL, on_epoch, &stop), CUR_EINTR);
  CHECK_INT(stop.calls, 2);
  head_free(h);
}

TEST(probabilities_are_a_softmax_of_the_logits) {
  enum { N = 20, D = 3, K = 5 };
  float X[N * D], P[N * K], Z[N * K];
  int y[N];
  make_blobs(N, D, K, 17, X, y);
  head *h = make_test_head(HEAD_MLP, D, K, NULL);
  REQUIRE(h != NULL);
  head_rows rows = head_rows_float(X, N, D);
  REQUIRE_OK(head_predict_proba(h, &rows, P));
  REQUIRE_OK(head_predict_logits(h, &rows, Z));
  for (int i = 0; i < N; i++) {
    double s = 0;
    for (int c = 0; c < K; c++) s += P[i * K + c];
    CHECK_NEAR(s, 1.0, 1e-5);  /* K float roundings of values <= 1 */
    CHECK_NEAR(log(P[i * K + 1] / P[i * K]), Z[i * K + 1] - Z[i * K], 1e-4);
  }
  head_free(h);
}

TEST(bad_configs_and_labels_are_rejected_with_a_message) {
  head_config c;
  head_config_default(&c);
  head *h = (head *)&c;
  CHECK_INT(head_new(&c, 3, 1, &h), CUR_ECONFIG);
  CHECK(h == NULL);
  c.label_smoothing = 1.0f;
  CHECK_INT(head_new(&c, 3, 2, &h), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "label smoothing") != NULL);
  head_config_default(&c);
  c.kind = HEAD_MLP;
  c.hidden = 0;
  CHECK_INT(head_new(&c, 3, 2, &h), CUR_ECONFIG);
  head_config_default(&c);
  REQUIRE_OK(head_new(&c, 1, 2, &h));
  float X[2] = {0, 1}, w[2] = {1, -1};
  int y[2] = {0, 2}, y_ok[2] = {0, 1};
  head_rows rows = head_rows_float(X, 2, 1);
  CHECK_INT(head_train(h, &rows, y, NULL, NULL, NULL), CUR_EINPUT);
  CHECK(strstr(cur_error(), "row 1 has label 2") != NULL);
  CHECK_INT(head_train(h, &rows, y_ok, w, NULL, NULL), CUR_EINPUT);
  head_free(h);
  head_free(NULL);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(logreg_reaches_full_accuracy_on_separable_blobs);
  RUN(mlp_reaches_full_accuracy_on_xor_which_logreg_cannot);
  RUN(logreg_gradient_matches_closed_form);
  RUN(logreg_gradient_matches_finite_differences);
  RUN(mlp_gradient_matches_finite_differences);
  RUN(the_gradient_check_catches_a_wrong_derivative);
  RUN(logreg_same_seed_gives_bit_identical_weights);
  RUN(mlp_same_seed_gives_bit_identical_weights);
  RUN(label_smoothing_and_weights_change_the_loss_as_the_formula_says);
  RUN(epoch_callback_gets_every_rows_logits_in_row_order);
  RUN(probabilities_are_a_softmax_of_the_logits);
  RUN(bad_configs_and_labels_are_rejected_with_a_message);
  return test_finish();
}
