/* test_features.c -- download-free features (models/feat*.c, zca.c, kmeans.c, image_*.c).
**
** feat-1.*: scaler and pixels: standardised columns, save/load.
** feat-2.*: ZCA whitening and k-means on synthetic data.
** feat-3.*: patches: output matches a direct per-patch computation, thread
**           count does not change a bit, training is deterministic.
** feat-4.*: patches save/load: round trip, corrupt blobs rejected.
** feat-5.*: decoding PNG bytes, archives and labelled image folders.
*/
#include "testlib.h"

#include <stdlib.h>
#include <vips/vips.h>

#include "feat.h"
#include "image_sets.h"
#include "image.h"
#include "feat_internal.h"
#include "rng.h"

TEST(scaler_gives_zero_mean_unit_variance_columns_and_round_trips) {
  enum { N = 200, D = 3 };
  static float X[N * D], Y[N * D];
  cur_rng r;
  cur_rng_seed(&r, 1);
  for (int i = 0; i < N; i++) {
    X[i * D] = (float)(5 + 3 * cur_rng_normal(&r));
    X[i * D + 1] = (float)(-2 + 0.01 * cur_rng_normal(&r));
    X[i * D + 2] = 7;          /* constant column: maps to 0, not NaN */
  }
  memcpy(Y, X, sizeof X);
  feat_scaler *s, *t;
  REQUIRE_OK(feat_scaler_fit(X, N, D, 0, &s));
  feat_scaler_apply(s, X, N);
  for (int j = 0; j < 2; j++) {
    double m = 0, v = 0;
    for (int i = 0; i < N; i++) m += X[i * D + j] / N;
    for (int i = 0; i < N; i++) v += (X[i * D + j] - m) * (X[i * D + j] - m) / N;
    CHECK_NEAR(m, 0, 1e-5);    /* float rounding of values ~1 over 200 rows */
    CHECK_NEAR(v, 1, 1e-4);    /* float rounding, as for the mean */
  }
  CHECK_NEAR(X[2], 0, 0);
  uint8_t *blob;
  size_t len;
  REQUIRE_OK(feat_scaler_save(s, &blob, &len));
  REQUIRE_OK(feat_scaler_load(blob, len, &t));
  CHECK_INT(feat_scaler_dim(t), D);
  feat_scaler_apply(t, Y, N);
  CHECK(memcmp(X, Y, sizeof X) == 0);
  feat_scaler_free(t);
  CHECK_INT(feat_scaler_load(blob, len - 1, &t), CUR_EINPUT);
  CHECK(t == NULL);
  cur_free(blob);
  feat_scaler_free(s);
  feat_scaler_free(NULL);
}

TEST(pixels_are_bytes_over_255) {
  uint8_t pix[2 * 2 * 1 * 3] = {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8};
  feat_images im = {pix, 2, 2, 1, 3};
  float out[12];
  CHECK_INT(feat_pixels_dim(&im), 6);
  REQUIRE_OK(feat_pixels_extract(&im, out));
  CHECK_NEAR(out[1], 1.0, 0);
  CHECK_NEAR(out[2], 0.2, 1e-7);
  CHECK_NEAR(out[11], 8 / 255.0, 1e-7);
  im.c = 2;
  CHECK_INT(feat_pixels_extract(&im, out), CUR_EINPUT);
}

TEST(zca_whitened_data_has_identity_covariance) {
  enum { N = 20000, D = 4 };
  static float X[N * D], Y[N * D];
  float mean[D], P[D * D];
  cur_rng r;
  cur_rng_seed(&r, 2);
  /* Correlated columns with variances from ~1 to ~50. */
  for (int i = 0; i < N; i++) {
    double a = cur_rng_normal(&r), b = cur_rng_normal(&r);
    double c = cur_rng_normal(&r), e = cur_rng_normal(&r);
    float row[D] = {(float)(3 + 5 * a), (float)(4 * a + b), (float)(b - 2 * c), (float)(7 * e)};
    memcpy(X + i * D, row, sizeof row);
  }
  REQUIRE_OK(feat__zca_fit(X, N, D, 1e-6f, mean, P));
  for (int a = 0; a < D; a++)
    for (int b = 0; b < D; b++) CHECK_NEAR(P[a * D + b], P[b * D + a], 1e-6); /* symmetric */
  feat__zca_apply(mean, P, D, X, N, Y);
  for (int a = 0; a < D; a++)
    for (int b = 0; b < D; b++) {
      double s = 0;
      for (int i = 0; i < N; i++) s += (double)Y[i * D + a] * Y[i * D + b];
      /* Unbiased covariance of whitened data is I up to float GEMM rounding. */
      CHECK_NEAR(s / (N - 1), a == b, 1e-3);
    }
}

TEST(kmeans_converges_to_centroids_that_are_their_members_means) {
  enum { N = 3000, D = 2, K = 3 };
  static float X[N * D];
  float C[K * D], one[D], centres[K][D] = {{0, 0}, {10, 0}, {0, 10}};
  double sum[K][D] = {{0}}, mean[D] = {0};
  int count[K] = {0};
  cur_rng r;
  cur_rng_seed(&r, 3);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < D; j++) X[i * D + j] = (float)(centres[i % K][j] + cur_rng_normal(&r));
  /* Random starts can leave Lloyd in a local optimum, so check the fixed
  ** point it must reach: every centroid is the mean of its nearest rows. */
  REQUIRE_OK(feat__kmeans(X, N, D, K, 30, &r, C));
  for (int i = 0; i < N; i++) {
    int best = 0;
    for (int c = 1; c < K; c++)
      if (hypot(X[i * D] - C[c * D], X[i * D + 1] - C[c * D + 1]) <
          hypot(X[i * D] - C[best * D], X[i * D + 1] - C[best * D + 1]))
        best = c;
    count[best]++;
    for (int j = 0; j < D; j++) sum[best][j] += X[i * D + j];
    for (int j = 0; j < D; j++) mean[j] += X[i * D + j] / N;
  }
  for (int c = 0; c < K; c++) {
    REQUIRE(count[c] > 0);
    /* float centroids of coordinates ~10: 1e-4 is ~100 ulps */
    for (int j = 0; j < D; j++) CHECK_NEAR(C[c * D + j], sum[c][j] / count[c], 1e-4);
  }
  REQUIRE_OK(feat__kmeans(X, N, D, 1, 2, &r, one));
  for (int j = 0; j < D; j++) CHECK_NEAR(one[j], mean[j], 1e-4);
  CHECK_INT(feat__kmeans(X, 2, D, K, 1, &r, C), CUR_EINPUT);
}

/* n images h x w x c of random oriented stripes plus noise, in a cur_malloc buffer. */
static uint8_t *make_images(size_t n, int h, int w, int c, uint64_t seed) {
  uint8_t *pix = cur_mallocarray(n, (size_t)h * w * c);
  cur_rng r;
  cur_rng_seed(&r, seed);
  for (size_t i = 0; pix && i < n; i++) {
    double fx = cur_rng_normal(&r), fy = cur_rng_normal(&r), ph = 6 * cur_rng_uniform(&r);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        for (int ch = 0; ch < c; ch++) {
          double v = 128 + 70 * sin(fx * x + fy * y + ph + ch) + 20 * cur_rng_normal(&r);
          pix[((i * h + y) * w + x) * c + ch] = (uint8_t)fmin(255, fmax(0, v));
        }
  }
  return pix;
}

static feat_patches *train_small(const feat_images *im, uint64_t seed) {
  feat_patches_config cfg;
  feat_patches_config_default(&cfg);
  cfg.k = 8;
  cfg.n_patches = 3000;
  cfg.kmeans_iters = 5;
  cfg.seed = seed;
  feat_patches *fp;
  return feat_patches_train(&cfg, im, &fp) == CUR_OK ? fp : NULL;
}

static float le_f32(const uint8_t *p) {
  uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* The features of one image computed patch by patch in double, from the
** saved model's documented layout. */
static void reference_features(const uint8_t *blob, const uint8_t *img, int h, int w,
                               double *out) {
  int p = 6, c = 3, k = 8, d = p * p * c, rows = h - p + 1, cols = w - p + 1;
  const uint8_t *m = blob + 28, *P = m + 4 * d, *C = P + 4 * d * d;
  double eps = le_f32(blob + 24), x[108], y[108], z[8];
  memset(out, 0, 4 * k * sizeof(double));
  for (int py = 0; py < rows; py++)
    for (int px = 0; px < cols; px++) {
      double s = 0, ss = 0, zs = 0;
      for (int i = 0; i < d; i++) {
        int dy = i / (p * c), dx = i / c % p, ch = i % c;
        s += x[i] = img[((py + dy) * w + px + dx) * c + ch];
      }
      for (int i = 0; i < d; i++) ss += (x[i] - s / d) * (x[i] - s / d);
      double scale = 1 / sqrt(ss / (d - 1) + eps);
      for (int i = 0; i < d; i++) x[i] = (x[i] - s / d) * scale - le_f32(m + 4 * i);
      for (int j = 0; j < d; j++) {
        y[j] = 0;
        for (int i = 0; i < d; i++) y[j] += x[i] * le_f32(P + 4 * (i * d + j));
      }
      for (int q = 0; q < k; q++) {
        double dist = 0;
        for (int j = 0; j < d; j++) dist += pow(y[j] - le_f32(C + 4 * (q * d + j)), 2);
        zs += z[q] = sqrt(dist);
      }
      int quad = (py >= (rows + 1) / 2) * 2 + (px >= (cols + 1) / 2);
      for (int q = 0; q < k; q++) out[quad * k + q] += fmax(0, zs / k - z[q]);
    }
}

TEST(patches_features_match_a_direct_per_patch_computation) {
  enum { N = 40, H = 16, W = 13, K = 8 };
  uint8_t *pix = make_images(N, H, W, 3, 4);
  REQUIRE(pix != NULL);
  feat_images im = {pix, N, H, W, 3};
  feat_patches *fp = train_small(&im, 1);
  REQUIRE(fp != NULL);
  CHECK_INT(feat_patches_dim(fp), 4 * K);
  static float out[N * 4 * K];
  double ref[4 * K];
  uint8_t *blob;
  size_t len;
  CHECK_OK(feat_patches_extract(fp, &im, 1, out));
  REQUIRE_OK(feat_patches_save(fp, &blob, &len));
  int active = 0;
  for (int i = 0; i < 3; i++) {
    reference_features(blob, pix + (size_t)i * H * W * 3, H, W, ref);
    /* Float GEMMs and |x|^2 + |c|^2 - 2 x.c lose ~1e-5 relative per
    ** distance; sums over <= 36 patches per quadrant stay well under 1e-3. */
    for (int j = 0; j < 4 * K; j++) CHECK_NEAR(out[i * 4 * K + j], ref[j], 1e-3 * (1 + ref[j]));
    for (int j = 0; j < 4 * K; j++) active += ref[j] > 0;
  }
  CHECK(active > 4 * K);       /* the triangle code is not all zeros */
  cur_free(blob);
  feat_patches_free(fp);
  cur_free(pix);
}

TEST(patches_thread_count_and_seed_reuse_change_no_bit) {
  enum { N = 30, S = 12, K = 8 };
  uint8_t *pix = make_images(N, S, S, 3, 5);
  REQUIRE(pix != NULL);
  feat_images im = {pix, N, S, S, 3};
  feat_patches *a = train_small(&im, 7), *b = train_small(&im, 7), *c = train_small(&im, 8);
  static float f1[N * 4 * K], f3[N * 4 * K], fb[N * 4 * K];
  REQUIRE(a && b && c);
  CHECK_OK(feat_patches_extract(a, &im, 1, f1));
  CHECK_OK(feat_patches_extract(a, &im, 3, f3));
  CHECK_OK(feat_patches_extract(b, &im, 2, fb));
  CHECK(memcmp(f1, f3, sizeof f1) == 0);
  CHECK(memcmp(f1, fb, sizeof f1) == 0);
  CHECK_OK(feat_patches_extract(c, &im, 2, fb));
  CHECK(memcmp(f1, fb, sizeof f1) != 0);
  CHECK_INT(feat_patches_extract(a, &im, 0, f1), CUR_ECONFIG);
  im.c = 1;
  CHECK_INT(feat_patches_extract(a, &im, 1, f1), CUR_EINPUT);
  CHECK(strstr(cur_error(), "3 channels") != NULL);
  feat_patches_free(a);
  feat_patches_free(b);
  feat_patches_free(c);
  cur_free(pix);
}

TEST(patches_model_round_trips_and_corrupt_blobs_are_rejected) {
  enum { N = 20, S = 10, K = 8 };
  uint8_t *pix = make_images(N, S, S, 3, 6);
  REQUIRE(pix != NULL);
  feat_images im = {pix, N, S, S, 3};
  feat_patches *fp = train_small(&im, 1), *back = NULL;
  REQUIRE(fp != NULL);
  static float f1[N * 4 * K], f2[N * 4 * K];
  uint8_t *blob;
  size_t len;
  REQUIRE_OK(feat_patches_save(fp, &blob, &len));
  CHECK_INT(len, 12 + 16 + 4 * (108 + 108 * 108 + K * 108) + 8);
  REQUIRE_OK(feat_patches_load(blob, len, &back));
  CHECK_OK(feat_patches_extract(fp, &im, 1, f1));
  CHECK_OK(feat_patches_extract(back, &im, 1, f2));
  CHECK(memcmp(f1, f2, sizeof f1) == 0);
  feat_patches_free(back);
  CHECK_INT(feat_patches_load(blob, len - 4, &back), CUR_EINPUT);
  CHECK(back == NULL);
  blob[100] ^= 1;              /* a flipped bit in the whitening mean */
  CHECK_INT(feat_patches_load(blob, len, &back), CUR_EINPUT);
  CHECK(strstr(cur_error(), "checksum") != NULL);
  blob[100] ^= 1;
  blob[8] = 2;                 /* a future format version */
  CHECK_INT(feat_patches_load(blob, len, &back), CUR_EINPUT);
  CHECK(strstr(cur_error(), "version 2") != NULL);
  CHECK_INT(feat_patches_load(blob, 5, &back), CUR_EINPUT);
  cur_free(blob);
  feat_patches_free(fp);
  cur_free(pix);
}

/* Encodes a w x h x bands uchar image as PNG into a cur_malloc buffer. */
static uint8_t *make_png(const uint8_t *pix, int w, int h, int bands, size_t *len) {
  if (cur_image_init() != CUR_OK) return NULL;
  VipsImage *im = vips_image_new_from_memory_copy(pix, (size_t)w * h * bands, w, h, bands,
                                                  VIPS_FORMAT_UCHAR);
  void *buf = NULL;
  uint8_t *out = NULL;
  if (im && vips_pngsave_buffer(im, &buf, len, NULL) == 0 && (out = cur_malloc(*len)))
    memcpy(out, buf, *len);
  g_free(buf);
  if (im) g_object_unref(im);
  return out;
}

TEST(png_bytes_decode_to_resized_rgb_and_grey) {
  enum { W = 40, H = 20 };
  static uint8_t rgba[W * H * 4];
  for (int i = 0; i < W * H; i++) {
    uint8_t px[4] = {200, 100, 50, 255};
    memcpy(rgba + 4 * i, px, 4);
  }
  size_t len;
  uint8_t *png = make_png(rgba, W, H, 4, &len), rgb[10 * 5 * 3], grey[10 * 5];
  REQUIRE(png != NULL);
  REQUIRE_OK(feat_image_decode(png, len, 10, 5, 3, rgb));
  /* A flat colour stays flat through resampling, +-1 for rounding. */
  CHECK_NEAR(rgb[0], 200, 1);
  CHECK_NEAR(rgb[3 * 49 + 1], 100, 1);
  CHECK_NEAR(rgb[3 * 49 + 2], 50, 1);
  REQUIRE_OK(feat_image_decode(png, len, 10, 5, 1, grey));
  /* libvips' sRGB -> B_W goes through CIE L*: about 0.2 R + 0.7 G + 0.07 B. */
  CHECK(grey[0] > 100 && grey[0] < 140);
  CHECK_INT(feat_image_decode("not an image", 12, 10, 5, 3, rgb), CUR_EINPUT);
  CHECK(strstr(cur_error(), "decode") != NULL);
  CHECK_INT(feat_image_decode(png, len, 10, 5, 2, rgb), CUR_EINPUT);
  cur_free(png);
}

/* Encodes a w x h x bands uchar image as a JPEG (libvips, quality 90) into
** a cur_malloc buffer, without metadata (libvips writes an Exif segment
** otherwise). */
static uint8_t *make_jpeg(const uint8_t *pix, int w, int h, int bands, size_t *len) {
  if (cur_image_init() != CUR_OK) return NULL;
  VipsImage *im = vips_image_new_from_memory_copy(pix, (size_t)w * h * bands, w, h, bands,
                                                  VIPS_FORMAT_UCHAR);
  void *buf = NULL;
  uint8_t *out = NULL;
  if (im && vips_jpegsave_buffer(im, &buf, len, "Q", 90, "strip", TRUE, NULL) == 0 &&
      (out = cur_malloc(*len)))
    memcpy(out, buf, *len);
  g_free(buf);
  if (im) g_object_unref(im);
  return out;
}

/* JPG (LEN bytes) with an Exif segment saying "rotate by 90 degrees"
** (orientation 6) after its SOI marker, as a camera writes it; the caller
** frees the new buffer. */
static uint8_t *with_exif_orientation(const uint8_t *jpg, size_t len, size_t *out_len) {
  static const uint8_t app1[] = {
      0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,   /* APP1, 34 bytes, "Exif" */
      'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,       /* big-endian TIFF, IFD at 8 */
      0x00, 0x01,                                         /* one entry: */
      0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,     /* Orientation, SHORT, 1 */
      0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};    /* = 6; no next IFD */
  uint8_t *out = cur_malloc(len + sizeof app1);
  if (!out) return NULL;
  memcpy(out, jpg, 2);
  memcpy(out + 2, app1, sizeof app1);
  memcpy(out + 2 + sizeof app1, jpg + 2, len - 2);
  *out_len = len + sizeof app1;
  return out;
}

/* libvips' own decode of a JPEG, full size (the oracle of the exact path). */
static int vips_jpeg_pixels(const uint8_t *jpg, size_t len, uint8_t *out, size_t cap) {
  VipsImage *im = NULL;
  size_t size = 0;
  void *mem = NULL;
  if (vips_jpegload_buffer((void *)jpg, len, &im, NULL) == 0) mem = vips_image_write_to_memory(im, &size);
  int ok = mem && size == cap;
  if (ok) memcpy(out, mem, cap);
  g_free(mem);
  if (im) g_object_unref(im);
  return ok;
}

/* A JPEG already at the features' size is decoded by libjpeg, without a
** libvips pipeline (most of embed's time on 16 x 16 images): the same
** pixels as libvips' decode; a file libvips would rotate (Exif orientation)
** or resize still goes through libvips. */
TEST(jpeg_at_the_features_size_decodes_through_libjpeg_to_libvips_pixels) {
  enum { W = 16, H = 12 };
  static uint8_t pix[W * H * 3], got[W * H * 3], want[W * H * 3];
  cur_rng r;
  cur_rng_seed(&r, 5);
  for (size_t i = 0; i < sizeof pix; i++) pix[i] = (uint8_t)(40 + cur_rng_below(&r, 150) + (i % 48));
  for (int bands = 1; bands <= 3; bands += 2) {
    size_t len, n = (size_t)W * H * bands;
    uint8_t *jpg = make_jpeg(pix, W, H, bands, &len);
    REQUIRE(jpg != NULL);
    REQUIRE(vips_jpeg_pixels(jpg, len, want, n));
    memset(got, 0, sizeof got);
    CHECK_INT(cur_image_jpeg_decode_exact(jpg, len, W, H, bands, got), 1);
    CHECK(memcmp(got, want, n) == 0);
    memset(got, 0, sizeof got);
    REQUIRE_OK(feat_image_decode(jpg, len, W, H, bands, got));
    CHECK(memcmp(got, want, n) == 0);
    /* another size, or grey asked of colour: libvips' job */
    CHECK_INT(cur_image_jpeg_decode_exact(jpg, len, W / 2, H / 2, bands, got), 0);
    CHECK_INT(cur_image_jpeg_decode_exact(jpg, len, W, H, 4 - bands, got), 0);
    CHECK_INT(cur_image_jpeg_decode_exact(jpg, len - len / 3, W, H, bands, got), 0);
    if (bands == 3) {
      size_t rlen;
      uint8_t *rotated = with_exif_orientation(jpg, len, &rlen);
      REQUIRE(rotated != NULL);
      CHECK(vips_jpeg_pixels(rotated, rlen, want, n));  /* still a sound JPEG */
      CHECK_INT(cur_image_jpeg_decode_exact(rotated, rlen, W, H, 3, got), 0);
      cur_free(rotated);
    }
    cur_free(jpg);
  }
}

static int keep_pngs(void *ctx, const char *path) {
  int *seen = ctx;
  (*seen)++;
  return strstr(path, ".png") != NULL;
}

/* scratch/arch/set.tar.gz holding ./train/{cat/0,ant/1,ant/2}.png,
** ./test/ant/3.png (flat greys 40, 80, 120, 160) and ./notes.txt. */
static char *make_folder_archive(void) {
  static const char *const files[] = {"train/cat/0", "train/ant/1", "train/ant/2", "test/ant/3"};
  uint8_t px[6 * 4];
  for (int f = 0; f < 4; f++) {
    memset(px, 40 * (f + 1), sizeof px);
    size_t len;
    uint8_t *png = make_png(px, 6, 4, 1, &len);
    char *rel = cur_asprintf("arch/set/%s.png", files[f]);
    char *path = rel ? test_scratch_path(rel) : NULL;
    int ok = png && path && test_write_file(path, png, len) == 0;
    cur_free(rel);
    cur_free(path);
    cur_free(png);
    if (!ok) return NULL;
  }
  if (test_sh("cd '%s/arch' && echo hi > set/notes.txt && tar czf set.tar.gz -C set .",
              T.scratch) != 0)
    return NULL;
  return test_scratch_path("arch/set.tar.gz");
}

TEST(archive_entries_the_filter_keeps_are_decoded) {
  char *tgz = make_folder_archive();
  REQUIRE(tgz != NULL);
  uint8_t *pix;
  size_t n;
  int seen = 0;
  REQUIRE_OK(feat_archive_decode(tgz, 3, 2, 1, keep_pngs, &seen, &pix, &n));
  CHECK_INT(n, 4);
  CHECK_INT(seen, 4);  /* notes.txt is not an image: never offered */
  /* tar stores folders in readdir order, so compare the set of greys. */
  int sum = 0;
  for (size_t i = 0; i < n; i++) sum += pix[i * 6];
  CHECK_INT(sum, 40 + 80 + 120 + 160);
  cur_free(pix);
  CHECK_INT(feat_archive_decode("/nonexistent.tar", 3, 2, 1, keep_pngs, &seen, &pix, &n),
            CUR_EINPUT);
  CHECK(strstr(cur_error(), "/nonexistent.tar") != NULL);
  cur_free(tgz);
}

TEST(image_folder_labels_follow_sorted_class_names) {
  char *tgz = make_folder_archive();
  REQUIRE(tgz != NULL);
  feat_folder *f, *capped;
  REQUIRE_OK(feat_folder_decode(tgz, "train", 0, 2, 3, &f));
  CHECK_INT(f->im.n, 3);
  REQUIRE(f->n_classes == 2);
  CHECK_STR(f->classes[0], "ant");
  CHECK_STR(f->classes[1], "cat");
  for (size_t i = 0; i < f->im.n; i++)  /* grey 40 is the only cat */
    CHECK_INT(f->labels[i], f->im.pix[i * 2 * 2 * 3] == 40);
  REQUIRE_OK(feat_folder_decode(tgz, "train", 1, 2, 3, &capped));
  CHECK_INT(capped->im.n, 2);
  feat_folder_free(capped);
  CHECK_INT(feat_folder_decode(tgz, "val", 0, 2, 3, &capped), CUR_EINPUT);
  CHECK(capped == NULL);
  CHECK(strstr(cur_error(), "no images under val/") != NULL);
  feat_folder_free(f);
  feat_folder_free(NULL);
  cur_free(tgz);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(scaler_gives_zero_mean_unit_variance_columns_and_round_trips);
  RUN(pixels_are_bytes_over_255);
  RUN(zca_whitened_data_has_identity_covariance);
  RUN(kmeans_converges_to_centroids_that_are_their_members_means);
  RUN(patches_features_match_a_direct_per_patch_computation);
  RUN(patches_thread_count_and_seed_reuse_change_no_bit);
  RUN(patches_model_round_trips_and_corrupt_blobs_are_rejected);
  RUN(png_bytes_decode_to_resized_rgb_and_grey);
  RUN(jpeg_at_the_features_size_decodes_through_libjpeg_to_libvips_pixels);
  RUN(archive_entries_the_filter_keeps_are_decoded);
  RUN(image_folder_labels_follow_sorted_class_names);
  return test_finish();
}
