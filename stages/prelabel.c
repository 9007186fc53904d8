/* prelabel.c -- the prelabel stage: zero-shot CLIP labels and disagreement flags.
**
** For each task, every class gets a text embedding: the class phrase put
** into each template, encoded, normalised and averaged (prompt ensembling),
** cached in model_blobs per model and prompt set.  Each image embedding from
** the embed stage then gives class probabilities softmax(logit_scale x
** cosine) (Radford et al., ICML 2021).  Images without a trusted label get a
** zeroshot label when the top probability reaches `threshold`; labelled ones
** get the probability of their label as a score, and a zeroshot_disagree
** flag when another class reaches `disagree_threshold`.
**
** The checkpoint is the one the embed stage used (its newest complete run's
** options): without one there is no text side, and the stage says so and
** does nothing.  Every write is idempotent (a label only when it changes, a
** score or flag once per run), so a killed run simply starts over.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clip.h"
#include "curate.h"
#include "half.h"
#include "stages.h"
#include "store_crops.h"
#include "store_embed.h"
#include "store_labels.h"
#include "store_runs.h"

static int check_templates(const cJSON *v, const char *name) {
  const cJSON *t;
  if (cJSON_GetArraySize(v) == 0) return cur_errorc(CUR_ECONFIG, "%s: give at least one template", name);
  cJSON_ArrayForEach(t, v) if (!strstr(t->valuestring, "{}"))
    return cur_errorc(CUR_ECONFIG, "%s: template \"%s\" has no {} for the class", name, t->valuestring);
  return CUR_OK;
}

static int check_prompts(const cJSON *v, const char *name) {
  for (const cJSON *task = v->child; task; task = task->next) {
    if (!cJSON_IsObject(task))
      return cur_errorc(CUR_ECONFIG, "%s.%s: expected an object of class -> phrase", name, task->string);
    for (const cJSON *c = task->child; c; c = c->next)
      if (!cJSON_IsString(c))
        return cur_errorc(CUR_ECONFIG, "%s.%s.%s: expected a string", name, task->string, c->string);
  }
  return CUR_OK;
}

static const cur_option prelabel_options[] = {
    {"templates", CUR_OPT_STRS, "[\"a photo of a {}.\"]",
     "prompt templates, {} marks the class; several are averaged (prompt ensembling)", check_templates},
    {"class_prompts", CUR_OPT_OBJ, "{}",
     "per task, a phrase to use instead of a class name, e.g. {\"label\": {\"T-Shirt\": \"t-shirt\"}}",
     check_prompts},
    {"tasks", CUR_OPT_STRS, "[]", "tasks to pre-label (empty: every task with two or more classes)", NULL},
    {"threshold", CUR_OPT_NUM, "0.8",
     "top probability an image without a label needs for a zeroshot label", cur_option_check_fraction},
    {"disagree_threshold", CUR_OPT_NUM, "0.9",
     "probability of another class that flags a labelled image (zeroshot_disagree)", cur_option_check_fraction},
    {"batch_size", CUR_OPT_INT, "1024", "images per transaction", cur_option_check_positive},
    {NULL, 0, NULL, NULL, NULL}};

typedef struct prelabel {
  cur_run *run;
  cur_store *st;
  clip_model *clip;
  int dim;
  float scale;
  /* the task being labelled */
  int64_t task_id;
  const char *task;
  char **classes;
  int64_t *class_ids;
  int n_classes;
  float *class_emb;           /* n_classes x dim */
  float *feature, *probs;     /* one image */
  int64_t last;               /* last image id handled */
  int n_batch;
} prelabel;

/* The phrase for class C of the task: class_prompts, else the name. */
static const char *phrase(const prelabel *p, int c) {
  const cJSON *task = cJSON_GetObjectItemCaseSensitive(cur_opt_json(cur_run_options(p->run), "class_prompts"), p->task);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(task, p->classes[c]);
  return cJSON_IsString(v) ? v->valuestring : p->classes[c];
}

/* Class embeddings from the cache, or encoded and cached. */
static int class_embeddings(prelabel *p) {
  const cJSON *templates = cur_opt_json(cur_run_options(p->run), "templates");
  int n_t = cJSON_GetArraySize(templates), rc = CUR_OK, found;
  const char **tt = cur_calloc((size_t)n_t, sizeof *tt), **names = cur_calloc((size_t)p->n_classes, sizeof *names);
  cur_sha256 h;
  char hex[65], key[512];
  unsigned char *blob = NULL;
  size_t len = 0;
  if (!tt || !names) rc = CUR_ENOMEM;
  cur_sha256_init(&h);
  for (int i = 0; rc == CUR_OK && i < n_t; i++) cur_sha256_str(&h, tt[i] = cJSON_GetArrayItem(templates, i)->valuestring);
  for (int c = 0; rc == CUR_OK && c < p->n_classes; c++) cur_sha256_str(&h, names[c] = phrase(p, c));
  cur_sha256_hex(&h, hex);
  snprintf(key, sizeof key, "zeroshot:%s:%.16s", clip_model_id(p->clip), hex);
  if (rc == CUR_OK) rc = cur_store_blob_get(p->st, key, &blob, &len, &found);
  if (rc == CUR_OK && found && len == (size_t)p->n_classes * p->dim * sizeof(float)) {
    memcpy(p->class_emb, blob, len);
  } else if (rc == CUR_OK) {
    rc = clip_zeroshot_classes(p->clip, names, p->n_classes, tt, n_t, p->class_emb);
    if (rc == CUR_OK && (rc = cur_store_begin(p->st)) == CUR_OK) {
      rc = cur_store_blob_put(p->st, key, "zeroshot", "{}", p->class_emb,
                              (size_t)p->n_classes * p->dim * sizeof(float), cur_run_id(p->run));
      if (rc == CUR_OK) rc = cur_store_commit(p->st);
      else cur_store_rollback(p->st);
    }
  }
  cur_free(blob);
  cur_free(tt);
  cur_free(names);
  return rc;
}

static int top_class(const prelabel *p) {
  int best = 0;
  for (int c = 1; c < p->n_classes; c++)
    if (p->probs[c] > p->probs[best]) best = c;
  return best;
}

static int class_index(const prelabel *p, int64_t class_id) {
  for (int c = 0; c < p->n_classes; c++)
    if (p->class_ids[c] == class_id) return c;
  return -1;
}

/* Labels, scores or flags one image from its probabilities. */
static int judge(prelabel *p, int64_t image_id) {
  const cJSON *opt = cur_run_options(p->run);
  int64_t given, latest;
  char source[16];
  int found, top = top_class(p), rc = cur_store_label_given(p->st, image_id, p->task_id, &given,
                                                                  source, &found);
  if (rc) return rc;
  if (!found || strcmp(source, "zeroshot") == 0) {
    if (p->probs[top] < cur_opt_num(opt, "threshold")) return CUR_OK;
    /* a scene box crops were cut from holds several objects: its crops are
    ** the examples, the scene gets no class of its own */
    int scene;
    if ((rc = cur_store_image_is_scene(p->st, image_id, &scene)) || scene) return rc;
    /* a new row only when the zero-shot answer changed: reruns stay idempotent */
    if (found && (rc = cur_store_label_latest(p->st, image_id, p->task_id, "zeroshot", &latest, &found))) return rc;
    if (found && latest == p->class_ids[top]) return CUR_OK;
    return cur_store_label_add(p->st, image_id, p->task_id, p->class_ids[top], "zeroshot",
                               p->probs[top], cur_run_id(p->run));
  }
  int g = class_index(p, given);
  if (g < 0) return CUR_OK;  /* dropped by a review */
  if ((rc = cur_store_score_add(p->st, cur_run_id(p->run), "zeroshot_prob", image_id, p->task_id,
                                p->probs[g], p->class_ids[top])))
    return rc;
  if (top == g || p->probs[top] < cur_opt_num(opt, "disagree_threshold")) return CUR_OK;
  char detail[512];
  snprintf(detail, sizeof detail, "zero-shot CLIP says '%s' (%.3f); the %s label is '%s' (%.3f)",
           p->classes[top], p->probs[top], source, p->classes[g], p->probs[g]);
  return cur_store_flag_add(p->st, cur_run_id(p->run), "zeroshot_disagree", image_id, p->task_id,
                            p->probs[g], p->class_ids[top], detail);
}

/* Store callback: one image embedding. */
static int on_embedding(void *ctx, int64_t id, const void *bytes, size_t len) {
  prelabel *p = ctx;
  if (len != (size_t)p->dim * 2)
    return cur_errorc(CUR_EDB, "prelabel: image %lld: embedding of %zu bytes, expected %d", (long long)id,
                      len, p->dim * 2);
  cur_half_decode(bytes, (size_t)p->dim, p->feature);
  clip_zeroshot_probs(p->class_emb, p->n_classes, p->dim, p->scale, p->feature, p->probs);
  p->last = id;
  p->n_batch++;
  return judge(p, id);
}

static int label_task(prelabel *p) {
  int rc = CUR_OK, limit = (int)cur_opt_int(cur_run_options(p->run), "batch_size"), found;
  p->class_ids = cur_calloc((size_t)p->n_classes, sizeof *p->class_ids);
  p->class_emb = cur_mallocarray((size_t)p->n_classes * p->dim, sizeof *p->class_emb);
  p->probs = cur_calloc((size_t)p->n_classes, sizeof *p->probs);
  if (!p->class_ids || !p->class_emb || !p->probs) return CUR_ENOMEM;
  for (int c = 0; rc == CUR_OK && c < p->n_classes; c++)
    rc = cur_store_class_find(p->st, p->task_id, p->classes[c], &p->class_ids[c], &found);
  if (rc == CUR_OK) rc = class_embeddings(p);
  cur_run_progress_start(p->run, p->task, -1);
  for (p->last = 0; rc == CUR_OK;) {
    p->n_batch = 0;
    if ((rc = cur_store_begin(p->st))) break;
    rc = cur_store_embeddings_next(p->st, clip_model_id(p->clip), p->last, limit, on_embedding, p);
    if (rc == CUR_OK) rc = cur_store_commit(p->st);
    else cur_store_rollback(p->st);
    cur_run_progress_add(p->run, p->n_batch);
    if (rc || p->n_batch == 0) break;
    if (cur_interrupted()) rc = CUR_EINTR;
  }
  return rc;
}

static int wanted_task(const prelabel *p, const char *name) {
  const cJSON *tasks = cur_opt_json(cur_run_options(p->run), "tasks"), *t;
  if (cJSON_GetArraySize(tasks) == 0) return 1;
  cJSON_ArrayForEach(t, tasks) if (strcmp(t->valuestring, name) == 0) return 1;
  return 0;
}

static int on_task(void *ctx, int64_t id, const char *name) {
  prelabel *p = ctx;
  if (!wanted_task(p, name)) return CUR_OK;
  p->task_id = id;
  p->task = name;
  int rc = cur_store_class_names(p->st, id, &p->classes, &p->n_classes);
  if (rc == CUR_OK && p->n_classes >= 2) rc = label_task(p);
  cur_store_names_free(p->classes, p->n_classes);
  cur_free(p->class_ids);
  cur_free(p->class_emb);
  cur_free(p->probs);
  p->classes = NULL;
  p->class_ids = NULL;
  p->class_emb = p->probs = NULL;
  return rc;
}

/* Opens the embed stage's checkpoint; *skip when it used none. */
static int open_checkpoint(prelabel *p, int *skip) {
  char *json = NULL;
  int found, rc = cur_store_run_config(p->st, "embed", &json, &found);
  cJSON *cfg = json ? cJSON_Parse(json) : NULL;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(cfg, "model");
  const cJSON *precision = cJSON_GetObjectItemCaseSensitive(cfg, "precision");
  clip_precision prec = CLIP_PRECISION_AUTO;
  *skip = rc == CUR_OK && (!cJSON_IsString(model) || !model->valuestring[0]);
  if (rc == CUR_OK && !*skip && cJSON_IsString(precision)) rc = clip_precision_parse(precision->valuestring, &prec);
  if (rc == CUR_OK && !*skip) rc = clip_model_open(model->valuestring, prec, cur_run_threads(p->run), &p->clip);
  cJSON_Delete(cfg);
  cur_free(json);
  return rc;
}

static int prelabel_run(cur_run *run) {
  prelabel p = {.run = run, .st = cur_run_store(run)};
  int skip, rc = open_checkpoint(&p, &skip);
  if (rc == CUR_OK && skip) {
    cur_info("prelabel: skipped: the embed stage used download-free features, which have no text "
             "side; set embed.model to a CLIP checkpoint folder (docs/models.md) to pre-label "
             "with zero-shot CLIP");
    cur_run_count_set(run, "skipped", 1);
  } else if (rc == CUR_OK) {
    p.dim = clip_model_embed_dim(p.clip);
    p.scale = clip_model_logit_scale(p.clip);
    p.feature = cur_mallocarray((size_t)p.dim, sizeof *p.feature);
    rc = p.feature ? cur_store_tasks_each(p.st, on_task, &p) : CUR_ENOMEM;
  }
  int64_t labels = 0, flags = 0, scores = 0;
  if (rc == CUR_OK && !skip && !(rc = cur_store_run_rows(p.st, cur_run_id(run), "zeroshot", NULL, NULL, &labels)) &&
      !(rc = cur_store_run_rows(p.st, cur_run_id(run), NULL, "zeroshot_disagree", NULL, &flags)) &&
      !(rc = cur_store_run_rows(p.st, cur_run_id(run), NULL, NULL, "zeroshot_prob", &scores))) {
    cur_run_count_set(run, "labelled", labels);
    cur_run_count_set(run, "scored", scores);
    cur_run_count_set(run, "flagged", flags);
  }
  cur_free(p.feature);
  clip_model_free(p.clip);
  return rc;
}

static const char *const prelabel_needs[] = {"embed", NULL};
/* the embeddings, and which images already carry a human or review label */
static const char *const prelabel_reads[] = {"ingest", "split", "embed", CUR_READS_REVIEWS, NULL};

/* batches of independent entries: their size cannot change a result */
static const char *const prelabel_unhashed[] = {"batch_size", NULL};

const cur_stage stage_prelabel = {
    .name = "prelabel",
    .summary = "zero-shot CLIP labels for unlabelled images, flags where CLIP disagrees",
    .needs = prelabel_needs,
    .reads = prelabel_reads,
    .options = prelabel_options,
    .unhashed = prelabel_unhashed,
    .fingerprint = NULL,
    .run = prelabel_run,
};
