/* embed.c -- the embed stage: one embedding per ok image and model, stored as half floats.
**
** Its options choose the model; the work is common/embedder.c's, which the
** policy and train stages also use to embed augmented variants.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clip.h"
#include "curate.h"
#include "embedder.h"
#include "source.h"
#include "stages.h"
#include "store_embed.h"
#include "store_metrics.h"
#include "store_shard.h"

static int check_precision(const cJSON *v, const char *name) {
  clip_precision p;
  return clip_precision_parse(v->valuestring, &p) == CUR_OK
             ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: '%s' is not auto, fp32 or bf16", name, v->valuestring);
}

static int check_features(const cJSON *v, const char *name) {
  if (strcmp(v->valuestring, "patches") == 0 || strcmp(v->valuestring, "pixels") == 0) return CUR_OK;
  return cur_errorc(CUR_ECONFIG, "%s: '%s' is not patches or pixels", name, v->valuestring);
}

static int check_channels(const cJSON *v, const char *name) {
  return v->valuedouble == 1 || v->valuedouble == 3
             ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must be 1 (grey) or 3 (RGB)", name);
}

static const cur_option embed_options[] = {
    {"model", CUR_OPT_STR, "\"\"",
     "CLIP checkpoint folder (Hugging Face or OpenCLIP, see docs/models.md); empty: use "
     "the download-free features below", NULL},
    {"precision", CUR_OPT_STR, "\"auto\"", "CLIP precision: auto, fp32 or bf16", check_precision},
    {"batch_size", CUR_OPT_INT, "64", "images per batch and transaction", cur_option_check_positive},
    {"features", CUR_OPT_STR, "\"patches\"",
     "without a checkpoint: patches (Coates et al. k-means features) or pixels", check_features},
    {"size", CUR_OPT_INT, "32", "side, in pixels, images are resized to for the features", cur_option_check_positive},
    {"channels", CUR_OPT_INT, "3", "1 (grey) or 3 (RGB) for the features", check_channels},
    {"patches_k", CUR_OPT_INT, "400", "k-means centroids; patches features have 4 x k values",
     cur_option_check_positive},
    {"patches_train_images", CUR_OPT_INT, "20000",
     "training images the patches dictionary is learned from", cur_option_check_positive},
    {"patches_samples", CUR_OPT_INT, "200000", "random patches drawn for whitening and k-means",
     cur_option_check_positive},
    {NULL, 0, NULL, NULL, NULL}};

/* The run's counts, from the database: the images it embedded and those
** still without an embedding for KEY. */
static int count(cur_run *run, const char *key) {
  int64_t done = 0, pending = 0;
  int rc = cur_store_embedding_count(cur_run_store(run), key, cur_run_id(run), &done);
  if (rc == CUR_OK) rc = cur_store_embed_pending(cur_run_store(run), key, CUR_SHARE_ALL, &pending);
  cur_run_count_set(run, "embedded", done);
  cur_run_count_set(run, "without", pending);
  return rc;
}

/* The run's model, for the stages that default to it. */
static int record_model(cur_run *run, const char *key) {
  cur_store *st = cur_run_store(run);
  int rc = cur_store_begin(st);
  if (rc == CUR_OK) rc = cur_store_metric_put(st, cur_run_id(run), "model", NAN, key);
  return rc == CUR_OK ? cur_store_commit(st) : (cur_store_rollback(st), rc);
}

static int embed_run(cur_run *run) {
  char key[256] = "";
  int rc = cur_embedder_fill(run, cur_run_options(run), key, sizeof key);
  if (cur_run_shard(run))  /* the store is read-only: the model goes with the vectors */
    return rc == CUR_OK ? cur_shard_meta_put(cur_run_shard(run), "key", key) : rc;
  if (rc == CUR_OK || rc == CUR_EINTR) {
    int crc = count(run, key);
    if (rc == CUR_OK) rc = crc;
    if (rc == CUR_OK) rc = record_model(run, key);
  }
  return rc;
}

/* What merging a shard adds: its vectors, its failures, its dictionary. */
typedef struct merge_ctx {
  cur_run *run;
  const char *file;
  int64_t added;
} merge_ctx;

/* A shard's learned dictionary: stored when the database has none, and
** refused when it has another (the shard learned from other images). */
static int merge_blob(void *ctx, const char *key, const char *kind, const char *config,
                      const void *data, size_t len) {
  merge_ctx *m = ctx;
  cur_store *st = cur_run_store(m->run);
  unsigned char *have = NULL;
  size_t have_len = 0;
  int found, rc = cur_store_blob_get(st, key, &have, &have_len, &found);
  if (rc == CUR_OK && found && (have_len != len || memcmp(have, data, len) != 0))
    rc = cur_errorc(CUR_EINPUT, "%s: its %s dictionary %s differs from the database's", m->file, kind, key);
  else if (rc == CUR_OK && !found && (rc = cur_store_blob_put(st, key, kind, config, data, len,
                                                               cur_run_id(m->run))) == CUR_OK)
    m->added++;
  cur_free(have);
  return rc;
}

static int merge_failed(void *ctx, int64_t id, const char *why) {
  merge_ctx *m = ctx;
  m->added++;
  return cur_embedder_quarantine(m->run, id, why);
}

static int embed_merge(cur_run *run, cur_shard *in, int64_t *added) {
  merge_ctx m = {.run = run, .file = cur_shard_path(in)};
  const char *key = cur_shard_meta(in, "key");
  int64_t vectors = 0;
  if (!key || !key[0]) return cur_errorc(CUR_EINPUT, "%s: no model key: not an embed shard", m.file);
  int rc = cur_shard_blobs(in, merge_blob, &m);
  if (rc == CUR_OK)
    rc = cur_shard_import_embeddings(in, cur_run_store(run), key, cur_run_id(run), merge_failed, &m, &vectors);
  *added = m.added + vectors;
  return rc;
}

static int embed_merge_done(cur_run *run, const char *key, int *done) {
  int64_t pending = 0;
  int rc = cur_store_embed_pending(cur_run_store(run), key, CUR_SHARE_ALL, &pending);
  *done = rc == CUR_OK && pending == 0;
  if (rc == CUR_OK) rc = count(run, key);
  if (rc == CUR_OK && *done) rc = record_model(run, key);
  return rc;
}

/* A checkpoint folder replaced under the same name is new input. */
static int embed_fingerprint(cur_run *run, cur_sha256 *h) {
  const char *model = cur_opt_str(cur_run_options(run), "model");
  return model[0] ? cur_source_stamp(model, h) : CUR_OK;
}

static const char *const embed_needs[] = {"split", NULL};
/* the images, and the splits (the patches dictionary learns from train) */
static const char *const embed_reads[] = {"ingest", "split", NULL};

const cur_stage stage_embed = {
    .name = "embed",
    .reads = embed_reads,
    .summary = "embed every ok image with CLIP or download-free features",
    .needs = embed_needs,
    .options = embed_options,
    .fingerprint = embed_fingerprint,
    .fingerprint_what = "the checkpoint's files",
    .run = embed_run,
    .merge = embed_merge,
    .merge_done = embed_merge_done,
};
