/* clip.h -- CLIP image and text encoders for the embed and prelabel stages.
**
** Load a checkpoint folder once, then encode batches.  Two layouts load:
** Hugging Face (config.json + model.safetensors [+ preprocessor_config.json])
** and OpenCLIP (open_clip_config.json + open_clip_model.safetensors), any
** ViT size, tensors F32, F16 or BF16.  Text needs vocab.json and merges.txt
** in the same folder.  See docs/models.md.
**
** Ownership: clip_model_open returns a model the caller frees with
** clip_model_free.  Every input and output array is the caller's.  Strings
** returned by accessors belong to the model and live until it is freed.
** A model is not thread-safe: its workspace is reused across calls, so use
** one model per thread (decode and preprocess may run on other threads).
*/
#ifndef CURATE_CLIP_H
#define CURATE_CLIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct clip_model clip_model;

typedef enum clip_precision {
  CLIP_PRECISION_AUTO,  /* bf16 when the CPU has AVX512-BF16 or AMX, else fp32 */
  CLIP_PRECISION_FP32,  /* OpenBLAS sgemm */
  CLIP_PRECISION_BF16   /* oneDNN bf16 matmul, fp32 everything else */
} clip_precision;

/* Parses "auto", "fp32" or "bf16"; CUR_ECONFIG otherwise. */
int clip_precision_parse(const char *s, clip_precision *out);

/* Loads dir (layout detected from the config file name).  threads caps the
** compute threads (0 = all cores).  On failure *out is NULL and the message
** names the file and the problem. */
int clip_model_open(const char *dir, clip_precision prec, int threads, clip_model **out);
void clip_model_free(clip_model *m);

int clip_model_embed_dim(const clip_model *m);
int clip_model_image_size(const clip_model *m);   /* input is 3 x size x size */
int clip_model_context_len(const clip_model *m);
/* Stable key for stored embeddings: "<folder>-<16 hex of the safetensors
** header hash>-<fp32|bf16>"; bf16 features differ slightly, so they get their
** own key. */
const char *clip_model_id(const clip_model *m);
clip_precision clip_model_precision(const clip_model *m); /* never AUTO */
const char *clip_model_backend(const clip_model *m);      /* for reports */
float clip_model_logit_scale(const clip_model *m);        /* exp() applied: ~100 */

/* Decodes encoded image bytes (or a file) and writes the normalised
** 3 x size x size CHW tensor into out.  Thread-safe: touches no model state. */
int clip_model_preprocess(const clip_model *m, const void *buf, size_t len, const char *name,
                          float *out);
int clip_model_preprocess_file(const clip_model *m, const char *path, float *out);
/* Calls fn(ctx, i) for every i < n, on the threads the model computes on,
** each taking the next i as it finishes (for decoding a batch before
** clip_encode_images).  Threads of their own would share the cores with
** the compute threads, which spin for a while after each batch (libgomp's
** wait policy) and take about a seventh of the decoders' time. */
void clip_model_parallel(const clip_model *m, size_t n, void (*fn)(void *ctx, size_t i), void *ctx);

/* n preprocessed images (n x 3 x size x size) -> n x embed_dim features,
** not normalised.  Any n >= 1; large n is processed in chunks. */
int clip_encode_images(clip_model *m, const float *images, int n, float *out);
/* n UTF-8 texts -> n x embed_dim features, not normalised.  CUR_ESTATE when
** the folder had no vocabulary. */
int clip_encode_texts(clip_model *m, const char *const *texts, int n, float *out);
/* Tokenizes one text into context_len ids (caller's array). */
int clip_tokenize(const clip_model *m, const char *text, int32_t *ids);

/* Zero-shot class embeddings with prompt ensembling: for each class name,
** the mean over the templates ("{}" marks the name) of the unit text
** embeddings, normalised again.  out: n_classes x embed_dim, caller's. */
int clip_zeroshot_classes(clip_model *m, const char *const *classes, int n_classes,
                          const char *const *templates, int n_templates, float *out);
/* Class probabilities softmax(scale x cosine) of one image feature (which is
** normalised in place) against unit class embeddings. */
void clip_zeroshot_probs(const float *class_emb, int n_classes, int dim, float scale,
                         float *feature, float *probs);

/* Scales v (n floats) to unit length; a zero vector stays zero. */
void clip_normalize(float *v, int n);

#endif
