/* feat_pixels.c -- raw pixel features: each image's bytes as floats in [0, 1]. */
#include "feat.h"

#include "curate.h"

int feat_pixels_dim(const feat_images *im) {
  return im->h * im->w * im->c;
}

int feat_pixels_extract(const feat_images *im, float *out) {
  if (!im || (im->n > 0 && (!im->pix || !out)))
    return cur_errorc(CUR_EINPUT, "pixels: no image buffer");
  if (im->h < 1 || im->w < 1 || (im->c != 1 && im->c != 3))
    return cur_errorc(CUR_EINPUT, "pixels: bad image shape %dx%dx%d", im->h, im->w, im->c);
  size_t total = im->n * (size_t)feat_pixels_dim(im);
  for (size_t i = 0; i < total; i++) out[i] = im->pix[i] * (1.0f / 255.0f);
  return CUR_OK;
}
