/* clip_preprocess.c -- libvips decode, resize, crop and normalise for CLIP.
**
** Coordinates: the source is w x h; the resized image is nw x nh with the
** short side equal to size; the crop window starts at (left, top) in the
** resized image.  PIL resamples RGBA premultiplied, so alpha images are
** premultiplied before the resize and divided back after it.
*/
#include "clip_preprocess.h"

#include <math.h>
#include <vips/vips.h>

#include "curate.h"
#include "image.h"

void clip_prep_default(clip_prep *p, int size) {
  static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
  static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  p->size = size;
  for (int c = 0; c < 3; c++) {
    p->mean[c] = mean[c];
    p->std[c] = std[c];
  }
}

static int vips_fail(const char *name, const char *what) {
  int rc = cur_errorc(CUR_EINPUT, "preprocess: %s: %s: %s", name ? name : "image", what,
                      vips_error_buffer());
  vips_error_clear();
  return rc;
}

/* 8-bit sRGB or greyscale, with or without alpha, from whatever was decoded. */
static int to_8bit(VipsObject *scope, VipsImage *in, VipsImage **out) {
  VipsImage **t = (VipsImage **)vips_object_local_array(scope, 1);
  VipsInterpretation want = VIPS_INTERPRETATION_sRGB;
  VipsInterpretation is = vips_image_guess_interpretation(in);
  if (is == VIPS_INTERPRETATION_B_W || is == VIPS_INTERPRETATION_GREY16)
    want = VIPS_INTERPRETATION_B_W;
  if (in->BandFmt == VIPS_FORMAT_UCHAR && is == want) {
    *out = in;
    return 0;
  }
  if (vips_colourspace(in, &t[0], want, NULL)) return -1;
  *out = t[0];
  return 0;
}

/* Upscaling: vips_resize's own upsizer puts pixel centres elsewhere than
** PIL does.  PIL samples output pixel x at input (x + 0.5) / scale - 0.5, which
** is vips_affine with input offset (1 - 1 / scale) / 2; oarea is the crop. */
static int upscale_crop(VipsObject *scope, VipsImage *in, double hs, double vs, int left,
                        int top, int s, VipsImage **out) {
  VipsImage **t = (VipsImage **)vips_object_local_array(scope, 1);
  VipsInterpolate *bicubic = vips_interpolate_new("bicubic");
  VipsArrayInt *area = vips_array_int_newv(4, left, top, s, s);
  int r = vips_affine(in, &t[0], hs, 0, 0, vs, "interpolate", bicubic, "idx", (1 - 1 / hs) / 2,
                      "idy", (1 - 1 / vs) / 2, "oarea", area, "extend", VIPS_EXTEND_COPY, NULL);
  vips_area_unref(VIPS_AREA(area));
  g_object_unref(bicubic);
  *out = t[0];
  return r;
}

/* Downscaling: the antialiased Catmull-Rom reduce, as PIL's convolution
** (gap 0 turns off vips' box pre-shrink), then the crop. */
static int reduce_crop(VipsObject *scope, VipsImage *in, double hs, double vs, int left, int top,
                       int s, VipsImage **out) {
  VipsImage **t = (VipsImage **)vips_object_local_array(scope, 2);
  if (vips_resize(in, &t[0], hs, "vscale", vs, "kernel", VIPS_KERNEL_CUBIC, "gap", 0.0, NULL))
    return -1;
  if (t[0]->Xsize < left + s || t[0]->Ysize < top + s) {
    vips_error("preprocess", "resized to %dx%d, smaller than the crop", t[0]->Xsize, t[0]->Ysize);
    return -1;
  }
  if (vips_extract_area(t[0], &t[1], left, top, s, s, NULL)) return -1;
  *out = t[1];
  return 0;
}

/* Short side to p->size (torchvision truncates the long side to an integer),
** centre crop with offsets rounded half to even like Python's round().  PIL
** resamples RGBA as 8-bit premultiplied RGBa, so alpha images do the same. */
static int resize_crop(VipsObject *scope, const clip_prep *p, VipsImage *in, VipsImage **out) {
  VipsImage **t = (VipsImage **)vips_object_local_array(scope, 3);
  int w = in->Xsize, h = in->Ysize, s = p->size;
  int nw = w <= h ? s : (int)((double)s * w / h);
  int nh = w <= h ? (int)((double)s * h / w) : s;
  int left = (int)rint((nw - s) / 2.0), top = (int)rint((nh - s) / 2.0);
  int alpha = vips_image_hasalpha(in);
  VipsImage *x = in;
  if (alpha) {
    if (vips_premultiply(x, &t[0], NULL) || vips_cast_uchar(t[0], &t[1], NULL)) return -1;
    x = t[1];
  }
  int r = (w < s || h < s)
              ? upscale_crop(scope, x, (double)nw / w, (double)nh / h, left, top, s, &x)
              : reduce_crop(scope, x, (double)nw / w, (double)nh / h, left, top, s, &x);
  if (r) return -1;
  if (alpha) {
    if (vips_unpremultiply(x, &t[2], NULL)) return -1;
    x = t[2];
  }
  *out = x;
  return 0;
}

/* HWC pixels (uchar, or float after unpremultiplication, which PIL rounds
** back to uchar) to normalised CHW floats. */
static void normalise(const clip_prep *p, VipsImage *img, const void *pix, float *out) {
  int s = p->size, bands = img->Bands, colour = bands >= 3 ? 3 : 1;
  size_t plane = (size_t)s * s;
  for (size_t i = 0; i < plane; i++) {
    for (int c = 0; c < 3; c++) {
      size_t at = i * (size_t)bands + (size_t)(colour == 3 ? c : 0);
      float v = img->BandFmt == VIPS_FORMAT_UCHAR ? ((const unsigned char *)pix)[at]
                                                  : rintf(((const float *)pix)[at]);
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      out[(size_t)c * plane + i] = (v / 255.0f - p->mean[c]) / p->std[c];
    }
  }
}

static int preprocess_image(const clip_prep *p, VipsImage *in, const char *name, float *out) {
  VipsObject *scope = VIPS_OBJECT(vips_image_new());
  VipsImage *x = NULL;
  void *pix = NULL;
  size_t len = 0;
  int rc = CUR_OK;
  if (to_8bit(scope, in, &x) || resize_crop(scope, p, x, &x)) {
    rc = vips_fail(name, "cannot resize");
    goto cleanup;
  }
  if (x->BandFmt != VIPS_FORMAT_UCHAR && x->BandFmt != VIPS_FORMAT_FLOAT) {
    VipsImage **t = (VipsImage **)vips_object_local_array(scope, 1);
    if (vips_cast(x, &t[0], VIPS_FORMAT_FLOAT, NULL)) {
      rc = vips_fail(name, "cannot convert");
      goto cleanup;
    }
    x = t[0];
  }
  if (!(pix = vips_image_write_to_memory(x, &len))) {
    rc = vips_fail(name, "cannot decode");
    goto cleanup;
  }
  normalise(p, x, pix, out);
cleanup:
  g_free(pix);
  g_object_unref(scope);
  return rc;
}

int clip_preprocess_buffer(const clip_prep *p, const void *buf, size_t len, const char *name,
                           float *out) {
  if (cur_image_init() != CUR_OK) return CUR_ERR;
  VipsImage *in = vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
  if (!in) return vips_fail(name, "cannot read image");
  int rc = preprocess_image(p, in, name, out);
  g_object_unref(in);
  return rc;
}

int clip_preprocess_file(const clip_prep *p, const char *path, float *out) {
  if (cur_image_init() != CUR_OK) return CUR_ERR;
  VipsImage *in = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
  if (!in) return vips_fail(path, "cannot read image");
  int rc = preprocess_image(p, in, path, out);
  g_object_unref(in);
  return rc;
}
