/* clip_internal.h -- declarations shared by the files of the CLIP engine.
**
** Not part of the public API (models/clip.h); only models/ and the bench
** include it.
*/
#ifndef CURATE_CLIP_INTERNAL_H
#define CURATE_CLIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "clip_preprocess.h"

struct cJSON;
struct clip_tokenizer;

/* ---- clip_textnorm.c: text clean-up before tokenization ----------------- */

/* Decodes UTF-8 (invalid bytes become U+FFFD), unescapes HTML entities twice,
** collapses whitespace runs to one space, strips both ends and lowercases.
** *out is an array of code points the caller frees with cur_free. */
int clip__text_normalize(const char *text, int32_t **out, size_t *n_out);
/* Python's str.isspace() for one code point. */
int clip__is_space(int32_t c);


/* ---- clip_config.c: HF and OpenCLIP configs, tensor names -------------- */

typedef enum clip_layout { CLIP_LAYOUT_HF, CLIP_LAYOUT_OPENCLIP } clip_layout;
typedef enum clip_act { CLIP_ACT_QUICK_GELU, CLIP_ACT_GELU } clip_act;
typedef enum clip_tower_id { CLIP_VISION = 0, CLIP_TEXT = 1 } clip_tower_id;

typedef struct clip_tower_cfg {
  int width, layers, heads, mlp; /* mlp: hidden size of the MLP */
  int seq;                       /* tokens: 1 + patches, or the context length */
} clip_tower_cfg;

typedef struct clip_config {
  clip_layout layout;
  clip_act act;
  float eps;                     /* layer norm epsilon */
  int embed_dim, image_size, patch_size, vocab_size;
  clip_tower_cfg tower[2];       /* indexed by clip_tower_id */
  clip_prep prep;
} clip_config;

/* Reads dir/config.json (+ preprocessor_config.json) or
** dir/open_clip_config.json, filling cfg; *weights gets the safetensors path
** (caller frees with cur_free). */
int clip__config_load(const char *dir, clip_config *cfg, char **weights);
/* Reads and parses a JSON object file; the caller frees *out with cJSON_Delete. */
int clip__json_read(const char *path, struct cJSON **out);
/* ViT-B/32 as published by OpenAI, in the OpenCLIP layout. */
void clip__config_vit_b32(clip_config *cfg);

/* Canonical weight slots.  Per layer: */
typedef enum clip_lslot {
  CLIP_L_LN1_W, CLIP_L_LN1_B, CLIP_L_QKV_W, CLIP_L_QKV_B, CLIP_L_OUT_W, CLIP_L_OUT_B,
  CLIP_L_LN2_W, CLIP_L_LN2_B, CLIP_L_FC1_W, CLIP_L_FC1_B, CLIP_L_FC2_W, CLIP_L_FC2_B,
  CLIP_L_COUNT
} clip_lslot;
/* Per tower (EMB: patch conv or token table; PRE: vision ln_pre only;
** CLS: vision class embedding only), plus the model's logit scale. */
typedef enum clip_tslot {
  CLIP_T_EMB, CLIP_T_CLS, CLIP_T_POS, CLIP_T_PRE_W, CLIP_T_PRE_B, CLIP_T_POST_W,
  CLIP_T_POST_B, CLIP_T_PROJ, CLIP_T_LOGIT_SCALE, CLIP_T_COUNT
} clip_tslot;

/* Name of part `part` (0..2; HF splits QKV in three, else only 0) of a
** slot, or 0 when that part does not exist.  layer < 0 asks for a tower slot
** (slot is then a clip_tslot).  *transposed is set when the checkpoint
** stores the matrix as [in, out] (OpenCLIP's projections). */
int clip__tensor_name(const clip_config *cfg, clip_tower_id tw, int layer, int slot, int part,
                      char *buf, size_t cap, int *transposed);


/* ---- matmul.c: linear layers on OpenBLAS (fp32) or oneDNN (bf16) ------- */

typedef struct clip_mm clip_mm;
typedef struct clip_mm_weight clip_mm_weight;

/* y = x W^T + b with W stored [out, in] row-major like PyTorch. */
typedef struct clip_linear {
  float *w;                /* fp32 [out, in]; NULL once packed for bf16 */
  float *b;                /* [out] or NULL */
  int out, in;
  clip_mm_weight *packed;  /* backend copy (bf16), owned */
} clip_linear;

enum {
  CLIP_MM_ACCUM = 1,       /* y += x W^T + b instead of y = ... */
  CLIP_MM_GELU = 2,        /* then y = gelu(y) (erf form) */
  CLIP_MM_QUICK_GELU = 4,  /* then y = y * sigmoid(1.702 y) */
  CLIP_MM_OUT_ACT = 8      /* y in the activation type (below), not fp32 */
};

/* 1 when the CPU has AVX512-BF16 or AMX-BF16 and the OS saves their state. */
int clip__cpu_has_bf16(void);
/* A backend; bf16 selects oneDNN, else OpenBLAS.  threads > 0 caps
** OpenBLAS's threads.  Free with clip__mm_free. */
int clip__mm_new(int bf16, int threads, clip_mm **out);
void clip__mm_free(clip_mm *mm);
/* Converts the weights for the backend once (bf16: a bf16 copy replaces l->w). */
int clip__mm_prepare(clip_mm *mm, clip_linear *l);
/* The element type of the activations the GEMMs read (1: bf16, on the
** bf16 backend; 0: fp32).  Activations that only feed a GEMM (layer norm
** outputs, qkv, attention, the MLP's hidden layer) are kept in it, so the
** bf16 path converts nothing between its GEMMs. */
int clip__mm_act_bf16(const clip_mm *mm);
/* y[m, l->out] (op)= x[m, l->in] W^T + b, then the activation in flags;
** x is in the activation type, y in fp32 unless flags has CLIP_MM_OUT_ACT.
** The bf16 backend reorders L's weights into the layout oneDNN picks for
** the shape the first time it meets it, and keeps them there (l->packed
** changes; l itself does not): a model runs on one thread at a time. */
int clip__mm_linear(clip_mm *mm, const clip_linear *l, const void *x, int m, void *y,
                    int flags);
/* Replaces *p (freed) by room for n elements of `size` bytes on a cache
** line (cur_alignedarray), for the buffers the GEMMs read and write; the
** old contents are not kept. */
int clip__mm_grow(void **p, size_t n, size_t size);
/* Frees the weights and the packed copy; NULL-safe. */
void clip__linear_free(clip_linear *l);
/* "fp32 (OpenBLAS)" or "bf16 (oneDNN brg:avx512_core_bf16)", for reports. */
const char *clip__mm_describe(const clip_mm *mm);

/* ---- clip_ops.c: vectorisable kernels on OpenMP's team ---------------- */

/* y = layer norm of the rows of x, y in bf16 when y_bf16 (else fp32; y may
** be x then), on up to `threads` threads. */
void clip__layernorm(const float *x, int rows, int n, const float *g, const float *b, float eps,
                    void *y, int y_bf16, int threads);
/* Bias and activation over rows x n (the fp32 path's epilogue). */
void clip__bias_act(float *y, int rows, int n, const float *b, int flags);
/* row[0..n) = softmax(scale * row[0..n)). */
void clip__softmax_row(float *row, int n, float scale);
/* The same over `rows` rows of n scores (row r of a causal block keeps its
** first r % n + 1 entries, the rest get probability 0), written as bf16
** probabilities into p [rows, n]; scores is overwritten.  On up to
** `threads` threads. */
void clip__softmax_rows_bf16(float *scores, int rows, int n, int causal, float scale,
                             uint16_t *p, int threads);
/* The same, with vector 0 forcing the plain loop (vector 1: masked AVX-512
** steps where the CPU has AVX-512BW and VL), for the tests. */
void clip__softmax_rows_bf16_as(float *scores, int rows, int n, int causal, float scale,
                                uint16_t *p, int threads, int vector);
/* Scaled dot-product attention in fp32 over qkv [B*S, 3W] (q, k, v blocks
** of W = H heads x D) into out [B*S, W]; causal masks j > i.  scratch holds
** clip__attention_scratch() floats. */
void clip__attention(const float *qkv, int batch, int seq, int width, int heads, int causal,
                     int threads, float *scratch, float *out);
size_t clip__attention_scratch(int seq, int width, int heads, int threads);
/* Round-to-nearest-even float -> bf16. */
void clip__to_bf16(const float *x, size_t n, uint16_t *y);

/* ---- clip_attention_bf16.c: attention on oneDNN's bf16 batched matmuls */

typedef struct clip_attn clip_attn;
int clip__attn_new(clip_attn **out);
void clip__attn_free(clip_attn *a);
/* clip__attention for bf16 qkv and out, with q k^T and p v as batched
** oneDNN matmuls and the softmax between them in fp32.  Not thread-safe:
** one model runs on one thread at a time. */
int clip__attention_bf16(clip_attn *a, const uint16_t *qkv, int batch, int seq, int width,
                         int heads, int causal, int threads, uint16_t *out);

/* ---- clip_model.c / clip_forward.c: weights and the two transformers --- */

typedef struct clip_layer {
  float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
  clip_linear qkv, out;
  clip_linear fc1, fc2;            /* as loaded; clip__model_prepare moves them into: */
  clip_linear *fc1_part, *fc2_part; /* the MLP in mlp_parts slices of its hidden layer */
  int mlp_parts;
} clip_layer;

typedef struct clip_tower {
  clip_tower_cfg cfg;
  clip_layer *layer;       /* cfg.layers of them */
  clip_linear patch;       /* vision: conv as [width, 3*P*P], no bias */
  float *tok_emb;          /* text: [vocab, width] */
  float *cls;              /* vision: [width] */
  float *pos;              /* [seq, width] */
  float *pre_w, *pre_b;    /* vision ln_pre */
  float *post_w, *post_b;  /* ln_post / ln_final */
  clip_linear proj;        /* [embed, width], no bias */
} clip_tower;

/* Activations, reused across calls; grown as batches grow.  x (the
** residual stream) is fp32; the others hold the activation type of
** clip__mm_act_bf16, in room sized for fp32. */
typedef struct clip_ws {
  float *x;                  /* [rows, width] */
  void *h, *big, *att;       /* [rows, width], [rows, max(3W, mlp)], [rows, width] */
  void *cols;                /* vision im2col [rows, 3*P*P] */
  float *att_scratch;        /* clip__attention's, for either tower (fp32 path) */
  size_t rows;               /* capacity in rows of the largest tower */
} clip_ws;

struct clip_model {
  clip_config cfg;
  clip_tower tower[2];
  float logit_scale;       /* exp() of the stored log scale */
  struct clip_tokenizer *tok; /* NULL when the folder has no vocabulary */
  clip_mm *mm;
  clip_attn *attn;         /* the bf16 path's attention; NULL in fp32 */
  int bf16, threads;
  char *id;
  clip_ws ws;
};

/* Allocates every weight array of m (from m->cfg) uninitialised. */
int clip__model_alloc(struct clip_model *m);
/* Reads every weight from the open checkpoint, checking names and shapes. */
struct cur_st_file;
int clip__model_load_weights(struct clip_model *m, const struct cur_st_file *f);
/* Fills the weights of m with N(0, 0.02)-like noise (benchmarks). */
void clip__model_randomize(struct clip_model *m, uint64_t seed);
/* Packs the matrices for m->mm (after the weights are final). */
int clip__model_prepare(struct clip_model *m);
void clip__model_release(struct clip_model *m);

/* ViT-B/32 with random weights (benchmarks); tokenizer_dir may be NULL. */
int clip__model_new_random(const char *tokenizer_dir, clip_precision prec, int threads,
                           uint64_t seed, struct clip_model **out);

int clip__encode_vision(struct clip_model *m, const float *chw, int n, float *out);
/* ids: n rows of cfg.tower[CLIP_TEXT].seq ids; eot: end-token positions. */
int clip__encode_text(struct clip_model *m, const int32_t *ids, const int *eot, int n,
                      float *out);

#endif
