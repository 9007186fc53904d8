/* clip_preprocess.c -- decode, resize, crop and normalise an image for CLIP.
**
** The reference is torchvision's Resize(size, BICUBIC) + CenterCrop(size) on
** a PIL image, then RGB and Normalize: the image is decoded to 8-bit samples
** (pipeline/codec: libjpeg for plain JPEGs, libvips for the rest), the centre
** crop of the short-side-to-size resize is computed the way Pillow computes
** it (clip_resample.c), and each sample is normalised through a table.
** Coordinates: the source is w x h; the resized image nw x nh, its short
** side equal to size; the crop window starts at (left, top) in it.
*/
#include "clip_preprocess.h"

#include <math.h>
#include <stdint.h>

#include "clip_resample.h"
#include "curate.h"
#include "image.h"

/* The largest image decoded: above ingest's default max_pixels (10^8), so
** whatever ingest accepts by default is embedded, while a header alone
** (`curate clip` reads files ingest never saw) cannot make us allocate more
** than about 1 GB. */
#define CLIP_MAX_PIXELS ((int64_t)1 << 28)

void clip_prep_default(clip_prep *p, int size) {
  static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
  static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  p->size = size;
  for (int c = 0; c < 3; c++) {
    p->mean[c] = mean[c];
    p->std[c] = std[c];
  }
}

/* Pillow resamples RGBA and LA premultiplied ("RGBa", "La"): colour times
** alpha / 255, rounded as its MULDIV255 does, and divides back after,
** truncating, except where alpha is 0 or 255. */
static void premultiply(unsigned char *px, size_t n, int bands) {
  for (size_t i = 0; i < n; i++, px += bands) {
    unsigned a = px[bands - 1];
    for (int c = 0; c < bands - 1; c++) {
      unsigned t = px[c] * a + 128;
      px[c] = (unsigned char)(((t >> 8) + t) >> 8);
    }
  }
}

static void unpremultiply(unsigned char *px, size_t n, int bands) {
  for (size_t i = 0; i < n; i++, px += bands) {
    unsigned a = px[bands - 1];
    if (a == 0 || a == 255) continue;
    for (int c = 0; c < bands - 1; c++) {
      unsigned v = 255u * px[c] / a;
      px[c] = (unsigned char)(v > 255 ? 255 : v);
    }
  }
}

/* The crop's samples to normalised CHW floats; grey is replicated to the
** three channels and alpha dropped (PIL's convert("RGB")). */
static void normalise(const clip_prep *p, const unsigned char *win, int bands, float *out) {
  float table[3][256];
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++) table[c][v] = ((float)v / 255.0f - p->mean[c]) / p->std[c];
  size_t plane = (size_t)p->size * (size_t)p->size;
  int colour = bands >= 3;
  for (int c = 0; c < 3; c++) {
    const unsigned char *s = win + (colour ? c : 0);
    float *o = out + (size_t)c * plane;
    for (size_t i = 0; i < plane; i++) o[i] = table[c][s[i * (size_t)bands]];
  }
}

/* Short side to p->size (torchvision truncates the long side to an
** integer), centre crop with offsets rounded half to even like Python's
** round(). */
static int resize_crop_normalise(const clip_prep *p, cur_image_pixels *px, float *out) {
  int w = px->width, h = px->height, s = p->size, bands = px->bands;
  int nw = w <= h ? s : (int)((double)s * w / h);
  int nh = w <= h ? (int)((double)s * h / w) : s;
  int left = (int)rint((nw - s) / 2.0), top = (int)rint((nh - s) / 2.0);
  int alpha = bands == 2 || bands == 4;
  unsigned char *win = cur_mallocarray((size_t)s * (size_t)s, (size_t)bands);
  if (!win) return CUR_ENOMEM;
  if (alpha) premultiply(px->data, (size_t)w * (size_t)h, bands);
  int rc = clip_resample_window(px->data, w, h, bands, nw, nh, left, top, s, win);
  if (rc == CUR_OK) {
    if (alpha) unpremultiply(win, (size_t)s * (size_t)s, bands);
    normalise(p, win, bands, out);
  }
  cur_free(win);
  return rc;
}

int clip_preprocess_buffer(const clip_prep *p, const void *buf, size_t len, const char *name,
                           float *out) {
  if (cur_image_init() != CUR_OK) return CUR_ERR;
  cur_image_pixels px;
  char why[256];
  int rc = cur_image_decode_pixels(buf, len, CLIP_MAX_PIXELS, &px, why, sizeof why);
  if (rc == CUR_EINPUT)
    return cur_errorc(CUR_EINPUT, "preprocess: %s: %s", name ? name : "image", why);
  if (rc != CUR_OK) return rc;
  rc = resize_crop_normalise(p, &px, out);
  cur_free(px.data);
  return rc;
}

int clip_preprocess_file(const clip_prep *p, const char *path, float *out) {
  char *bytes = NULL;
  size_t len = 0;
  /* cur_file_read's message names the file and why; a missing or unreadable
  ** file is this input's problem, as an undecodable one is */
  int rc = cur_file_read(path, &bytes, &len);
  if (rc != CUR_OK) return rc == CUR_ENOMEM ? rc : CUR_EINPUT;
  rc = clip_preprocess_buffer(p, bytes, len, path, out);
  cur_free(bytes);
  return rc;
}
