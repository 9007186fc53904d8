/* train.c -- the train stage: fits a classifier head on the manifest's
** training rows and evaluates it on the test split.
**
** The rows are the export stage's (cur_store_export_rows for train.task):
** the balanced training rows with their weights, and the labelled test
** rows.  Features are the rows' embeddings for train.model, standardised
** with a scaler fitted on the training rows.  Training draws only on the
** run's seed, so a run is repeatable.  The metrics (accuracy, macro-F1, per
** class precision/recall/F1, the confusion matrix) are written in one
** transaction after deleting the run's earlier ones, so a resumed run ends
** with the same rows.
**
** train.command, when set, then runs an external training job on the newest
** JSONL manifest (pipeline/train_job.c).
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "feat.h"
#include "half.h"
#include "head.h"
#include "metrics.h"
#include "stages.h"
#include "store_embed.h"
#include "store_export.h"
#include "store_labels.h"
#include "store_metrics.h"
#include "store_runs.h"
#include "train_job.h"

static const cur_option train_options[] = {
    {"head", CUR_OPT_STR, "\"logreg\"", "classifier head: logreg or mlp", head_option_check},
    {"epochs", CUR_OPT_INT, "30", "passes over the training rows", cur_option_check_positive},
    {"lr", CUR_OPT_NUM, "0.1", "initial learning rate (cosine schedule)", cur_option_check_positive},
    {"weight_decay", CUR_OPT_NUM, "0.0001", "L2 penalty on the weights", cur_option_check_nonnegative},
    {"hidden", CUR_OPT_INT, "256", "hidden units of the mlp head", cur_option_check_positive},
    {"batch_size", CUR_OPT_INT, "128", "rows per SGD step", cur_option_check_positive},
    {"task", CUR_OPT_STR, "\"label\"", "the label task to train on", NULL},
    {"model", CUR_OPT_STR, "\"\"",
     "embedding model key; \"\" = the model with the most embeddings", NULL},
    {"command", CUR_OPT_STR, "\"\"",
     "external training command run after the built-in evaluation (/bin/sh; {manifest} = the "
     "manifest's path); \"\" = none", NULL},
    {NULL, 0, NULL, NULL, NULL}};

/* The rows of one split as a feature matrix. */
typedef struct dataset {
  float *X;          /* n x dim */
  int *y;            /* class indices */
  float *w;          /* sample weights */
  int n, cap;
} dataset;

/* What the trainer works on. */
typedef struct trainer {
  cur_run *run;
  char *model;       /* embedding key */
  int dim, k;        /* features, classes */
  char **classes;    /* k names */
  dataset train, test;
  int64_t missing;   /* rows without an embedding */
} trainer;

/* One embedding being read into the next row of a dataset. */
typedef struct fetch {
  trainer *t;
  dataset *d;
  int got;           /* the image has an embedding for the model */
} fetch;

/* Store callback: decodes one embedding into the next row of the dataset. */
static int take_vector(void *ctx, int64_t id, const void *bytes, size_t len) {
  fetch *f = ctx;
  trainer *t = f->t;
  dataset *d = f->d;
  if (t->dim == 0) t->dim = (int)(len / 2);
  if (len != (size_t)t->dim * 2)
    return cur_errorf("train: image %lld: embedding of %zu values, expected %d (model %s)",
                      (long long)id, len / 2, t->dim, t->model);
  if (!d->X && !(d->X = cur_mallocarray((size_t)d->cap, (size_t)t->dim * sizeof *d->X)))
    return CUR_ENOMEM;
  cur_half_decode(bytes, (size_t)t->dim, d->X + (size_t)d->n * t->dim);
  f->got = 1;
  return CUR_OK;
}

/* Adds the rows of SPLIT with their embeddings to D; rows without one are
** counted in t->missing. */
static int load_split(trainer *t, const cur_export_row *rows, size_t n, const char *split,
                      dataset *d) {
  for (size_t i = 0; i < n; i++) d->cap += strcmp(rows[i].split, split) == 0;
  d->y = cur_calloc((size_t)d->cap + 1, sizeof *d->y);
  d->w = cur_calloc((size_t)d->cap + 1, sizeof *d->w);
  if (!d->y || !d->w) return CUR_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    fetch f = {t, d, 0};
    if (strcmp(rows[i].split, split) != 0) continue;
    int rc = cur_store_embedding_of(cur_run_store(t->run), t->model, rows[i].image_id,
                                    take_vector, &f);
    if (rc) return rc;
    if (!f.got) {
      t->missing++;
      continue;
    }
    d->y[d->n] = rows[i].labels[0].class_idx;
    d->w[d->n++] = (float)rows[i].labels[0].weight;
  }
  return CUR_OK;
}

static void dataset_free(dataset *d) {
  cur_free(d->X);
  cur_free(d->y);
  cur_free(d->w);
}

/* The train and test rows of ROWS with their embeddings, anew. */
static int load_sets(trainer *t, const cur_export_row *rows, size_t n) {
  dataset_free(&t->train);
  dataset_free(&t->test);
  t->train = t->test = (dataset){0};
  t->missing = 0;
  int rc = load_split(t, rows, n, "train", &t->train);
  return rc ? rc : load_split(t, rows, n, "test", &t->test);
}

/* Rows made after the embed stage ran (augmented variants) have no
** embedding yet: embeds them with the newest embed run's options, under
** this run's id. */
static int fill_missing(trainer *t) {
  char *json = NULL;
  int found, rc = cur_store_run_config(cur_run_store(t->run), "embed", &json, &found);
  cJSON *opt = rc == CUR_OK && found ? cJSON_Parse(json) : NULL;
  if (rc == CUR_OK && found && !opt) rc = cur_errorf("train: the embed run's options are not JSON");
  if (opt) {
    cur_info("train: %lld rows have no embedding yet; embedding them", (long long)t->missing);
    rc = stage_embed_fill(t->run, opt);
  }
  cJSON_Delete(opt);
  cur_free(json);
  return rc;
}

/* The embedding key: train.model, else the one with the most embeddings. */
static int pick_model(trainer *t) {
  const char *model = cur_opt_str(cur_run_options(t->run), "model");
  int found = 1, rc = CUR_OK;
  if (model[0]) t->model = cur_strdup(model);
  else rc = cur_store_embedding_model_top(cur_run_store(t->run), &t->model, &found);
  if (rc == CUR_OK && !found)
    rc = cur_errorc(CUR_ESTATE, "train: no embeddings: run the embed stage first");
  return rc == CUR_OK && !t->model ? CUR_ENOMEM : rc;
}

/* ["TASK"]: the export rows' task filter; the caller frees *json. */
static int task_filter(const char *task, char **json) {
  cJSON *arr = cJSON_CreateArray(), *name = cJSON_CreateString(task);
  char *text = NULL;
  if (arr && name && cJSON_AddItemToArray(arr, name)) {
    name = NULL;
    text = cJSON_PrintUnformatted(arr);
  }
  *json = text ? cur_strdup(text) : NULL;
  cJSON_free(text);
  cJSON_Delete(name);
  cJSON_Delete(arr);
  return *json ? CUR_OK : cur_errorc(CUR_ENOMEM, "train: out of memory");
}

/* Classes, model and the train and test rows of train.task. */
static int load(trainer *t) {
  const char *task = cur_opt_str(cur_run_options(t->run), "task");
  cur_store *st = cur_run_store(t->run);
  cur_export_row *rows = NULL;
  size_t n = 0;
  int64_t task_id;
  int found, rc = cur_store_task_find(st, task, &task_id, &found);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_ECONFIG, "train.task: no task named \"%s\"", task);
  if (rc == CUR_OK) rc = cur_store_class_names(st, task_id, &t->classes, &t->k);
  if (rc == CUR_OK) rc = pick_model(t);
  char *filter = NULL;
  if (rc == CUR_OK) rc = task_filter(task, &filter);
  if (rc == CUR_OK) rc = cur_store_export_rows(st, filter, &rows, &n);
  if (rc == CUR_OK) rc = load_sets(t, rows, n);
  if (rc == CUR_OK && t->missing && (rc = fill_missing(t)) == CUR_OK) rc = load_sets(t, rows, n);
  if (rc == CUR_OK && t->missing)
    rc = cur_errorc(CUR_ESTATE, "train: %lld rows of the manifest have no embedding for model %s",
                    (long long)t->missing, t->model);
  cur_export_rows_free(rows, n);
  cur_free(filter);
  return rc;
}

static int stop_when_interrupted(void *ctx, int epoch, const float *logits, int n, int k) {
  (void)ctx, (void)epoch, (void)logits, (void)n, (void)k;
  return cur_interrupted() ? CUR_EINTR : CUR_OK;
}

/* Standardises, trains and fills CONFUSION (k x k) from the test rows. */
static int fit_and_evaluate(trainer *t, int64_t *confusion) {
  const cJSON *opt = cur_run_options(t->run);
  feat_scaler *scaler = NULL;
  head *h = NULL;
  head_config cfg;
  float *logits = cur_mallocarray((size_t)t->test.n, (size_t)t->k * sizeof *logits);
  head_config_from_options(opt, cur_run_seed(t->run), 0, &cfg);
  /* the epsilon keeps constant columns (e.g. a border pixel) finite */
  int rc = logits ? feat_scaler_fit(t->train.X, (size_t)t->train.n, t->dim, 1e-6f, &scaler) : CUR_ENOMEM;
  if (rc == CUR_OK) {
    feat_scaler_apply(scaler, t->train.X, (size_t)t->train.n);
    feat_scaler_apply(scaler, t->test.X, (size_t)t->test.n);
    rc = head_new(&cfg, t->dim, t->k, &h);
  }
  if (rc == CUR_OK)
    rc = head_train(h, t->train.X, t->train.n, t->train.y, t->train.w, stop_when_interrupted, NULL);
  if (rc == CUR_OK) rc = head_predict_logits(h, t->test.X, t->test.n, logits);
  for (int i = 0; rc == CUR_OK && i < t->test.n; i++) {
    int best = 0;
    for (int c = 1; c < t->k; c++)
      if (logits[(size_t)i * t->k + c] > logits[(size_t)i * t->k + best]) best = c;
    confusion[(size_t)t->test.y[i] * t->k + best]++;
  }
  head_free(h);
  feat_scaler_free(scaler);
  cur_free(logits);
  return rc;
}

/* {"classes": [names], "matrix": [[row of true class 0], ...]} */
static char *confusion_json(const trainer *t, const int64_t *confusion) {
  cJSON *o = cJSON_CreateObject();
  cJSON *names = o ? cJSON_AddArrayToObject(o, "classes") : NULL;
  cJSON *matrix = o ? cJSON_AddArrayToObject(o, "matrix") : NULL;
  int ok = names && matrix;
  for (int c = 0; ok && c < t->k; c++) {
    cJSON *row = cJSON_CreateArray();
    ok = cJSON_AddItemToArray(names, cJSON_CreateString(t->classes[c])) && row &&
         cJSON_AddItemToArray(matrix, row);
    for (int j = 0; ok && j < t->k; j++)
      ok = cJSON_AddItemToArray(row, cJSON_CreateNumber((double)confusion[(size_t)c * t->k + j]));
  }
  char *text = ok ? cJSON_PrintUnformatted(o) : NULL, *out = text ? cur_strdup(text) : NULL;
  cJSON_free(text);
  cJSON_Delete(o);
  return out;
}

/* One class's three metrics, named precision/<class> and so on. */
static int put_class(trainer *t, int c, const head_class_metrics *m) {
  const char *kinds[] = {"precision", "recall", "f1"};
  const double values[] = {m->precision, m->recall, m->f1};
  int rc = CUR_OK;
  for (size_t i = 0; rc == CUR_OK && i < CUR_ARRAY_LEN(kinds); i++) {
    char *name = cur_asprintf("%s/%s", kinds[i], t->classes[c]);
    rc = name ? cur_store_metric_put(cur_run_store(t->run), cur_run_id(t->run), name, values[i], NULL)
              : CUR_ENOMEM;
    cur_free(name);
  }
  return rc;
}

static int record(trainer *t, const head_class_metrics *m, double acc, double macro,
                  const char *confusion) {
  cur_store *st = cur_run_store(t->run);
  int64_t id = cur_run_id(t->run);
  int rc = cur_store_begin(st);
  if (rc) return rc;
  rc = cur_store_metrics_clear(st, id);
  if (rc == CUR_OK) rc = cur_store_metric_put(st, id, "accuracy", acc, NULL);
  if (rc == CUR_OK) rc = cur_store_metric_put(st, id, "macro_f1", macro, NULL);
  if (rc == CUR_OK) rc = cur_store_metric_put(st, id, "confusion", NAN, confusion);
  for (int c = 0; rc == CUR_OK && c < t->k; c++) rc = put_class(t, c, &m[c]);
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

/* The per-class table and the confusion matrix (info lines: --quiet drops them). */
static void report(const trainer *t, const head_class_metrics *m, double acc, double macro,
                   const int64_t *confusion) {
  char line[1024];
  cur_info("train: model %s, %d training rows, %d test rows", t->model, t->train.n, t->test.n);
  cur_info("  %-20s %9s %9s %9s %8s", "class", "precision", "recall", "f1", "support");
  for (int c = 0; c < t->k; c++)
    cur_info("  %-20s %9.4f %9.4f %9.4f %8lld", t->classes[c], m[c].precision, m[c].recall,
             m[c].f1, (long long)m[c].support);
  cur_info("  accuracy %.4f, macro-F1 %.4f", acc, macro);
  cur_info("  confusion (rows: true class, columns: predicted, in class order):");
  for (int c = 0; c < t->k; c++) {
    size_t len = (size_t)snprintf(line, sizeof line, "  %-20s", t->classes[c]);
    for (int j = 0; j < t->k && len < sizeof line; j++)
      len += (size_t)snprintf(line + len, sizeof line - len, " %6lld",
                              (long long)confusion[(size_t)c * t->k + j]);
    cur_info("%s", line);
  }
}

static int evaluate(trainer *t) {
  int64_t *confusion = cur_calloc((size_t)t->k * (size_t)t->k, sizeof *confusion);
  head_class_metrics *m = cur_calloc((size_t)t->k, sizeof *m);
  char *json = NULL;
  double acc = 0, macro = 0;
  int rc = confusion && m ? fit_and_evaluate(t, confusion) : CUR_ENOMEM;
  if (rc == CUR_OK) {
    head_metrics_compute(confusion, t->k, m, &acc, &macro);
    rc = (json = confusion_json(t, confusion)) ? record(t, m, acc, macro, json) : CUR_ENOMEM;
  }
  if (rc == CUR_OK) report(t, m, acc, macro, confusion);
  cur_free(json);
  cur_free(m);
  cur_free(confusion);
  return rc;
}

static int train_run(cur_run *run) {
  trainer t = {.run = run};
  char *manifest = NULL;
  int command = cur_opt_str(cur_run_options(run), "command")[0] != 0;
  int rc = command ? cur_train_job_manifest(run, &manifest) : CUR_OK;
  if (rc == CUR_OK) rc = load(&t);
  /* a corpus without a test split (or train rows) has nothing to show:
  ** say so and go on, so that `curate run` still completes */
  if (rc == CUR_OK && (t.train.n == 0 || t.test.n == 0))
    cur_warn("train: task %s has %d training and %d test rows; nothing to train or evaluate",
             cur_opt_str(cur_run_options(run), "task"), t.train.n, t.test.n);
  else if (rc == CUR_OK)
    rc = evaluate(&t);
  if (rc == CUR_OK) {
    cur_run_count_set(run, "train_rows", t.train.n);
    cur_run_count_set(run, "test_rows", t.test.n);
    if (command) rc = cur_train_job_run(run, manifest);
  }
  cur_free(manifest);
  dataset_free(&t.train);
  dataset_free(&t.test);
  cur_store_names_free(t.classes, t.k);
  cur_free(t.model);
  return rc;
}

static const char *const train_needs[] = {"split", "embed", NULL};

const cur_stage stage_train = {
    .name = "train",
    .summary = "fit a classifier head on the manifest's training rows, evaluate on test",
    .needs = train_needs,
    .options = train_options,
    .fingerprint = NULL,
    .run = train_run,
};
