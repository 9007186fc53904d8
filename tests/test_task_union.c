/* test_task_union.c -- several tasks' rows as one multi-task set (stages/common/task_union.c).
**
** union-1: the union holds each image once, ascending, with each task's
**          label or -1; its rows are an index view of the first task's
**          matrix, grown by the rows of the images that task lacks (taken
**          from the first later task holding each), nothing else copied.
** union-2: image ids out of order are refused by name, and the matrix
**          handed over is freed all the same.
** union-3: multi-task AUM and confident learning on the union's half view,
**          standardised as read, give the scores, suggestions, flags,
**          thresholds and noise estimates of the float copy the stages
**          made before views (each image's values converted, in union
**          order, then feat_scaler_fit and feat_scaler_apply).
**
** The oracles are written here: a scan of the parts for each image id.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "feat.h"
#include "half.h"
#include "head_noise.h"
#include "rng.h"
#include "task_union.h"
#include "testlib.h"

enum { D = 5, IDS = 40, PARTS = 3 };

/* Part t holds image id when in_part(t, id); its values differ by part, so
** that the test sees which part gave a row. */
static int in_part(int t, int id) { return t == 0 ? id % 3 != 0 : t == 1 ? id % 2 == 0 : id % 5 == 0; }
/* whole numbers below 2048: exact in half floats */
static float value(int id, int t, int j) { return (float)(id * 16 + 5 * t + j); }

typedef struct parts_data {
  int64_t ids[PARTS][IDS];
  int y[PARTS][IDS];
  uint16_t X[PARTS][IDS * D];
  int n[PARTS];
} parts_data;

static void make_parts(parts_data *p, cur_task_part *parts) {
  memset(p, 0, sizeof *p);
  for (int t = 0; t < PARTS; t++) {
    for (int id = 1; id <= IDS; id++) {
      if (!in_part(t, id)) continue;
      int j = p->n[t]++;
      p->ids[t][j] = id;
      p->y[t][j] = (id + t) % 2;
      for (int c = 0; c < D; c++) p->X[t][j * D + c] = cur_half_from_float(value(id, t, c));
    }
    parts[t] = (cur_task_part){p->ids[t], p->y[t], p->X[t], p->n[t]};
  }
}

/* Part 0's matrix as a stage holds it: its own allocation. */
static uint16_t *own_copy(const parts_data *p) {
  uint16_t *X = cur_mallocarray((size_t)p->n[0] * D, sizeof *X);
  if (X) memcpy(X, p->X[0], (size_t)p->n[0] * D * sizeof *X);
  return X;
}

TEST(the_union_is_an_index_view_of_the_first_tasks_matrix) {
  static parts_data p;
  cur_task_part parts[PARTS];
  cur_task_union u;
  make_parts(&p, parts);
  uint16_t *X0 = own_copy(&p);
  REQUIRE(X0);
  REQUIRE_OK(cur_task_union_build(parts, PARTS, D, &X0, &u));
  CHECK(X0 == NULL);
  int want_n = 0, lacked = 0;
  for (int id = 1; id <= IDS; id++) {
    int any = in_part(0, id) || in_part(1, id) || in_part(2, id);
    want_n += any;
    lacked += any && !in_part(0, id);
  }
  CHECK_INT(u.n, want_n);
  CHECK_INT(u.rows, p.n[0] + lacked);  /* each image's values once */
  head_rows v = cur_task_union_rows(&u);
  CHECK_INT(v.n, u.n);
  float got[D];
  for (int i = 0; i < u.n; i++) {
    int id = (int)u.ids[i], first = in_part(0, id) ? 0 : in_part(1, id) ? 1 : 2;
    CHECK(i == 0 || u.ids[i] > u.ids[i - 1]);
    CHECK(in_part(first, id));
    for (int t = 0; t < PARTS; t++) CHECK_INT(u.y[i * PARTS + t], in_part(t, id) ? (id + t) % 2 : -1);
    /* an image of part 0 is its own row there, not a copy */
    if (first == 0) CHECK(u.row[i] < (uint32_t)p.n[0]);
    head_rows_get(&v, i, got);
    for (int c = 0; c < D; c++)
      CHECK_MSG(got[c] == value(id, first, c), "image %d value %d: %g, expected part %d's %g", id,
                c, got[c], first, value(id, first, c));
  }
  for (int t = 0; t < PARTS; t++)
    for (int j = 0; j < p.n[t]; j++) CHECK_INT(u.ids[u.at[t][j]], p.ids[t][j]);
  cur_task_union_free(&u);
}

TEST(image_ids_out_of_order_are_refused_and_the_matrix_freed) {
  static parts_data p;
  cur_task_part parts[PARTS];
  cur_task_union u;
  make_parts(&p, parts);
  int64_t swap = p.ids[1][3];
  p.ids[1][3] = p.ids[1][4];
  p.ids[1][4] = swap;
  uint16_t *X0 = own_copy(&p);
  REQUIRE(X0);
  CHECK_INT(cur_task_union_build(parts, PARTS, D, &X0, &u), CUR_EINPUT);
  CHECK(strstr(cur_error(), "task 1's image ids are not ascending") != NULL);
  CHECK(X0 == NULL);  /* the union has it: freed below (the sanitizer build checks) */
  cur_task_union_free(&u);
}

/* Two tasks on N images: A (3 classes) on images i % 4 != 1, B (2 classes)
** on images i % 3 != 0, blobs along dimensions 0-2 and 3, every 9th label
** of each moved; the parts hold the same values of an image, as the stages
** read one stored embedding. */
enum { N = 360, DD = 6 };

TEST(multitask_methods_score_the_union_view_as_the_float_copy) {
  static uint16_t H[N * DD], XA[N * DD], XB[N * DD];
  static int64_t idA[N], idB[N];
  static int yA[N], yB[N], y2[N * 2], sug[4][2][N];
  static float F[N * DD], score[4][2][N];
  static unsigned char flag[4][2][N];
  cur_rng r;
  cur_rng_seed(&r, 21);
  int nA = 0, nB = 0;
  for (int i = 0; i < N; i++) {
    int a = i % 3, b = (i / 3) % 2;
    for (int c = 0; c < DD; c++)
      H[i * DD + c] = cur_half_from_float(
          (float)(1.0 + 2.5 * (c == a) + 3.0 * (c == 3 && b) + 0.2 * c + cur_rng_normal(&r)));
    y2[2 * i] = i % 4 == 1 ? -1 : i % 9 == 0 ? (a + 1) % 3 : a;
    y2[2 * i + 1] = i % 3 == 0 ? -1 : i % 9 == 2 ? 1 - b : b;
    if (y2[2 * i] >= 0) idA[nA] = i, yA[nA] = y2[2 * i], memcpy(XA + nA++ * DD, H + i * DD, sizeof H[0] * DD);
    if (y2[2 * i + 1] >= 0)
      idB[nB] = i, yB[nB] = y2[2 * i + 1], memcpy(XB + nB++ * DD, H + i * DD, sizeof H[0] * DD);
  }
  /* the union: the images of A or B, ascending (i = 9, 21, ... are in neither) */
  int n = 0;
  static int y2u[N * 2];
  for (int i = 0; i < N; i++) {
    if (y2[2 * i] < 0 && y2[2 * i + 1] < 0) continue;
    y2u[2 * n] = y2[2 * i], y2u[2 * n + 1] = y2[2 * i + 1];
    for (int c = 0; c < DD; c++) F[n * DD + c] = cur_half_to_float(H[i * DD + c]);
    n++;
  }
  /* the old path: a float copy of the union, standardised in place */
  feat_scaler *fs = NULL;
  REQUIRE_OK(feat_scaler_fit(F, (size_t)n, DD, 0.01f, &fs));
  feat_scaler_apply(fs, F, (size_t)n);
  /* the new one: the union's half view, standardised as read */
  cur_task_part parts[2] = {{idA, yA, XA, nA}, {idB, yB, XB, nB}};
  cur_task_union u;
  uint16_t *X0 = cur_mallocarray((size_t)nA * DD, sizeof *X0);
  REQUIRE(X0);
  memcpy(X0, XA, (size_t)nA * DD * sizeof *X0);
  REQUIRE_OK(cur_task_union_build(parts, 2, DD, &X0, &u));
  REQUIRE(u.n == n);
  CHECK(memcmp(u.y, y2u, (size_t)n * 2 * sizeof *y2u) == 0);
  CHECK(u.rows > (size_t)nA);  /* B brought images A lacks: the view's indices matter */
  head_rows hv = cur_task_union_rows(&u), fv = head_rows_float(F, n, DD);
  feat_scaler *hs = NULL;
  REQUIRE_OK(feat_scaler_fit_rows(&hv, 0.01f, &hs));
  feat_scaler_view(hs, &hv);
  static const int task_k[2] = {3, 2};
  head_config c;
  head_config_default(&c);
  c.epochs = 6;
  c.batch_size = 32;
  c.lr = 0.05f;
  c.seed = 3;
  c.n_tasks = 2;
  c.task_classes = task_k;
  head_noise_out out[4][2];
  for (int m = 0; m < 4; m++)
    for (int t = 0; t < 2; t++)
      out[m][t] = (head_noise_out){.score = score[m][t], .suggest = sug[m][t], .flag = flag[m][t]};
  float thr[2][2];
  REQUIRE_OK(head_aum(&c, &hv, u.y, 5, 90, out[0], thr[0]));
  REQUIRE_OK(head_aum(&c, &fv, y2u, 5, 90, out[1], thr[1]));
  REQUIRE_OK(head_confident(&c, &hv, u.y, 5, 5, out[2]));
  REQUIRE_OK(head_confident(&c, &fv, y2u, 5, 5, out[3]));
  int flagged = 0;
  for (int m = 0; m < 4; m += 2)
    for (int t = 0; t < 2; t++) {
      CHECK(memcmp(score[m][t], score[m + 1][t], (size_t)n * sizeof(float)) == 0);
      CHECK(memcmp(sug[m][t], sug[m + 1][t], (size_t)n * sizeof(int)) == 0);
      CHECK(memcmp(flag[m][t], flag[m + 1][t], (size_t)n) == 0);
      CHECK(out[m][t].noise == out[m + 1][t].noise);
      for (int i = 0; i < n; i++) flagged += flag[m][t][i];
    }
  CHECK(thr[0][0] == thr[1][0] && thr[0][1] == thr[1][1]);
  CHECK_MSG(flagged > 0, "no method flagged a row: the equality above compared nothing");
  feat_scaler_free(fs);
  feat_scaler_free(hs);
  cur_task_union_free(&u);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(the_union_is_an_index_view_of_the_first_tasks_matrix);
  RUN(image_ids_out_of_order_are_refused_and_the_matrix_freed);
  RUN(multitask_methods_score_the_union_view_as_the_float_copy);
  return test_finish();
}
