/* feat_internal.h -- pieces shared by the feature modules: blobs, ZCA, k-means.
**
** Blob layout (all integers and floats little-endian, floats IEEE-754):
**   8-byte magic | u32 version | payload | u64 FNV-1a of everything before it
** The writer is sized up front, so writing cannot fail after feat__blob_begin;
** the reader checks magic, version, checksum, bounds, finiteness and that the
** payload is consumed exactly, and names `what` in every error.
*/
#ifndef CURATE_FEAT_INTERNAL_H
#define CURATE_FEAT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "feat.h"
#include "rng.h"

typedef struct feat_blob_w {
  uint8_t *p;                  /* buffer of len bytes */
  size_t len, pos;             /* total size, write position */
} feat_blob_w;

typedef struct feat_blob_r {
  const uint8_t *p;            /* blob being read */
  size_t end, pos;             /* payload end (before checksum), read position */
  const char *what;            /* object named in errors */
} feat_blob_r;

/* Allocates a blob for `payload` bytes and writes magic and version. */
int feat__blob_begin(feat_blob_w *b, const char magic[8], uint32_t version, size_t payload);
void feat__blob_u32(feat_blob_w *b, uint32_t v);
void feat__blob_f32s(feat_blob_w *b, const float *v, size_t n);
/* Appends the checksum and hands the buffer over (caller frees it). */
void feat__blob_end(feat_blob_w *b, uint8_t **blob, size_t *len);

int feat__blob_open(feat_blob_r *r, const uint8_t *blob, size_t len, const char magic[8],
                    uint32_t version, const char *what);
int feat__blob_get_u32(feat_blob_r *r, uint32_t *v);
int feat__blob_get_f32s(feat_blob_r *r, float *v, size_t n);
/* Fails unless the payload was read to its end. */
int feat__blob_close(feat_blob_r *r);

/* ZCA: mean (d) and P = V diag(1/sqrt(lambda + eps)) V^T (d x d) of the
** covariance of X (n x d, n >= 2). */
int feat__zca_fit(const float *X, size_t n, int d, float eps, float *mean, float *P);
/* Subtracts mean from the n rows of X in place and writes Y = X P. */
void feat__zca_apply(const float *mean, const float *P, int d, float *X, size_t n, float *Y);

/* Lloyd's k-means of X (n x d, n >= k) into C (k x d). */
int feat__kmeans(const float *X, size_t n, int d, int k, int iters, cur_rng *rng, float *C);

#endif
