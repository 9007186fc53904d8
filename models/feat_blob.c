/* feat_blob.c -- versioned, little-endian, checksummed byte blobs for saved feature models. */
#include "feat_internal.h"

#include <math.h>
#include <string.h>

#include "curate.h"

#define CHECKSUM_BYTES 8
#define HEADER_BYTES 12        /* magic + version */

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* Writes v as n little-endian bytes whatever the host order. */
static void put_le(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int feat__blob_begin(feat_blob_w *b, const char magic[8], uint32_t version, size_t payload) {
  if (payload > SIZE_MAX - HEADER_BYTES - CHECKSUM_BYTES)
    return cur_errorc(CUR_ENOMEM, "blob of %zu bytes is too large", payload);
  b->len = HEADER_BYTES + payload + CHECKSUM_BYTES;
  b->p = cur_malloc(b->len);
  if (!b->p) return CUR_ENOMEM;
  memcpy(b->p, magic, 8);
  put_le(b->p + 8, version, 4);
  b->pos = HEADER_BYTES;
  return CUR_OK;
}

void feat__blob_u32(feat_blob_w *b, uint32_t v) {
  put_le(b->p + b->pos, v, 4);
  b->pos += 4;
}

void feat__blob_f32s(feat_blob_w *b, const float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    put_le(b->p + b->pos + 4 * i, u, 4);
  }
  b->pos += 4 * n;
}

void feat__blob_end(feat_blob_w *b, uint8_t **blob, size_t *len) {
  put_le(b->p + b->pos, fnv1a(b->p, b->pos), CHECKSUM_BYTES);
  *blob = b->p;
  *len = b->len;
  b->p = NULL;
}

int feat__blob_open(feat_blob_r *r, const uint8_t *blob, size_t len, const char magic[8],
                    uint32_t version, const char *what) {
  r->what = what;
  if (!blob || len < HEADER_BYTES + CHECKSUM_BYTES || memcmp(blob, magic, 8) != 0)
    return cur_errorc(CUR_EINPUT, "%s: not a saved %s (bad magic or %zu bytes)", what, what, len);
  uint32_t v = (uint32_t)get_le(blob + 8, 4);
  if (v != version)
    return cur_errorc(CUR_EINPUT, "%s: format version %u, this build reads %u", what, v, version);
  r->p = blob;
  r->end = len - CHECKSUM_BYTES;
  r->pos = HEADER_BYTES;
  if (fnv1a(blob, r->end) != get_le(blob + r->end, CHECKSUM_BYTES))
    return cur_errorc(CUR_EINPUT, "%s: checksum mismatch (blob corrupt)", what);
  return CUR_OK;
}

int feat__blob_get_u32(feat_blob_r *r, uint32_t *v) {
  if (r->end - r->pos < 4) return cur_errorc(CUR_EINPUT, "%s: blob truncated", r->what);
  *v = (uint32_t)get_le(r->p + r->pos, 4);
  r->pos += 4;
  return CUR_OK;
}

int feat__blob_get_f32s(feat_blob_r *r, float *v, size_t n) {
  if ((r->end - r->pos) / 4 < n) return cur_errorc(CUR_EINPUT, "%s: blob truncated", r->what);
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)get_le(r->p + r->pos + 4 * i, 4);
    memcpy(&v[i], &u, 4);
    if (!isfinite(v[i]))
      return cur_errorc(CUR_EINPUT, "%s: value %zu is not finite", r->what, i);
  }
  r->pos += 4 * n;
  return CUR_OK;
}

int feat__blob_close(feat_blob_r *r) {
  if (r->pos != r->end)
    return cur_errorc(CUR_EINPUT, "%s: %zu unexpected bytes after the data", r->what,
                      r->end - r->pos);
  return CUR_OK;
}
