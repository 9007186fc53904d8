/* clip.c -- the public CLIP API: open a folder, encode images and texts.
**
** Glue only: configuration (clip_config.c), weights (clip_model.c), forward
** pass (clip_forward.c), tokenizer and preprocessing each live in their own
** file.  Large batches are cut into chunks of CLIP_CHUNK items so the
** workspace stays bounded (ViT-B/32: about 60 MB for 64 images).
*/
#include "clip_internal.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "clip_tokenizer.h"
#include "curate.h"
#include "safetensors.h"

#define CLIP_CHUNK 64

void clip_model_parallel(const clip_model *m, size_t n, void (*fn)(void *ctx, size_t i), void *ctx) {
  int threads = (size_t)m->threads < n ? m->threads : (int)n;
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(dynamic)
  for (size_t i = 0; i < n; i++) fn(ctx, i);
}

int clip_precision_parse(const char *s, clip_precision *out) {
  static const char *const names[] = {"auto", "fp32", "bf16"};
  for (int i = 0; i < 3; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (clip_precision)i;
      return CUR_OK;
    }
  }
  return cur_errorc(CUR_ECONFIG, "clip: precision '%s' is not auto, fp32 or bf16", s);
}

/* The parts every model needs after its config is set: backend, weights. */
static int model_init(clip_model *m, clip_precision prec, int threads) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  m->threads = threads > 0 ? threads : (cores > 0 ? (int)cores : 1);
  if (prec == CLIP_PRECISION_AUTO) prec = clip__cpu_has_bf16() ? CLIP_PRECISION_BF16 : CLIP_PRECISION_FP32;
  m->bf16 = prec == CLIP_PRECISION_BF16;
  int rc = clip__mm_new(m->bf16, m->threads, &m->mm);
  if (rc == CUR_OK && m->bf16) rc = clip__attn_new(&m->attn);
  return rc ? rc : clip__model_alloc(m);
}

/* Last component of dir without trailing slashes: "a/b/" -> "b". */
static char *folder_name(const char *dir) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  size_t s = n;
  while (s > 0 && dir[s - 1] != '/') s--;
  return cur_strndup(dir + s, n - s);
}

static int model_load(clip_model *m, const char *dir, clip_precision prec, int threads) {
  char *weights = NULL, *vocab = NULL, *name = NULL;
  cur_st_file *f = NULL;
  int rc = clip__config_load(dir, &m->cfg, &weights);
  if (rc == CUR_OK) rc = model_init(m, prec, threads);
  if (rc == CUR_OK) rc = cur_st_open(weights, &f);
  if (rc == CUR_OK) rc = clip__model_load_weights(m, f);
  if (rc == CUR_OK) rc = clip__model_prepare(m);
  if (rc != CUR_OK) goto cleanup;
  if (!(name = folder_name(dir))) { rc = CUR_ENOMEM; goto cleanup; }
  m->id = cur_asprintf("%s-%016llx-%s", name, (unsigned long long)cur_st_header_hash(f),
                       m->bf16 ? "bf16" : "fp32");
  if (!m->id) { rc = CUR_ENOMEM; goto cleanup; }
  if (!(vocab = cur_asprintf("%s/vocab.json", dir))) { rc = CUR_ENOMEM; goto cleanup; }
  if (access(vocab, F_OK) == 0) rc = clip_tokenizer_open(dir, &m->tok);
cleanup:
  cur_st_close(f);
  cur_free(weights);
  cur_free(vocab);
  cur_free(name);
  return rc;
}

int clip_model_open(const char *dir, clip_precision prec, int threads, clip_model **out) {
  *out = NULL;
  clip_model *m = cur_calloc(1, sizeof *m);
  if (!m) return CUR_ENOMEM;
  int rc = model_load(m, dir, prec, threads);
  if (rc != CUR_OK) {
    clip_model_free(m);
    return rc;
  }
  *out = m;
  return CUR_OK;
}

int clip__model_new_random(const char *tokenizer_dir, clip_precision prec, int threads,
                           uint64_t seed, clip_model **out) {
  *out = NULL;
  clip_model *m = cur_calloc(1, sizeof *m);
  if (!m) return CUR_ENOMEM;
  clip__config_vit_b32(&m->cfg);
  int rc = model_init(m, prec, threads);
  if (rc == CUR_OK) {
    clip__model_randomize(m, seed);
    rc = clip__model_prepare(m);
  }
  if (rc == CUR_OK) rc = (m->id = cur_strdup("random-ViT-B-32")) ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK && tokenizer_dir) rc = clip_tokenizer_open(tokenizer_dir, &m->tok);
  if (rc != CUR_OK) {
    clip_model_free(m);
    return rc;
  }
  *out = m;
  return CUR_OK;
}

void clip_model_free(clip_model *m) {
  if (!m) return;
  clip__model_release(m);
  clip__mm_free(m->mm);
  clip__attn_free(m->attn);
  clip_tokenizer_free(m->tok);
  cur_free(m->id);
  cur_free(m);
}

int clip_model_embed_dim(const clip_model *m) { return m->cfg.embed_dim; }
int clip_model_image_size(const clip_model *m) { return m->cfg.image_size; }
int clip_model_context_len(const clip_model *m) { return m->cfg.tower[CLIP_TEXT].seq; }
const char *clip_model_id(const clip_model *m) { return m->id; }
float clip_model_logit_scale(const clip_model *m) { return m->logit_scale; }
const char *clip_model_backend(const clip_model *m) { return clip__mm_describe(m->mm); }

clip_precision clip_model_precision(const clip_model *m) {
  return m->bf16 ? CLIP_PRECISION_BF16 : CLIP_PRECISION_FP32;
}

int clip_model_preprocess(const clip_model *m, const void *buf, size_t len, const char *name,
                          float *out) {
  return clip_preprocess_buffer(&m->cfg.prep, buf, len, name, out);
}

int clip_model_preprocess_file(const clip_model *m, const char *path, float *out) {
  return clip_preprocess_file(&m->cfg.prep, path, out);
}

int clip_encode_images(clip_model *m, const float *images, int n, float *out) {
  size_t per = 3 * (size_t)m->cfg.image_size * m->cfg.image_size;
  int rc = CUR_OK;
  for (int i = 0; i < n && rc == CUR_OK; i += CLIP_CHUNK) {
    int k = n - i < CLIP_CHUNK ? n - i : CLIP_CHUNK;
    rc = clip__encode_vision(m, images + (size_t)i * per, k, out + (size_t)i * m->cfg.embed_dim);
  }
  return rc;
}

int clip_tokenize(const clip_model *m, const char *text, int32_t *ids) {
  if (!m->tok) return cur_errorc(CUR_ESTATE, "clip: %s: no vocab.json/merges.txt for text", m->id);
  return clip_tokenizer_encode(m->tok, text, clip_model_context_len(m), ids, NULL);
}

/* Tokenizes a chunk; the pooled position is the first highest id (the end
** token), as model.py's text.argmax(dim=-1). */
static int encode_text_chunk(clip_model *m, const char *const *texts, int n, int32_t *ids,
                             int *eot, float *out) {
  int ctx = clip_model_context_len(m);
  for (int b = 0; b < n; b++) {
    int32_t *row = ids + (size_t)b * ctx;
    int rc = clip_tokenize(m, texts[b], row);
    if (rc != CUR_OK) return rc;
    eot[b] = 0;
    for (int s = 1; s < ctx; s++) eot[b] = row[s] > row[eot[b]] ? s : eot[b];
  }
  return clip__encode_text(m, ids, eot, n, out);
}

int clip_encode_texts(clip_model *m, const char *const *texts, int n, float *out) {
  int ctx = clip_model_context_len(m), rc = CUR_OK;
  int32_t *ids = cur_mallocarray((size_t)CLIP_CHUNK * ctx, sizeof *ids);
  int *eot = cur_mallocarray(CLIP_CHUNK, sizeof *eot);
  if (!ids || !eot) rc = CUR_ENOMEM;
  for (int i = 0; i < n && rc == CUR_OK; i += CLIP_CHUNK) {
    int k = n - i < CLIP_CHUNK ? n - i : CLIP_CHUNK;
    rc = encode_text_chunk(m, texts + i, k, ids, eot, out + (size_t)i * m->cfg.embed_dim);
  }
  cur_free(ids);
  cur_free(eot);
  return rc;
}

void clip_normalize(float *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
  if (s <= 0) return;
  float inv = (float)(1.0 / sqrt(s));
  for (int i = 0; i < n; i++) v[i] *= inv;
}
