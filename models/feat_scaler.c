/* feat_scaler.c -- per-column standardisation fitted on training rows, applied to any rows. */
#include "feat_internal.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "curate.h"

#define SCALER_MAGIC "CURSCALE"
#define SCALER_VERSION 1u

struct feat_scaler {
  int d;                       /* columns */
  float *mean;                 /* d column means */
  float *inv_sd;               /* d values 1 / sqrt(var + eps) */
};

static int scaler_new(int d, feat_scaler **out) {
  feat_scaler *s = cur_calloc(1, sizeof *s);
  if (!s) return CUR_ENOMEM;
  s->d = d;
  s->mean = cur_mallocarray((size_t)d, sizeof(float));
  s->inv_sd = cur_mallocarray((size_t)d, sizeof(float));
  if (!s->mean || !s->inv_sd) {
    feat_scaler_free(s);
    return CUR_ENOMEM;
  }
  *out = s;
  return CUR_OK;
}

void feat_scaler_free(feat_scaler *s) {
  if (!s) return;
  cur_free(s->mean);
  cur_free(s->inv_sd);
  cur_free(s);
}

int feat_scaler_dim(const feat_scaler *s) { return s->d; }

int feat_scaler_fit(const float *X, size_t n, int d, float eps, feat_scaler **out) {
  *out = NULL;
  if (n > INT_MAX) return cur_errorc(CUR_EINPUT, "scaler: %zu rows are too many to fit", n);
  head_rows v = head_rows_float(X, (int)n, d);
  return feat_scaler_fit_rows(&v, eps, out);
}

int feat_scaler_fit_rows(const head_rows *X, float eps, feat_scaler **out) {
  *out = NULL;
  size_t n = X->n > 0 ? (size_t)X->n : 0;
  int d = X->d;
  if (n < 1 || d < 1 || (!X->half && !X->f32) || !(eps >= 0))
    return cur_errorc(CUR_EINPUT, "scaler: cannot fit %zu x %d rows with eps %g", n, d, eps);
  if (eps == 0 && n < 2)
    return cur_errorc(CUR_EINPUT, "scaler: one row and eps 0 give zero variance");
  feat_scaler *s;
  double *sum = cur_calloc((size_t)d, sizeof(double));
  double *sq = cur_calloc((size_t)d, sizeof(double));
  float *row = cur_mallocarray((size_t)d, sizeof(float));  /* one row at a time, as floats */
  int rc = sum && sq && row ? scaler_new(d, &s) : CUR_ENOMEM;
  if (rc == CUR_OK) {
    /* Two passes (mean, then squared deviations) avoid cancellation. */
    for (size_t i = 0; i < n; i++) {
      head_rows_get(X, (int)i, row);
      for (int j = 0; j < d; j++) sum[j] += row[j];
    }
    for (int j = 0; j < d; j++) s->mean[j] = (float)(sum[j] / (double)n);
    for (size_t i = 0; i < n; i++) {
      head_rows_get(X, (int)i, row);
      for (int j = 0; j < d; j++) sq[j] += pow(row[j] - s->mean[j], 2);
    }
    for (int j = 0; j < d; j++) {
      double var = sq[j] / (double)n + eps;
      s->inv_sd[j] = var > 0 ? (float)(1.0 / sqrt(var)) : 1.0f;
    }
    *out = s;
  }
  cur_free(sum);
  cur_free(sq);
  cur_free(row);
  return rc;
}

void feat_scaler_view(const feat_scaler *s, head_rows *X) {
  assert(X->d == s->d);
  X->mean = s->mean;
  X->inv_sd = s->inv_sd;
}

void feat_scaler_apply(const feat_scaler *s, float *X, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < s->d; j++)
      X[i * s->d + j] = (X[i * s->d + j] - s->mean[j]) * s->inv_sd[j];
}

/* Payload: u32 d, f32 mean[d], f32 inv_sd[d]. */
int feat_scaler_save(const feat_scaler *s, uint8_t **blob, size_t *len) {
  feat_blob_w b;
  int rc = feat__blob_begin(&b, SCALER_MAGIC, SCALER_VERSION, 4 + 8 * (size_t)s->d);
  if (rc != CUR_OK) return rc;
  feat__blob_u32(&b, (uint32_t)s->d);
  feat__blob_f32s(&b, s->mean, (size_t)s->d);
  feat__blob_f32s(&b, s->inv_sd, (size_t)s->d);
  feat__blob_end(&b, blob, len);
  return CUR_OK;
}

int feat_scaler_load(const uint8_t *blob, size_t len, feat_scaler **out) {
  *out = NULL;
  feat_blob_r r;
  uint32_t d;
  feat_scaler *s = NULL;
  int rc = feat__blob_open(&r, blob, len, SCALER_MAGIC, SCALER_VERSION, "scaler");
  if (rc == CUR_OK) rc = feat__blob_get_u32(&r, &d);
  if (rc == CUR_OK && (d < 1 || d > (len / 8)))
    rc = cur_errorc(CUR_EINPUT, "scaler: bad column count %u", d);
  if (rc == CUR_OK) rc = scaler_new((int)d, &s);
  if (rc == CUR_OK) rc = feat__blob_get_f32s(&r, s->mean, d);
  if (rc == CUR_OK) rc = feat__blob_get_f32s(&r, s->inv_sd, d);
  if (rc == CUR_OK) rc = feat__blob_close(&r);
  if (rc != CUR_OK) {
    feat_scaler_free(s);
    return rc;
  }
  *out = s;
  return CUR_OK;
}
