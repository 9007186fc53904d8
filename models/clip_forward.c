/* clip_forward.c -- the vision and text transformers of CLIP (model.py).
**
** Activations are row-major [batch * seq, width] with the sequence of item b
** in rows b*seq .. b*seq+seq-1.  A residual block is
**   x += out_proj(attention(qkv(ln_1(x))));  x += fc2(act(fc1(ln_2(x))))
** (the MLP possibly in slices of its hidden layer: clip_model.c, mlp_split)
** and the workspace buffers (model-owned, grown on demand) hold x, the
** layer-norm output h, the wide qkv/MLP activations `big` and the attention
** output `att`.  x, the residual stream, is fp32; the others feed GEMMs
** only and are kept in the GEMMs' activation type (bf16 on the bf16 path,
** as PyTorch's autocast keeps them), so nothing is converted in between.  Text runs causally, so positions after the end token never
** influence it: each batch is cut to its longest text, which is exact.
*/
#include "clip_internal.h"

#include <assert.h>
#include <string.h>

#include "curate.h"

/* Room for n fp32 values (or as many bf16 ones) in *p, cache-line aligned. */
static int grow(void **p, size_t n) { return clip__mm_grow(p, n, sizeof(float)); }

/* Makes room for `rows` activation rows of either tower. */
static int ws_reserve(clip_model *m, size_t rows) {
  clip_ws *ws = &m->ws;
  if (rows <= ws->rows) return CUR_OK;
  size_t w = 0, wide = 0, att = 0, k = 3 * (size_t)m->cfg.patch_size * (size_t)m->cfg.patch_size;
  for (int t = 0; t < 2; t++) {
    const clip_tower_cfg *c = &m->cfg.tower[t];
    size_t big = (size_t)(3 * c->width > c->mlp ? 3 * c->width : c->mlp);
    size_t a = clip__attention_scratch(c->seq, c->width, c->heads, m->threads);
    w = (size_t)c->width > w ? (size_t)c->width : w;
    wide = big > wide ? big : wide;
    att = a > att ? a : att;
  }
  void *x = ws->x, *scratch = ws->att_scratch;
  int rc = grow(&x, rows * w) || grow(&scratch, att);
  ws->x = x;
  ws->att_scratch = scratch;
  if (rc || grow(&ws->h, rows * w) || grow(&ws->att, rows * w) || grow(&ws->big, rows * wide) ||
      grow(&ws->cols, rows * k))
    return CUR_ENOMEM;
  ws->rows = rows;
  return CUR_OK;
}

static int attention(clip_model *m, const clip_tower *t, int batch, int seq, int causal) {
  clip_ws *ws = &m->ws;
  int W = t->cfg.width, H = t->cfg.heads;
  if (clip__mm_act_bf16(m->mm))
    return clip__attention_bf16(m->attn, ws->big, batch, seq, W, H, causal, m->threads, ws->att);
  clip__attention(ws->big, batch, seq, W, H, causal, m->threads, ws->att_scratch, ws->att);
  return CUR_OK;
}

static int residual_block(clip_model *m, const clip_tower *t, const clip_layer *L, int batch,
                          int seq, int causal) {
  clip_ws *ws = &m->ws;
  int W = t->cfg.width, M = batch * seq, bf = clip__mm_act_bf16(m->mm), rc;
  int act = m->cfg.act == CLIP_ACT_GELU ? CLIP_MM_GELU : CLIP_MM_QUICK_GELU;
  float eps = m->cfg.eps;
  clip__layernorm(ws->x, M, W, L->ln1_w, L->ln1_b, eps, ws->h, bf, m->threads);
  if ((rc = clip__mm_linear(m->mm, &L->qkv, ws->h, M, ws->big, CLIP_MM_OUT_ACT)) ||
      (rc = attention(m, t, batch, seq, causal)) ||
      (rc = clip__mm_linear(m->mm, &L->out, ws->att, M, ws->x, CLIP_MM_ACCUM)))
    return rc;
  clip__layernorm(ws->x, M, W, L->ln2_w, L->ln2_b, eps, ws->h, bf, m->threads);
  /* the MLP slice by slice (clip_model.c, mlp_split) */
  assert(L->mlp_parts > 0);
  for (int p = 0; p < L->mlp_parts; p++)
    if ((rc = clip__mm_linear(m->mm, &L->fc1_part[p], ws->h, M, ws->big, act | CLIP_MM_OUT_ACT)) ||
        (rc = clip__mm_linear(m->mm, &L->fc2_part[p], ws->big, M, ws->x, CLIP_MM_ACCUM)))
      return rc;
  return CUR_OK;
}

/* Runs the layers, then ln_post/ln_final and the projection on one row per
** item (rows pick[b] of x) into out [batch, embed]. */
static int run_tower(clip_model *m, const clip_tower *t, int batch, int seq, int causal,
                     const int *pick, float *out) {
  clip_ws *ws = &m->ws;
  int W = t->cfg.width, rc = CUR_OK;
  for (int i = 0; i < t->cfg.layers && rc == CUR_OK; i++)
    rc = residual_block(m, t, &t->layer[i], batch, seq, causal);
  if (rc != CUR_OK) return rc;
  float *picked = ws->att; /* fp32 rows: att has room for them */
  for (int b = 0; b < batch; b++)
    memcpy(picked + (size_t)b * W, ws->x + ((size_t)b * seq + pick[b]) * W, W * sizeof(float));
  clip__layernorm(picked, batch, W, t->post_w, t->post_b, m->cfg.eps, ws->h,
                  clip__mm_act_bf16(m->mm), m->threads);
  return clip__mm_linear(m->mm, &t->proj, ws->h, batch, out, 0);
}

/* Patch p of image b as one row of 3*P*P values in conv-weight order
** (channel, row, column), so the conv is one matrix product; cols in bf16
** when bf16, else fp32.  Images split between the threads. */
static void im2col(const float *chw, int n, int size, int P, int bf16, void *cols, int threads) {
  int g = size / P;
  size_t plane = (size_t)size * size, k = 3 * (size_t)P * P;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int b = 0; b < n; b++)
    for (int py = 0; py < g; py++)
      for (int px = 0; px < g; px++) {
        size_t row = ((size_t)b * g * g + (size_t)py * g + px) * k;
        for (int c = 0; c < 3; c++)
          for (int y = 0; y < P; y++) {
            const float *src =
                chw + (size_t)b * 3 * plane + c * plane + (size_t)(py * P + y) * size + px * P;
            size_t at = row + ((size_t)c * P + y) * P;
            if (bf16)
              clip__to_bf16(src, (size_t)P, (uint16_t *)cols + at);
            else
              memcpy((float *)cols + at, src, P * sizeof(float));
          }
      }
}

int clip__encode_vision(clip_model *m, const float *chw, int n, float *out) {
  const clip_tower *t = &m->tower[CLIP_VISION];
  int S = t->cfg.seq, W = t->cfg.width, np = S - 1, rc;
  int *pick = cur_calloc((size_t)n, sizeof *pick); /* the class token, row 0 */
  if (!pick) return CUR_ENOMEM;
  if ((rc = ws_reserve(m, (size_t)n * S)) != CUR_OK) goto cleanup;
  clip_ws *ws = &m->ws;
  im2col(chw, n, m->cfg.image_size, m->cfg.patch_size, clip__mm_act_bf16(m->mm), ws->cols,
         m->threads);
  /* the patch embeddings, fp32, in att (room for [n*S, W]) */
  float *patches = ws->att;
  if ((rc = clip__mm_linear(m->mm, &t->patch, ws->cols, n * np, patches, 0)) != CUR_OK) goto cleanup;
#pragma omp parallel for num_threads(m->threads) schedule(static)
  for (int b = 0; b < n; b++) {
    float *x = ws->x + (size_t)b * S * W;
    for (int i = 0; i < W; i++) x[i] = t->cls[i] + t->pos[i];
    for (int p = 0; p < np; p++) {
      const float *e = patches + ((size_t)b * np + p) * W, *pos = t->pos + (size_t)(p + 1) * W;
      for (int i = 0; i < W; i++) x[(size_t)(p + 1) * W + i] = e[i] + pos[i];
    }
  }
  clip__layernorm(ws->x, n * S, W, t->pre_w, t->pre_b, m->cfg.eps, ws->x, 0, m->threads);
  rc = run_tower(m, t, n, S, 0, pick, out);
cleanup:
  cur_free(pick);
  return rc;
}

int clip__encode_text(clip_model *m, const int32_t *ids, const int *eot, int n, float *out) {
  const clip_tower *t = &m->tower[CLIP_TEXT];
  int ctx = t->cfg.seq, W = t->cfg.width, L = 1, rc;
  for (int b = 0; b < n; b++) {
    if (eot[b] < 0 || eot[b] >= ctx) return cur_errorf("clip: end token position %d", eot[b]);
    L = eot[b] + 1 > L ? eot[b] + 1 : L;
  }
  for (size_t i = 0; i < (size_t)n * ctx; i++)
    if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
      return cur_errorc(CUR_EINPUT, "clip: token id %d outside the vocabulary", ids[i]);
  if ((rc = ws_reserve(m, (size_t)n * L)) != CUR_OK) return rc;
  for (int b = 0; b < n; b++)
    for (int s = 0; s < L; s++) {
      float *x = m->ws.x + ((size_t)b * L + s) * W;
      const float *e = t->tok_emb + (size_t)ids[(size_t)b * ctx + s] * W, *pos = t->pos + (size_t)s * W;
      for (int i = 0; i < W; i++) x[i] = e[i] + pos[i];
    }
  return run_tower(m, t, n, L, 1, eot, out);
}
