/* test_features_slow.c -- patches + logistic head on a CIFAR-10 subset (slow; needs ../shared).
**
** feat-slow-1: 5,000 training images (500 per class), K = 200 centroids and
**              a logistic head reach well above chance on 1,000 test images.
*/
#include "testlib.h"

#include "feat.h"
#include "image_sets.h"
#include "head.h"

static double test_accuracy(const head *h, const float *X, const feat_folder *test) {
  int k = head_n_classes(h);
  size_t n = test->im.n, right = 0;
  float *Z = cur_mallocarray(n, (size_t)k * sizeof(float));
  head_rows rows = head_rows_float(X, (int)n, head_n_features(h));
  if (!Z || head_predict_logits(h, &rows, Z) != CUR_OK) {
    cur_free(Z);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < k; c++) best = Z[i * k + c] > Z[i * k + best] ? c : best;
    right += best == test->labels[i];
  }
  cur_free(Z);
  return (double)right / (double)n;
}

/* Features of both splits, standardised with the training statistics. */
static int featurise(const feat_folder *train, const feat_folder *test, float **ftr,
                     float **fte, int *dim) {
  feat_patches_config cfg;
  feat_patches_config_default(&cfg);
  cfg.k = 200;
  cfg.n_patches = 50000;
  feat_patches *fp;
  feat_scaler *sc = NULL;
  int rc = feat_patches_train(&cfg, &train->im, &fp);
  if (rc != CUR_OK) return rc;
  *dim = feat_patches_dim(fp);
  *ftr = cur_mallocarray(train->im.n, (size_t)*dim * sizeof(float));
  *fte = cur_mallocarray(test->im.n, (size_t)*dim * sizeof(float));
  rc = *ftr && *fte ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = feat_patches_extract(fp, &train->im, 2, *ftr);
  if (rc == CUR_OK) rc = feat_patches_extract(fp, &test->im, 2, *fte);
  if (rc == CUR_OK) rc = feat_scaler_fit(*ftr, train->im.n, *dim, 0.01f, &sc);
  if (rc == CUR_OK) {
    feat_scaler_apply(sc, *ftr, train->im.n);
    feat_scaler_apply(sc, *fte, test->im.n);
  }
  feat_scaler_free(sc);
  feat_patches_free(fp);
  return rc;
}

TEST(patches_and_logreg_beat_chance_on_a_cifar10_subset) {
  char *tgz = test_shared_path("data/cifar10/cifar10-images.tar.gz");
  if (!tgz) return;
  feat_folder *train = NULL, *test = NULL;
  float *ftr = NULL, *fte = NULL;
  head *h = NULL;
  int dim = 0;
  REQUIRE_OK(feat_folder_decode(tgz, "train", 500, 32, 3, &train));
  REQUIRE_OK(feat_folder_decode(tgz, "test", 100, 32, 3, &test));
  REQUIRE_OK(featurise(train, test, &ftr, &fte, &dim));
  head_config hc;
  head_config_default(&hc);
  hc.epochs = 20;
  hc.lr = 0.01f;
  REQUIRE_OK(head_new(&hc, dim, train->n_classes, &h));
  head_rows rows = head_rows_float(ftr, (int)train->im.n, dim);
  REQUIRE_OK(head_train(h, &rows, train->labels, NULL, NULL, NULL));
  double acc = test_accuracy(h, fte, test);
  printf("  test accuracy %.3f on %zu images (chance 0.1)\n", acc, test->im.n);
  /* Measured 0.61 at these settings; 0.45 is 35 points over chance and
  ** leaves 16 points for other seeds, BLAS builds and JPEG decoders. */
  CHECK(acc >= 0.45);
  head_free(h);
  cur_free(ftr);
  cur_free(fte);
  feat_folder_free(train);
  feat_folder_free(test);
  cur_free(tgz);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(patches_and_logreg_beat_chance_on_a_cifar10_subset);
  return test_finish();
}
