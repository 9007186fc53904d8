/* bench_aum.c -- test accuracy of a logistic head trained on a curate database's labels.
**
** Trains on the embeddings of the training split labelled in --train-task,
** leaving out the image ids listed in --exclude (one per line), and prints
** the accuracy on the test split labelled in --test-task.  Both tasks must
** list their classes in the same order (the benchmark fixes it with
** ingest.classes).  scripts/bench/aum-cifar10n runs it per noisy task on
** the noisy labels, on them without each method's flagged rows, and on the
** clean labels.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "feat.h"
#include "half.h"
#include "head.h"
#include "store_labels.h"
#include "store_embed.h"
#include "store_scores.h"

typedef struct rows {
  const unsigned char *skip;   /* image id -> 1 when excluded, or NULL */
  int64_t max_id;
  int n, cap, d;
  float *X;
  int *y;
} rows;

static int take(void *ctx, int64_t id, int class_idx, int reviewed, const void *vec, int dim) {
  rows *r = ctx;
  (void)reviewed;
  if (r->skip && id <= r->max_id && r->skip[id]) return CUR_OK;
  if (r->n == r->cap) {
    int cap = r->cap ? r->cap * 2 : 4096;
    float *X = cur_reallocarray(r->X, (size_t)cap * (size_t)dim, sizeof *X);
    if (X) r->X = X;
    int *y = cur_reallocarray(r->y, (size_t)cap, sizeof *y);
    if (y) r->y = y;
    if (!X || !y) return CUR_ENOMEM;
    r->cap = cap;
  }
  r->d = dim;
  cur_half_decode(vec, (size_t)dim, r->X + (size_t)r->n * dim);
  r->y[r->n++] = class_idx;
  return CUR_OK;
}

static int load(cur_store *st, const char *task, const char *split, const char *model, rows *r) {
  int64_t task_id;
  int found, rc = cur_store_task_find(st, task, &task_id, &found);
  if (rc == CUR_OK && !found) rc = cur_errorf("bench_aum: no task %s", task);
  return rc ? rc : cur_store_labelled_vectors(st, task_id, split, model, take, r);
}

/* A byte per image id up to the largest listed, 1 for the listed ids. */
static unsigned char *read_exclude(const char *path, int64_t *max_id) {
  FILE *f = fopen(path, "r");
  long long id;
  size_t size = 1;
  unsigned char *skip = f ? cur_calloc(1, 1) : NULL;
  while (skip && fscanf(f, "%lld", &id) == 1 && id > 0) {
    if ((size_t)id >= size) {
      unsigned char *grown = cur_reallocarray(skip, (size_t)id + 1, 1);
      if (!grown) {
        cur_free(skip);
        skip = NULL;
        break;
      }
      memset(grown + size, 0, (size_t)id + 1 - size);
      skip = grown;
      size = (size_t)id + 1;
    }
    skip[id] = 1;
  }
  if (f) fclose(f);
  *max_id = (int64_t)size - 1;
  return skip;
}

int main(int argc, char **argv) {
  const char *db = NULL, *train_task = "label", *test_task = "label", *exclude = NULL;
  head_config hc;
  head_config_default(&hc);
  hc.epochs = 40;
  hc.lr = 0.01f;
  int c;
  while ((c = getopt(argc, argv, "d:t:T:x:e:l:")) != -1) {
    switch (c) {
    case 'd': db = optarg; break;
    case 't': train_task = optarg; break;
    case 'T': test_task = optarg; break;
    case 'x': exclude = optarg; break;
    case 'e': hc.epochs = atoi(optarg); break;
    case 'l': hc.lr = strtof(optarg, NULL); break;
    default: db = NULL; optind = argc; break;
    }
  }
  if (!db) {
    fprintf(stderr, "usage: bench_aum -d DB [-t TRAIN_TASK] [-T TEST_TASK] [-x EXCLUDE_IDS] "
                    "[-e EPOCHS] [-l LR]\n");
    return 2;
  }
  cur_store *st = NULL;
  char *model = NULL;
  rows tr = {0}, te = {0};
  feat_scaler *sc = NULL;
  head *h = NULL;
  float *P = NULL;
  int64_t classes = 0;
  int rc = cur_store_open(db, &st);
  if (rc == CUR_OK && exclude && !(tr.skip = read_exclude(exclude, &tr.max_id)))
    rc = cur_errorf("bench_aum: cannot read %s", exclude);
  int found = 0;
  if (rc == CUR_OK) rc = cur_store_embedding_model_default(st, &model, &found);
  if (rc == CUR_OK && !found) rc = cur_errorf("bench_aum: %s has no embeddings", db);
  if (rc == CUR_OK) rc = load(st, train_task, "train", model, &tr);
  if (rc == CUR_OK) rc = load(st, test_task, "test", model, &te);
  for (int i = 0; rc == CUR_OK && i < tr.n; i++) classes = tr.y[i] + 1 > classes ? tr.y[i] + 1 : classes;
  if (rc == CUR_OK) rc = feat_scaler_fit(tr.X, (size_t)tr.n, tr.d, 0.01f, &sc);
  if (rc == CUR_OK) {
    feat_scaler_apply(sc, tr.X, (size_t)tr.n);
    feat_scaler_apply(sc, te.X, (size_t)te.n);
    rc = head_new(&hc, tr.d, (int)classes, &h);
  }
  head_rows xtr = head_rows_float(tr.X, tr.n, tr.d), xte = head_rows_float(te.X, te.n, te.d);
  if (rc == CUR_OK) rc = head_train(h, &xtr, tr.y, NULL, NULL, NULL);
  if (rc == CUR_OK && !(P = cur_mallocarray((size_t)te.n * (size_t)classes, sizeof *P))) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = head_predict_proba(h, &xte, P);
  if (rc == CUR_OK) {
    int right = 0;
    for (int i = 0; i < te.n; i++) {
      int best = 0;
      for (int j = 1; j < classes; j++)
        if (P[(size_t)i * classes + j] > P[(size_t)i * classes + best]) best = j;
      right += best == te.y[i];
    }
    printf("train rows %d, test rows %d, test accuracy %.4f\n", tr.n, te.n, (double)right / te.n);
  } else {
    fprintf(stderr, "bench_aum: %s\n", cur_error());
  }
  cur_free(P);
  head_free(h);
  feat_scaler_free(sc);
  cur_free(tr.X), cur_free(tr.y), cur_free(te.X), cur_free(te.y);
  cur_free((void *)tr.skip);
  cur_free(model);
  cur_store_close(st);
  return rc ? 1 : 0;
}
