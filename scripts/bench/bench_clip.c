/* bench_clip.c -- CLIP ViT-B/32 throughput: GEMM bound, forward, end to end, text.
**
** The model has ViT-B/32's real shapes with random weights made in memory
** (no download needed).  End to end decodes the JPEGs of a tar (libarchive)
** in the embed stage's schedule: each batch decoded on every thread, then
** encoded.  Prints one "key value" per line.
*/
#include <archive.h>
#include <archive_entry.h>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <vips/vips.h>

#include "clip.h"
#include "clip_internal.h"
#include "curate.h"

typedef struct opts {
  clip_precision prec;
  int batch, threads, images; /* images: end-to-end cap */
  double seconds;
  const char *tar, *vocab;
} opts;

typedef struct blob { unsigned char *data; size_t len; } blob;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int die(const char *what) {
  fprintf(stderr, "bench_clip: %s: %s\n", what, cur_error());
  return 1;
}

/* Multiply-adds x 2 of one image through the vision tower. */
static double vision_flops(const clip_model *m) {
  const clip_tower_cfg *c = &m->cfg.tower[CLIP_VISION];
  double S = c->seq, W = c->width, F = c->mlp, P = m->cfg.patch_size;
  double layer = 2 * S * W * (3 * W + W + 2 * F) + 4 * S * S * W;
  return c->layers * layer + 2 * (S - 1) * 3 * P * P * W + 2 * W * m->cfg.embed_dim;
}

/* Runs FN(CTX) for SECONDS after one warm-up call; GFLOP/s of FLOPS a call. */
static double time_gflops(void (*fn)(void *), void *ctx, double flops, double seconds) {
  int n = 0;
  double t0, t;
  fn(ctx);
  t0 = now();
  do {
    fn(ctx);
    n++;
  } while ((t = now() - t0) < seconds);
  return flops * n / t / 1e9;
}

/* N values of a fixed pattern in [-1, 1), as fp32 or as bf16 (ELEM 2).
** Not zeros: a GEMM on zeros draws less power and runs faster than on real
** activations, which would overstate the bound. */
static void *pattern(size_t n, size_t elem) {
  void *p = cur_alignedarray(n ? n : 1, elem);
  for (size_t i = 0; p && i < n; i++) {
    float v = (float)((i * 2654435761u) % 1000) / 500 - 1;
    if (elem == 2)
      clip__to_bf16(&v, 1, (uint16_t *)p + i);
    else
      ((float *)p)[i] = v;
  }
  return p;
}

/* The bound, measured apart from curate's code path: the MLP's first GEMM
** (M = batch x seq, K = width, N = 4 x width) as the libraries do it at
** their best, written here directly against them.  fp32: OpenBLAS sgemm and
** oneDNN's f32 matmul; bf16: oneDNN's bf16 matmul with bf16 inputs made
** beforehand and its weights in the layout it chose, reordered once.  Every
** buffer starts on a cache line, as curate's own do (cur_alignedarray). */
typedef struct gemm_job {
  int m, k, n;
  float *a, *b, *c;
  dnnl_stream_t stream;
  dnnl_primitive_t prim;
  dnnl_exec_arg_t args[3];
} gemm_job;

static void run_sgemm(void *ctx) {
  gemm_job *j = ctx;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->m, j->n, j->k, 1.0f, j->a, j->k, j->b,
              j->k, 0.0f, j->c, j->n);
}

static void run_dnnl(void *ctx) {
  gemm_job *j = ctx;
  dnnl_primitive_execute(j->prim, j->stream, 3, j->args);
  dnnl_stream_wait(j->stream);
}

/* oneDNN matmul of J's shape in data type DT (f32 or bf16 inputs, f32 out). */
static double dnnl_bound(gemm_job *j, dnnl_data_type_t dt, double seconds) {
  dnnl_engine_t eng = NULL;
  dnnl_primitive_desc_t pd = NULL, rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  dnnl_memory_desc_t smd, wplain, wmd, dmd;
  dnnl_matmul_desc_t desc;
  dnnl_memory_t src = NULL, wsrc = NULL, wei = NULL, dst = NULL;
  dnnl_dims_t sd = {j->m, j->k}, wd = {j->k, j->n}, dd = {j->m, j->n};
  double gflops = 0;
  dnnl_status_t s = dnnl_engine_create(&eng, dnnl_cpu, 0);
  if (s == dnnl_success) s = dnnl_stream_create(&j->stream, eng, dnnl_stream_default_flags);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&smd, 2, sd, dt, dnnl_ab);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&wplain, 2, wd, dt, dnnl_ba);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dt, dnnl_format_tag_any);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dnnl_f32, dnnl_ab);
  if (s == dnnl_success) s = dnnl_matmul_desc_init(&desc, &smd, &wmd, NULL, &dmd);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL);
  if (s == dnnl_success) wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  if (s == dnnl_success) s = dnnl_primitive_create(&j->prim, pd);
  /* set buffers: uninitialised ones may hold denormals or NaNs that slow
  ** the kernels and understate the bound */
  void *buf[4] = {NULL, NULL, NULL, NULL};
  const dnnl_memory_desc_t *mds[4] = {&smd, &wplain, &wmd, &dmd};
  for (int i = 0; s == dnnl_success && i < 4; i++) {
    size_t elem = i < 3 && dt == dnnl_bf16 ? 2 : 4;
    if (!(buf[i] = pattern(dnnl_memory_desc_get_size(mds[i]) / elem, elem))) s = dnnl_out_of_memory;
  }
  if (s == dnnl_success) s = dnnl_memory_create(&src, &smd, eng, buf[0]);
  if (s == dnnl_success) s = dnnl_memory_create(&wsrc, &wplain, eng, buf[1]);
  if (s == dnnl_success) s = dnnl_memory_create(&wei, &wmd, eng, buf[2]);
  if (s == dnnl_success) s = dnnl_memory_create(&dst, &dmd, eng, buf[3]);
  if (s == dnnl_success) s = dnnl_reorder_primitive_desc_create(&rpd, &wplain, eng, &wmd, eng, NULL);
  if (s == dnnl_success) s = dnnl_primitive_create(&reorder, rpd);
  dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, wsrc}, {DNNL_ARG_TO, wei}};
  if (s == dnnl_success) s = dnnl_primitive_execute(reorder, j->stream, 2, rargs);
  if (s == dnnl_success) s = dnnl_stream_wait(j->stream);
  if (s == dnnl_success) {
    j->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
    j->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, wei};
    j->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
    gflops = time_gflops(run_dnnl, j, 2.0 * j->m * j->k * j->n, seconds);
  } else {
    fprintf(stderr, "bench_clip: the oneDNN bound could not be measured (status %d)\n", (int)s);
  }
  dnnl_primitive_destroy(reorder);
  dnnl_primitive_desc_destroy(rpd);
  dnnl_primitive_destroy(j->prim);
  dnnl_primitive_desc_destroy(pd);
  dnnl_memory_destroy(src);
  dnnl_memory_destroy(wsrc);
  dnnl_memory_destroy(wei);
  dnnl_memory_destroy(dst);
  if (j->stream) dnnl_stream_destroy(j->stream);
  if (eng) dnnl_engine_destroy(eng);
  for (int i = 0; i < 4; i++) cur_free(buf[i]);
  return gflops;
}

/* The GEMM bound for PRECISION, and which library gave it, into WHO. */
static double gemm_bound(const clip_model *m, int batch, int bf16, double seconds,
                         const char **who) {
  const clip_tower_cfg *c = &m->cfg.tower[CLIP_VISION];
  gemm_job j = {.m = batch * c->seq, .k = c->width, .n = c->mlp};
  if (bf16) {
    *who = "oneDNN bf16 matmul";
    return dnnl_bound(&j, dnnl_bf16, seconds);
  }
  j.a = pattern((size_t)j.m * j.k, sizeof(float));
  j.b = pattern((size_t)j.n * j.k, sizeof(float));
  j.c = pattern((size_t)j.m * j.n, sizeof(float));
  double blas = j.a && j.b && j.c ? time_gflops(run_sgemm, &j, 2.0 * j.m * j.k * j.n, seconds) : 0;
  cur_free(j.a);
  cur_free(j.b);
  cur_free(j.c);
  double dnnl = dnnl_bound(&j, dnnl_f32, seconds);
  *who = dnnl > blas ? "oneDNN f32 matmul" : "OpenBLAS sgemm";
  return dnnl > blas ? dnnl : blas;
}

/* One linear layer of the forward pass, alone: at the batch's shape, with
** the flags the forward pass gives it, each call on the next block's
** weights (as the forward pass reads them: the tower's 85 MB of weights do
** not stay in the caches, and one block's would). */
#define LINEARS_MAX 512 /* ViT-H: 32 blocks of 4 MLP slices */
typedef struct linear_job {
  clip_model *m;
  const clip_linear *l[LINEARS_MAX];
  int n, calls, rows, flags;
  void *x, *y;
} linear_job;

static void run_linear(void *ctx) {
  linear_job *j = ctx;
  const clip_linear *l = j->l[j->calls++ % j->n];
  if (clip__mm_linear(j->m->mm, l, j->x, j->rows, j->y, j->flags) != CUR_OK) die("linear");
}

/* The vision tower's GEMMs alone, each timed on its own for SECONDS /
** 5 (the attention's small batched products aside; the MLP as the slices
** the forward pass runs): images a second if
** the forward pass were only these, at these speeds.  Prints each one's
** GFLOP/s. */
static double gemms_alone(clip_model *m, int batch, double seconds) {
  const clip_tower *t = &m->tower[CLIP_VISION];
  int S = t->cfg.seq, layers = t->cfg.layers;
  int act = m->cfg.act == CLIP_ACT_GELU ? CLIP_MM_GELU : CLIP_MM_QUICK_GELU;
  static const char *const names[] = {"qkv", "out", "fc1", "fc2", "patch"};
  const int flags[] = {CLIP_MM_OUT_ACT, CLIP_MM_ACCUM, act | CLIP_MM_OUT_ACT, CLIP_MM_ACCUM, 0};
  size_t elem = clip__mm_act_bf16(m->mm) ? 2 : 4;
  double per_batch = 0;
  for (int i = 0; i < 5; i++) {
    linear_job j = {.m = m, .rows = batch * (i == 4 ? S - 1 : S), .flags = flags[i]};
    for (int b = 0; i < 4 && b < layers; b++) {
      const clip_layer *L = &t->layer[b];
      for (int p = 0; p < (i < 2 ? 1 : L->mlp_parts) && j.n < LINEARS_MAX; p++)
        j.l[j.n++] = i == 0 ? &L->qkv : i == 1 ? &L->out : i == 2 ? &L->fc1_part[p] : &L->fc2_part[p];
    }
    if (i == 4) j.l[j.n++] = &t->patch;
    j.x = pattern((size_t)j.rows * (size_t)j.l[0]->in, elem);
    j.y = pattern((size_t)j.rows * (size_t)j.l[0]->out, sizeof(float));
    if (!j.x || !j.y) {
      cur_free(j.x);
      cur_free(j.y);
      die("memory");
      return 0;
    }
    double flops = 2.0 * j.rows * j.l[0]->in * j.l[0]->out;
    double gf = time_gflops(run_linear, &j, flops, seconds / 5);
    printf("gemm_%s_gflops %.1f\n", names[i], gf);
    /* the calls a forward pass makes (j.l holds at most LINEARS_MAX of them) */
    int calls = i == 4 ? 1 : layers * (i < 2 ? 1 : t->layer[0].mlp_parts);
    per_batch += calls * flops / (gf * 1e9);
    cur_free(j.x);
    cur_free(j.y);
  }
  return batch / per_batch;
}

static double forward_rate(clip_model *m, int batch, double seconds) {
  size_t per = 3 * 224 * 224;
  float *img = cur_mallocarray(batch * per, sizeof *img), *out = cur_mallocarray(batch * 512, 4);
  int n = 0;
  double t = 0;
  if (img && out) {
    for (size_t i = 0; i < batch * per; i++) img[i] = (float)((i * 2654435761u) % 1000) / 500 - 1;
    if (clip_encode_images(m, img, batch, out) == CUR_OK) {
      double t0 = now();
      do {
        clip_encode_images(m, img, batch, out);
        n += batch;
      } while ((t = now() - t0) < seconds);
    }
  }
  cur_free(img);
  cur_free(out);
  return n ? n / t : 0;
}

/* Every .jpg/.jpeg/.png member of the tar, in memory. */
static int read_tar(const char *path, blob **out, int *n) {
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  int cap = 0, rc = CUR_OK;
  *out = NULL;
  *n = 0;
  archive_read_support_format_all(a);
  archive_read_support_filter_all(a);
  if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
    rc = cur_errorc(CUR_EIO, "%s: %s", path, archive_error_string(a));
  while (rc == CUR_OK && archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(e), *dot = strrchr(name, '.');
    la_int64_t size = archive_entry_size(e);
    if (!dot || (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png")) ||
        size <= 0)
      continue;
    if (*n == cap) {
      blob *b = cur_reallocarray(*out, (size_t)(cap = cap ? 2 * cap : 256), sizeof *b);
      if (!b) { rc = CUR_ENOMEM; break; }
      *out = b;
    }
    blob *b = &(*out)[*n];
    if (!(b->data = cur_malloc((size_t)size))) { rc = CUR_ENOMEM; break; }
    b->len = (size_t)size;
    if (archive_read_data(a, b->data, b->len) != (la_ssize_t)size) {
      cur_free(b->data);
      rc = cur_errorc(CUR_EIO, "%s: %s: short read", path, name);
    } else {
      (*n)++;
    }
  }
  archive_read_free(a);
  return rc;
}

/* End to end in the embed stage's schedule (stages/common/embedder.c): a
** batch is decoded on every thread (clip_model_parallel), then encoded on
** every thread.  On a machine whose cores the forward pass fills, running
** decoders beside it only makes the two fight for the same cores; what
** end to end costs over the forward pass is the decoding's own CPU time. */
typedef struct e2e_batch {
  clip_model *m;
  const blob *imgs;
  float *pix;
  int first, failed;
} e2e_batch;

static void decode_one(void *ctx, size_t i) {
  e2e_batch *b = ctx;
  const blob *img = &b->imgs[b->first + (int)i];
  if (clip_model_preprocess(b->m, img->data, img->len, "tar member", b->pix + i * 3 * 224 * 224))
    __atomic_add_fetch(&b->failed, 1, __ATOMIC_RELAXED);
}

static double end_to_end(clip_model *m, const blob *imgs, int n, const opts *o, int *failed,
                         double *decode_s) {
  e2e_batch b = {.m = m, .imgs = imgs};
  float *out = cur_mallocarray((size_t)o->batch * 512, sizeof *out);
  b.pix = cur_mallocarray((size_t)o->batch * 3 * 224 * 224, sizeof(float));
  if (!out || !b.pix) die("memory");
  double t0 = now();
  for (b.first = 0; b.first < n; b.first += o->batch) {
    int k = n - b.first < o->batch ? n - b.first : o->batch;
    double t1 = now();
    clip_model_parallel(m, (size_t)k, decode_one, &b);
    *decode_s += now() - t1;
    if (clip_encode_images(m, b.pix, k, out) != CUR_OK) die("encode");
  }
  double t = now() - t0;
  cur_free(b.pix);
  cur_free(out);
  *failed = b.failed;
  return n / t;
}

static double text_rate(clip_model *m, int batch, double seconds) {
  static const char *const words[] = {"t-shirt", "dress", "coat", "sneaker", "bag", "shirt",
                                      "sandal", "pullover", "ankle boot", "trouser"};
  char buf[64][64];
  const char *texts[64];
  float *out = cur_mallocarray(64 * 512, sizeof *out);
  if (batch > 64) batch = 64;
  for (int i = 0; i < batch; i++) {
    snprintf(buf[i], sizeof buf[i], "a photo of a %s, a type of clothing.", words[i % 10]);
    texts[i] = buf[i];
  }
  int n = 0;
  double t = 0, t0 = now();
  while (out && clip_encode_texts(m, texts, batch, out) == CUR_OK && (n += batch) &&
         (t = now() - t0) < seconds) {
  }
  cur_free(out);
  return n && t > 0 ? n / t : 0;
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){CLIP_PRECISION_AUTO, 32, 0, 256, 5.0, NULL, NULL};
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--precision")) {
      if (clip_precision_parse(v, &o->prec) != CUR_OK) return die("options");
    } else if (!strcmp(k, "--batch")) o->batch = atoi(v);
    else if (!strcmp(k, "--threads")) o->threads = atoi(v);
    else if (!strcmp(k, "--images")) o->images = atoi(v);
    else if (!strcmp(k, "--seconds")) o->seconds = atof(v);
    else if (!strcmp(k, "--tar")) o->tar = v;
    else if (!strcmp(k, "--vocab")) o->vocab = v;
    else {
      fprintf(stderr, "usage: bench_clip [--precision auto|fp32|bf16] [--batch N] [--threads N]\n"
                      "       [--images N] [--seconds S] [--tar IMAGES.tar]\n"
                      "       [--vocab DIR]\n");
      return 2;
    }
  }
  if (o->batch < 1 || o->batch > 64) {
    fprintf(stderr, "bench_clip: batch must be 1..64\n");
    return 2;
  }
  return 0;
}

static void run_end_to_end(clip_model *m, const opts *o) {
  blob *imgs = NULL;
  int total = 0, failed = 0;
  if (read_tar(o->tar, &imgs, &total) != CUR_OK) {
    die("tar");
  } else {
    int n = total < o->images ? total : o->images;
    double decode_s = 0, rate = end_to_end(m, imgs, n, o, &failed, &decode_s);
    printf("end_to_end_images %d\nend_to_end_failed %d\nend_to_end_img_per_s %.1f\n"
           "end_to_end_decoding_s %.3f\n",
           n, failed, rate, decode_s);
  }
  for (int i = 0; i < total; i++) cur_free(imgs[i].data);
  cur_free(imgs);
}

int main(int argc, char **argv) {
  opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc;
  clip_model *m = NULL;
  if (clip__model_new_random(o.vocab, o.prec, o.threads, 1, &m) != CUR_OK) return die("model");
  printf("model ViT-B/32 (random weights)\nbackend %s\nbatch %d\n", clip_model_backend(m), o.batch);
  const char *who = "";
  int bf16 = strncmp(clip_model_backend(m), "bf16", 4) == 0;
  double peak = gemm_bound(m, o.batch, bf16, o.seconds / 2, &who);
  double fwd = forward_rate(m, o.batch, o.seconds);
  /* Other jobs share the cores: measure the bound on both sides, keep the best. */
  double again = gemm_bound(m, o.batch, bf16, o.seconds / 2, &who);
  peak = again > peak ? again : peak;
  double gflop = vision_flops(m) / 1e9;
  printf("backend %s\n", clip_model_backend(m));
  printf("gemm_bound %s\ngemm_bound_gflops %.1f\nforward_img_per_s %.1f\nforward_gflops %.1f\n",
         who, peak, fwd, fwd * gflop);
  printf("forward_fraction_of_gemm_bound %.2f\n", peak > 0 ? fwd * gflop / peak : 0);
  double alone = gemms_alone(m, o.batch, o.seconds);
  printf("gemms_alone_img_per_s %.1f\nforward_fraction_of_gemms_alone %.2f\n", alone,
         alone > 0 ? fwd / alone : 0);
  if (o.tar) run_end_to_end(m, &o);
  if (o.vocab) printf("text_prompts_per_s %.1f\n", text_rate(m, o.batch, o.seconds));
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("peak_rss_mb %.0f\n", ru.ru_maxrss / 1024.0);
  clip_model_free(m);
  return 0;
}
