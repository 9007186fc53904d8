/* test_aum_real_slow.c -- mislabel flags on real human label noise (slow; needs ../shared).
**
** aum-real-1: 3,000 CIFAR-10 training images (the first 300 of each class)
**             with their CIFAR-10N `random1` labels (human annotators, about
**             17% wrong), patches features, the aum stage's default heads
**             and percentile: every AUM and confident-learning flag suggests
**             a class other than the given label, no method flags more rows
**             than its own noise estimate (which binds for AUM here), and a
**             flag is a real mistake (against the clean CIFAR-10 labels)
**             well above the rate of a random row.
*/
#include <stdio.h>
#include <stdlib.h>

#include "feat.h"
#include "image_sets.h"
#include "fixtures.h"
#include "head_noise.h"
#include "testlib.h"

#define PER_CLASS 300
#define N_CLASSES 10

static const char *const cifar_classes[N_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

/* The accepted training paths, in archive (= decode) order. */
typedef struct paths {
  char **path;
  int n, cap;
} paths;

static int class_of(const char *name, size_t len) {
  for (int k = 0; k < N_CLASSES; k++)
    if (strlen(cifar_classes[k]) == len && strncmp(cifar_classes[k], name, len) == 0) return k;
  return -1;
}

/* Keeps train/<class>/NNNN.jpg with NNNN < PER_CLASS. */
static int keep_first(void *ctx, const char *path) {
  paths *p = ctx;
  const char *cls = strncmp(path, "train/", 6) == 0 ? path + 6 : NULL, *slash;
  if (!cls || !(slash = strchr(cls, '/')) || class_of(cls, (size_t)(slash - cls)) < 0) return 0;
  if (atoi(slash + 1) >= PER_CLASS) return 0;
  if (p->n == p->cap) {
    int cap = p->cap ? 2 * p->cap : 1024;
    char **grown = cur_reallocarray(p->path, (size_t)cap, sizeof *grown);
    if (!grown) return CUR_ENOMEM;
    p->path = grown, p->cap = cap;
  }
  return (p->path[p->n++] = cur_strdup(path)) ? 1 : CUR_ENOMEM;
}

/* Reads path,clean,aggre,random1 lines of the CIFAR-10N file: for each kept
** path, its clean class into truth and its random1 class into y. */
static int read_labels(const char *csv_path, const paths *p, int *truth, int *y) {
  char *text = fx_read(csv_path);
  int found = 0;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    else next = line + strlen(line);
    char *f[4] = {line, NULL, NULL, NULL};
    for (int j = 1; j < 4 && f[j - 1]; j++)
      if ((f[j] = strchr(f[j - 1], ','))) *f[j]++ = 0;
    if (!f[3]) continue;
    for (int i = 0; i < p->n; i++) {
      if (strcmp(p->path[i], f[0]) != 0) continue;
      truth[i] = class_of(f[1], strlen(f[1]));
      y[i] = class_of(f[3], strcspn(f[3], "\r"));
      found += truth[i] >= 0 && y[i] >= 0;
    }
  }
  cur_free(text);
  return found;
}

/* Patches features (K = 100, 4 x 100 values), standardised as the stage does. */
static int featurise(const uint8_t *pix, int n, float **X, int *dim) {
  feat_patches_config cfg;
  feat_patches_config_default(&cfg);
  cfg.k = 100;
  cfg.n_patches = 50000;
  feat_images im = {pix, (size_t)n, 32, 32, 3};
  feat_patches *fp = NULL;
  feat_scaler *sc = NULL;
  int rc = feat_patches_train(&cfg, &im, &fp);
  if (rc == CUR_OK) *dim = feat_patches_dim(fp);
  if (rc == CUR_OK && !(*X = cur_mallocarray((size_t)n * (size_t)*dim, sizeof **X))) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = feat_patches_extract(fp, &im, 2, *X);
  if (rc == CUR_OK) rc = feat_scaler_fit(*X, (size_t)n, *dim, 0.01f, &sc);
  if (rc == CUR_OK) feat_scaler_apply(sc, *X, (size_t)n);
  feat_scaler_free(sc);
  feat_patches_free(fp);
  return rc;
}

/* Precision of a method's flags against the clean labels over the share of
** rows that are wrong (1: no better than drawing rows at random); prints the
** counts. */
static double lift(const char *method, const head_noise_out *o, const int *y, const int *truth,
                   int n) {
  int flagged = 0, right = 0, wrong = 0;
  for (int i = 0; i < n; i++) {
    flagged += o->flag[i];
    right += o->flag[i] && y[i] != truth[i];
    wrong += y[i] != truth[i];
  }
  printf("  %s: noise estimate %.3f (true %.3f), %d candidates, %d uncertain, %d flagged, "
         "precision %.3f, recall %.3f\n", method, o->noise, (double)wrong / n, o->candidates,
         o->uncertain, flagged, flagged ? (double)right / flagged : 0, (double)right / wrong);
  return flagged ? (double)right / flagged / ((double)wrong / n) : 0;
}

TEST(flags_on_cifar10n_suggest_another_class_and_stay_under_the_estimate) {
  char *tgz = test_shared_path("data/cifar10/cifar10-images.tar.gz");
  char *csv = tgz ? test_shared_path("data/cifar10/cifar10n-train-labels.csv") : NULL;
  paths p = {0};
  uint8_t *pix = NULL;
  size_t n = 0;
  float *X = NULL, *score = NULL, thr;
  int *y = NULL, *truth = NULL, *suggest = NULL, dim = 0;
  unsigned char *flag = NULL;
  if (!csv) goto cleanup;
  REQUIRE_OK(feat_archive_decode(tgz, 32, 32, 3, keep_first, &p, &pix, &n));
  REQUIRE((int)n == p.n && p.n == N_CLASSES * PER_CLASS);
  y = cur_mallocarray(n, sizeof *y), truth = cur_mallocarray(n, sizeof *truth);
  suggest = cur_mallocarray(n, sizeof *suggest), score = cur_mallocarray(n, sizeof *score);
  flag = cur_malloc(n);
  REQUIRE(y && truth && suggest && score && flag);
  CHECK_INT(read_labels(csv, &p, truth, y), p.n);
  REQUIRE_OK(featurise(pix, p.n, &X, &dim));
  head_config c;
  head_config_default(&c);  /* then the aum stage's defaults (docs/stages/aum.md) */
  c.epochs = 20, c.batch_size = 128, c.lr = 0.01f, c.weight_decay = 0.0005f, c.seed = 42;
  head_noise_out aum = {.score = score, .suggest = suggest, .flag = flag};
  head_rows rows = head_rows_float(X, p.n, dim);
  REQUIRE_OK(head_aum(&c, &rows, y, N_CLASSES, 99, &aum, &thr));
  FX_CHECK_FLAGS(&aum, y, p.n);
  /* Measured: 1,147 candidates, 704 flagged (the estimate binds: 0.235 x
  ** 3,000), precision 0.484 against 17.5% wrong, a lift of 2.8.  Demand 1.5:
  ** a flag is then half again as likely to be a real mistake as a random
  ** row, with room for other BLAS builds and seeds. */
  int flagged = 0;
  for (int i = 0; i < p.n; i++) flagged += flag[i];
  CHECK(aum.candidates > flagged);
  CHECK(lift("AUM", &aum, y, truth, p.n) >= 1.5);
  head_noise_out conf = {.score = score, .suggest = suggest, .flag = flag};
  REQUIRE_OK(head_confident(&c, &rows, y, N_CLASSES, 5, &conf));
  FX_CHECK_FLAGS(&conf, y, p.n);
  /* measured precision 0.316, a lift of 1.8, with a noise estimate of 0.477:
  ** on 3,000 rows of weak features the heads are unsure of many classes */
  CHECK(lift("confident learning", &conf, y, truth, p.n) >= 1.5);
cleanup:
  for (int i = 0; i < p.n; i++) cur_free(p.path[i]);
  cur_free(p.path);
  cur_free(pix);
  cur_free(X);
  cur_free(y);
  cur_free(truth);
  cur_free(suggest);
  cur_free(score);
  cur_free(flag);
  cur_free(csv);
  cur_free(tgz);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(flags_on_cifar10n_suggest_another_class_and_stay_under_the_estimate);
  return test_finish();
}
