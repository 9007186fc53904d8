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

static int embed_run(cur_run *run) {
  char key[256] = "";
  int64_t done = 0, pending = 0;
  int rc = cur_embedder_fill(run, cur_run_options(run), key, sizeof key);
  if (rc == CUR_OK || rc == CUR_EINTR) {
    int crc = cur_store_embedding_count(cur_run_store(run), key, cur_run_id(run), &done);
    if (crc == CUR_OK) crc = cur_store_embed_pending(cur_run_store(run), key, &pending);
    cur_run_count_set(run, "embedded", done);
    cur_run_count_set(run, "without", pending);
    if (rc == CUR_OK) rc = crc;
    /* the run's model, for the stages that default to it */
    if (rc == CUR_OK && (rc = cur_store_begin(cur_run_store(run))) == CUR_OK) {
      rc = cur_store_metric_put(cur_run_store(run), cur_run_id(run), "model", NAN, key);
      rc = rc == CUR_OK ? cur_store_commit(cur_run_store(run))
                        : (cur_store_rollback(cur_run_store(run)), rc);
    }
  }
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
};
