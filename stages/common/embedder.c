/* embedder.c -- embeds the stored images that lack an embedding, for the embed stage and the stages that embed variants.
**
** The model is a CLIP checkpoint (embed.model) or, without one, a
** download-free feature extractor: standardisable pixels, or the k-means
** "patches" features of Coates, Lee & Ng (2011) whose dictionary is learned
** from this dataset's training images once and kept in model_blobs.  Images
** are taken in id order, in batches of batch_size, each batch one
** transaction; a killed run resumes at the first image without an
** embedding, so batches, and so every stored vector, come out the same.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clip.h"
#include "curate.h"
#include "embedder.h"
#include "feat.h"
#include "half.h"
#include "parallel.h"
#include "quarantine.h"
#include "rng.h"
#include "store_embed.h"
#include "store_images.h"
#include "store_metrics.h"
#include "store_runs.h"
#include "store_shard.h"

typedef enum { EMB_CLIP, EMB_PATCHES, EMB_PIXELS } emb_kind;

/* The model in use and a batch's working buffers. */
typedef struct embedder {
  emb_kind kind;
  clip_model *clip;
  feat_patches *patches;
  int size, channels;        /* CLIP: input size, 3; features: target size */
  int dim;
  char key[256];             /* embeddings.model */
  /* one batch */
  int cap, n;
  int64_t *ids;
  unsigned char **bytes;     /* copies of the encoded images */
  size_t *lens;
  int *bad;                  /* the image could not be decoded */
  char (*why)[192];          /* and why, from the decoder */
  float *input;              /* CLIP: n x 3 x S x S; features: unused */
  uint8_t *pix;              /* features: n x S x S x C */
  float *out;                /* n x dim */
  cur_run *run;
  const cJSON *opt;          /* the embed options (another stage's run may borrow them) */
} embedder;

static size_t input_floats(const embedder *e) {
  return (size_t)3 * e->size * e->size;
}

static size_t pixel_bytes(const embedder *e) {
  return (size_t)e->size * e->size * e->channels;
}

/* An image ingest accepted that this model cannot read (a decoder stricter
** than the probe, or bytes changed since): it is quarantined with the
** reason, so that it is named once and no later run trips on it again.  A
** shard cannot write the store: it records the image, and the merge
** quarantines it through here. */
int cur_embedder_quarantine(cur_run *run, int64_t id, const char *why) {
  cur_shard *shard = cur_run_shard(run);
  if (shard) {
    int added, rc = cur_shard_failed_put(shard, id, why, &added);
    if (rc == CUR_OK && added)
      cur_run_input_error(run, "embed: image %lld cannot be decoded: %s; quarantined when the shard "
                          "is merged", (long long)id, why);
    return rc;
  }
  return cur_stage_quarantine(run, "embed", id, why);
}

static int quarantine(embedder *e, int64_t id, const char *why) {
  return cur_embedder_quarantine(e->run, id, why);
}

/* Decodes an image's bytes into the next slot of pixels for the features. */
static int decode_pixels(void *ctx, int64_t id, const void *bytes, size_t len) {
  embedder *e = ctx;
  if (feat_image_decode(bytes, len, e->size, e->size, e->channels,
                        e->pix + (size_t)e->n * pixel_bytes(e)) != CUR_OK)
    return quarantine(e, id, cur_error());
  e->n++;
  return CUR_OK;
}

/* Learns the patches dictionary from a seeded sample of training images. */
static int train_patches(embedder *e, cur_store *st, const cJSON *opt, uint64_t seed) {
  int64_t *ids = NULL;
  size_t n_ids, want = (size_t)cur_opt_int(opt, "patches_train_images");
  feat_patches_config cfg;
  int rc = cur_store_split_ids(st, "train", &ids, &n_ids);
  if (rc) return rc;
  if (n_ids == 0) {
    cur_free(ids);
    return cur_errorc(CUR_ESTATE, "embed: no ok training images to learn the patches dictionary from");
  }
  cur_rng r;
  cur_rng_seed_keys(&r, (uint64_t[]){seed, 0x70617463686573ull}, 2);  /* "patches" */
  for (size_t i = 0; i + 1 < n_ids; i++) {  /* partial Fisher-Yates: the first `want` */
    size_t j = i + (size_t)cur_rng_below(&r, n_ids - i);
    int64_t t = ids[i]; ids[i] = ids[j]; ids[j] = t;
    if (i + 1 >= want) break;
  }
  if (n_ids > want) n_ids = want;
  e->n = 0;
  if (!(e->pix = cur_mallocarray(n_ids, pixel_bytes(e)))) rc = CUR_ENOMEM;
  cur_info("embed: learning the patches dictionary from %zu training images", n_ids);
  for (size_t i = 0; rc == CUR_OK && i < n_ids; i++) rc = cur_store_image_bytes(st, ids[i], decode_pixels, e);
  cur_free(ids);
  feat_patches_config_default(&cfg);
  cfg.k = (int)cur_opt_int(opt, "patches_k");
  cfg.n_patches = (int)cur_opt_int(opt, "patches_samples");
  cfg.seed = seed;
  feat_images im = {e->pix, (size_t)e->n, e->size, e->size, e->channels};
  if (rc == CUR_OK) rc = feat_patches_train(&cfg, &im, &e->patches);
  cur_free(e->pix);
  e->pix = NULL;
  return rc;
}

/* Loads the dictionary for e->key, learning and storing it on first use. */
static int open_patches(embedder *e, cur_run *run) {
  cur_store *st = cur_run_store(run);
  unsigned char *blob = NULL;
  size_t len = 0;
  int found, rc = cur_store_blob_get(st, e->key, &blob, &len, &found);
  if (rc == CUR_OK && found) rc = feat_patches_load(blob, len, &e->patches);
  else if (rc == CUR_OK) {
    char *config = cJSON_PrintUnformatted(e->opt);
    if (!config) rc = CUR_ENOMEM;
    if (rc == CUR_OK) rc = train_patches(e, st, e->opt, cur_run_seed(run));
    if (rc == CUR_OK) rc = feat_patches_save(e->patches, &blob, &len);
    /* a shard keeps the dictionary with its vectors; the merge stores it */
    if (rc == CUR_OK && cur_run_shard(run))
      rc = cur_shard_blob_put(cur_run_shard(run), e->key, "patches", config, blob, len);
    else if (rc == CUR_OK && (rc = cur_store_begin(st)) == CUR_OK) {
      rc = cur_store_blob_put(st, e->key, "patches", config, blob, len, cur_run_id(run));
      if (rc == CUR_OK) rc = cur_store_commit(st);
      else cur_store_rollback(st);
    }
    cJSON_free(config);
  }
  cur_free(blob);
  if (rc == CUR_OK) e->dim = feat_patches_dim(e->patches);
  return rc;
}

static int open_model(embedder *e, cur_run *run) {
  const cJSON *opt = e->opt;
  const char *model = cur_opt_str(opt, "model");
  if (model[0]) {
    clip_precision prec;
    int rc = clip_precision_parse(cur_opt_str(opt, "precision"), &prec);
    if (rc == CUR_OK) rc = clip_model_open(model, prec, cur_run_threads(run), &e->clip);
    if (rc) return rc;
    e->kind = EMB_CLIP;
    e->size = clip_model_image_size(e->clip);
    e->channels = 3;
    e->dim = clip_model_embed_dim(e->clip);
    snprintf(e->key, sizeof e->key, "%s", clip_model_id(e->clip));
    return CUR_OK;
  }
  e->size = (int)cur_opt_int(opt, "size");
  e->channels = (int)cur_opt_int(opt, "channels");
  if (strcmp(cur_opt_str(opt, "features"), "pixels") == 0) {
    e->kind = EMB_PIXELS;
    e->dim = e->size * e->size * e->channels;
    snprintf(e->key, sizeof e->key, "pixels-%dpx-c%d", e->size, e->channels);
    return CUR_OK;
  }
  e->kind = EMB_PATCHES;
  snprintf(e->key, sizeof e->key, "patches-k%lld-%dpx-c%d-n%lld-m%lld-seed%llu",
           (long long)cur_opt_int(opt, "patches_k"), e->size, e->channels,
           (long long)cur_opt_int(opt, "patches_samples"),
           (long long)cur_opt_int(opt, "patches_train_images"), (unsigned long long)cur_run_seed(run));
  return open_patches(e, run);
}

static int alloc_batch(embedder *e, int cap) {
  e->cap = cap;
  e->ids = cur_calloc((size_t)cap, sizeof *e->ids);
  e->bytes = cur_calloc((size_t)cap, sizeof *e->bytes);
  e->lens = cur_calloc((size_t)cap, sizeof *e->lens);
  e->bad = cur_calloc((size_t)cap, sizeof *e->bad);
  e->why = cur_calloc((size_t)cap, sizeof *e->why);
  e->out = cur_mallocarray((size_t)cap * (size_t)e->dim, sizeof *e->out);
  if (e->kind == EMB_CLIP) e->input = cur_mallocarray((size_t)cap * input_floats(e), sizeof *e->input);
  else e->pix = cur_mallocarray((size_t)cap, pixel_bytes(e));
  int ok = e->ids && e->bytes && e->lens && e->bad && e->why && e->out && (e->input || e->pix);
  return ok ? CUR_OK : CUR_ENOMEM;
}

static void embedder_close(embedder *e) {
  for (int i = 0; e->bytes && i < e->cap; i++) cur_free(e->bytes[i]);
  cur_free(e->ids);
  cur_free(e->bytes);
  cur_free(e->lens);
  cur_free(e->bad);
  cur_free(e->why);
  cur_free(e->out);
  cur_free(e->input);
  cur_free(e->pix);
  clip_model_free(e->clip);
  feat_patches_free(e->patches);
}

/* Store callback: copies one pending image into the batch. */
static int take_image(void *ctx, int64_t id, const void *bytes, size_t len) {
  embedder *e = ctx;
  unsigned char *copy = cur_malloc(len);
  if (!copy) return CUR_ENOMEM;
  memcpy(copy, bytes, len);
  cur_free(e->bytes[e->n]);
  e->bytes[e->n] = copy;
  e->lens[e->n] = len;
  e->ids[e->n++] = id;
  return CUR_OK;
}

/* Worker: decodes image I for the model (never touches the store). */
static void decode_one(void *ctx, size_t i) {
  embedder *e = ctx;
  char name[32];
  snprintf(name, sizeof name, "image %lld", (long long)e->ids[i]);
  if (e->kind == EMB_CLIP)
    e->bad[i] = clip_model_preprocess(e->clip, e->bytes[i], e->lens[i], name,
                                      e->input + i * input_floats(e)) != CUR_OK;
  else
    e->bad[i] = feat_image_decode(e->bytes[i], e->lens[i], e->size, e->size, e->channels,
                                  e->pix + i * pixel_bytes(e)) != CUR_OK;
  /* the message is this worker thread's: keep it for the recording thread */
  if (!e->bad[i]) return;
  snprintf(e->why[i], sizeof e->why[i], "%s", cur_error());
  /* the batch is computed whole: give the model zeros, not stale pixels */
  if (e->kind == EMB_CLIP) memset(e->input + i * input_floats(e), 0, input_floats(e) * sizeof *e->input);
  else memset(e->pix + i * pixel_bytes(e), 0, pixel_bytes(e));
}

static int compute(embedder *e) {
  feat_images im = {e->pix, (size_t)e->n, e->size, e->size, e->channels};
  switch (e->kind) {
  case EMB_CLIP: return clip_encode_images(e->clip, e->input, e->n, e->out);
  case EMB_PATCHES: return feat_patches_extract(e->patches, &im, cur_run_threads(e->run), e->out);
  case EMB_PIXELS: return feat_pixels_extract(&im, e->out);
  }
  return CUR_ERR;
}

/* Stores the batch's vectors (as half floats) and quarantines its bad
** images: in one transaction, or into the shard file of a sharded run. */
static int store_batch(embedder *e) {
  cur_store *st = cur_run_store(e->run);
  cur_shard *shard = cur_run_shard(e->run);
  size_t bytes = (size_t)e->dim * 2;
  unsigned char *half = cur_malloc(bytes);
  int rc = !half ? CUR_ENOMEM : shard ? CUR_OK : cur_store_begin(st);
  for (int i = 0; rc == CUR_OK && i < e->n; i++) {
    if (e->bad[i]) {
      rc = quarantine(e, e->ids[i], e->why[i]);
      continue;
    }
    cur_half_encode(e->out + (size_t)i * e->dim, (size_t)e->dim, half);
    rc = shard ? cur_shard_vector_put(shard, e->ids[i], e->dim, half, bytes)
               : cur_store_embedding_put(st, e->ids[i], e->key, e->dim, half, bytes, cur_run_id(e->run));
  }
  if (half && !shard && rc == CUR_OK) rc = cur_store_commit(st);
  else if (half && !shard) cur_store_rollback(st);
  cur_free(half);
  return rc;
}

static int embed_all(embedder *e) {
  cur_store *st = cur_run_store(e->run);
  int64_t pending, last = 0;
  cur_share share = cur_run_share(e->run);
  int rc = cur_store_embed_pending(st, e->key, share, &pending);
  if (rc) return rc;
  cur_run_progress_start(e->run, "embed", pending);
  for (;;) {
    e->n = 0;
    if ((rc = cur_store_embed_next(st, e->key, share, last, e->cap, take_image, e)) || e->n == 0) break;
    last = e->ids[e->n - 1];
    if (e->kind == EMB_CLIP) clip_model_parallel(e->clip, (size_t)e->n, decode_one, e);
    else cur_parallel_for((size_t)e->n, cur_run_threads(e->run), decode_one, e);
    if ((rc = compute(e)) || (rc = store_batch(e))) break;
    cur_run_progress_add(e->run, e->n);
    if (cur_interrupted()) return CUR_EINTR;
  }
  return rc;
}

int cur_embedder_fill(cur_run *run, const cJSON *opt, char *key, size_t key_cap) {
  embedder e = {.run = run, .opt = opt};
  int rc = open_model(&e, run);
  if (rc == CUR_OK) rc = alloc_batch(&e, (int)cur_opt_int(opt, "batch_size"));
  if (rc == CUR_OK) {
    cur_info("embed: model %s (%d values per image)", e.key, e.dim);
    rc = embed_all(&e);
  }
  if (e.key[0]) snprintf(key, key_cap, "%s", e.key);
  embedder_close(&e);
  return rc;
}

int cur_embedder_fill_newest(cur_run *run, const char *what, int64_t missing) {
  char *json = NULL;
  int found, rc = cur_store_run_config(cur_run_store(run), "embed", &json, &found);
  cJSON *opt = rc == CUR_OK && found ? cJSON_Parse(json) : NULL;
  if (rc == CUR_OK && found && !opt) rc = cur_errorf("%s: the embed run's options are not JSON", what);
  if (opt) {
    char key[256];
    cur_info("%s: %lld rows have no embedding yet; embedding them", what, (long long)missing);
    rc = cur_embedder_fill(run, opt, key, sizeof key);
  }
  cJSON_Delete(opt);
  cur_free(json);
  return rc;
}
