/* bench_features.c -- CIFAR-10 bench: Coates patches + logistic head, accuracy, timings, RSS.
**
** Reads an ImageFolder archive (train/<class>/FILE, test/<class>/FILE), learns the
** patches model on the training images, extracts features for both splits,
** standardises them with the training statistics (variance + 0.01, as in
** Coates et al.), trains a logistic head and prints test accuracy, the time
** of each step and the peak resident set size.  scripts/bench/features-cifar10
** runs it; `bench_features --help` lists the options.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "curate.h"
#include "feat.h"
#include "head.h"

typedef struct bench_opts {
  const char *archive;         /* ImageFolder archive */
  int train_per_class, test_per_class;
  int threads;
  feat_patches_config patches;
  head_config head;
} bench_opts;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(void) {
  fputs("usage: bench_features --archive PATH [--train-per-class N] [--test-per-class N]\n"
        "  [--k K] [--patches N] [--iters N] [--threads N] [--epochs N] [--batch N]\n"
        "  [--lr X] [--wd X] [--seed N]\n", stderr);
}

static int parse_opts(int argc, char **argv, bench_opts *o) {
  static const struct option longs[] = {
      {"archive", 1, 0, 'a'}, {"train-per-class", 1, 0, 'n'}, {"test-per-class", 1, 0, 't'},
      {"k", 1, 0, 'k'},       {"patches", 1, 0, 'p'},         {"iters", 1, 0, 'i'},
      {"threads", 1, 0, 'j'}, {"epochs", 1, 0, 'e'},          {"batch", 1, 0, 'b'},
      {"lr", 1, 0, 'l'},      {"wd", 1, 0, 'w'},              {"seed", 1, 0, 's'},
      {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->threads = 2;
  feat_patches_config_default(&o->patches);
  head_config_default(&o->head);
  o->head.epochs = 40;
  o->head.lr = 0.01f;
  o->head.weight_decay = 1e-4f;
  for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
    switch (c) {
    case 'a': o->archive = optarg; break;
    case 'n': o->train_per_class = atoi(optarg); break;
    case 't': o->test_per_class = atoi(optarg); break;
    case 'k': o->patches.k = atoi(optarg); break;
    case 'p': o->patches.n_patches = atoi(optarg); break;
    case 'i': o->patches.kmeans_iters = atoi(optarg); break;
    case 'j': o->threads = atoi(optarg); break;
    case 'e': o->head.epochs = atoi(optarg); break;
    case 'b': o->head.batch_size = atoi(optarg); break;
    case 'l': o->head.lr = strtof(optarg, NULL); break;
    case 'w': o->head.weight_decay = strtof(optarg, NULL); break;
    case 's': o->patches.seed = o->head.seed = strtoull(optarg, NULL, 10); break;
    default: usage(); return CUR_ECONFIG;
    }
  }
  if (!o->archive) {
    usage();
    return CUR_ECONFIG;
  }
  return CUR_OK;
}

/* Everything one run holds, freed by run_free. */
typedef struct bench_run {
  feat_folder *train, *test;   /* decoded splits */
  feat_patches *fp;            /* learned patches model */
  float *ftr, *fte;            /* features, n x 4K */
  head *h;                     /* logistic head */
} bench_run;

static void run_free(bench_run *r) {
  feat_folder_free(r->train);
  feat_folder_free(r->test);
  feat_patches_free(r->fp);
  cur_free(r->ftr);
  cur_free(r->fte);
  head_free(r->h);
}

/* Prints how long the step since *t0 took and restarts the clock. */
static void step_done(const char *step, double *t0) {
  double t = now();
  printf("%-28s %8.1f s\n", step, t - *t0);
  fflush(stdout);
  *t0 = t;
}

static int load_splits(const bench_opts *o, bench_run *r) {
  int rc = feat_folder_decode(o->archive, "train", o->train_per_class, 32, 3, &r->train);
  if (rc == CUR_OK) rc = feat_folder_decode(o->archive, "test", o->test_per_class, 32, 3, &r->test);
  if (rc != CUR_OK) return rc;
  if (r->train->n_classes != r->test->n_classes)
    return cur_errorf("bench: %s: %d train classes but %d test classes", o->archive,
                      r->train->n_classes, r->test->n_classes);
  for (int i = 0; i < r->train->n_classes; i++)
    if (strcmp(r->train->classes[i], r->test->classes[i]) != 0)
      return cur_errorf("bench: %s: class %s has no test images", o->archive,
                        r->train->classes[i]);
  printf("images: %zu train, %zu test, %d classes\n", r->train->im.n, r->test->im.n,
         r->train->n_classes);
  return CUR_OK;
}

static double accuracy(const float *logits, const int *y, size_t n, int k) {
  size_t right = 0;
  for (size_t i = 0; i < n; i++) {
    int best = 0;
    for (int c = 1; c < k; c++) best = logits[i * k + c] > logits[i * k + best] ? c : best;
    right += best == y[i];
  }
  return n ? (double)right / (double)n : 0;
}

typedef struct epoch_ctx {
  const int *y;                /* training labels */
  double t0;                   /* start of training */
} epoch_ctx;

/* Reports the running training accuracy (logits seen during the epoch). */
static int on_epoch(void *ctx, int epoch, const float *logits, int n, int k) {
  epoch_ctx *e = ctx;
  if (epoch % 5 == 4)
    printf("  epoch %3d: train accuracy (during epoch) %.4f, %.1f s\n", epoch + 1,
           accuracy(logits, e->y, (size_t)n, k), now() - e->t0);
  fflush(stdout);
  return CUR_OK;
}

static int extract_all(const bench_opts *o, bench_run *r, double *t0) {
  int rc = feat_patches_train(&o->patches, &r->train->im, &r->fp);
  if (rc != CUR_OK) return rc;
  step_done("patches: train (k-means)", t0);
  size_t dim = (size_t)feat_patches_dim(r->fp);
  r->ftr = cur_mallocarray(r->train->im.n, dim * sizeof(float));
  r->fte = cur_mallocarray(r->test->im.n, dim * sizeof(float));
  if (!r->ftr || !r->fte) return CUR_ENOMEM;
  if ((rc = feat_patches_extract(r->fp, &r->train->im, o->threads, r->ftr)) != CUR_OK) return rc;
  step_done("patches: extract train", t0);
  if ((rc = feat_patches_extract(r->fp, &r->test->im, o->threads, r->fte)) != CUR_OK) return rc;
  step_done("patches: extract test", t0);
  return CUR_OK;
}

static int classify(const bench_opts *o, bench_run *r, double *t0) {
  feat_scaler *sc;
  size_t ntr = r->train->im.n, nte = r->test->im.n;
  int dim = feat_patches_dim(r->fp), k = r->train->n_classes;
  int rc = feat_scaler_fit(r->ftr, ntr, dim, 0.01f, &sc);
  if (rc != CUR_OK) return rc;
  feat_scaler_apply(sc, r->ftr, ntr);
  feat_scaler_apply(sc, r->fte, nte);
  feat_scaler_free(sc);
  step_done("standardise", t0);
  epoch_ctx ec = {r->train->labels, now()};
  float *logits = cur_mallocarray(nte, (size_t)k * sizeof(float));
  if (!logits) return CUR_ENOMEM;
  rc = head_new(&o->head, dim, k, &r->h);
  if (rc == CUR_OK) rc = head_train(r->h, r->ftr, (int)ntr, r->train->labels, NULL, on_epoch, &ec);
  if (rc == CUR_OK) step_done("head: train", t0);
  if (rc == CUR_OK) rc = head_predict_logits(r->h, r->fte, (int)nte, logits);
  if (rc == CUR_OK) printf("test accuracy: %.4f (%zu images)\n",
                           accuracy(logits, r->test->labels, nte, k), nte);
  cur_free(logits);
  return rc;
}

int main(int argc, char **argv) {
  bench_opts o;
  bench_run r = {0};
  if (parse_opts(argc, argv, &o) != CUR_OK) return 2;
  printf("K %d, %d patches, %d k-means iterations, %d threads; head: %d epochs, batch %d, "
         "lr %g, wd %g\n", o.patches.k, o.patches.n_patches, o.patches.kmeans_iters, o.threads,
         o.head.epochs, o.head.batch_size, o.head.lr, o.head.weight_decay);
  double start = now(), t0 = start;
  int rc = load_splits(&o, &r);
  if (rc == CUR_OK) step_done("decode", &t0);
  if (rc == CUR_OK) rc = extract_all(&o, &r, &t0);
  if (rc == CUR_OK) rc = classify(&o, &r, &t0);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("total %.1f s, peak RSS %.0f MB\n", now() - start, ru.ru_maxrss / 1024.0);
  if (rc != CUR_OK) fprintf(stderr, "bench_features: %s\n", cur_error());
  run_free(&r);
  return rc == CUR_OK ? 0 : 1;
}
