/* test_head_rows.c -- heads read half-float rows through views (models/head.h's head_rows).
**
** rows-1.*: a head trained on half floats standardised as it reads them
**           equals, bit for bit, one trained on the same values converted
**           and standardised up front (logreg and mlp, with UDA pairs):
**           the same weights and the same predictions.
** rows-2.*: a view through row indices equals a float copy of those rows;
**           picking from a picked view composes the indices.
** rows-3.*: AUM and confident learning give the same scores on a half view
**           as on the converted float matrix.
** rows-4.*: confident learning's folds copy no rows: its peak memory grows
**           by far less than one fold's float copy of the matrix.
** rows-5.*: the scaler fitted on a view equals the one fitted on the
**           converted rows; bad views are refused by name.
**
** The oracle throughout is the float path the heads took before views:
** cur_half_to_float on each value, then feat_scaler_apply on the matrix.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feat.h"
#include "half.h"
#include "head_internal.h"
#include "head_noise.h"
#include "rng.h"
#include "testlib.h"

/* N rows of D half floats: K blobs with unit noise around offsets of 0.5 to
** 3, far from 0 so that standardising changes every value; labels y. */
static void make_half(int n, int d, int k, uint64_t seed, uint16_t *H, int *y) {
  cur_rng r;
  cur_rng_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    y[i] = (int)cur_rng_below(&r, (uint64_t)k);
    for (int j = 0; j < d; j++) {
      double centre = 0.5 + 2.5 * (j % k == y[i]) + 0.1 * j;
      H[(size_t)i * d + j] = cur_half_from_float((float)(centre + cur_rng_normal(&r)));
    }
  }
}

/* The old path: every value converted, then standardised by S in place. */
static float *to_floats(const uint16_t *H, int n, int d, const feat_scaler *s) {
  float *X = cur_mallocarray((size_t)n * d, sizeof *X);
  if (!X) return NULL;
  for (size_t i = 0; i < (size_t)n * d; i++) X[i] = cur_half_to_float(H[i]);
  if (s) feat_scaler_apply(s, X, (size_t)n);
  return X;
}

static void config(head_config *c, head_kind kind, float uda) {
  head_config_default(c);
  c->kind = kind;
  c->hidden = 16;
  c->epochs = 3;
  c->batch_size = 32;
  c->lr = 0.05f;
  c->uda_weight = uda;
  c->seed = 5;
}

/* Trains a head of C on X (and pairs U) and predicts the logits of EV. */
static head *train_and_predict(const head_config *c, const head_rows *X, const int *y,
                               const head_unlabelled *u, const head_rows *ev, float *Z) {
  head *h = NULL;
  if (head_new(c, X->d, 3, &h) != CUR_OK) return NULL;
  if (head_train_with(h, X, y, NULL, u, NULL, NULL) != CUR_OK ||
      head_predict_logits(h, ev, Z) != CUR_OK) {
    head_free(h);
    return NULL;
  }
  return h;
}

static void check_half_equals_float(head_kind kind) {
  enum { N = 300, D = 12, K = 3, M = 40 };
  static uint16_t H[N * D], Hu[M * D], Ha[M * D];
  static int y[N], yu[M];
  static float Zh[N * K], Zf[N * K];
  make_half(N, D, K, 1, H, y);
  make_half(M, D, K, 2, Hu, yu);
  make_half(M, D, K, 3, Ha, yu);
  head_rows hx = head_rows_half(H, N, D), hu = head_rows_half(Hu, M, D), ha = head_rows_half(Ha, M, D);
  feat_scaler *s = NULL;
  REQUIRE_OK(feat_scaler_fit_rows(&hx, 1e-6f, &s));
  feat_scaler_view(s, &hx);
  feat_scaler_view(s, &hu);
  feat_scaler_view(s, &ha);
  float *X = to_floats(H, N, D, s), *Xu = to_floats(Hu, M, D, s), *Xa = to_floats(Ha, M, D, s);
  REQUIRE(X && Xu && Xa);
  head_rows fx = head_rows_float(X, N, D);
  head_unlabelled uh = {hu, ha}, uf = {head_rows_float(Xu, M, D), head_rows_float(Xa, M, D)};
  head_config c;
  config(&c, kind, 1.0f);
  head *a = train_and_predict(&c, &hx, y, &uh, &hx, Zh), *b = train_and_predict(&c, &fx, y, &uf, &fx, Zf);
  REQUIRE(a && b);
  CHECK(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0);
  CHECK(memcmp(Zh, Zf, sizeof Zh) == 0);
  /* the weights moved: equal weights are not two untrained heads */
  head *fresh = NULL;
  REQUIRE_OK(head_new(&c, D, K, &fresh));
  CHECK(memcmp(a->params, fresh->params, a->n_params * sizeof(float)) != 0);
  /* and the view standardises: without it the same head predicts otherwise */
  head_rows raw = head_rows_half(H, N, D);
  REQUIRE_OK(head_predict_logits(a, &raw, Zh));
  CHECK(memcmp(Zh, Zf, sizeof Zh) != 0);
  head_free(fresh);
  head_free(a);
  head_free(b);
  feat_scaler_free(s);
  cur_free(X);
  cur_free(Xu);
  cur_free(Xa);
}

TEST(logreg_on_half_rows_equals_logreg_on_their_floats) {
  check_half_equals_float(HEAD_LOGREG);
}

TEST(mlp_with_uda_on_half_rows_equals_mlp_on_their_floats) {
  check_half_equals_float(HEAD_MLP);
}

TEST(an_index_view_equals_a_copy_of_its_rows) {
  enum { N = 200, D = 6, K = 3, M = 90 };
  static uint16_t H[N * D];
  static int y[N], ysub[M];
  static uint32_t sel[M], idx[M], sel2[M / 2], idx2[M / 2];
  static float Zv[M * K], Zc[M * K];
  make_half(N, D, K, 7, H, y);
  cur_rng r;
  cur_rng_seed(&r, 8);
  for (int j = 0; j < M; j++) sel[j] = (uint32_t)cur_rng_below(&r, N);  /* repeats allowed */
  head_rows all = head_rows_half(H, N, D), v = head_rows_pick(&all, sel, M, idx);
  CHECK(v.half == H && v.n == M && v.rows == (size_t)N);
  float *copy = cur_mallocarray((size_t)M * D, sizeof *copy);
  REQUIRE(copy);
  for (int j = 0; j < M; j++) {
    ysub[j] = y[sel[j]];
    for (int c = 0; c < D; c++) copy[j * D + c] = cur_half_to_float(H[sel[j] * D + c]);
  }
  head_rows fc = head_rows_float(copy, M, D);
  head_config c;
  config(&c, HEAD_LOGREG, 0);
  head *a = train_and_predict(&c, &v, ysub, NULL, &v, Zv), *b = train_and_predict(&c, &fc, ysub, NULL, &fc, Zc);
  REQUIRE(a && b);
  CHECK(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0);
  CHECK(memcmp(Zv, Zc, sizeof Zv) == 0);
  /* a pick of the pick: row j of it is matrix row sel[sel2[j]] */
  for (int j = 0; j < M / 2; j++) sel2[j] = (uint32_t)(M - 1 - 2 * j);
  head_rows w = head_rows_pick(&v, sel2, M / 2, idx2);
  float got[D], want[D];
  for (int j = 0; j < M / 2; j++) {
    CHECK_INT((int)idx2[j], (int)sel[sel2[j]]);
    head_rows_get(&w, j, got);
    head_rows_get(&fc, (int)sel2[j], want);
    CHECK(memcmp(got, want, sizeof got) == 0);
  }
  head_free(a);
  head_free(b);
  cur_free(copy);
}

TEST(aum_and_confident_learning_score_half_rows_as_their_floats) {
  enum { N = 400, D = 8, K = 4 };
  static uint16_t H[N * D];
  static int y[N], sug[4][N];
  static float score[4][N];
  static unsigned char flag[4][N];
  make_half(N, D, K, 11, H, y);
  for (int i = 0; i < N; i += 9) y[i] = (y[i] + 1) % K;  /* some noise to find */
  head_rows hx = head_rows_half(H, N, D);
  feat_scaler *s = NULL;
  REQUIRE_OK(feat_scaler_fit_rows(&hx, 0.01f, &s));
  feat_scaler_view(s, &hx);
  float *X = to_floats(H, N, D, s);
  REQUIRE(X);
  head_rows fx = head_rows_float(X, N, D);
  head_config c;
  config(&c, HEAD_LOGREG, 0);
  head_noise_out out[4];
  for (int m = 0; m < 4; m++) out[m] = (head_noise_out){.score = score[m], .suggest = sug[m], .flag = flag[m]};
  float thr[2];
  REQUIRE_OK(head_aum(&c, &hx, y, K, 90, &out[0], &thr[0]));
  REQUIRE_OK(head_aum(&c, &fx, y, K, 90, &out[1], &thr[1]));
  REQUIRE_OK(head_confident(&c, &hx, y, K, 5, &out[2]));
  REQUIRE_OK(head_confident(&c, &fx, y, K, 5, &out[3]));
  for (int m = 0; m < 4; m += 2) {
    CHECK(memcmp(score[m], score[m + 1], sizeof score[m]) == 0);
    CHECK(memcmp(sug[m], sug[m + 1], sizeof sug[m]) == 0);
    CHECK(memcmp(flag[m], flag[m + 1], sizeof flag[m]) == 0);
    CHECK(out[m].noise == out[m + 1].noise);
  }
  CHECK(thr[0] == thr[1]);
  int flagged = 0;
  for (int i = 0; i < N; i++) flagged += flag[0][i] + flag[2][i];
  CHECK_MSG(flagged > 0, "no method flagged a row: the equality above compared nothing");
  feat_scaler_free(s);
  cur_free(X);
}

/* The process's resident set and its peak, in KiB (/proc/self/status). */
static long status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t len = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, len) == 0) v = atol(line + len + 1);
  if (f) fclose(f);
  return v;
}

TEST(confident_learnings_folds_copy_no_rows) {
  /* 100,000 x 256 half floats: 51 MB; a float copy of one fold's training
  ** rows (what fold_train made before views) is 4/5 of 102 MB = 82 MB */
  enum { N = 100000, D = 256, K = 4 };
#ifdef __SANITIZE_ADDRESS__
  /* ASan keeps freed blocks in quarantine (256 MB by default): every fold's
  ** row lists and prediction buffers stay resident, and the peak counts them */
  test_skip("under AddressSanitizer the peak RSS counts its quarantine of freed blocks");
  return;
#endif
  uint16_t *H = cur_mallocarray((size_t)N * D, sizeof *H);
  int *y = cur_mallocarray(N, sizeof *y), *sug = cur_mallocarray(N, sizeof *sug);
  float *score = cur_mallocarray(N, sizeof *score);
  unsigned char *flag = cur_malloc(N);
  REQUIRE(H && y && sug && score && flag);
  make_half(N, D, K, 13, H, y);
  /* reset the peak to the resident set now (Linux 4.0 and later) */
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f || fputs("5", f) < 0 || fclose(f) != 0) {
    test_skip("/proc/self/clear_refs cannot reset the peak resident set here");
    goto done;
  }
  long before = status_kib("VmRSS:");
  head_config c;
  config(&c, HEAD_LOGREG, 0);
  c.epochs = 1;
  c.batch_size = 512;
  head_rows hx = head_rows_half(H, N, D);
  head_noise_out out = {.score = score, .suggest = sug, .flag = flag};
  REQUIRE_OK(head_confident(&c, &hx, y, K, 5, &out));
  long grew = status_kib("VmHWM:") - before, fold_copy = (long)(N / 5 * 4) * D * 4 / 1024;
  printf("  peak grew by %ld KiB during 5 folds; one fold's float copy: %ld KiB\n", grew, fold_copy);
  CHECK(before > 0 && grew >= 0);
  /* what is left: per fold the row lists, the held-out probabilities and
  ** the heads' batch and chunk buffers, a few MB */
  CHECK_MSG(grew < fold_copy / 2, "peak grew by %ld KiB, a fold's copy is %ld KiB", grew, fold_copy);
done:
  cur_free(H);
  cur_free(y);
  cur_free(sug);
  cur_free(score);
  cur_free(flag);
}

TEST(the_scaler_of_a_view_is_the_scaler_of_its_floats) {
  enum { N = 150, D = 5, K = 3, M = 60 };
  static uint16_t H[N * D];
  static int y[N];
  static uint32_t sel[M], idx[M];
  make_half(N, D, K, 17, H, y);
  for (int j = 0; j < M; j++) sel[j] = (uint32_t)(2 * j + 1);
  head_rows all = head_rows_half(H, N, D), v = head_rows_pick(&all, sel, M, idx);
  float *X = cur_mallocarray((size_t)M * D, sizeof *X);
  REQUIRE(X);
  for (int j = 0; j < M; j++)
    for (int c = 0; c < D; c++) X[j * D + c] = cur_half_to_float(H[sel[j] * D + c]);
  feat_scaler *a = NULL, *b = NULL;
  REQUIRE_OK(feat_scaler_fit_rows(&v, 1e-6f, &a));
  REQUIRE_OK(feat_scaler_fit(X, M, D, 1e-6f, &b));
  uint8_t *ba = NULL, *bb = NULL;
  size_t la = 0, lb = 0;
  REQUIRE_OK(feat_scaler_save(a, &ba, &la));
  REQUIRE_OK(feat_scaler_save(b, &bb, &lb));
  CHECK(la == lb && memcmp(ba, bb, la) == 0);
  /* a view standardised by it reads what feat_scaler_apply writes */
  feat_scaler_apply(b, X, M);
  feat_scaler_view(a, &v);
  float row[D];
  for (int j = 0; j < M; j++) {
    head_rows_get(&v, j, row);
    CHECK(memcmp(row, X + j * D, sizeof row) == 0);
  }
  CHECK(fabsf(row[0]) < 10);  /* standardised, not raw values */
  cur_free(ba);
  cur_free(bb);
  feat_scaler_free(a);
  feat_scaler_free(b);
  cur_free(X);
}

TEST(bad_views_are_refused_by_name) {
  enum { N = 10, D = 4, K = 2 };
  static uint16_t H[N * D];
  static int y[N];
  static float Z[N * K];
  make_half(N, D, K, 19, H, y);
  head_config c;
  config(&c, HEAD_LOGREG, 0);
  head *h = NULL;
  REQUIRE_OK(head_new(&c, D, K, &h));
  head_rows narrow = head_rows_half(H, N, D - 1);
  CHECK_INT(head_train(h, &narrow, y, NULL, NULL, NULL), CUR_EINPUT);
  CHECK(strstr(cur_error(), "rows of 3 values for a head of 4") != NULL);
  CHECK_INT(head_predict_logits(h, &narrow, Z), CUR_EINPUT);
  uint32_t idx[2] = {3, N};  /* one past the matrix */
  head_rows past = head_rows_half(H, N, D);
  past.idx = idx;
  past.n = 2;
  CHECK_INT(head_predict_proba(h, &past, Z), CUR_EINPUT);
  CHECK(strstr(cur_error(), "row 1 is matrix row 10 of 10") != NULL);
  head_rows longer = head_rows_half(H, N, D);
  longer.n = N + 1;
  CHECK_INT(head_train(h, &longer, y, NULL, NULL, NULL), CUR_EINPUT);
  float mean[D] = {0};
  head_rows half_scaled = head_rows_half(H, N, D);
  half_scaled.mean = mean;
  CHECK_INT(head_train(h, &half_scaled, y, NULL, NULL, NULL), CUR_EINPUT);
  CHECK(strstr(cur_error(), "without its scales") != NULL);
  head_unlabelled uneven = {head_rows_half(H, N, D), head_rows_half(H, N - 1, D)};
  c.uda_weight = 1;
  head_free(h);
  REQUIRE_OK(head_new(&c, D, K, &h));
  head_rows ok = head_rows_half(H, N, D);
  CHECK_INT(head_train_with(h, &ok, y, NULL, &uneven, NULL, NULL), CUR_EINPUT);
  CHECK(strstr(cur_error(), "10 unlabelled rows but 9 variants") != NULL);
  head_free(h);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(logreg_on_half_rows_equals_logreg_on_their_floats);
  RUN(mlp_with_uda_on_half_rows_equals_mlp_on_their_floats);
  RUN(an_index_view_equals_a_copy_of_its_rows);
  RUN(aum_and_confident_learning_score_half_rows_as_their_floats);
  RUN(confident_learnings_folds_copy_no_rows);
  RUN(the_scaler_of_a_view_is_the_scaler_of_its_floats);
  RUN(bad_views_are_refused_by_name);
  return test_finish();
}
