/* feat.h -- download-free image features: standardised pixels and Coates k-means patches.
**
** Images come in as a feat_images: n uint8 buffers of h x w x c (c = 1 grey
** or 3 RGB, row-major, channels interleaved) laid end to end; the
** image_decode.c helpers make such buffers from encoded JPEG/PNG bytes.
** Features go out as a row-major float matrix, one row per image.
**
**   pixels   h*w*c values in [0, 1]; standardise them with a feat_scaler.
**   patches  the single-layer network of Coates, Lee & Ng (AISTATS 2011):
**            normalised, ZCA-whitened p x p patches at stride 1, "triangle"
**            k-means activations max(0, mean(z) - z_k) with z_k the distance
**            to centroid k, sum-pooled over the four quadrants: 4K values,
**            quadrant-major (top-left, top-right, bottom-left, bottom-right).
**
** Ownership: every *_new / *_fit / *_train / *_load result is freed by the
** caller with the matching NULL-safe *_free; blobs from *_save are freed with
** cur_free.  Saved blobs are versioned, little-endian and checksummed; *_load
** rejects anything else with CUR_EINPUT.
**
** (Not named features.h: models/ is on the include path, and that name
** would shadow glibc's <features.h>.)
*/
#ifndef CURATE_FEAT_H
#define CURATE_FEAT_H

#include <stddef.h>
#include <stdint.h>

#include "head.h"

typedef struct feat_images {
  const uint8_t *pix;          /* n * h * w * c bytes */
  size_t n;                    /* images */
  int h, w, c;                 /* size of each; c is 1 or 3 */
} feat_images;

/* ---- standardisation: x' = (x - mean) / sqrt(var + eps), per column ---- */
typedef struct feat_scaler feat_scaler;
/* Fits mean and population variance of each of the d columns of X (n x d). */
int feat_scaler_fit(const float *X, size_t n, int d, float eps, feat_scaler **out);
/* The same fit over the rows of a view (half floats or floats, a subset by
** row indices): the same sums in the same order, so the same scaler as
** feat_scaler_fit on those rows converted to a float matrix. */
int feat_scaler_fit_rows(const head_rows *X, float eps, feat_scaler **out);
/* Standardises X (n x d, d as fitted) in place. */
void feat_scaler_apply(const feat_scaler *s, float *X, size_t n);
/* Makes the view X (d as fitted) standardise its rows as they are read,
** giving the values feat_scaler_apply gives; X borrows s's arrays, so s
** must outlive every use of X. */
void feat_scaler_view(const feat_scaler *s, head_rows *X);
int feat_scaler_dim(const feat_scaler *s);
int feat_scaler_save(const feat_scaler *s, uint8_t **blob, size_t *len);
int feat_scaler_load(const uint8_t *blob, size_t len, feat_scaler **out);
void feat_scaler_free(feat_scaler *s);

/* ---- pixels ---- */
int feat_pixels_dim(const feat_images *im);
/* Writes im->n rows of feat_pixels_dim values, pixel / 255, into out. */
int feat_pixels_extract(const feat_images *im, float *out);

/* ---- patches (Coates et al. 2011) ---- */
typedef struct feat_patches feat_patches;
typedef struct feat_patches_config {
  int k;                       /* centroids K; features are 4K */
  int patch;                   /* patch side p */
  int n_patches;               /* random patches drawn for whitening and k-means */
  int kmeans_iters;            /* Lloyd iterations */
  float norm_eps;              /* added to each patch's variance (0..255 pixels) */
  float zca_eps;               /* added to the covariance eigenvalues */
  uint64_t seed;               /* patch sampling and k-means starts */
} feat_patches_config;

/* K 1600, p 6, 400,000 patches, 10 iterations, norm_eps 10, zca_eps 0.1,
** seed 1: the paper's settings. */
void feat_patches_config_default(feat_patches_config *cfg);
/* Learns whitening and centroids from random patches of the images. */
int feat_patches_train(const feat_patches_config *cfg, const feat_images *im,
                       feat_patches **out);
int feat_patches_dim(const feat_patches *fp);
int feat_patches_channels(const feat_patches *fp);
/* Writes im->n rows of 4K features into out using `threads` worker threads.
** Images must have the model's channel count and be at least p x p; any
** size works, but rows are comparable only between images of one size.
** While it runs, OpenBLAS is set to one thread (restored afterwards), so
** the result does not depend on `threads`. */
int feat_patches_extract(const feat_patches *fp, const feat_images *im, int threads,
                         float *out);
int feat_patches_save(const feat_patches *fp, uint8_t **blob, size_t *len);
int feat_patches_load(const uint8_t *blob, size_t len, feat_patches **out);
void feat_patches_free(feat_patches *fp);

/* ---- decoding encoded images (libvips) ---- */
/* Decodes JPEG/PNG/... bytes and resizes (ignoring aspect) to w x h with
** `channels` 1 (grey) or 3 (sRGB), alpha flattened on black, into out
** (w * h * channels bytes, caller-owned). */
int feat_image_decode(const void *buf, size_t len, int w, int h, int channels, uint8_t *out);

#endif
