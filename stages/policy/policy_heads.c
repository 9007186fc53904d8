/* policy_heads.c -- what the policy needs to try the head techniques (EMA, multi-task, UDA) as decisions. */
#include "policy_heads.h"

#include <string.h>

#include "curate.h"
#include "embedder.h"
#include "half.h"
#include "head_options.h"
#include "store_embed.h"
#include "store_labels.h"
#include "store_uda.h"

/* The row of IMAGE_ID among N ROWS in image id order, or -1. */
static long row_of(const cur_policy_row *rows, size_t n, int64_t image_id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rows[mid].image_id < image_id) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && rows[lo].image_id == image_id ? (long)lo : -1;
}

/* Adds task NAME's labels of the N ROWS as column A of p->aux. */
static int load_task(cur_store *st, const char *name, int64_t self, const cur_policy_row *rows,
                     size_t n, policy_heads *p, int a) {
  int64_t id, classes = 0;
  int found;
  int rc = cur_store_task_find(st, name, &id, &found);
  if (rc == CUR_OK && (!found || id == self))
    return cur_errorc(CUR_ECONFIG, "train.tasks: \"%s\" is %s", name,
                      found ? "train.task itself" : "no task");
  if (rc == CUR_OK) rc = cur_store_class_count(st, id, &classes);
  if (rc == CUR_OK && classes < 2)
    return cur_errorc(CUR_ECONFIG, "train.tasks: task \"%s\" has %lld classes, needs 2", name,
                      (long long)classes);
  cur_policy_row *other = NULL;
  size_t m = 0;
  if (rc == CUR_OK) rc = cur_store_policy_rows(st, id, &other, &m);
  int T1 = p->n_tasks - 1;
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    long j = row_of(other, m, rows[i].image_id);
    p->aux[i * (size_t)T1 + (size_t)a] = j >= 0 ? other[j].class_idx : -1;
    p->aux_labels += j >= 0;
  }
  if (rc == CUR_OK) p->task_k[a + 1] = (int)classes, p->k_all += (int)classes;
  cur_free(other);
  return rc;
}

/* train.tasks' labels of the rows, when TASK is train.task. */
static int load_tasks(cur_run *run, int64_t task_id, const char *task, const cur_policy_row *rows,
                      size_t n, int k, policy_heads *p) {
  const cJSON *train = cur_run_options_of(run, "train"), *o;
  int others = cJSON_GetArraySize(cur_opt_json(train, "tasks")), a = 0, rc = CUR_OK;
  p->task_k[0] = p->k_all = k;
  if (others == 0 || strcmp(cur_opt_str(train, "task"), task) != 0) return CUR_OK;
  if (others >= HEAD_MAX_TASKS)
    return cur_errorc(CUR_ECONFIG, "train.tasks: at most %d tasks", HEAD_MAX_TASKS - 1);
  p->n_tasks = others + 1;
  if (!(p->aux = cur_mallocarray(n ? n : 1, (size_t)others * sizeof *p->aux))) return CUR_ENOMEM;
  cJSON_ArrayForEach(o, cur_opt_json(train, "tasks")) {
    if (rc == CUR_OK) rc = load_task(cur_run_store(run), o->valuestring, task_id, rows, n, p, a++);
  }
  return rc;
}

/* One embedding read into DST. */
typedef struct fetch {
  uint16_t *dst;
  int dim, got;
} fetch;

static int take_vector(void *ctx, int64_t id, const void *bytes, size_t len) {
  fetch *f = ctx;
  if (len != (size_t)f->dim * 2)
    return cur_errorf("policy: image %lld: embedding of %zu values, expected %d", (long long)id,
                      len / 2, f->dim);
  cur_half_unpack(bytes, (size_t)f->dim, f->dst);
  f->got = 1;
  return CUR_OK;
}

/* The pairs whose both rows have an embedding into p->Xu, p->Xa; *missing
** counts the rows without one. */
static int load_pairs(cur_store *st, int64_t task_id, const char *model, int dim, policy_heads *p,
                      int64_t *missing) {
  cur_uda_pair *pairs = NULL;
  size_t n = 0;
  *missing = 0;
  p->n_pairs = 0;
  p->dim = dim;
  int rc = cur_store_uda_pairs(st, task_id, &pairs, &n);
  cur_free(p->Xu);
  cur_free(p->Xa);
  p->Xu = cur_mallocarray(n ? n : 1, (size_t)dim * sizeof *p->Xu);
  p->Xa = cur_mallocarray(n ? n : 1, (size_t)dim * sizeof *p->Xa);
  if (rc == CUR_OK && (!p->Xu || !p->Xa)) rc = CUR_ENOMEM;
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    fetch u = {p->Xu + (size_t)p->n_pairs * dim, dim, 0}, a = {p->Xa + (size_t)p->n_pairs * dim, dim, 0};
    rc = cur_store_embedding_of(st, model, pairs[i].source_id, take_vector, &u);
    if (rc == CUR_OK) rc = cur_store_embedding_of(st, model, pairs[i].variant_id, take_vector, &a);
    *missing += !u.got + !a.got;
    p->n_pairs += u.got && a.got;
  }
  cur_free(pairs);
  return rc;
}

int cur_policy_heads_load(cur_run *run, int64_t task_id, const char *task, const char *model,
                          const cur_policy_row *rows, size_t n, int dim, policy_heads *out) {
  const cJSON *train = cur_run_options_of(run, "train");
  int64_t classes = 0, missing = 0;
  *out = (policy_heads){.ema_decay = (float)cur_opt_num(train, "ema_decay"), .n_tasks = 1};
  int rc = cur_store_class_count(cur_run_store(run), task_id, &classes);
  if (rc == CUR_OK) rc = load_tasks(run, task_id, task, rows, n, (int)classes, out);
  if (rc != CUR_OK || !(cur_opt_num(train, "uda_weight") > 0)) return rc;
  rc = load_pairs(cur_run_store(run), task_id, model, dim, out, &missing);
  /* the variants augment made after the embed stage ran have none yet */
  if (rc == CUR_OK && missing && (rc = cur_embedder_fill_newest(run, "policy", missing)) == CUR_OK)
    rc = load_pairs(cur_run_store(run), task_id, model, dim, out, &missing);
  if (rc == CUR_OK && missing)
    cur_warn("policy: %s: UDA: %lld rows of its pairs have no embedding for model %s: left out",
             task, (long long)missing, model);
  return rc;
}

void cur_policy_heads_free(policy_heads *p) {
  cur_free(p->aux);
  cur_free(p->Xu);
  cur_free(p->Xa);
  *p = (policy_heads){0};
}

void cur_policy_heads_config(const policy_heads *p, const cJSON *train_opt, int ema, int multitask,
                             int uda, const feat_scaler *scaler, head_config *cfg,
                             head_unlabelled *u) {
  cur_head_options_techniques(train_opt, cfg);
  if (!ema) cfg->ema_decay = 0;
  if (!uda || p->n_pairs == 0) cfg->uda_weight = 0;
  *u = (head_unlabelled){{0}, {0}};
  if (cfg->uda_weight > 0) {
    u->X = head_rows_half(p->Xu, p->n_pairs, p->dim);
    u->X_aug = head_rows_half(p->Xa, p->n_pairs, p->dim);
    feat_scaler_view(scaler, &u->X);
    feat_scaler_view(scaler, &u->X_aug);
  }
  if (multitask && p->n_tasks > 1) {
    cfg->n_tasks = p->n_tasks;
    cfg->task_classes = p->task_k;
  }
}
