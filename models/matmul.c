/* matmul.c -- linear layers: oneDNN matmul (bf16, and fp32 with AVX-512) or OpenBLAS sgemm.
**
** The oneDNN paths keep each weight matrix in PyTorch's [out, in] order
** (converted once to bf16 for bf16), which oneDNN reads as a K x N matrix
** in the "ba" format.
** Each primitive lets oneDNN choose the weights' layout (format "any": the
** blocked, VNNI-interleaved tiles its AMX or AVX512-BF16 brgemm kernels read
** directly), and the weights are reordered into it once, at the first call
** that needs that layout, instead of being re-packed by the kernel on every
** call.  The kernels fuse the bias, the residual sum and the activation.
** In bf16, activations arrive in bf16 (the forward pass keeps every GEMM
** input in bf16), and a result is written in bf16 when it only feeds
** another GEMM, else in fp32 (the residual stream, the embeddings).
** Primitives are cached per (m, k, n, flags), and the cache belongs to the
** clip_mm object, so one clip_mm must not be used by two threads at once.
*/
#include "clip_internal.h"

#include <assert.h>
#include <cblas.h>
#include <cpuid.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"

/* The weights in a layout a primitive asked for. */
typedef struct mm_packed {
  dnnl_memory_desc_t md;
  void *data;
} mm_packed;

/* Primitives of different M may ask for different layouts; a few at most. */
#define MM_LAYOUTS 4

struct clip_mm_weight {
  void *w;                  /* [out, in] in the backend's type (the "ba" K x N matrix),
                               until the first layout */
  mm_packed layout[MM_LAYOUTS];
  int n_layouts;
};

typedef struct mm_prim {
  int m, k, n, flags;
  dnnl_memory_desc_t wmd;   /* the weights' layout the primitive reads */
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bias, dst;
} mm_prim;

struct clip_mm {
  int kind;                 /* MM_* */
  dnnl_data_type_t dt;      /* oneDNN's activation and weight type */
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  mm_prim *cache;
  int n_cache;
  void *wtmp;               /* weights in a layout past MM_LAYOUTS, for one call */
  size_t wtmp_cap;
  char describe[96];
};

enum { MM_BLAS, MM_DNNL_F32, MM_DNNL_BF16 };

/* In OpenBLAS's own header, but not in every cblas.h. */
extern void openblas_set_num_threads(int);

/* AVX-512 Foundation with its register state saved by the OS, and the bf16
** instructions (AVX512-BF16, or AMX whose tiles oneDNN asks the OS for). */
static void cpu_features(int *avx512, int *bf16) {
  unsigned a, b, c, d, a1 = 0, b1, c1, d1;
  *avx512 = *bf16 = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
  int amx = (d >> 22) & 1, avx512f = (b >> 16) & 1;
  int avx512bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && ((a1 >> 5) & 1);
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return; /* OSXSAVE */
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  int zmm_state = (lo & 0xe6) == 0xe6; /* XMM, YMM, opmask and ZMM saved by the OS */
  *avx512 = avx512f && zmm_state;
  *bf16 = (*avx512 && avx512bf16) || amx;
}

int clip__cpu_has_bf16(void) {
  int avx512, bf16;
  cpu_features(&avx512, &bf16);
  return bf16;
}

static int dnnl_fail(const char *what, dnnl_status_t s) {
  return cur_errorf("clip: oneDNN %s failed (status %d)", what, (int)s);
}

/* fp32 runs on oneDNN's f32 matmul where the CPU has AVX-512 (measured
** 204-218 GFLOP/s against OpenBLAS sgemm's 182 on an AMD EPYC, 329 against
** 215 on an Intel Xeon: scripts/bench/clip prints both), else on OpenBLAS.
** The choice follows the CPU, not a timing at start-up, so one machine
** always computes the same embeddings: a timed choice could flip between
** a killed run and its restart and change the stored vectors' low bits.
** CURATE_FP32_GEMM=openblas or =onednn overrides it (tests, benchmarks). */
int clip__mm_new(int bf16, int threads, clip_mm **out) {
  *out = NULL;
  const char *force = getenv("CURATE_FP32_GEMM");
  if (force && strcmp(force, "openblas") && strcmp(force, "onednn"))
    return cur_errorc(CUR_ECONFIG, "CURATE_FP32_GEMM is '%s': it must be openblas or onednn", force);
  clip_mm *mm = cur_calloc(1, sizeof *mm);
  if (!mm) return CUR_ENOMEM;
  int avx512, has_bf16;
  cpu_features(&avx512, &has_bf16);
  if (force) avx512 = !strcmp(force, "onednn");
  mm->kind = bf16 ? MM_DNNL_BF16 : avx512 ? MM_DNNL_F32 : MM_BLAS;
  mm->dt = bf16 ? dnnl_bf16 : dnnl_f32;
  if (threads > 0) openblas_set_num_threads(threads);
  snprintf(mm->describe, sizeof mm->describe, "fp32 (OpenBLAS sgemm)");
  if (mm->kind != MM_BLAS) {
    dnnl_status_t s = dnnl_engine_create(&mm->engine, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&mm->stream, mm->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
      clip__mm_free(mm);
      return dnnl_fail("engine", s);
    }
    snprintf(mm->describe, sizeof mm->describe, "%s (oneDNN matmul)", bf16 ? "bf16" : "fp32");
  }
  *out = mm;
  return CUR_OK;
}

static void prim_free(mm_prim *p) {
  dnnl_memory_destroy(p->src);
  dnnl_memory_destroy(p->wei);
  dnnl_memory_destroy(p->bias);
  dnnl_memory_destroy(p->dst);
  dnnl_primitive_destroy(p->prim);
}

void clip__mm_free(clip_mm *mm) {
  if (!mm) return;
  for (int i = 0; i < mm->n_cache; i++) prim_free(&mm->cache[i]);
  cur_free(mm->cache);
  cur_free(mm->wtmp);
  if (mm->stream) dnnl_stream_destroy(mm->stream);
  if (mm->engine) dnnl_engine_destroy(mm->engine);
  cur_free(mm);
}

const char *clip__mm_describe(const clip_mm *mm) { return mm->describe; }

int clip__mm_act_bf16(const clip_mm *mm) { return mm->kind == MM_DNNL_BF16; }

void clip__linear_free(clip_linear *l) {
  if (!l) return;
  if (l->packed) {
    cur_free(l->packed->w);
    for (int i = 0; i < l->packed->n_layouts; i++) cur_free(l->packed->layout[i].data);
  }
  cur_free(l->packed);
  cur_free(l->w);
  cur_free(l->b);
  memset(l, 0, sizeof *l);
}

int clip__mm_grow(void **p, size_t n, size_t size) {
  void *q = cur_alignedarray(n, size);
  if (!q) return CUR_ENOMEM;
  cur_free(*p);
  *p = q;
  return CUR_OK;
}

int clip__mm_prepare(clip_mm *mm, clip_linear *l) {
  if (mm->kind == MM_BLAS || l->packed) return CUR_OK;
  clip_mm_weight *p = cur_calloc(1, sizeof *p);
  if (!p) return CUR_ENOMEM;
  if (mm->kind == MM_DNNL_F32) {
    p->w = l->w; /* the plain matrix moves to the backend, which reorders it */
  } else {
    size_t n = (size_t)l->out * (size_t)l->in;
    uint16_t *w = cur_alignedarray(n, sizeof *w);
    if (!w) {
      cur_free(p);
      return CUR_ENOMEM;
    }
    clip__to_bf16(l->w, n, w);
    p->w = w;
    cur_free(l->w); /* the bf16 copy is the only one the forward pass reads */
  }
  l->packed = p;
  l->w = NULL;
  return CUR_OK;
}

static dnnl_status_t set_post_ops(dnnl_primitive_attr_t attr, int flags) {
  dnnl_post_ops_t po;
  dnnl_status_t s = dnnl_post_ops_create(&po);
  if (s != dnnl_success) return s;
  if (flags & CLIP_MM_ACCUM) s = dnnl_post_ops_append_sum(po, 1.0f);
  if (s == dnnl_success && (flags & CLIP_MM_GELU))
    s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.f, 0.f);
  /* quick_gelu(x) = x * sigmoid(1.702 x) is oneDNN's swish with alpha 1.702. */
  if (s == dnnl_success && (flags & CLIP_MM_QUICK_GELU))
    s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.f);
  if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
  dnnl_post_ops_destroy(po);
  return s;
}

/* Builds the primitive and its (handle-less) memory objects for one shape. */
static dnnl_status_t prim_create(clip_mm *mm, mm_prim *p, int has_bias) {
  dnnl_memory_desc_t smd, wmd, bmd, dmd;
  dnnl_dims_t sd = {p->m, p->k}, wd = {p->k, p->n}, bd = {1, p->n}, dd = {p->m, p->n};
  dnnl_primitive_attr_t attr = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_matmul_desc_t desc;
  dnnl_status_t s = dnnl_memory_desc_init_by_tag(&smd, 2, sd, mm->dt, dnnl_ab);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&wmd, 2, wd, mm->dt, dnnl_format_tag_any);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab);
  dnnl_data_type_t dt = (p->flags & CLIP_MM_OUT_ACT) ? mm->dt : dnnl_f32;
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dt, dnnl_ab);
  if (s == dnnl_success) s = dnnl_matmul_desc_init(&desc, &smd, &wmd, has_bias ? &bmd : NULL, &dmd);
  if (s == dnnl_success) s = dnnl_primitive_attr_create(&attr);
  if (s == dnnl_success) s = set_post_ops(attr, p->flags);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &desc, attr, mm->engine, NULL);
  if (s == dnnl_success) s = dnnl_primitive_create(&p->prim, pd);
  if (s == dnnl_success) p->wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  if (s == dnnl_success) s = dnnl_memory_create(&p->src, &smd, mm->engine, DNNL_MEMORY_NONE);
  if (s == dnnl_success) s = dnnl_memory_create(&p->wei, &p->wmd, mm->engine, DNNL_MEMORY_NONE);
  if (s == dnnl_success && has_bias) s = dnnl_memory_create(&p->bias, &bmd, mm->engine, DNNL_MEMORY_NONE);
  if (s == dnnl_success) s = dnnl_memory_create(&p->dst, &dmd, mm->engine, DNNL_MEMORY_NONE);
  const char *impl = NULL;
  if (s == dnnl_success && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success)
    snprintf(mm->describe, sizeof mm->describe, "%s (oneDNN matmul %s)",
             mm->dt == dnnl_bf16 ? "bf16" : "fp32", impl);
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_attr_destroy(attr);
  return s;
}

static int prim_get(clip_mm *mm, int m, int k, int n, int flags, int has_bias, mm_prim **out) {
  for (int i = 0; i < mm->n_cache; i++) {
    mm_prim *p = &mm->cache[i];
    if (p->m == m && p->k == k && p->n == n && p->flags == flags && (p->bias != NULL) == has_bias) {
      *out = p;
      return CUR_OK;
    }
  }
  mm_prim *grown = cur_reallocarray(mm->cache, (size_t)mm->n_cache + 1, sizeof *grown);
  if (!grown) return CUR_ENOMEM;
  mm->cache = grown;
  mm_prim *p = &grown[mm->n_cache];
  *p = (mm_prim){.m = m, .k = k, .n = n, .flags = flags};
  dnnl_status_t s = prim_create(mm, p, has_bias);
  if (s != dnnl_success) {
    prim_free(p);
    return dnnl_fail("matmul primitive", s);
  }
  mm->n_cache++;
  *out = p;
  return CUR_OK;
}

/* L's weights in the layout P reads, reordered the first time that layout
** is asked for. */
static int packed_for(clip_mm *mm, const clip_linear *l, const mm_prim *p, void **out) {
  clip_mm_weight *w = l->packed;
  for (int i = 0; i < w->n_layouts; i++)
    if (dnnl_memory_desc_equal(&w->layout[i].md, &p->wmd)) {
      *out = w->layout[i].data;
      return CUR_OK;
    }
  dnnl_memory_desc_t plain;
  dnnl_dims_t wd = {p->k, p->n};
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  dnnl_memory_t from = NULL, to = NULL;
  /* past MM_LAYOUTS, a layout is made for this call only, in scratch */
  int keep = w->n_layouts < MM_LAYOUTS;
  mm_packed spare = {0}, *dst = keep ? &w->layout[w->n_layouts] : &spare;
  size_t bytes = dnnl_memory_desc_get_size(&p->wmd);
  if (!keep && bytes > mm->wtmp_cap) {
    if (clip__mm_grow(&mm->wtmp, bytes, 1)) return CUR_ENOMEM;
    mm->wtmp_cap = bytes;
  }
  if (!(dst->data = keep ? cur_alignedarray(bytes, 1) : mm->wtmp)) return CUR_ENOMEM;
  /* the first layout comes from the plain copy, which it replaces; later
  ** ones from the first */
  dnnl_status_t s = dnnl_memory_desc_init_by_tag(&plain, 2, wd, mm->dt, dnnl_ba);
  if (w->n_layouts) plain = w->layout[0].md;
  if (s == dnnl_success)
    s = dnnl_memory_create(&from, &plain, mm->engine, w->n_layouts ? w->layout[0].data : w->w);
  if (s == dnnl_success) s = dnnl_memory_create(&to, &p->wmd, mm->engine, dst->data);
  if (s == dnnl_success)
    s = dnnl_reorder_primitive_desc_create(&rpd, &plain, mm->engine, &p->wmd, mm->engine, NULL);
  if (s == dnnl_success) s = dnnl_primitive_create(&reorder, rpd);
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  if (s == dnnl_success) s = dnnl_primitive_execute(reorder, mm->stream, 2, args);
  if (s == dnnl_success) s = dnnl_stream_wait(mm->stream);
  dnnl_primitive_destroy(reorder);
  dnnl_primitive_desc_destroy(rpd);
  dnnl_memory_destroy(from);
  dnnl_memory_destroy(to);
  if (s != dnnl_success) {
    if (keep) cur_free(dst->data);
    dst->data = NULL;
    return dnnl_fail("weights reorder", s);
  }
  *out = dst->data;
  if (!keep) return CUR_OK;
  dst->md = p->wmd;
  if (w->n_layouts++ == 0) {
    cur_free(w->w);
    w->w = NULL;
  }
  return CUR_OK;
}

static int linear_dnnl(clip_mm *mm, const clip_linear *l, const void *x, int m, void *y,
                       int flags) {
  mm_prim *p = NULL;
  void *weights = NULL;
  int rc = prim_get(mm, m, l->in, l->out, flags, l->b != NULL, &p);
  if (rc == CUR_OK) rc = packed_for(mm, l, p, &weights);
  if (rc != CUR_OK) return rc;
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->wei},
                             {DNNL_ARG_DST, p->dst}, {DNNL_ARG_BIAS, p->bias}};
  dnnl_status_t s = dnnl_memory_set_data_handle(p->src, (void *)x);
  if (s == dnnl_success) s = dnnl_memory_set_data_handle(p->wei, weights);
  if (s == dnnl_success) s = dnnl_memory_set_data_handle(p->dst, y);
  if (s == dnnl_success && l->b) s = dnnl_memory_set_data_handle(p->bias, l->b);
  if (s == dnnl_success) s = dnnl_primitive_execute(p->prim, mm->stream, l->b ? 4 : 3, args);
  if (s == dnnl_success) s = dnnl_stream_wait(mm->stream);
  return s == dnnl_success ? CUR_OK : dnnl_fail("matmul", s);
}

int clip__mm_linear(clip_mm *mm, const clip_linear *l, const void *x, int m, void *y,
                    int flags) {
  assert(m > 0 && (l->packed || l->w));
  if (l->packed) return linear_dnnl(mm, l, x, m, y, flags);
  /* fp32 is the activation type here, so CLIP_MM_OUT_ACT changes nothing */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, l->out, l->in, 1.0f, x, l->in, l->w,
              l->in, (flags & CLIP_MM_ACCUM) ? 1.0f : 0.0f, y, l->out);
  clip__bias_act(y, m, l->out, l->b, flags);
  return CUR_OK;
}
