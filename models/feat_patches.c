/* feat_patches.c -- Coates-Lee-Ng single-layer k-means features: learning, extraction, save/load.
**
** Coordinates: an image is h x w x c bytes.  A patch at (py, px) covers rows
** py..py+p-1 and columns px..px+p-1 and is flattened as (dy * p + dx) * c + ch,
** D = p * p * c values; an image has R = (h-p+1) * (w-p+1) patches at stride
** 1, and extraction treats them as an R x D matrix (im2col).  Each row is
** normalised, (x - mean(x)) / sqrt(var(x) + norm_eps) with the unbiased
** variance, whitened by (x - M) P, and compared with the K centroids through
** one R x K GEMM: |x - c|^2 = |x|^2 + |c|^2 - 2 x.c.  The triangle code
** max(0, mean_k z - z_k) is summed over the four quadrants of the
** (h-p+1) x (w-p+1) grid, split at ceil(rows/2) and ceil(cols/2) as the
** paper's code rounds 27/2 up.
**
** Invariants: mean (D), zca (D x D), centroids (K x D) and cc (K,
** derived |c_k|^2) are allocated together by patches_new and never resized.
*/
#include "feat_internal.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "curate.h"

#define PATCHES_MAGIC "CURPATCH"
#define PATCHES_VERSION 1u
#define MAX_PATCH 64           /* sanity bound on p when loading */
#define MAX_K (1 << 20)        /* sanity bound on K when loading */
#define MAX_THREADS 64         /* extraction threads */

struct feat_patches {
  int p, c, k, dim;            /* patch side, channels, centroids, D */
  float norm_eps;              /* added to each patch's variance */
  float *mean;                 /* D: whitening mean */
  float *zca;                  /* D x D: whitening matrix P */
  float *centroids;            /* K x D */
  float *cc;                   /* K: |c_k|^2 */
};

static int patches_new(int p, int c, int k, float norm_eps, feat_patches **out) {
  feat_patches *fp = cur_calloc(1, sizeof *fp);
  if (!fp) return CUR_ENOMEM;
  fp->p = p;
  fp->c = c;
  fp->k = k;
  fp->dim = p * p * c;
  fp->norm_eps = norm_eps;
  size_t d = (size_t)fp->dim;
  fp->mean = cur_mallocarray(d, sizeof(float));
  fp->zca = cur_mallocarray(d * d, sizeof(float));
  fp->centroids = cur_mallocarray((size_t)k * d, sizeof(float));
  fp->cc = cur_mallocarray((size_t)k, sizeof(float));
  if (!fp->mean || !fp->zca || !fp->centroids || !fp->cc) {
    feat_patches_free(fp);
    return CUR_ENOMEM;
  }
  *out = fp;
  return CUR_OK;
}

void feat_patches_free(feat_patches *fp) {
  if (!fp) return;
  cur_free(fp->mean);
  cur_free(fp->zca);
  cur_free(fp->centroids);
  cur_free(fp->cc);
  cur_free(fp);
}

int feat_patches_dim(const feat_patches *fp) { return 4 * fp->k; }
int feat_patches_channels(const feat_patches *fp) { return fp->c; }

static void set_norms(feat_patches *fp) {
  for (int c = 0; c < fp->k; c++) {
    double s = 0;
    for (int j = 0; j < fp->dim; j++) {
      double v = fp->centroids[(size_t)c * fp->dim + j];
      s += v * v;
    }
    fp->cc[c] = (float)s;
  }
}

void feat_patches_config_default(feat_patches_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->k = 1600;
  cfg->patch = 6;
  cfg->n_patches = 400000;
  cfg->kmeans_iters = 10;
  cfg->norm_eps = 10.0f;
  cfg->zca_eps = 0.1f;
  cfg->seed = 1;
}

/* Copies the patch at (py, px) of an image of width w into out (D floats). */
static void copy_patch(const uint8_t *img, int w, int c, int p, int py, int px, float *out) {
  for (int dy = 0; dy < p; dy++) {
    const uint8_t *row = img + ((size_t)(py + dy) * w + px) * c;
    for (int i = 0; i < p * c; i++) out[dy * p * c + i] = row[i];
  }
}

/* Brightness and contrast normalisation of n rows of D values, in place. */
static void normalise_rows(float *X, size_t n, int d, float eps) {
  for (size_t i = 0; i < n; i++) {
    float *x = X + i * d;
    double s = 0, ss = 0;
    for (int j = 0; j < d; j++) s += x[j];
    double mean = s / d;
    for (int j = 0; j < d; j++) ss += (x[j] - mean) * (x[j] - mean);
    double scale = 1.0 / sqrt(ss / (d > 1 ? d - 1 : 1) + eps);
    for (int j = 0; j < d; j++) x[j] = (float)((x[j] - mean) * scale);
  }
}

static int check_images(const feat_images *im, int p, int c, const char *who) {
  if (!im || (im->n > 0 && !im->pix))
    return cur_errorc(CUR_EINPUT, "patches: %s: no image buffer", who);
  if (im->c != c || im->h < p || im->w < p)
    return cur_errorc(CUR_EINPUT, "patches: %s: images %dx%dx%d, need %d channels and >= %dx%d",
                      who, im->h, im->w, im->c, c, p, p);
  return CUR_OK;
}

static int check_config(const feat_patches_config *cfg) {
  if (cfg->k < 1 || cfg->k > MAX_K || cfg->patch < 1 || cfg->patch > MAX_PATCH)
    return cur_errorc(CUR_ECONFIG, "patches: K %d or patch size %d out of range", cfg->k,
                      cfg->patch);
  if (cfg->n_patches < cfg->k || cfg->n_patches < 2 || cfg->kmeans_iters < 0)
    return cur_errorc(CUR_ECONFIG, "patches: %d patches cannot train %d centroids",
                      cfg->n_patches, cfg->k);
  if (!(cfg->norm_eps >= 0) || !(cfg->zca_eps > 0))
    return cur_errorc(CUR_ECONFIG, "patches: norm eps %g must be >= 0, zca eps %g > 0",
                      cfg->norm_eps, cfg->zca_eps);
  return CUR_OK;
}

/* Whitens the n rows of X in place, a block at a time through tmp. */
static void whiten_rows(const feat_patches *fp, float *X, size_t n, float *tmp, size_t block) {
  size_t d = (size_t)fp->dim;
  for (size_t r = 0; r < n; r += block) {
    size_t m = n - r < block ? n - r : block;
    feat__zca_apply(fp->mean, fp->zca, fp->dim, X + r * d, m, tmp);
    memcpy(X + r * d, tmp, m * d * sizeof(float));
  }
}

int feat_patches_train(const feat_patches_config *cfg, const feat_images *im,
                       feat_patches **out) {
  *out = NULL;
  int rc = check_config(cfg);
  if (rc == CUR_OK && im && im->c != 1 && im->c != 3)
    rc = cur_errorc(CUR_EINPUT, "patches: train: %d channels, need 1 or 3", im->c);
  if (rc == CUR_OK) rc = check_images(im, cfg->patch, im->c, "train");
  if (rc == CUR_OK && im->n == 0) rc = cur_errorc(CUR_EINPUT, "patches: train: no images");
  if (rc != CUR_OK) return rc;
  enum { BLOCK = 4096 };
  feat_patches *fp = NULL;
  float *X = NULL, *tmp = NULL;
  if ((rc = patches_new(cfg->patch, im->c, cfg->k, cfg->norm_eps, &fp)) != CUR_OK) goto cleanup;
  size_t n = (size_t)cfg->n_patches, d = (size_t)fp->dim;
  size_t img_bytes = (size_t)im->h * im->w * im->c;
  X = cur_mallocarray(n, d * sizeof(float));
  tmp = cur_mallocarray(BLOCK, d * sizeof(float));
  rc = CUR_ENOMEM;
  if (!X || !tmp) goto cleanup;
  cur_rng rng;
  cur_rng_seed(&rng, cfg->seed);
  for (size_t i = 0; i < n; i++) {
    size_t img = (size_t)cur_rng_below(&rng, im->n);
    int py = (int)cur_rng_below(&rng, (uint64_t)(im->h - fp->p + 1));
    int px = (int)cur_rng_below(&rng, (uint64_t)(im->w - fp->p + 1));
    copy_patch(im->pix + img * img_bytes, im->w, fp->c, fp->p, py, px, X + i * d);
  }
  normalise_rows(X, n, fp->dim, fp->norm_eps);
  if ((rc = feat__zca_fit(X, n, fp->dim, cfg->zca_eps, fp->mean, fp->zca)) != CUR_OK) goto cleanup;
  whiten_rows(fp, X, n, tmp, BLOCK);
  rc = feat__kmeans(X, n, fp->dim, fp->k, cfg->kmeans_iters, &rng, fp->centroids);
  if (rc != CUR_OK) goto cleanup;
  set_norms(fp);
  *out = fp;
  fp = NULL;
cleanup:
  feat_patches_free(fp);
  cur_free(X);
  cur_free(tmp);
  return rc;
}

/* Per-thread scratch and the range of images it handles. */
typedef struct extract_job {
  const feat_patches *fp;
  const feat_images *im;
  float *out;                  /* all rows; this job writes [first, last) */
  size_t first, last;
  float *raw, *white, *dist;   /* R x D, R x D, R x K */
  int rc;
} extract_job;

/* Turns the dot products z[k] of one patch (|x|^2 = xx) with the centroids
** into distances, in place, and returns their mean. */
static float distances(const float *restrict cc, float xx, float *restrict z, int k) {
  for (int c = 0; c < k; c++) {
    float sq = xx + cc[c] - 2.0f * z[c];
    z[c] = sqrtf(sq > 0 ? sq : 0);
  }
  /* Eight running sums keep the loop free of one long dependency chain. */
  float part[8] = {0};
  int c = 0;
  for (; c + 8 <= k; c += 8)
    for (int j = 0; j < 8; j++) part[j] += z[c + j];
  double sum = 0;
  for (; c < k; c++) sum += z[c];
  for (int j = 0; j < 8; j++) sum += part[j];
  return (float)(sum / k);
}

/* Triangle activations of R whitened patches, pooled into out (4K). */
static void triangle_pool(const feat_patches *fp, const float *white, float *dist, int rows,
                          int cols, float *out) {
  int k = fp->k, d = fp->dim, half_r = (rows + 1) / 2, half_c = (cols + 1) / 2;
  size_t R = (size_t)rows * cols;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, k, d, 1.0f, white, d,
              fp->centroids, d, 0.0f, dist, k);
  memset(out, 0, 4 * (size_t)k * sizeof(float));
  for (size_t r = 0; r < R; r++) {
    const float *x = white + r * d;
    float *restrict z = dist + r * k, xx = 0;
    for (int j = 0; j < d; j++) xx += x[j] * x[j];
    float mu = distances(fp->cc, xx, z, k);
    int q = ((int)(r / cols) >= half_r) * 2 + ((int)(r % cols) >= half_c);
    float *restrict o = out + (size_t)q * k;
    for (int c = 0; c < k; c++) {
      /* Spelt this way GCC vectorises the loop; "mu > z ? mu - z : 0" it
      ** did not, and that scalar loop was half of extraction time (perf). */
      float t = mu - z[c];
      o[c] += t > 0 ? t : 0;
    }
  }
}

static void extract_one(extract_job *j, const uint8_t *img, float *out) {
  const feat_patches *fp = j->fp;
  int rows = j->im->h - fp->p + 1, cols = j->im->w - fp->p + 1;
  size_t R = (size_t)rows * cols, d = (size_t)fp->dim;
  for (int py = 0; py < rows; py++)
    for (int px = 0; px < cols; px++)
      copy_patch(img, j->im->w, fp->c, fp->p, py, px, j->raw + ((size_t)py * cols + px) * d);
  normalise_rows(j->raw, R, fp->dim, fp->norm_eps);
  feat__zca_apply(fp->mean, fp->zca, fp->dim, j->raw, R, j->white);
  triangle_pool(fp, j->white, j->dist, rows, cols, out);
}

static void *extract_worker(void *arg) {
  extract_job *j = arg;
  size_t R = (size_t)(j->im->h - j->fp->p + 1) * (size_t)(j->im->w - j->fp->p + 1);
  size_t d = (size_t)j->fp->dim, img_bytes = (size_t)j->im->h * j->im->w * j->im->c;
  j->raw = cur_mallocarray(R, d * sizeof(float));
  j->white = cur_mallocarray(R, d * sizeof(float));
  j->dist = cur_mallocarray(R, (size_t)j->fp->k * sizeof(float));
  j->rc = CUR_ENOMEM;
  if (j->raw && j->white && j->dist) {
    for (size_t i = j->first; i < j->last; i++)
      extract_one(j, j->im->pix + i * img_bytes, j->out + i * 4 * (size_t)j->fp->k);
    j->rc = CUR_OK;
  }
  cur_free(j->raw);
  cur_free(j->white);
  cur_free(j->dist);
  return NULL;
}

/* Runs jobs[1..threads) on new threads and jobs[0] on the caller's. */
static int run_jobs(extract_job *jobs, int threads) {
  pthread_t tid[MAX_THREADS];
  int started = 1, rc = CUR_OK;
  for (; started < threads; started++)
    if (pthread_create(&tid[started], NULL, extract_worker, &jobs[started]) != 0) {
      rc = cur_errorf("patches: extract: cannot start thread %d", started);
      break;
    }
  if (rc == CUR_OK) extract_worker(&jobs[0]);
  for (int t = 1; t < started; t++) pthread_join(tid[t], NULL);
  for (int t = 0; rc == CUR_OK && t < threads; t++)
    if (jobs[t].rc != CUR_OK) rc = cur_errorc(jobs[t].rc, "patches: extract: out of memory");
  return rc;
}

int feat_patches_extract(const feat_patches *fp, const feat_images *im, int threads,
                         float *out) {
  int rc = check_images(im, fp->p, fp->c, "extract");
  if (rc != CUR_OK) return rc;
  if (threads < 1 || threads > MAX_THREADS)
    return cur_errorc(CUR_ECONFIG, "patches: extract: %d threads out of range 1..%d", threads,
                      MAX_THREADS);
  if (im->n == 0) return CUR_OK;
  if ((size_t)threads > im->n) threads = (int)im->n;
  extract_job jobs[MAX_THREADS];
  for (int t = 0; t < threads; t++)
    jobs[t] = (extract_job){fp, im, out, im->n * t / threads, im->n * (t + 1) / threads,
                            NULL, NULL, NULL, CUR_OK};
  /* Our threads already fill the cores; BLAS threads inside them would
  ** oversubscribe, and a fixed BLAS thread count keeps results identical. */
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  rc = run_jobs(jobs, threads);
  openblas_set_num_threads(blas_threads);
  return rc;
}

/* Payload: u32 p, u32 c, u32 K, f32 norm_eps, f32 mean[D], zca[D*D], centroids[K*D]. */
int feat_patches_save(const feat_patches *fp, uint8_t **blob, size_t *len) {
  size_t d = (size_t)fp->dim, nf = 1 + d + d * d + (size_t)fp->k * d;
  feat_blob_w b;
  int rc = feat__blob_begin(&b, PATCHES_MAGIC, PATCHES_VERSION, 12 + 4 * nf);
  if (rc != CUR_OK) return rc;
  feat__blob_u32(&b, (uint32_t)fp->p);
  feat__blob_u32(&b, (uint32_t)fp->c);
  feat__blob_u32(&b, (uint32_t)fp->k);
  feat__blob_f32s(&b, &fp->norm_eps, 1);
  feat__blob_f32s(&b, fp->mean, d);
  feat__blob_f32s(&b, fp->zca, d * d);
  feat__blob_f32s(&b, fp->centroids, (size_t)fp->k * d);
  feat__blob_end(&b, blob, len);
  return CUR_OK;
}

int feat_patches_load(const uint8_t *blob, size_t len, feat_patches **out) {
  *out = NULL;
  feat_blob_r r;
  uint32_t p, c, k;
  float eps;
  feat_patches *fp = NULL;
  int rc = feat__blob_open(&r, blob, len, PATCHES_MAGIC, PATCHES_VERSION, "patches model");
  if (rc == CUR_OK) rc = feat__blob_get_u32(&r, &p);
  if (rc == CUR_OK) rc = feat__blob_get_u32(&r, &c);
  if (rc == CUR_OK) rc = feat__blob_get_u32(&r, &k);
  if (rc == CUR_OK) rc = feat__blob_get_f32s(&r, &eps, 1);
  if (rc != CUR_OK) return rc;
  if (p < 1 || p > MAX_PATCH || (c != 1 && c != 3) || k < 1 || k > MAX_K || eps < 0)
    return cur_errorc(CUR_EINPUT, "patches model: bad header p=%u c=%u K=%u eps=%g", p, c, k,
                      eps);
  if ((rc = patches_new((int)p, (int)c, (int)k, eps, &fp)) != CUR_OK) return rc;
  size_t d = (size_t)fp->dim;
  rc = feat__blob_get_f32s(&r, fp->mean, d);
  if (rc == CUR_OK) rc = feat__blob_get_f32s(&r, fp->zca, d * d);
  if (rc == CUR_OK) rc = feat__blob_get_f32s(&r, fp->centroids, (size_t)k * d);
  if (rc == CUR_OK) rc = feat__blob_close(&r);
  if (rc != CUR_OK) {
    feat_patches_free(fp);
    return rc;
  }
  set_norms(fp);
  *out = fp;
  return CUR_OK;
}
