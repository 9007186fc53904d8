/* bench_features.c -- CIFAR-10 bench: Coates patches + logistic head, accuracy, timings, RSS.
**
** Reads an ImageFolder archive (train/<class>/FILE, test/<class>/FILE), learns the
** patches model on the training images, extracts features for both splits,
** standardises them with the training statistics (variance + 0.01, as in
** Coates et al.), trains a logistic head and prints test accuracy, the time
** of each step and the peak resident set size.  For tuning, --cache keeps
** the features in a file (host byte order, this program's own format) and
** --holdout scores on a slice of the training set so the test set stays
** unseen until the final run.  scripts/bench/features-cifar10
** runs it; `bench_features --help` lists the options.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "curate.h"
#include "feat.h"
#include "image_sets.h"
#include "head.h"

typedef struct bench_opts {
  const char *archive;         /* ImageFolder archive */
  const char *cache;           /* feature cache file, or NULL */
  int holdout;                 /* evaluate on every 10th training image instead of test */
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
        "  [--lr X] [--wd X] [--seed N] [--cache FILE] [--holdout]\n"
        "--cache: reuse features saved by an earlier run with the same data and K\n"
        "--holdout: train on 9/10 of the training images, report accuracy on the rest\n",
        stderr);
}

static int parse_opts(int argc, char **argv, bench_opts *o) {
  static const struct option longs[] = {
      {"archive", 1, 0, 'a'}, {"train-per-class", 1, 0, 'n'}, {"test-per-class", 1, 0, 't'},
      {"k", 1, 0, 'k'},       {"patches", 1, 0, 'p'},         {"iters", 1, 0, 'i'},
      {"threads", 1, 0, 'j'}, {"epochs", 1, 0, 'e'},          {"batch", 1, 0, 'b'},
      {"lr", 1, 0, 'l'},      {"wd", 1, 0, 'w'},              {"seed", 1, 0, 's'},
      {"cache", 1, 0, 'c'},   {"holdout", 0, 0, 'v'},         {"help", 0, 0, 'h'},
      {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->threads = 2;
  feat_patches_config_default(&o->patches);
  head_config_default(&o->head);
  /* Picked with --holdout on the K = 1600 features (lr 0.001..0.1, weight
  ** decay 1e-4..1e-2, 40 or 80 epochs): holdout accuracy 0.699..0.727. */
  o->head.epochs = 40;
  o->head.lr = 0.003f;
  o->head.weight_decay = 1e-3f;
  for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
    switch (c) {
    case 'a': o->archive = optarg; break;
    case 'c': o->cache = optarg; break;
    case 'v': o->holdout = 1; break;
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
  feat_folder *train, *test;   /* decoded splits (absent when cached) */
  size_t ntr, nte;             /* rows of ftr / fte */
  int dim, k;                  /* feature size, classes */
  int *ytr, *yte;              /* labels of ftr / fte rows */
  float *ftr, *fte;            /* features, rows x dim */
  head *h;                     /* logistic head */
} bench_run;

static void run_free(bench_run *r) {
  feat_folder_free(r->train);
  feat_folder_free(r->test);
  cur_free(r->ytr);
  cur_free(r->yte);
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

static int *copy_labels(const feat_folder *f) {
  int *y = cur_mallocarray(f->im.n, sizeof(int));
  if (y) memcpy(y, f->labels, f->im.n * sizeof(int));
  return y;
}

static int load_splits(const bench_opts *o, bench_run *r) {
  int rc = feat_folder_decode(o->archive, "train", o->train_per_class, 32, 3, &r->train);
  if (rc == CUR_OK)
    rc = feat_folder_decode(o->archive, "test", o->test_per_class, 32, 3, &r->test);
  if (rc != CUR_OK) return rc;
  if (r->train->n_classes != r->test->n_classes)
    return cur_errorf("bench: %s: %d train classes but %d test classes", o->archive,
                      r->train->n_classes, r->test->n_classes);
  for (int i = 0; i < r->train->n_classes; i++)
    if (strcmp(r->train->classes[i], r->test->classes[i]) != 0)
      return cur_errorf("bench: %s: class %s has no test images", o->archive,
                        r->train->classes[i]);
  r->ntr = r->train->im.n;
  r->nte = r->test->im.n;
  r->k = r->train->n_classes;
  r->ytr = copy_labels(r->train);
  r->yte = copy_labels(r->test);
  if (!r->ytr || !r->yte) return CUR_ENOMEM;
  printf("images: %zu train, %zu test, %d classes\n", r->ntr, r->nte, r->k);
  return CUR_OK;
}

static int extract_all(const bench_opts *o, bench_run *r, double *t0) {
  feat_patches *fp;
  int rc = feat_patches_train(&o->patches, &r->train->im, &fp);
  if (rc != CUR_OK) return rc;
  step_done("patches: train (k-means)", t0);
  r->dim = feat_patches_dim(fp);
  r->ftr = cur_mallocarray(r->ntr, (size_t)r->dim * sizeof(float));
  r->fte = cur_mallocarray(r->nte, (size_t)r->dim * sizeof(float));
  rc = r->ftr && r->fte ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = feat_patches_extract(fp, &r->train->im, o->threads, r->ftr);
  if (rc == CUR_OK) step_done("patches: extract train", t0);
  if (rc == CUR_OK) rc = feat_patches_extract(fp, &r->test->im, o->threads, r->fte);
  if (rc == CUR_OK) step_done("patches: extract test", t0);
  feat_patches_free(fp);
  return rc;
}

/* Cache: "CURBENCH", u64 ntr, nte, i32 dim, k, then the four arrays below. */
typedef struct cache_field {
  void *p;                     /* array */
  size_t size, count;          /* element size, elements */
} cache_field;

static void cache_fields(const bench_run *r, cache_field f[4]) {
  f[0] = (cache_field){r->ytr, sizeof(int), r->ntr};
  f[1] = (cache_field){r->yte, sizeof(int), r->nte};
  f[2] = (cache_field){r->ftr, (size_t)r->dim * sizeof(float), r->ntr};
  f[3] = (cache_field){r->fte, (size_t)r->dim * sizeof(float), r->nte};
}

static int cache_save(const bench_run *r, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return cur_errorc(CUR_EIO, "bench: %s: cannot create the feature cache", path);
  uint64_t n[2] = {r->ntr, r->nte};
  int32_t dk[2] = {r->dim, r->k};
  cache_field fl[4];
  cache_fields(r, fl);
  int ok = fwrite("CURBENCH", 8, 1, f) == 1 && fwrite(n, sizeof n, 1, f) == 1 &&
           fwrite(dk, sizeof dk, 1, f) == 1;
  for (int i = 0; ok && i < 4; i++) ok = fwrite(fl[i].p, fl[i].size, fl[i].count, f) == fl[i].count;
  ok = (fclose(f) == 0) && ok;
  return ok ? CUR_OK : cur_errorc(CUR_EIO, "bench: %s: cannot write the feature cache", path);
}

static int cache_load(bench_run *r, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return cur_errorc(CUR_EIO, "bench: %s: cannot open the feature cache", path);
  char magic[8];
  uint64_t n[2];
  int32_t dk[2];
  int ok = fread(magic, 8, 1, f) == 1 && memcmp(magic, "CURBENCH", 8) == 0 &&
           fread(n, sizeof n, 1, f) == 1 && fread(dk, sizeof dk, 1, f) == 1;
  if (ok) {
    r->ntr = n[0];
    r->nte = n[1];
    r->dim = dk[0];
    r->k = dk[1];
    r->ytr = cur_mallocarray(r->ntr, sizeof(int));
    r->yte = cur_mallocarray(r->nte, sizeof(int));
    r->ftr = cur_mallocarray(r->ntr, (size_t)r->dim * sizeof(float));
    r->fte = cur_mallocarray(r->nte, (size_t)r->dim * sizeof(float));
    ok = r->ytr && r->yte && r->ftr && r->fte;
  }
  cache_field fl[4];
  cache_fields(r, fl);
  for (int i = 0; ok && i < 4; i++) ok = fread(fl[i].p, fl[i].size, fl[i].count, f) == fl[i].count;
  fclose(f);
  return ok ? CUR_OK : cur_errorc(CUR_EIO, "bench: %s: bad or truncated feature cache", path);
}

/* Keeps 9 of every 10 training rows for training and moves the 10th to the
** evaluation side, replacing the test rows. */
static int split_holdout(bench_run *r) {
  size_t nv = (r->ntr + 9) / 10, nt = r->ntr - nv, row = (size_t)r->dim * sizeof(float);
  float *ft = cur_mallocarray(nt, row), *fv = cur_mallocarray(nv, row);
  int *yt = cur_mallocarray(nt, sizeof(int)), *yv = cur_mallocarray(nv, sizeof(int));
  if (ft && fv && yt && yv) {
    size_t a = 0, b = 0;
    for (size_t i = 0; i < r->ntr; i++) {
      if (i % 10 == 0) {
        memcpy(fv + b * r->dim, r->ftr + i * r->dim, row);
        yv[b++] = r->ytr[i];
      } else {
        memcpy(ft + a * r->dim, r->ftr + i * r->dim, row);
        yt[a++] = r->ytr[i];
      }
    }
  }
  int rc = ft && fv && yt && yv ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) {
    /* Swap the new arrays in; the frees below then drop the old ones. */
    float *old_ftr = r->ftr, *old_fte = r->fte;
    int *old_ytr = r->ytr, *old_yte = r->yte;
    r->ftr = ft;
    r->fte = fv;
    r->ytr = yt;
    r->yte = yv;
    ft = old_ftr;
    fv = old_fte;
    yt = old_ytr;
    yv = old_yte;
    r->ntr = nt;
    r->nte = nv;
  }
  cur_free(ft);
  cur_free(fv);
  cur_free(yt);
  cur_free(yv);
  if (rc != CUR_OK) return rc;
  printf("holdout: training on %zu rows, scoring %zu held-out training rows\n", nt, nv);
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

static int classify(const bench_opts *o, bench_run *r, double *t0) {
  feat_scaler *sc;
  int rc = feat_scaler_fit(r->ftr, r->ntr, r->dim, 0.01f, &sc);
  if (rc != CUR_OK) return rc;
  feat_scaler_apply(sc, r->ftr, r->ntr);
  feat_scaler_apply(sc, r->fte, r->nte);
  feat_scaler_free(sc);
  step_done("standardise", t0);
  epoch_ctx ec = {r->ytr, now()};
  float *logits = cur_mallocarray(r->nte, (size_t)r->k * sizeof(float));
  if (!logits) return CUR_ENOMEM;
  rc = head_new(&o->head, r->dim, r->k, &r->h);
  head_rows ftr = head_rows_float(r->ftr, (int)r->ntr, r->dim), fte = head_rows_float(r->fte, (int)r->nte, r->dim);
  if (rc == CUR_OK) rc = head_train(r->h, &ftr, r->ytr, NULL, on_epoch, &ec);
  if (rc == CUR_OK) step_done("head: train", t0);
  if (rc == CUR_OK) rc = head_predict_logits(r->h, &fte, logits);
  if (rc == CUR_OK)
    printf("%s accuracy: %.4f (%zu images)\n", o->holdout ? "holdout" : "test",
           accuracy(logits, r->yte, r->nte, r->k), r->nte);
  cur_free(logits);
  return rc;
}

/* Features from the cache when it exists, else computed (and cached). */
static int features(const bench_opts *o, bench_run *r, double *t0) {
  if (o->cache && access(o->cache, R_OK) == 0) {
    int rc = cache_load(r, o->cache);
    if (rc == CUR_OK) step_done("features: read cache", t0);
    return rc;
  }
  int rc = load_splits(o, r);
  if (rc == CUR_OK) step_done("decode", t0);
  if (rc == CUR_OK) rc = extract_all(o, r, t0);
  if (rc == CUR_OK && o->cache) rc = cache_save(r, o->cache);
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
  int rc = features(&o, &r, &t0);
  if (rc == CUR_OK && o.holdout) rc = split_holdout(&r);
  if (rc == CUR_OK) rc = classify(&o, &r, &t0);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("total %.1f s, peak RSS %.0f MB\n", now() - start, ru.ru_maxrss / 1024.0);
  if (rc != CUR_OK) fprintf(stderr, "bench_features: %s\n", cur_error());
  run_free(&r);
  return rc == CUR_OK ? 0 : 1;
}
