/* train.c -- the train stage: fits a classifier head on the manifest's
** training rows and evaluates it on the test split.
**
** The rows are the export stage's (read one at a time with
** cur_store_export_rows_each, for train.task):
** the balanced training rows with their weights, and the labelled test
** rows.  Features are the rows' embeddings for train.model, held as the
** half floats they are stored as and standardised, a minibatch at a time as
** the head reads them, with a scaler fitted on the training rows.  Training
** draws only on the run's seed, so a run is repeatable.  The metrics
** (accuracy, macro-F1, per class precision/recall/F1, the confusion matrix)
** and each held-out image's predicted class and its probability under each
** head (the predictions table: the rows behind every cell of the matrices)
** are written in one transaction after deleting the run's earlier ones, so
** a resumed run ends with the same rows.
**
** train.command, when set, then runs an external training job on the newest
** JSONL manifest (train_job.c).
**
** The head's optional techniques (models/head.h, docs/stages/train.md):
** train.tasks adds other tasks learnt jointly (a multi-task head: a row
** trains with whichever of the tasks it has labels for; only train.task is
** scored), train.ema_decay evaluates the weights' moving average, and
** train.uda_weight adds UDA's consistency loss over the pairs of an
** unlabelled train original and its augmented variants.  Each is used only
** where the newest complete policy run kept it for train.task, or when no
** policy run decided the task (the policy tries them as decisions,
** docs/stages/policy.md).  The raw-label baseline uses the same EMA and UDA
** but train.task alone.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "embedder.h"
#include "feat.h"
#include "half.h"
#include "head.h"
#include "head_options.h"
#include "metrics.h"
#include "stages.h"
#include "store_embed.h"
#include "store_export.h"
#include "store_labels.h"
#include "store_metrics.h"
#include "store_policy.h"
#include "store_runs.h"
#include "store_uda.h"
#include "train_job.h"

static const cur_option train_options[] = {
    {"head", CUR_OPT_STR, "\"logreg\"", "classifier head: logreg or mlp", cur_head_option_check},
    {"epochs", CUR_OPT_INT, "30", "passes over the training rows", cur_option_check_positive},
    {"lr", CUR_OPT_NUM, "0.1", "initial learning rate (cosine schedule)", cur_option_check_positive},
    {"weight_decay", CUR_OPT_NUM, "0.0001", "L2 penalty on the weights", cur_option_check_nonnegative},
    {"hidden", CUR_OPT_INT, "256", "hidden units of the mlp head", cur_option_check_positive},
    {"batch_size", CUR_OPT_INT, "128", "rows per SGD step", cur_option_check_positive},
    {"task", CUR_OPT_STR, "\"label\"", "the label task to train on", NULL},
    {"tasks", CUR_OPT_STRS, "[]",
     "other tasks learnt jointly with task by a multi-task head (a softmax per task); [] = task "
     "alone", NULL},
    {"ema_decay", CUR_OPT_NUM, "0",
     "evaluate the exponential moving average of the weights with this decay; 0 = off",
     cur_head_ema_check},
    {"uda_weight", CUR_OPT_NUM, "0",
     "weight of UDA's consistency loss on unlabelled train rows and their augmented variants; "
     "0 = off", cur_option_check_nonnegative},
    {"uda_threshold", CUR_OPT_NUM, "0.8",
     "UDA: an unlabelled row counts only when its top probability reaches this",
     cur_option_check_fraction},
    {"uda_temperature", CUR_OPT_NUM, "0.4", "UDA: temperature that sharpens the target",
     cur_option_check_positive},
    {"model", CUR_OPT_STR, "\"\"",
     "embedding model key; \"\" = the model with the most embeddings", NULL},
    {"command", CUR_OPT_STR, "\"\"",
     "external training command run after the built-in evaluation (/bin/sh; {manifest} = the "
     "manifest's path); \"\" = none", NULL},
    {NULL, 0, NULL, NULL, NULL}};

/* Every embedding the trainer holds, once: the datasets' rows point into it. */
typedef struct matrix {
  uint16_t *X;       /* rows x dim half floats, as stored */
  size_t rows, cap;
} matrix;

/* Rows of the trainer's matrix with their labels, grown as rows are added. */
typedef struct dataset {
  uint32_t *row;     /* n: each row's row of the matrix */
  int *y;            /* n x tasks class indices, -1 for a missing label */
  float *w;          /* sample weights */
  int64_t *ids;      /* the rows' image ids */
  int n, cap;
  int tasks;         /* labels per row */
} dataset;


/* What the trainer works on. */
typedef struct trainer {
  cur_run *run;
  char *model;       /* embedding key */
  int dim, k;        /* features, classes */
  char **classes;    /* k names */
  int64_t task_id;
  int n_tasks;       /* train.task and train.tasks */
  int64_t task_ids[HEAD_MAX_TASKS];
  int task_k[HEAD_MAX_TASKS];
  int k_all;         /* the tasks' classes together */
  matrix feats;      /* the embeddings of every dataset's rows */
  dataset train;     /* the manifest's training rows, in image id order */
  dataset raw;       /* the raw-label baseline's: human labels of train, weight 1
                     ** (its images' embeddings are mostly train's: shared) */
  dataset eval;      /* held-out rows: val's first, then test's */
  int n_val;
  int64_t missing;   /* rows without an embedding */
  dataset uda_src, uda_var;  /* UDA's pairs, row for row (tasks 0: no labels) */
  int use_ema, use_tasks, use_uda;  /* the techniques configured and not refused */
} trainer;

/* One embedding being read into the next row of a dataset. */
typedef struct fetch {
  trainer *t;
  dataset *d;
  int got;           /* the image has an embedding for the model */
} fetch;

/* Room for one more row in M. */
static int grow_matrix(matrix *m, int dim) {
  if (m->rows < m->cap) return CUR_OK;
  size_t cap = m->cap ? m->cap * 2 : 1024;
  if (cap > UINT32_MAX) return cur_errorc(CUR_ENOMEM, "train: more than 2^32 rows");
  uint16_t *X = cur_reallocarray(m->X, cap, (size_t)dim * sizeof *X);
  if (!X) return CUR_ENOMEM;
  m->X = X;
  m->cap = cap;
  return CUR_OK;
}

/* Room for one more row in D. */
static int grow(dataset *d) {
  if (d->n < d->cap) return CUR_OK;
  int cap = d->cap ? d->cap * 2 : 256;
  uint32_t *row = cur_reallocarray(d->row, (size_t)cap, sizeof *row);
  if (row) d->row = row;
  int *y = row ? cur_reallocarray(d->y, (size_t)cap, (size_t)(d->tasks ? d->tasks : 1) * sizeof *y)
               : NULL;
  if (y) d->y = y;
  float *w = y ? cur_reallocarray(d->w, (size_t)cap, sizeof *w) : NULL;
  if (w) d->w = w;
  int64_t *ids = w ? cur_reallocarray(d->ids, (size_t)cap, sizeof *ids) : NULL;
  if (!ids) return CUR_ENOMEM;
  d->ids = ids;
  d->cap = cap;
  return CUR_OK;
}

/* Store callback: copies one embedding into the matrix, as the next row of the dataset. */
static int take_vector(void *ctx, int64_t id, const void *bytes, size_t len) {
  fetch *f = ctx;
  trainer *t = f->t;
  dataset *d = f->d;
  if (t->dim == 0) t->dim = (int)(len / 2);
  if (len != (size_t)t->dim * 2)
    return cur_errorf("train: image %lld: embedding of %zu values, expected %d (model %s)",
                      (long long)id, len / 2, t->dim, t->model);
  int rc = grow(d);
  if (rc == CUR_OK) rc = grow_matrix(&t->feats, t->dim);
  if (rc) return rc;
  cur_half_unpack(bytes, (size_t)t->dim, t->feats.X + t->feats.rows * (size_t)t->dim);
  d->row[d->n] = (uint32_t)t->feats.rows++;
  f->got = 1;
  return CUR_OK;
}

/* The matrix row of IMAGE_ID's embedding among the training rows (in
** image id order), or -1. */
static long train_row_of(const trainer *t, int64_t image_id) {
  int lo = 0, hi = t->train.n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (t->train.ids[mid] < image_id) lo = mid + 1;
    else hi = mid;
  }
  return lo < t->train.n && t->train.ids[lo] == image_id ? (long)t->train.row[lo] : -1;
}

/* Appends IMAGE_ID with the d->tasks classes Y and weight W to D: its
** embedding read into the matrix, or, with SHARE, the training row's
** when it is one; an image without an embedding is counted in *MISSING. */
static int add_row(trainer *t, dataset *d, int64_t image_id, const int *y, float w, int share,
                   int64_t *missing) {
  long shared = share ? train_row_of(t, image_id) : -1;
  fetch f = {t, d, 0};
  int rc = shared >= 0 ? grow(d) : cur_store_embedding_of(cur_run_store(t->run), t->model, image_id,
                                                          take_vector, &f);
  if (rc) return rc;
  if (shared >= 0) d->row[d->n] = (uint32_t)shared;
  else if (!f.got) {
    (*missing)++;
    return CUR_OK;
  }
  if (d->tasks && y) memcpy(d->y + (size_t)d->n * d->tasks, y, (size_t)d->tasks * sizeof *y);
  d->ids[d->n] = image_id;
  d->w[d->n++] = w;
  return CUR_OK;
}

/* Row R's label of task T (train.task is 0), or NULL. */
static const cur_export_label *label_of(const trainer *t, const cur_export_row *r, int task) {
  for (int j = 0; j < r->n_labels; j++)
    if (r->labels[j].task_id == t->task_ids[task]) return &r->labels[j];
  return NULL;
}

/* A held-out row is scored against a person's label only: a zero-shot or
** teacher guess on a val or test image is no truth to measure by. */
static int human_label(const cur_export_label *l) {
  return l && (strcmp(l->source, "human") == 0 || strcmp(l->source, "review") == 0);
}

/* Adds manifest row R to D: of train, a row with a label of one of the
** tasks (its weight train.task's, else 1); held out (val and test), one a
** person labelled for train.task. */
static int add_manifest_row(trainer *t, dataset *d, const cur_export_row *r, int held_out) {
  const cur_export_label *main = label_of(t, r, 0);
  if (held_out && !human_label(main)) return CUR_OK;
  int y[HEAD_MAX_TASKS], any = 0;
  for (int task = 0; task < d->tasks; task++) {
    const cur_export_label *l = label_of(t, r, task);
    y[task] = l ? l->class_idx : -1;
    any |= l != NULL;
  }
  return any ? add_row(t, d, r->image_id, y, main ? (float)main->weight : 1.0f, 0, &t->missing)
             : CUR_OK;
}

/* One pass over the manifest's rows (cur_store_export_rows_each) fills
** train's rows, val's (into eval) and test's (appended to eval after). */
typedef struct split_sets {
  trainer *t;
  dataset *test;
} split_sets;

static int take_manifest_row(void *ctx, cur_export_row *r) {
  split_sets *s = ctx;
  trainer *t = s->t;
  if (strcmp(r->split, "train") == 0) return add_manifest_row(t, &t->train, r, 0);
  if (strcmp(r->split, "val") == 0) return add_manifest_row(t, &t->eval, r, 1);
  if (strcmp(r->split, "test") == 0) return add_manifest_row(t, s->test, r, 1);
  return CUR_OK;
}

/* Appends FROM's rows to D (the same number of tasks). */
static int dataset_append(dataset *d, const dataset *from) {
  for (int i = 0; i < from->n; i++) {
    int rc = grow(d);
    if (rc) return rc;
    d->row[d->n] = from->row[i];
    memcpy(d->y + (size_t)d->n * d->tasks, from->y + (size_t)i * from->tasks,
           (size_t)d->tasks * sizeof *d->y);
    d->w[d->n] = from->w[i];
    d->ids[d->n++] = from->ids[i];
  }
  return CUR_OK;
}

/* The raw-label baseline's rows: the human and review labels of the train
** split's originals, each weight 1, whatever curation decided. */
static int load_raw(trainer *t) {
  cur_policy_row *rows = NULL;
  size_t n = 0;
  int rc = cur_store_policy_rows(cur_run_store(t->run), t->task_id, &rows, &n);
  for (size_t i = 0; rc == CUR_OK && i < n; i++)
    if (rows[i].kind == 'h' && rows[i].split == 't')
      rc = add_row(t, &t->raw, rows[i].image_id, &rows[i].class_idx, 1.0f, 1, &t->missing);
  cur_free(rows);
  return rc;
}

/* Frees D's rows; it keeps its number of tasks. */
static void dataset_free(dataset *d) {
  int tasks = d->tasks;
  cur_free(d->row);
  cur_free(d->y);
  cur_free(d->w);
  cur_free(d->ids);
  *d = (dataset){.tasks = tasks};
}

/* Every dataset from the manifest's rows (FILTER: their tasks, read row by
** row, never all held at once) and the raw labels, anew. */
static int load_sets(trainer *t, const char *filter) {
  dataset_free(&t->train);
  dataset_free(&t->raw);
  dataset_free(&t->eval);
  t->feats.rows = 0;  /* UDA's pairs are read after these */
  t->train.tasks = t->n_tasks;
  t->raw.tasks = t->eval.tasks = 1;
  t->missing = 0;
  dataset test = {.tasks = 1};
  split_sets sets = {t, &test};
  int rc = cur_store_export_rows_each(cur_run_store(t->run), filter, take_manifest_row, &sets);
  t->n_val = t->eval.n;
  if (rc == CUR_OK) rc = dataset_append(&t->eval, &test);
  dataset_free(&test);
  return rc ? rc : load_raw(t);
}

/* The embedding key: train.model, else the one with the most embeddings. */
static int pick_model(trainer *t) {
  const char *model = cur_opt_str(cur_run_options(t->run), "model");
  int found = 1, rc = CUR_OK;
  if (model[0]) t->model = cur_strdup(model);
  else rc = cur_store_embedding_model_default(cur_run_store(t->run), &t->model, &found);
  if (rc == CUR_OK && !found)
    rc = cur_errorc(CUR_ESTATE, "train: no embeddings: run the embed stage first");
  return rc == CUR_OK && !t->model ? CUR_ENOMEM : rc;
}

/* ["TASK", train.tasks...]: the export rows' task filter; the caller frees *json. */
static int task_filter(const char *task, const cJSON *others, char **json) {
  cJSON *arr = others ? cJSON_Duplicate(others, 1) : cJSON_CreateArray(),
        *name = cJSON_CreateString(task);
  char *text = NULL;
  if (arr && name && cJSON_InsertItemInArray(arr, 0, name)) {
    name = NULL;
    text = cJSON_PrintUnformatted(arr);
  }
  *json = text ? cur_strdup(text) : NULL;
  cJSON_free(text);
  cJSON_Delete(name);
  cJSON_Delete(arr);
  return *json ? CUR_OK : cur_errorc(CUR_ENOMEM, "train: out of memory");
}

/* train.task's id and classes, then each of train.tasks'. */
static int load_tasks(trainer *t, const char *task, const cJSON *others) {
  cur_store *st = cur_run_store(t->run);
  int found, rc = cur_store_task_find(st, task, &t->task_id, &found);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_ECONFIG, "train.task: no task named \"%s\"", task);
  if (rc == CUR_OK) rc = cur_store_class_names(st, t->task_id, &t->classes, &t->k);
  t->task_ids[0] = t->task_id;
  t->task_k[0] = t->k_all = t->k;
  t->n_tasks = 1;
  const cJSON *o;
  cJSON_ArrayForEach(o, others) {
    if (rc != CUR_OK) break;
    int64_t classes = 0, id;
    if (t->n_tasks == HEAD_MAX_TASKS)
      return cur_errorc(CUR_ECONFIG, "train.tasks: at most %d tasks", HEAD_MAX_TASKS - 1);
    rc = cur_store_task_find(st, o->valuestring, &id, &found);
    if (rc == CUR_OK && (!found || id == t->task_id))
      rc = cur_errorc(CUR_ECONFIG, "train.tasks: \"%s\" is %s", o->valuestring,
                      found ? "train.task itself" : "no task");
    for (int j = 1; rc == CUR_OK && j < t->n_tasks; j++)
      if (t->task_ids[j] == id)
        rc = cur_errorc(CUR_ECONFIG, "train.tasks: \"%s\" appears twice", o->valuestring);
    if (rc == CUR_OK) rc = cur_store_class_count(st, id, &classes);
    if (rc == CUR_OK && classes < 2)
      rc = cur_errorc(CUR_ECONFIG, "train.tasks: task \"%s\" has %lld classes, needs 2",
                      o->valuestring, (long long)classes);
    if (rc == CUR_OK) {
      t->task_ids[t->n_tasks] = id;
      t->task_k[t->n_tasks++] = (int)classes;
      t->k_all += (int)classes;
    }
  }
  return rc;
}

/* UDA's pairs of train.task: an unlabelled original and a variant, both
** embedded; a pair whose rows have no embedding for the model is skipped. */
static int load_uda(trainer *t, int64_t *skipped) {
  cur_uda_pair *pairs = NULL;
  size_t n = 0;
  int64_t missing = 0;
  int rc = cur_store_uda_pairs(cur_run_store(t->run), t->task_id, &pairs, &n);
  /* a second read replaces the first's rows, which follow the datasets' */
  if (t->uda_src.n > 0) t->feats.rows = t->uda_src.row[0];
  dataset_free(&t->uda_src);
  dataset_free(&t->uda_var);
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    int64_t before = missing;
    rc = add_row(t, &t->uda_src, pairs[i].source_id, NULL, 1.0f, 0, &missing);
    if (rc == CUR_OK && missing == before)
      rc = add_row(t, &t->uda_var, pairs[i].variant_id, NULL, 1.0f, 0, &missing);
    if (rc == CUR_OK && missing != before && t->uda_var.n < t->uda_src.n) t->uda_src.n--;
  }
  *skipped = missing;
  cur_free(pairs);
  return rc;
}

/* Whether technique DECISION (a policy decision's name), configured when
** ON, is used: unless the newest complete policy run decided TASK and did
** not keep it. */
static int technique(trainer *t, const char *task, const char *decision, const char *option,
                     int on, int *use) {
  int64_t id;
  int found = 0, decided = 0, kept = 0;
  int rc = on ? cur_store_task_find(cur_run_store(t->run), task, &id, &found) : CUR_OK;
  if (rc == CUR_OK && found) rc = cur_store_policy_verdict(cur_run_store(t->run), id, decision, &decided, &kept);
  *use = on && (!decided || kept);
  if (rc == CUR_OK && on && !*use)
    cur_info("train: %s is off: the newest policy run did not keep \"%s\" for task %s "
             "(docs/stages/policy.md)", option, decision, task);
  return rc;
}

/* Classes, model and the train and test rows of train.task. */
static int load(trainer *t) {
  const cJSON *opt = cur_run_options(t->run);
  const char *task = cur_opt_str(opt, "task");
  int rc = technique(t, task, "ema", "train.ema_decay", cur_opt_num(opt, "ema_decay") > 0, &t->use_ema);
  if (rc == CUR_OK)
    rc = technique(t, task, "multitask", "train.tasks",
                   cJSON_GetArraySize(cur_opt_json(opt, "tasks")) > 0, &t->use_tasks);
  if (rc == CUR_OK)
    rc = technique(t, task, "uda", "train.uda_weight", cur_opt_num(opt, "uda_weight") > 0, &t->use_uda);
  const cJSON *others = t->use_tasks ? cur_opt_json(opt, "tasks") : NULL;
  if (rc == CUR_OK) rc = load_tasks(t, task, others);
  if (rc == CUR_OK) rc = pick_model(t);
  char *filter = NULL;
  if (rc == CUR_OK) rc = task_filter(task, others, &filter);
  if (rc == CUR_OK) rc = load_sets(t, filter);
  /* rows made after the embed stage ran (augmented variants) have none yet */
  if (rc == CUR_OK && t->missing && (rc = cur_embedder_fill_newest(t->run, "train", t->missing)) == CUR_OK)
    rc = load_sets(t, filter);
  if (rc == CUR_OK && t->missing)
    rc = cur_errorc(CUR_ESTATE, "train: %lld rows of the manifest have no embedding for model %s",
                    (long long)t->missing, t->model);
  int64_t skipped = 0;
  if (rc == CUR_OK && t->use_uda) {
    rc = load_uda(t, &skipped);
    if (rc == CUR_OK && skipped && (rc = cur_embedder_fill_newest(t->run, "train", skipped)) == CUR_OK)
      rc = load_uda(t, &skipped);
    if (rc == CUR_OK)
      cur_info("train: UDA on %d pairs of an unlabelled train row and its variant%s", t->uda_src.n,
               t->uda_src.n ? "" : " (augment makes none yet: UDA has nothing to add)");
    if (rc == CUR_OK && skipped)
      cur_warn("train: UDA: %lld pairs left out: no embedding for model %s", (long long)skipped,
               t->model);
  }
  cur_free(filter);
  return rc;
}

/* What one head scored: val's and test's confusion matrices (k x k), and
** the class and its probability it gave each held-out row (t->eval's). */
typedef struct scored {
  int64_t *val, *test;
  int *pred;
  float *conf;
} scored;

/* D's rows of the matrix, standardised by SCALER (when not NULL) as the head reads them. */
static head_rows view_of(const trainer *t, const dataset *d, const feat_scaler *scaler) {
  head_rows v = head_rows_half(t->feats.X, (int)t->feats.rows, t->dim);
  v.idx = d->row;
  v.n = d->n;
  if (scaler) feat_scaler_view(scaler, &v);
  return v;
}

/* Trains a head on TRAIN (standardised with a scaler fitted on it) and adds
** its predictions for the held-out rows to OUT.  The curated and the raw
** head share the seed stream: they differ only by their rows. */
static int fit_and_score(trainer *t, dataset *train, scored *out) {
  feat_scaler *scaler = NULL;
  head_config cfg;
  int m = t->eval.n, T = train->tasks, k = T > 1 ? t->k_all : t->k;
  int *pred = cur_calloc((size_t)m + 1, (size_t)T * sizeof *pred);
  float *conf = cur_calloc((size_t)m + 1, (size_t)T * sizeof *conf);
  cur_head_options_config(cur_run_options(t->run), cur_run_seed(t->run), 0, &cfg);
  cur_head_options_techniques(cur_run_options(t->run), &cfg);
  if (!t->use_ema) cfg.ema_decay = 0;
  if (!t->use_uda) cfg.uda_weight = 0;
  if (T > 1) {
    cfg.n_tasks = T;
    cfg.task_classes = t->task_k;
  }
  head_rows X = view_of(t, train, NULL);
  /* the epsilon keeps constant columns (e.g. a border pixel) finite */
  int rc = pred && conf ? feat_scaler_fit_rows(&X, 1e-6f, &scaler) : CUR_ENOMEM;
  if (rc == CUR_OK) {
    feat_scaler_view(scaler, &X);
    head_rows ev = view_of(t, &t->eval, scaler);
    head_unlabelled u = {view_of(t, &t->uda_src, scaler), view_of(t, &t->uda_var, scaler)};
    rc = head_fit_predict(&cfg, &X, k, train->y, train->w, &u, &ev, pred, conf,
                          head_stop_when_interrupted, NULL);
  }
  /* train.task is the first of the tasks */
  for (int i = 0; rc == CUR_OK && i < m; i++) {
    out->pred[i] = pred[(size_t)i * T];
    out->conf[i] = conf[(size_t)i * T];
    (i < t->n_val ? out->val : out->test)[(size_t)t->eval.y[i] * t->k + out->pred[i]]++;
  }
  feat_scaler_free(scaler);
  cur_free(pred);
  cur_free(conf);
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

/* A metric PREFIX + NAME (PREFIX "" for the curated head's test figures). */
static int put(trainer *t, const char *prefix, const char *name, double value, const char *text) {
  char *full = cur_asprintf("%s%s", prefix, name);
  int rc = full ? cur_store_metric_put(cur_run_store(t->run), cur_run_id(t->run), full, value, text)
                : CUR_ENOMEM;
  cur_free(full);
  return rc;
}

/* Accuracy, macro-F1 and the confusion matrix of CONFUSION under PREFIX;
** with PER_CLASS, each class's precision/<class>, recall/<class>, f1/<class>
** too.  Nothing when the matrix is empty (no such rows). */
static int put_matrix(trainer *t, const char *prefix, const int64_t *confusion, int per_class,
                      head_class_metrics *m, double *acc, double *macro) {
  int64_t total = 0;
  for (int c = 0; c < t->k * t->k; c++) total += confusion[c];
  *acc = *macro = NAN;
  if (total == 0) return CUR_OK;
  head_metrics_compute(confusion, t->k, m, acc, macro);
  char *json = confusion_json(t, confusion);
  int rc = json ? put(t, prefix, "confusion", NAN, json) : CUR_ENOMEM;
  if (rc == CUR_OK) rc = put(t, prefix, "accuracy", *acc, NULL);
  if (rc == CUR_OK) rc = put(t, prefix, "macro_f1", *macro, NULL);
  for (int c = 0; per_class && rc == CUR_OK && c < t->k; c++) {
    const char *kinds[] = {"precision/", "recall/", "f1/"};
    const double values[] = {m[c].precision, m[c].recall, m[c].f1};
    for (size_t i = 0; rc == CUR_OK && i < CUR_ARRAY_LEN(kinds); i++) {
      char *name = cur_asprintf("%s%s", kinds[i], t->classes[c]);
      rc = name ? put(t, prefix, name, values[i], NULL) : CUR_ENOMEM;
      cur_free(name);
    }
  }
  cur_free(json);
  return rc;
}

/* The per-class table and the confusion matrix (info lines: --quiet drops them). */
static void report(const trainer *t, const head_class_metrics *m, double acc, double macro,
                   const int64_t *confusion) {
  char line[1024];
  cur_info("train: model %s, %d training rows, %d test rows", t->model, t->train.n,
           t->eval.n - t->n_val);
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

/* HEAD's prediction for each held-out row (val's, then test's): the rows
** of its confusion matrices, cell by cell. */
static int put_predictions(trainer *t, const char *head, const scored *h) {
  int rc = CUR_OK;
  for (int i = 0; rc == CUR_OK && i < t->eval.n; i++)
    rc = cur_store_prediction_put(cur_run_store(t->run), cur_run_id(t->run), t->task_id, head,
                                  t->eval.ids[i], i < t->n_val ? "val" : "test", t->eval.y[i],
                                  h->pred[i], h->conf[i]);
  return rc;
}

/* Scores the curated head and the raw-label baseline on val and test and
** records both, their figures and their per-image predictions, in one
** transaction (after deleting the run's earlier ones). */
static int evaluate(trainer *t) {
  size_t kk = (size_t)t->k * (size_t)t->k, m_eval = (size_t)t->eval.n + 1;
  int64_t *cells = cur_calloc(4 * kk, sizeof *cells);
  int *preds = cur_calloc(2 * m_eval, sizeof *preds);
  float *confs = cur_calloc(2 * m_eval, sizeof *confs);
  head_class_metrics *m = cur_calloc((size_t)t->k, sizeof *m);
  if (!cells || !preds || !confs || !m) {
    cur_free(cells);
    cur_free(preds);
    cur_free(confs);
    cur_free(m);
    return CUR_ENOMEM;
  }
  scored curated = {cells, cells + kk, preds, confs},
         raw = {cells + 2 * kk, cells + 3 * kk, preds + m_eval, confs + m_eval};
  double acc, macro, a, f;
  int rc = fit_and_score(t, &t->train, &curated);
  if (rc == CUR_OK && t->raw.n > 0) rc = fit_and_score(t, &t->raw, &raw);
  cur_store *st = cur_run_store(t->run);
  if (rc == CUR_OK && (rc = cur_store_begin(st)) == CUR_OK) {
    rc = cur_store_metrics_clear(st, cur_run_id(t->run));
    if (rc == CUR_OK) rc = cur_store_predictions_clear(st, cur_run_id(t->run));
    if (rc == CUR_OK) rc = put_predictions(t, "curated", &curated);
    if (rc == CUR_OK && t->raw.n > 0) rc = put_predictions(t, "raw", &raw);
    if (rc == CUR_OK) rc = put_matrix(t, "raw/val/", raw.val, 0, m, &a, &f);
    if (rc == CUR_OK) rc = put_matrix(t, "raw/", raw.test, 0, m, &a, &f);
    if (rc == CUR_OK && !isnan(f)) cur_info("train: raw labels (%d rows): test accuracy %.4f, macro-F1 %.4f", t->raw.n, a, f);
    if (rc == CUR_OK) rc = put_matrix(t, "val/", curated.val, 0, m, &a, &f);
    if (rc == CUR_OK) rc = put_matrix(t, "", curated.test, 1, m, &acc, &macro);
    rc = rc == CUR_OK ? cur_store_commit(st) : (cur_store_rollback(st), rc);
  }
  if (rc == CUR_OK) report(t, m, acc, macro, curated.test);
  cur_free(m);
  cur_free(cells);
  cur_free(preds);
  cur_free(confs);
  return rc;
}

static int train_run(cur_run *run) {
  trainer t = {.run = run};
  char *manifest = NULL;
  int command = cur_opt_str(cur_run_options(run), "command")[0] != 0;
  int rc = command ? cur_train_job_manifest(run, &manifest) : CUR_OK;
  if (rc == CUR_OK) rc = load(&t);
  int n_test = t.eval.n - t.n_val;
  /* a corpus without a test split (or train rows) has nothing to show:
  ** say so and go on, so that `curate run` still completes */
  if (rc == CUR_OK && (t.train.n == 0 || n_test == 0))
    cur_warn("train: task %s has %d training and %d test rows; nothing to train or evaluate",
             cur_opt_str(cur_run_options(run), "task"), t.train.n, n_test);
  else if (rc == CUR_OK)
    rc = evaluate(&t);
  if (rc == CUR_OK) {
    cur_run_count_set(run, "train_rows", t.train.n);
    cur_run_count_set(run, "raw_rows", t.raw.n);
    cur_run_count_set(run, "val_rows", t.n_val);
    cur_run_count_set(run, "test_rows", n_test);
    if (command) rc = cur_train_job_run(run, manifest);
  }
  cur_free(manifest);
  cur_free(t.feats.X);
  dataset_free(&t.train);
  dataset_free(&t.raw);
  dataset_free(&t.eval);
  dataset_free(&t.uda_src);
  dataset_free(&t.uda_var);
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
