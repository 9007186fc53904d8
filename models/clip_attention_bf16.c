/* clip_attention_bf16.c -- attention of the bf16 path as two batched matmuls on oneDNN.
**
** Per (item, head), scores = q k^T is a [S, D] x [D, S] product and the
** output p v a [S, S] x [S, D] one: about 1% of a layer's multiply-adds,
** but on a CPU with AMX the fp32 kernel of clip_ops.c spent 15% of the
** forward pass on them.  Here both run as one batched oneDNN matmul each
** over the batch x heads matrices, on the same bf16 kernels as the
** linear layers:
**   1. q, k and v are copied out of the qkv rows into [B, H, S, D] blocks
**      (oneDNN's AMX matmul reads plain layouts only; on the strided view
**      of the qkv rows it falls back to a slower kernel);
**   2. scores [B, H, S, S] fp32 = q k^T (k read transposed: "abdc");
**   3. each score row gets the 1/sqrt(D) scale, the causal mask and the
**      softmax in fp32, written as bf16 probabilities;
**   4. out = p v, written straight into the [B*S, W] attention output
**      (dims [B, H, S, D] in "acbd" order).
** The primitives are made for one shape and remade when it changes (the
** vision tower keeps one shape; text batches vary with their longest text).
*/
#include "clip_internal.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <string.h>

#include "curate.h"

struct clip_attn {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  int batch, seq, width, heads;  /* the shape the primitives were made for */
  dnnl_primitive_t qk, pv;
  dnnl_memory_t qk_src, qk_wei, qk_dst, pv_src, pv_wei, pv_dst;
  uint16_t *q, *k, *v, *p;       /* [B, H, S, D] x3, [B, H, S, S] */
  float *scores;                 /* [B, H, S, S] */
  size_t cap_qkv, cap_s;         /* elements */
};

static int dnnl_fail(const char *what, dnnl_status_t s) {
  return cur_errorf("clip: oneDNN attention %s failed (status %d)", what, (int)s);
}

static void prims_free(clip_attn *a) {
  dnnl_primitive_destroy(a->qk);
  dnnl_primitive_destroy(a->pv);
  dnnl_memory_destroy(a->qk_src);
  dnnl_memory_destroy(a->qk_wei);
  dnnl_memory_destroy(a->qk_dst);
  dnnl_memory_destroy(a->pv_src);
  dnnl_memory_destroy(a->pv_wei);
  dnnl_memory_destroy(a->pv_dst);
  a->qk = a->pv = NULL;
  a->qk_src = a->qk_wei = a->qk_dst = a->pv_src = a->pv_wei = a->pv_dst = NULL;
  a->batch = 0;
}

int clip__attn_new(clip_attn **out) {
  *out = NULL;
  clip_attn *a = cur_calloc(1, sizeof *a);
  if (!a) return CUR_ENOMEM;
  dnnl_status_t s = dnnl_engine_create(&a->engine, dnnl_cpu, 0);
  if (s == dnnl_success) s = dnnl_stream_create(&a->stream, a->engine, dnnl_stream_default_flags);
  if (s != dnnl_success) {
    clip__attn_free(a);
    return dnnl_fail("engine", s);
  }
  *out = a;
  return CUR_OK;
}

void clip__attn_free(clip_attn *a) {
  if (!a) return;
  prims_free(a);
  cur_free(a->q), cur_free(a->k), cur_free(a->v), cur_free(a->p), cur_free(a->scores);
  if (a->stream) dnnl_stream_destroy(a->stream);
  if (a->engine) dnnl_engine_destroy(a->engine);
  cur_free(a);
}

/* One matmul primitive src x wei -> dst with memory objects to bind later. */
static dnnl_status_t matmul(clip_attn *a, const dnnl_memory_desc_t *src,
                            const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst,
                            dnnl_primitive_t *prim, dnnl_memory_t *ms, dnnl_memory_t *mw,
                            dnnl_memory_t *md) {
  dnnl_matmul_desc_t desc;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t s = dnnl_matmul_desc_init(&desc, src, wei, NULL, dst);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &desc, NULL, a->engine, NULL);
  if (s == dnnl_success) s = dnnl_primitive_create(prim, pd);
  if (s == dnnl_success) s = dnnl_memory_create(ms, src, a->engine, DNNL_MEMORY_NONE);
  if (s == dnnl_success) s = dnnl_memory_create(mw, wei, a->engine, DNNL_MEMORY_NONE);
  if (s == dnnl_success) s = dnnl_memory_create(md, dst, a->engine, DNNL_MEMORY_NONE);
  dnnl_primitive_desc_destroy(pd);
  return s;
}

/* Makes the primitives and buffers for a shape, unless they exist. */
static int prepare(clip_attn *a, int B, int S, int W, int H) {
  if (a->batch == B && a->seq == S && a->width == W && a->heads == H) return CUR_OK;
  prims_free(a);
  int D = W / H;
  size_t n_qkv = (size_t)B * H * S * D, n_s = (size_t)B * H * S * S;
  if (n_qkv > a->cap_qkv) {
    if (clip__mm_grow((void **)&a->q, n_qkv, 2) || clip__mm_grow((void **)&a->k, n_qkv, 2) ||
        clip__mm_grow((void **)&a->v, n_qkv, 2))
      return CUR_ENOMEM;
    a->cap_qkv = n_qkv;
  }
  if (n_s > a->cap_s) {
    if (clip__mm_grow((void **)&a->p, n_s, 2) || clip__mm_grow((void **)&a->scores, n_s, sizeof(float)))
      return CUR_ENOMEM;
    a->cap_s = n_s;
  }
  dnnl_memory_desc_t q, kt, sc, p, v, o;
  dnnl_dims_t dq = {B, H, S, D}, dk = {B, H, D, S}, ds = {B, H, S, S};
  dnnl_status_t s = dnnl_memory_desc_init_by_tag(&q, 4, dq, dnnl_bf16, dnnl_abcd);
  /* k is stored [B, H, S, D]: as the [B, H, D, S] operand it reads "abdc" */
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&kt, 4, dk, dnnl_bf16, dnnl_abdc);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&sc, 4, ds, dnnl_f32, dnnl_abcd);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&p, 4, ds, dnnl_bf16, dnnl_abcd);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&v, 4, dq, dnnl_bf16, dnnl_abcd);
  /* [B, H, S, D] laid out as [B, S, H, D]: the [B*S, W] rows of the output */
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&o, 4, dq, dnnl_bf16, dnnl_acbd);
  if (s == dnnl_success) s = matmul(a, &q, &kt, &sc, &a->qk, &a->qk_src, &a->qk_wei, &a->qk_dst);
  if (s == dnnl_success) s = matmul(a, &p, &v, &o, &a->pv, &a->pv_src, &a->pv_wei, &a->pv_dst);
  if (s != dnnl_success) {
    prims_free(a);
    return dnnl_fail("primitive", s);
  }
  a->batch = B, a->seq = S, a->width = W, a->heads = H;
  return CUR_OK;
}

static int run(clip_attn *a, dnnl_primitive_t prim, dnnl_memory_t ms, void *src, dnnl_memory_t mw,
               void *wei, dnnl_memory_t md, void *dst) {
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}};
  dnnl_status_t s = dnnl_memory_set_data_handle(ms, src);
  if (s == dnnl_success) s = dnnl_memory_set_data_handle(mw, wei);
  if (s == dnnl_success) s = dnnl_memory_set_data_handle(md, dst);
  if (s == dnnl_success) s = dnnl_primitive_execute(prim, a->stream, 3, args);
  if (s == dnnl_success) s = dnnl_stream_wait(a->stream);
  return s == dnnl_success ? CUR_OK : dnnl_fail("matmul", s);
}

int clip__attention_bf16(clip_attn *a, const uint16_t *qkv, int batch, int seq, int width,
                         int heads, int causal, int threads, uint16_t *out) {
  int rc = prepare(a, batch, seq, width, heads);
  if (rc != CUR_OK) return rc;
  int S = seq, W = width, H = heads, D = W / H;
  if (threads < 1) threads = 1;
  /* 1: split the qkv rows into the three [B, H, S, D] blocks */
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int bs = 0; bs < batch * S; bs++) {
    int b = bs / S, s = bs % S;
    const uint16_t *row = qkv + (size_t)bs * 3 * W;
    for (int h = 0; h < H; h++) {
      size_t at = (((size_t)b * H + h) * S + s) * D;
      memcpy(a->q + at, row + (size_t)h * D, (size_t)D * 2);
      memcpy(a->k + at, row + W + (size_t)h * D, (size_t)D * 2);
      memcpy(a->v + at, row + 2 * (size_t)W + (size_t)h * D, (size_t)D * 2);
    }
  }
  rc = run(a, a->qk, a->qk_src, a->q, a->qk_wei, a->k, a->qk_dst, a->scores);
  if (rc != CUR_OK) return rc;
  /* 3: scale, causal mask and softmax of every score row */
  clip__softmax_rows_bf16(a->scores, batch * H * S, S, causal, 1.0f / sqrtf((float)D), a->p,
                          threads);
  return run(a, a->pv, a->pv_src, a->p, a->pv_wei, a->v, a->pv_dst, out);
}
