/* image_crop.c -- whole-image decoding to 8-bit pixels, and rectangles cut
** from them (ingest's crops of detection boxes; CLIP's preprocessing).
**
** Pixels are the stored orientation's: no EXIF rotation is applied, since
** box files give coordinates in the pixel grid the decoder returns (as
** ingest's probe reports width and height).
*/
#include <stdio.h>
#include <string.h>
#include <vips/vips.h>

#include "curate.h"
#include "image.h"
#include "image_internal.h"

/* IN as 8-bit samples in 1 to 4 bands: 16-bit and CMYK images go through
** libvips' colour conversion, other 8-bit images are kept as they are. */
static int to_8bit(VipsImage *in, VipsImage **out) {
  VipsInterpretation t = vips_image_get_interpretation(in);
  if (t == VIPS_INTERPRETATION_CMYK || t == VIPS_INTERPRETATION_RGB16 || vips_image_get_bands(in) > 4)
    return vips_colourspace(in, out, VIPS_INTERPRETATION_sRGB, NULL);
  if (t == VIPS_INTERPRETATION_GREY16) return vips_colourspace(in, out, VIPS_INTERPRETATION_B_W, NULL);
  if (vips_image_get_format(in) != VIPS_FORMAT_UCHAR) return vips_cast_uchar(in, out, NULL);
  *out = in;
  g_object_ref(in);
  return 0;
}

/* A grey or colour JPEG goes through libjpeg: the pixels libvips' loader
** gives (it runs libjpeg with the same settings) without its pipeline,
** which cost more than the decode itself (CLIP's embed decodes every image
** whole).  CMYK goes to libvips below, which converts it to sRGB. */
int cur_image_decode_pixels(const void *buf, size_t len, int64_t max_pixels, cur_image_pixels *out,
                            char *reason, size_t cap) {
  int64_t bytes = 0;
  int bands = cur_image_is_jpeg(buf, len) ? cur__image_jpeg_frame(buf, len, &bytes) : 0;
  if (bands == 1 || bands == 3) {
    int big = cur_image_big_enter(bytes);
    int rc = cur_image_jpeg_decode(buf, len, max_pixels, out, reason, cap);
    cur_image_big_leave(big);
    return rc;
  }
  VipsImage *img = len ? vips_image_new_from_buffer(buf, len, "", "fail_on",
                                                    VIPS_FAIL_ON_TRUNCATED, NULL) : NULL;
  VipsImage *u8 = NULL;
  void *mem = NULL;
  size_t size = 0;
  int rc = CUR_EINPUT;
  if (!img) {
    cur__image_vips_reason("cannot read the header", reason, cap);
    return CUR_EINPUT;
  }
  int64_t w = vips_image_get_width(img), h = vips_image_get_height(img);
  if (w * h > max_pixels) {
    /* from the header alone, before anything is decoded */
    snprintf(reason, cap, "image is %lld x %lld pixels, over ingest.max_pixels (%lld)", (long long)w,
             (long long)h, (long long)max_pixels);
    goto cleanup;
  }
  int big = cur_image_big_enter(w * h * 4);
  if (to_8bit(img, &u8) != 0 || !(mem = vips_image_write_to_memory(u8, &size))) {
    cur__image_vips_reason("cannot decode", reason, cap);
  } else if (vips_image_get_bands(u8) < 1 || vips_image_get_bands(u8) > 4 ||
             size != (size_t)(w * h * vips_image_get_bands(u8))) {
    snprintf(reason, cap, "cannot decode: %d bands after conversion", vips_image_get_bands(u8));
  } else if (!(out->data = cur_malloc(size))) {
    rc = CUR_ENOMEM;
  } else {
    memcpy(out->data, mem, size);
    out->width = (int)w;
    out->height = (int)h;
    out->bands = vips_image_get_bands(u8);
    rc = CUR_OK;
  }
  cur_image_big_leave(big);
cleanup:
  g_free(mem);
  if (u8) g_object_unref(u8);
  g_object_unref(img);
  return rc;
}

int cur_image_crop(const cur_image_pixels *in, const int rect[4], cur_image_pixels *out) {
  int l = rect[0], t = rect[1], w = rect[2], h = rect[3];
  if (l < 0 || t < 0 || w < 1 || h < 1 || w > in->width - l || h > in->height - t)
    return cur_errorc(CUR_EINPUT, "crop [%d, %d, %d, %d] is not inside the %d x %d image", l, t, w, h,
                      in->width, in->height);
  size_t row = (size_t)w * (size_t)in->bands, stride = (size_t)in->width * (size_t)in->bands;
  if (!(out->data = cur_mallocarray(row, (size_t)h))) return CUR_ENOMEM;
  for (int y = 0; y < h; y++)
    memcpy(out->data + (size_t)y * row, in->data + (size_t)(t + y) * stride + (size_t)l * in->bands, row);
  out->width = w;
  out->height = h;
  out->bands = in->bands;
  return CUR_OK;
}
