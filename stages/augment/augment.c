/* augment.c -- the augment stage: makes the variants the newest balance run planned.
**
** Planned (parent, variant) pairs are taken in (parent, variant) order, a
** batch at a time.  Worker threads take a parent's variants of the batch
** together, decode the parent once, draw each variant's parameters from
** (run seed, parent id, variant index) and apply them
** (augment_transform.c); the main thread then records the batch in
** order in one transaction: the new image row (or the existing row with the
** same bytes), the parent's labels, and an augment_variants row.  A pair
** recorded there is never made again, so a killed run resumes at the batch
** that was cut off, and image and label ids come out as in one
** uninterrupted run.
**
** With augment.unlabelled_variants (by default when train.uda_weight turns
** UDA on) it then makes, the same way, variants of the unlabelled rows of
** train.task (train originals without a person's label): the other half of
** UDA's pairs.  They are numbered -1, -2, ... and get no label, so they
** never join the balanced training set or the manifest (store_uda.h).
**
** Shards (`curate run --stage augment --shard I/N`, docs/scale.md): share I
** is the I-th of N consecutive runs of the plan's order (pairs
** [I*P/N, (I+1)*P/N) of P), made as above and written with their bytes to
** the shard file instead of the database.  The merge records them in the
** plan's order, so a shard goes in only once every pair before its first is
** recorded (the runner retries a shard that must wait): the image, label
** and variant rows are then those of one run, byte for byte.
*/
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "augment_transform.h"
#include "curate.h"
#include "parallel.h"
#include "sha256.h"
#include "stages.h"
#include "store_balance.h"
#include "store_images.h"
#include "store_labels.h"
#include "store_runs.h"
#include "store_uda.h"
#include "store_shard.h"

/* ---- options ------------------------------------------------------------- */

/* UDA pairs each unlabelled row with its variants: a few are plenty. */
#define MAX_UNLABELLED_VARIANTS 16

/* Where each transform option goes in cur_augment_options. */
typedef enum field_kind { FIELD_RANGE, FIELD_NUM, FIELD_FILL } field_kind;

typedef struct field {
  const char *key;
  field_kind kind;
  size_t offset;
} field;

static const field fields[] = {
    {"rotate_deg", FIELD_RANGE, offsetof(cur_augment_options, rotate_deg)},
    {"translate_frac", FIELD_RANGE, offsetof(cur_augment_options, translate_frac)},
    {"scale", FIELD_RANGE, offsetof(cur_augment_options, scale)},
    {"hflip_prob", FIELD_NUM, offsetof(cur_augment_options, hflip_prob)},
    {"fill", FIELD_FILL, offsetof(cur_augment_options, fill)},
    {"noise_sigma", FIELD_NUM, offsetof(cur_augment_options, noise_sigma)},
    {"blur_sigma", FIELD_NUM, offsetof(cur_augment_options, blur_sigma)},
    {"color_jitter", FIELD_NUM, offsetof(cur_augment_options, color_jitter)}};

static const field *find_field(const char *key) {
  for (size_t i = 0; i < CUR_ARRAY_LEN(fields); i++)
    if (strcmp(fields[i].key, key) == 0) return &fields[i];
  return NULL;
}

/* Sets the field F of *O from the (type-checked) option value V. */
static int field_set(cur_augment_options *o, const field *f, const cJSON *v) {
  char *at = (char *)o + f->offset;
  switch (f->kind) {
  case FIELD_RANGE:
    ((cur_augment_range *)(void *)at)->min = cJSON_GetArrayItem(v, 0)->valuedouble;
    ((cur_augment_range *)(void *)at)->max = cJSON_GetArrayItem(v, 1)->valuedouble;
    return CUR_OK;
  case FIELD_NUM: *(double *)(void *)at = v->valuedouble; return CUR_OK;
  case FIELD_FILL: return cur_augment_fill_parse(v->valuestring, (cur_augment_fill *)(void *)at);
  }
  return CUR_OK;
}

/* The check of every transform option: the engine's own validation of the
** defaults with this one value set.  Its message names "augment.KEY"; NAME
** ("FILE: augment.KEY") may carry the file, which is put back in front. */
static int check_transform(const cJSON *v, const char *name) {
  const char *dot = strrchr(name, '.');
  assert(dot);  /* config.c names every option "stage.key" */
  const char *key = dot + 1;
  const field *f = find_field(key);
  size_t tail = strlen("augment.") + strlen(key), len = strlen(name);
  cur_augment_options o;
  if (!f) return cur_errorc(CUR_ECONFIG, "%s: not a transform option", name);
  cur_augment_options_default(&o);
  int rc = field_set(&o, f, v);
  if (rc == CUR_OK) rc = cur_augment_options_validate(&o);
  if (rc == CUR_OK) return CUR_OK;
  char why[512];
  snprintf(why, sizeof why, "%s", cur_error());
  return cur_errorc(CUR_ECONFIG, "%.*s%s", (int)(len > tail ? len - tail : 0), name, why);
}

static int check_unlabelled_variants(const cJSON *v, const char *name) {
  if (v->valuedouble >= -1 && v->valuedouble <= MAX_UNLABELLED_VARIANTS) return CUR_OK;
  return cur_errorc(CUR_ECONFIG, "%s: %g is not -1 (auto) or a count from 0 to %d", name,
                    v->valuedouble, MAX_UNLABELLED_VARIANTS);
}

static const cur_option augment_options[] = {
    {"rotate_deg", CUR_OPT_RANGE, "[-15, 15]", "[min, max] rotation in degrees, within [-180, 180]",
     check_transform},
    {"translate_frac", CUR_OPT_RANGE, "[-0.1, 0.1]",
     "[min, max] shift as a fraction of width (x) and height (y), drawn separately, within [-1, 1]",
     check_transform},
    {"scale", CUR_OPT_RANGE, "[0.9, 1.1]", "[min, max] scale factor, within [0.1, 10]",
     check_transform},
    {"hflip_prob", CUR_OPT_NUM, "0.5", "probability of a horizontal flip", check_transform},
    {"fill", CUR_OPT_STR, "\"edge\"", "exposed borders: \"edge\", \"black\" or \"mean\" colour",
     check_transform},
    {"noise_sigma", CUR_OPT_NUM, "0", "largest sigma of Gaussian noise in pixel values; 0 = off",
     check_transform},
    {"blur_sigma", CUR_OPT_NUM, "0", "largest Gaussian blur sigma in pixels; 0 = off",
     check_transform},
    {"color_jitter", CUR_OPT_NUM, "0",
     "brightness, contrast and saturation factors drawn from [1-j, 1+j]; 0 = off", check_transform},
    {"unlabelled_variants", CUR_OPT_INT, "-1",
     "variants of each unlabelled train row (no human or review label for train.task) for UDA's "
     "consistency loss, never labelled; -1 = 1 when train.uda_weight is above 0, else 0",
     check_unlabelled_variants},
    {"batch_size", CUR_OPT_INT, "32", "variants made and committed per transaction",
     cur_option_check_positive},
    {NULL, 0, NULL, NULL, NULL}};

/* The transform options of a validated augment section. */
static int options_read(const cJSON *section, cur_augment_options *o) {
  cur_augment_options_default(o);
  for (size_t i = 0; i < CUR_ARRAY_LEN(fields); i++) {
    int rc = field_set(o, &fields[i], cur_opt_json(section, fields[i].key));
    if (rc) return rc;
  }
  return cur_augment_options_validate(o);
}

/* ---- making and recording variants --------------------------------------- */

/* One planned variant of a batch: a copy of what it needs of its parent,
** then what the worker made. */
typedef struct job {
  int64_t parent_id;
  int variant;
  unsigned char *parent;   /* the parent's encoded bytes, on the first of its
                              variants in the batch only (see make_group) */
  size_t parent_len;
  char *source_path, *split, *group_key;
  int width, height, bands;
  unsigned char *out;      /* the variant's encoded bytes */
  size_t out_len;
  cur_augment_format format;
  char *json;              /* its parameters */
  char sha[65];
  int rc;                  /* CUR_OK, or why it could not be made (error) */
  char error[256];
} job;

typedef struct augment {
  cur_run *run;
  cur_store *st;
  cur_augment_options opts;
  int64_t plan_run_id;     /* the balance run whose plan is made */
  cur_plan_pos last;       /* the last pair taken: the next batch starts after it */
  int64_t left;            /* pairs still to take (a shard's share ends) */
  job *jobs;               /* batch_size of them; n in use */
  int n;
  int *group;              /* batch_size + 1: the first job of each parent's run of jobs */
  int ngroups;             /* parents in the batch; group[ngroups] == n */
  int per;                 /* variants of each unlabelled row (0: none) */
  int64_t uda_task;        /* train.task, whose unlabelled rows they are */
} augment;

static void job_clear(job *j) {
  cur_free(j->parent);
  cur_free(j->source_path);
  cur_free(j->split);
  cur_free(j->group_key);
  cur_free(j->out);
  cur_free(j->json);
  memset(j, 0, sizeof *j);
}

/* Copies a planned variant into the next job of the batch. */
static int take_job(void *ctx, const cur_variant_job *v) {
  augment *g = ctx;
  int same_parent = g->n > 0 && g->jobs[g->n - 1].parent_id == v->parent_id;
  job *j = &g->jobs[g->n++];
  j->parent_id = v->parent_id;
  j->variant = v->variant;
  j->width = v->width, j->height = v->height, j->bands = v->bands;
  j->source_path = cur_strdup(v->source_path);
  j->split = cur_strdup(v->split);
  j->group_key = v->group_key ? cur_strdup(v->group_key) : NULL;
  if (!j->source_path || !j->split || (v->group_key && !j->group_key)) return CUR_ENOMEM;
  if (same_parent) return CUR_OK;
  j->parent_len = v->len;
  if (!(j->parent = cur_malloc(v->len ? v->len : 1))) return CUR_ENOMEM;
  if (v->len) memcpy(j->parent, v->bytes, v->len);
  return CUR_OK;
}

/* Draws, makes and hashes one variant of the decoded parent src. */
static void make_variant(augment *g, const cur_augment_source *src, job *j) {
  cur_augment_params p;
  int rc = cur_augment_sample(&g->opts, cur_run_seed(g->run), j->parent_id, j->variant, &p);
  if (rc == CUR_OK) rc = cur_augment_make(src, &p, &g->opts, &j->out, &j->out_len, &j->format);
  if (rc == CUR_OK) rc = cur_augment_params_json(&p, &g->opts, &j->json);
  if (rc == CUR_OK) cur_sha256_buf_hex(j->out, j->out_len, j->sha);
  else snprintf(j->error, sizeof j->error, "%s", cur_error());
  j->rc = rc;
}

/* Worker: the variants of group gi, one parent's, from one decode of it
** (thread-safe engine calls).  A parent that cannot be decoded fails each
** of its variants with the decoder's error. */
static void make_group(void *ctx, size_t gi) {
  augment *g = ctx;
  job *first = &g->jobs[g->group[gi]];
  cur_augment_source *src = NULL;
  int rc = cur_augment_source_new(first->parent, first->parent_len, &src);
  for (int i = g->group[gi]; i < g->group[gi + 1]; i++) {
    job *j = &g->jobs[i];
    if (rc == CUR_OK) {
      make_variant(g, src, j);
    } else {
      j->rc = rc;
      snprintf(j->error, sizeof j->error, "%s", cur_error());
    }
  }
  cur_augment_source_free(src);
}

/* Splits the batch into runs of jobs with the same parent (the plan comes
** in parent order, so a parent's variants are next to each other). */
static void group_jobs(augment *g) {
  g->ngroups = 0;
  for (int i = 0; i < g->n; i++)
    if (i == 0 || g->jobs[i].parent_id != g->jobs[i - 1].parent_id) g->group[g->ngroups++] = i;
  g->group[g->ngroups] = g->n;
}

static int add_image(augment *g, const job *j, int64_t *id, int *added) {
  /* an unlabelled row's variant -1 is its #uda0 */
  char *path = j->variant < 0 ? cur_asprintf("%s#uda%d", j->source_path, -j->variant - 1)
                              : cur_asprintf("%s#aug%d", j->source_path, j->variant);
  if (!path) return CUR_ENOMEM;
  cur_image_row row = {
      .sha256 = j->sha, .bytes = j->out, .bytes_len = (int64_t)j->out_len,
      .byte_size = (int64_t)j->out_len,
      .format = j->format == CUR_AUGMENT_FORMAT_PNG ? "png" : "jpeg", .width = j->width,
      .height = j->height, .bands = j->bands, .source_path = path, .split = j->split,
      .group_key = j->group_key, .parent_id = j->parent_id, .transform = j->json,
      .status = "ok", .run_id = cur_run_id(g->run)};
  int rc = cur_store_image_add(g->st, &row, id, added);
  cur_free(path);
  return rc;
}

/* Records one variant: a new row, or the row that already has its bytes
** (the UNIQUE sha256 holds); then the parent's labels.  A parent the engine
** cannot read is an input error, recorded so that it is not retried. */
static int record_job(augment *g, const job *j) {
  int64_t run_id = cur_run_id(g->run), id = 0;
  int found = 0, rc;
  if (j->rc == CUR_EINPUT) {
    cur_run_input_error(g->run, "augment: image %lld (%s): variant %d: %s", (long long)j->parent_id,
                        j->source_path, j->variant, j->error);
    return cur_store_variant_add(g->st, run_id, g->plan_run_id, j->parent_id, j->variant, 0,
                                 "failed", j->error);
  }
  if (j->rc)
    return cur_errorc(j->rc, "augment: image %lld: variant %d: %s", (long long)j->parent_id,
                      j->variant, j->error);
  int added;
  if ((rc = add_image(g, j, &id, &added))) return rc;
  found = !added;
  char reason[64];
  snprintf(reason, sizeof reason, "same bytes as image %lld", (long long)id);
  rc = cur_store_variant_add(g->st, run_id, g->plan_run_id, j->parent_id, j->variant, id,
                             found ? "reused" : "made", found ? reason : NULL);
  /* an unlabelled row's variant stays unlabelled: whatever its parent has
  ** (a teacher's guess, another task's label) must not make it a training row */
  return rc || j->variant < 0 ? rc : cur_store_labels_inherit(g->st, j->parent_id, id, run_id);
}

/* A sharded run's batch, into its shard file: each variant's bytes and
** parameters, or why its parent could not be read. */
static int shard_batch(augment *g) {
  cur_shard *sh = cur_run_shard(g->run);
  int rc = CUR_OK;
  for (int i = 0; rc == CUR_OK && i < g->n; i++) {
    const job *j = &g->jobs[i];
    cur_shard_variant v = {.parent_id = j->parent_id, .variant = j->variant};
    if (j->rc == CUR_EINPUT) {
      cur_run_input_error(g->run, "augment: image %lld (%s): variant %d: %s; recorded when the shard "
                          "is merged", (long long)j->parent_id, j->source_path, j->variant, j->error);
      v.error = j->error;
    } else if (j->rc) {
      return cur_errorc(j->rc, "augment: image %lld: variant %d: %s", (long long)j->parent_id,
                        j->variant, j->error);
    } else {
      v.format = j->format == CUR_AUGMENT_FORMAT_PNG ? "png" : "jpeg";
      v.sha256 = j->sha, v.transform = j->json, v.bytes = j->out, v.len = j->out_len;
    }
    rc = cur_shard_variant_put(sh, &v);
  }
  if (rc == CUR_OK) cur_run_progress_add(g->run, g->n);
  return rc;
}

static int record_batch(augment *g) {
  if (cur_run_shard(g->run)) return shard_batch(g);
  int rc = cur_store_begin(g->st);
  for (int i = 0; rc == CUR_OK && i < g->n; i++) rc = record_job(g, &g->jobs[i]);
  if (rc == CUR_OK) rc = cur_store_commit(g->st);
  else cur_store_rollback(g->st);
  if (rc == CUR_OK) cur_run_progress_add(g->run, g->n);
  return rc;
}

/* The next batch of up to CAP pairs of balance's plan (of this shard's
** share), after the last one taken. */
static int plan_batch(augment *g, int cap) {
  if (g->left <= 0) return CUR_OK;
  int rc = cur_store_plan_pending(g->st, g->plan_run_id, cur_run_id(g->run), g->last,
                                  (int)(g->left < cap ? g->left : cap), take_job, g);
  if (rc == CUR_OK && g->n > 0) {
    g->last = (cur_plan_pos){g->jobs[g->n - 1].parent_id, g->jobs[g->n - 1].variant};
    g->left -= g->n;
  }
  return rc;
}

/* The next batch of up to CAP variants of unlabelled rows (g->per of each). */
static int unlabelled_batch(augment *g, int cap) {
  return cur_store_uda_pending(g->st, g->uda_task, g->per, cur_run_id(g->run), cap, take_job, g);
}

/* Makes the batches NEXT gives until it gives none, Ctrl-C or an error. */
static int make_batches(augment *g, int cap, int (*next)(augment *, int)) {
  for (;;) {
    g->n = 0;
    int rc = next(g, cap);
    if (rc == CUR_OK && g->n > 0) {
      group_jobs(g);
      cur_parallel_for((size_t)g->ngroups, cur_run_threads(g->run), make_group, g);
      rc = record_batch(g);
    }
    for (int i = 0; i < g->n; i++) job_clear(&g->jobs[i]);
    if (rc != CUR_OK || g->n == 0) return rc;
    if (cur_interrupted()) return CUR_EINTR;
  }
}

static void add_done(void *ctx, const char *outcome, int64_t n) {
  (void)outcome;
  *(int64_t *)ctx += n;
}

static void set_count(void *ctx, const char *outcome, int64_t n) {
  cur_run_count_set(ctx, outcome, n);
}

/* Whether UDA is on: train.uda_weight above 0. */
static int uda_on(const cur_run *run) {
  return cur_opt_num(cur_run_options_of(run, "train"), "uda_weight") > 0;
}

/* g->per and g->uda_task from augment.unlabelled_variants and train.task. */
static int unlabelled_plan(augment *g) {
  int64_t per = cur_opt_int(cur_run_options(g->run), "unlabelled_variants");
  const char *task = cur_opt_str(cur_run_options_of(g->run, "train"), "task");
  int found = 0, rc = CUR_OK;
  g->per = (int)(per < 0 ? uda_on(g->run) : per);
  if (g->per > 0 && (rc = cur_store_task_find(g->st, task, &g->uda_task, &found)) == CUR_OK && !found) {
    cur_warn("augment: train.task \"%s\" is no task: no variants of unlabelled rows made", task);
    g->per = 0;
  }
  if (rc == CUR_OK && g->per > 0 && !uda_on(g->run))
    cur_warn("augment: %d variants of each unlabelled row, but train.uda_weight is 0: only UDA "
             "uses them", g->per);
  return rc;
}

/* A shard's pairs: [I*P/N, (I+1)*P/N) of the plan's P, into G's start
** (after the pair before the first) and count. */
static int shard_range(augment *g, cur_share share, int64_t total) {
  int64_t first = total * share.index / share.count, end = total * (share.index + 1) / share.count;
  int found = 1, rc = CUR_OK;
  g->left = end - first;
  if (first > 0) rc = cur_store_plan_at(g->st, g->plan_run_id, first - 1, &g->last, &found);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_ESTATE, "augment: the plan ended before pair %lld", (long long)first);
  return rc;
}

static int augment_run(cur_run *run) {
  const cJSON *opt = cur_run_options(run);
  int cap = (int)cur_opt_int(opt, "batch_size"), found, rc;
  augment g = {.run = run, .st = cur_run_store(run)};
  cur_run_info plan;
  int64_t total = 0, done = 0;
  if ((rc = options_read(opt, &g.opts))) return rc;
  if ((rc = cur_store_run_last(g.st, "balance", 1, &plan, &found))) return rc;
  if (!found) return cur_errorc(CUR_ESTATE, "augment: no complete balance run to take a plan from");
  g.plan_run_id = plan.id;
  g.jobs = cur_calloc((size_t)cap, sizeof *g.jobs);
  g.group = cur_calloc((size_t)cap + 1, sizeof *g.group);
  if (!g.jobs || !g.group) {
    rc = CUR_ENOMEM;
    goto cleanup;
  }
  int64_t unlabelled = 0;
  if ((rc = cur_store_plan_size(g.st, plan.id, &total)) || (rc = unlabelled_plan(&g)) ||
      (g.per && (rc = cur_store_uda_plan_size(g.st, g.uda_task, g.per, &unlabelled))) ||
      (rc = cur_store_variant_counts(g.st, cur_run_id(run), add_done, &done)))
    goto cleanup;
  g.left = total;
  if (cur_run_shard(run) && g.per > 0)
    rc = cur_errorc(CUR_ECONFIG, "augment: a sharded run makes balance's plan only, not the %d "
                    "variants of each unlabelled row UDA asks for (augment.unlabelled_variants): "
                    "run augment without --shard", g.per);
  if (rc == CUR_OK && cur_run_shard(run)) rc = shard_range(&g, cur_run_share(run), total);
  if (rc) goto cleanup;
  cur_run_progress_start(run, "augment", cur_run_shard(run) ? g.left : total + unlabelled);
  cur_run_progress_add(run, done);
  rc = make_batches(&g, cap, plan_batch);
  if (rc == CUR_OK && g.per > 0) rc = make_batches(&g, cap, unlabelled_batch);
  if (cur_run_shard(run)) {
    char key[64];
    snprintf(key, sizeof key, "plan of balance run %lld", (long long)plan.id);
    if (rc == CUR_OK) rc = cur_shard_meta_put(cur_run_shard(run), "key", key);
  } else if (rc == CUR_OK || rc == CUR_EINTR) {
    /* counts come from the database, so a resumed run reports the same */
    int crc = cur_store_variant_counts(g.st, cur_run_id(run), set_count, run);
    if (rc == CUR_OK) rc = crc;
  }
cleanup:
  cur_free(g.jobs);
  cur_free(g.group);
  return rc;
}

/* ---- merging shards -------------------------------------------------------- */

/* A shard being merged: the variant in hand, the plan's place, what it added. */
typedef struct merging {
  augment g;
  const cur_shard_variant *v;
  int matched;             /* the plan's next pending pair is V's */
  int64_t added;
} merging;

/* The plan's next pending pair (with its parent's fields): recorded from
** the shard's variant when it is that pair. */
static int merge_pending(void *ctx, const cur_variant_job *p) {
  merging *m = ctx;
  const cur_shard_variant *v = m->v;
  if (p->parent_id != v->parent_id || p->variant != v->variant) return CUR_OK;
  job j = {.parent_id = p->parent_id, .variant = p->variant, .width = p->width, .height = p->height,
           .bands = p->bands, .source_path = (char *)p->source_path, .split = (char *)p->split,
           .group_key = (char *)p->group_key, .out = (unsigned char *)v->bytes, .out_len = v->len,
           .json = (char *)v->transform, .rc = v->error ? CUR_EINPUT : CUR_OK};
  if (v->error) snprintf(j.error, sizeof j.error, "%s", v->error);
  else if (strcmp(v->format, "png") == 0) j.format = CUR_AUGMENT_FORMAT_PNG;
  else if (strcmp(v->format, "jpeg") == 0) j.format = CUR_AUGMENT_FORMAT_JPEG;
  else return cur_errorc(CUR_EINPUT, "variant %d of image %lld: format '%s'", v->variant,
                         (long long)v->parent_id, v->format);
  if (!v->error) snprintf(j.sha, sizeof j.sha, "%s", v->sha256);
  m->matched = 1;
  return record_job(&m->g, &j);  /* J borrows every pointer: nothing to free */
}

/* One variant of the shard: skipped when recorded, else it must be the
** plan's next pending pair (the first one may wait for earlier shards). */
static int merge_variant(void *ctx, const cur_shard_variant *v) {
  merging *m = ctx;
  int found, rc = cur_store_variant_recorded(m->g.st, cur_run_id(m->g.run), v->parent_id, v->variant, &found);
  if (rc || found) return rc;
  m->v = v;
  m->matched = 0;
  rc = cur_store_plan_pending(m->g.st, m->g.plan_run_id, cur_run_id(m->g.run), m->g.last, 1, merge_pending, m);
  if (rc == CUR_OK && !m->matched && m->added == 0)
    return cur_errorc(CUR_ESTATE, "its variants come after pairs of the plan not merged yet (variant %d "
                      "of image %lld): merge the shards before it first", v->variant, (long long)v->parent_id);
  if (rc == CUR_OK && !m->matched)
    return cur_errorc(CUR_EINPUT, "variant %d of image %lld does not follow the plan", v->variant,
                      (long long)v->parent_id);
  m->g.last = (cur_plan_pos){v->parent_id, v->variant};
  m->added++;
  return rc;
}

static int augment_merge(cur_run *run, cur_shard *in, int64_t *added) {
  merging m = {.g = {.run = run, .st = cur_run_store(run)}};
  cur_run_info plan;
  int found, rc = cur_store_run_last(m.g.st, "balance", 1, &plan, &found);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_ESTATE, "augment: no complete balance run");
  m.g.plan_run_id = plan.id;
  /* a complete augment run of the shard's options and inputs holds every
  ** pair already: merging again adds nothing (a new run would record them
  ** all as reused) */
  cur_run_info done;
  const char *chash = cur_shard_meta(in, "config_hash"), *fp = cur_shard_meta(in, "fingerprint");
  if (rc == CUR_OK) rc = cur_store_run_last(m.g.st, "augment", 1, &done, &found);
  if (rc == CUR_OK && found && chash && fp && strcmp(done.config_hash, chash) == 0 &&
      strcmp(done.fingerprint, fp) == 0) {
    *added = 0;
    return CUR_OK;
  }
  if (rc == CUR_OK) rc = cur_shard_variants(in, merge_variant, &m);
  if (rc && rc != CUR_ENOMEM && rc != CUR_EDB) {
    char why[400];
    snprintf(why, sizeof why, "%s", cur_error());
    cur_errorc(rc, "%s: %s", cur_shard_path(in), why);
  }
  *added = m.added;
  return rc;
}

static int augment_merge_done(cur_run *run, const char *key, int *done) {
  cur_store *st = cur_run_store(run);
  cur_run_info plan;
  int64_t total = 0, recorded = 0;
  int found;
  (void)key;
  int rc = cur_store_run_last(st, "balance", 1, &plan, &found);
  if (rc == CUR_OK && found) rc = cur_store_plan_size(st, plan.id, &total);
  if (rc == CUR_OK) rc = cur_store_variant_counts(st, cur_run_id(run), add_done, &recorded);
  if (rc == CUR_OK) rc = cur_store_variant_counts(st, cur_run_id(run), set_count, run);
  *done = rc == CUR_OK && found && recorded == total;
  return rc;
}

static const char *const augment_needs[] = {"balance", NULL};

/* batches of independent entries: their size cannot change a result */
static const char *const augment_unhashed[] = {"batch_size", NULL};

/* Whether UDA is on and on which task's unlabelled rows: the default of
** unlabelled_variants reads them from the train section. */
static int augment_fingerprint(cur_run *run, cur_sha256 *h) {
  cur_sha256_i64(h, uda_on(run));
  cur_sha256_str(h, cur_opt_str(cur_run_options_of(run, "train"), "task"));
  return CUR_OK;
}

const cur_stage stage_augment = {
    .name = "augment",
    .summary = "make the variants balance planned (affine transforms, labels inherited); for UDA, unlabelled rows' too",
    .needs = augment_needs,
    .options = augment_options,
    .unhashed = augment_unhashed,
    .fingerprint = augment_fingerprint,
    .fingerprint_what = "train.uda_weight (on or off) and train.task",
    .run = augment_run,
    .merge = augment_merge,
    .merge_done = augment_merge_done,
};
