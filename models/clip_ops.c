/* clip_ops.c -- the non-GEMM work of a transformer: layer norm, activations,
** attention and bf16 conversion.
**
** The loops are written so GCC vectorises them without -ffast-math (no float
** reductions in the hot loops: attention accumulates rows axpy-style), and
** the hot ones are compiled for AVX-512, AVX2 and baseline with
** target_clones, the best picked at load time.  exp and erf are polynomial
** so they vectorise too; their errors (about 2 ulp and 1.5e-7) are far below
** the 1e-3 tolerance the reference tests allow.
*/
#include "clip_internal.h"

#include <math.h>
#include <string.h>

#include "cpu_clones.h"
#include "curate.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CLIP_OPS_AVX512 1
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
static int worker_id(void) { return omp_get_thread_num(); }
#else
static int worker_id(void) { return 0; }
#endif


/* Cephes' expf: 2^n * p(r) with r = x - n ln2, |r| <= ln2 / 2. */
static inline float exp_poly(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float n = rintf(x * 1.44269504089f);
  float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } s = {.i = ((int32_t)n + 127) << 23};
  return p * s.f;
}

/* gelu(x) = x/2 (1 + erf(x / sqrt 2)), erf by Abramowitz-Stegun 7.1.26. */
static inline float gelu(float x) {
  float z = fabsf(x) * 0.70710678118f;
  float t = 1.0f / (1.0f + 0.3275911f * z);
  float p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
             0.254829592f) * t;
  float e = 1.0f - p * exp_poly(-z * z);
  return 0.5f * x * (1.0f + (x < 0 ? -e : e));
}

static inline float quick_gelu(float x) {
  return x / (1.0f + exp_poly(-1.702f * x));
}

static inline uint16_t to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
  return (uint16_t)(u >> 16);
}

/* Sum of x[0..n) in 16 interleaved partial sums: a plain loop is one
** serial chain of additions (GCC keeps float order without -ffast-math),
** this one vectorises.  Fixed order, so the result is deterministic. */
static inline float sum16(const float *x, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += x[i + j];
  for (; i < n; i++) acc[i & 15] += x[i];
  float s = 0;
  for (int j = 0; j < 16; j++) s += acc[j];
  return s;
}

/* max of x[0..n), n >= 1, in 16 interleaved partial maxima for the same
** reason; a maximum does not depend on the order it is taken in. */
static inline float max16(const float *x, int n) {
  float acc[16];
  for (int j = 0; j < 16; j++) acc[j] = x[0];
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  for (; i < n; i++) acc[i & 15] = x[i] > acc[i & 15] ? x[i] : acc[i & 15];
  float m = acc[0];
  for (int j = 1; j < 16; j++) m = acc[j] > m ? acc[j] : m;
  return m;
}

/* Mean and 1 / standard deviation of one row. */
CLONES static void row_stats(const float *xr, int n, float eps, float *mean, float *inv) {
  float m = sum16(xr, n) / (float)n, acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += (xr[i + j] - m) * (xr[i + j] - m);
  for (; i < n; i++) acc[i & 15] += (xr[i] - m) * (xr[i] - m);
  float var = 0;
  for (int j = 0; j < 16; j++) var += acc[j];
  *mean = m;
  *inv = 1.0f / sqrtf(var / (float)n + eps);
}

CLONES void clip__layernorm(const float *x, int rows, int n, const float *g, const float *b,
                            float eps, void *y, int y_bf16, int threads) {
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static)
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * n;
    float mean, inv;
    row_stats(xr, n, eps, &mean, &inv); /* before any write: y may be x */
    if (y_bf16) {
      uint16_t *yr = (uint16_t *)y + (size_t)r * n;
      for (int i = 0; i < n; i++) yr[i] = to_bf16((xr[i] - mean) * inv * g[i] + b[i]);
    } else {
      float *yr = (float *)y + (size_t)r * n;
      for (int i = 0; i < n; i++) yr[i] = (xr[i] - mean) * inv * g[i] + b[i];
    }
  }
}

CLONES void clip__bias_act(float *y, int rows, int n, const float *b, int flags) {
  for (int r = 0; r < rows; r++) {
    float *yr = y + (size_t)r * n;
    if (b)
      for (int i = 0; i < n; i++) yr[i] += b[i];
    if (flags & CLIP_MM_GELU)
      for (int i = 0; i < n; i++) yr[i] = gelu(yr[i]);
    if (flags & CLIP_MM_QUICK_GELU)
      for (int i = 0; i < n; i++) yr[i] = quick_gelu(yr[i]);
  }
}

CLONES void clip__to_bf16(const float *x, size_t n, uint16_t *y) {
  for (size_t i = 0; i < n; i++) y[i] = to_bf16(x[i]);
}

/* row[0..n) = exp(scale * (row - max)); returns 1 / their sum, the factor
** that makes them the softmax. */
static inline float softmax_exp(float *row, int n, float scale) {
  float mx = max16(row, n);
  for (int s = 0; s < n; s++) row[s] = exp_poly((row[s] - mx) * scale);
  return 1.0f / sum16(row, n);
}

CLONES void clip__softmax_row(float *row, int n, float scale) {
  float inv = softmax_exp(row, n, scale);
  for (int s = 0; s < n; s++) row[s] *= inv;
}

/* One row of the bf16 softmax: the first len of its n scores, the rest of
** the n probabilities 0. */
typedef void (*softmax_row_bf16_fn)(float *row, int len, int n, float scale, uint16_t *p);

CLONES static void softmax_row_bf16_plain(float *row, int len, int n, float scale, uint16_t *p) {
  float inv = softmax_exp(row, len, scale);
  for (int s = 0; s < len; s++) p[s] = to_bf16(row[s] * inv);
  for (int s = len; s < n; s++) p[s] = 0;
}

#ifdef CLIP_OPS_AVX512
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* exp_poly on 16 lanes, the same steps (with fused multiply-adds). */
AVX512 static inline __m512 exp_poly16(__m512 x) {
  /* max/min return their second operand on a NaN: a NaN stays one, as in exp_poly */
  x = _mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(_mm512_set1_ps(-87.0f), x));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 q = _mm512_set1_ps(1.9875691500e-4f);
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.3981999507e-3f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(8.3334519073e-3f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(4.1665795894e-2f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.6666665459e-1f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(5.0000001201e-1f));
  q = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(q, r), r, r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(q, n);
}

/* The lanes of a 16-wide step at i of a row of len values. */
static inline __mmask16 lanes(int i, int len) {
  return i >= len ? 0 : len - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (len - i)) - 1);
}

/* softmax_row_bf16_plain in masked AVX-512 steps: a row of 50 scores is
** four steps, where the plain loop's vectors leave a two-value tail to
** scalar code (with exp) in every row. */
AVX512 static void softmax_row_bf16_avx512(float *row, int len, int n, float scale, uint16_t *pr) {
  __m512 mx = _mm512_set1_ps(-INFINITY), acc = _mm512_setzero_ps();
  for (int i = 0; i < len; i += 16) {
    __mmask16 k = lanes(i, len);
    /* on a NaN score max keeps mx, as max16 keeps its lane */
    mx = _mm512_mask_max_ps(mx, k, _mm512_maskz_loadu_ps(k, row + i), mx);
  }
  __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sc = _mm512_set1_ps(scale);
  for (int i = 0; i < len; i += 16) {
    __mmask16 k = lanes(i, len);
    __m512 e = exp_poly16(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + i), top), sc));
    e = _mm512_maskz_mov_ps(k, e);
    _mm512_mask_storeu_ps(row + i, k, e);
    acc = _mm512_add_ps(acc, e);
  }
  float part[16], sum = 0;
  _mm512_storeu_ps(part, acc);
  for (int j = 0; j < 16; j++) sum += part[j]; /* a fixed order, as sum16 */
  __m512 inv = _mm512_set1_ps(1.0f / sum);
  const __m512i round = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  for (int i = 0; i < n; i += 16) {
    __mmask16 k = lanes(i, len);
    __m512i u = _mm512_castps_si512(_mm512_maskz_mul_ps(k, _mm512_maskz_loadu_ps(k, row + i), inv));
    /* to_bf16: round to nearest even on the bits */
    u = _mm512_add_epi32(u, _mm512_add_epi32(round, _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
    _mm256_mask_storeu_epi16(pr + i, lanes(i, n), _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16)));
  }
}
#endif

void clip__softmax_rows_bf16_as(float *scores, int rows, int n, int causal, float scale,
                                uint16_t *p, int threads, int vector) {
  softmax_row_bf16_fn row = softmax_row_bf16_plain;
  if (n < 1 || rows < 1) return;
#ifdef CLIP_OPS_AVX512
  if (vector && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    row = softmax_row_bf16_avx512;
#endif
  (void)vector;
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static)
  for (int r = 0; r < rows; r++)
    row(scores + (size_t)r * n, causal ? r % n + 1 : n, n, scale, p + (size_t)r * n);
}

void clip__softmax_rows_bf16(float *scores, int rows, int n, int causal, float scale,
                             uint16_t *p, int threads) {
  clip__softmax_rows_bf16_as(scores, rows, n, causal, scale, p, threads, 1);
}

size_t clip__attention_scratch(int seq, int width, int heads, int threads) {
  return (size_t)(threads > 0 ? threads : 1) * ((size_t)(width / heads) * seq + (size_t)seq);
}

typedef struct att_job {
  const float *qkv;
  float *out, *scratch;     /* scratch: per worker, kt [D*S] then row [S] */
  int batch, seq, width, heads, causal;
} att_job;

/* One (image or text, head): scores = q k^T / sqrt(D), softmax, times v.
** kt holds this head's keys transposed [D][S] so both products run along
** contiguous rows. */
CLONES static void attention_head(const att_job *j, int worker, int task) {
  int S = j->seq, W = j->width, D = W / j->heads, b = task / j->heads, h = task % j->heads;
  size_t ld = 3 * (size_t)W;
  const float *base = j->qkv + (size_t)b * S * ld + (size_t)h * D;
  float *kt = j->scratch + (size_t)worker * ((size_t)D * S + S), *row = kt + (size_t)D * S;
  float scale = 1.0f / sqrtf((float)D);
  for (int s = 0; s < S; s++)
    for (int d = 0; d < D; d++) kt[(size_t)d * S + s] = base[s * ld + W + d];
  for (int i = 0; i < S; i++) {
    int L = j->causal ? i + 1 : S;
    const float *q = base + i * ld;
    for (int s = 0; s < L; s++) row[s] = 0;
    for (int d = 0; d < D; d++) {
      float qd = q[d];
      const float *kd = kt + (size_t)d * S;
      for (int s = 0; s < L; s++) row[s] += qd * kd[s];
    }
    clip__softmax_row(row, L, scale);
    float *o = j->out + ((size_t)b * S + i) * W + (size_t)h * D;
    for (int d = 0; d < D; d++) o[d] = 0;
    for (int s = 0; s < L; s++) {
      float p = row[s];
      const float *v = base + s * ld + 2 * W;
      for (int d = 0; d < D; d++) o[d] += p * v[d];
    }
  }
}

void clip__attention(const float *qkv, int batch, int seq, int width, int heads, int causal,
                     int threads, float *scratch, float *out) {
  if (threads < 1) threads = 1;
  att_job j = {qkv, out, scratch, batch, seq, width, heads, causal};
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < batch * heads; t++) attention_head(&j, worker_id(), t);
}
