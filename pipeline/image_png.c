/* image_png.c -- PNG through libpng's simplified API, without a libvips pipeline: check, encode.
**
** For the same reason as image_jpeg.c: a small image through libvips pays
** for an image object, a pipeline and its thread handoffs, which cost many
** times the decode itself (Fashion-MNIST's 28x28 PNGs went at about 2,000
** per second, most of it in GLib locks and the scheduler).  The check
** decodes the whole image, so a corrupt or truncated file is caught.
*/
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "image.h"

int cur_image_is_png(const void *buf, size_t len) {
  return len >= 8 && png_sig_cmp(buf, 0, 8) == 0;
}

int cur_image_probe_png(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                        char *reason, size_t cap) {
  png_image image;
  memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, buf, len)) {
    snprintf(reason, cap, "cannot read the header: %s", image.message);
    png_image_free(&image);
    return CUR_EINPUT;
  }
  snprintf(info->format, sizeof info->format, "png");
  info->width = (int)image.width;
  info->height = (int)image.height;
  /* a palette counts as the colours it expands to, as libvips reports it */
  info->bands = (int)PNG_IMAGE_SAMPLE_CHANNELS(image.format);
  if ((int64_t)image.width * image.height > max_pixels) {
    /* checked from the header alone, before a decompression bomb is decoded */
    snprintf(reason, cap, "image is %u x %u pixels, over ingest.max_pixels (%lld)", image.width,
             image.height, (long long)max_pixels);
    png_image_free(&image);
    return CUR_EINPUT;
  }
  /* decoding to 8-bit grey or RGBA reads every row and checks every chunk */
  image.format = info->bands <= 2 ? PNG_FORMAT_GA : PNG_FORMAT_RGBA;
  void *pixels = cur_mallocarray(PNG_IMAGE_SIZE(image) ? PNG_IMAGE_SIZE(image) : 1, 1);
  if (!pixels) {
    png_image_free(&image);
    return CUR_ENOMEM;
  }
  int ok = png_image_finish_read(&image, NULL, pixels, 0, NULL);
  if (!ok) snprintf(reason, cap, "cannot decode: %s", image.message);
  png_image_free(&image);
  cur_free(pixels);
  return ok ? CUR_OK : CUR_EINPUT;
}

int cur_image_png_encode(const cur_image_pixels *in, unsigned char **out, size_t *out_len) {
  static const png_uint_32 formats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                        PNG_FORMAT_RGBA};
  png_image image;
  png_alloc_size_t len = 0;
  if (in->bands < 1 || in->bands > 4)
    return cur_errorc(CUR_ERR, "cannot encode PNG: %d bands", in->bands);
  memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = (png_uint_32)in->width;
  image.height = (png_uint_32)in->height;
  image.format = formats[in->bands - 1];
  /* the first call measures, the second writes */
  if (!png_image_write_to_memory(&image, NULL, &len, 0, in->data, 0, NULL))
    return cur_errorc(CUR_ERR, "cannot encode PNG: %s", image.message);
  unsigned char *buf = cur_malloc(len ? len : 1);
  if (!buf) return CUR_ENOMEM;
  if (!png_image_write_to_memory(&image, buf, &len, 0, in->data, 0, NULL)) {
    cur_free(buf);
    return cur_errorc(CUR_ERR, "cannot encode PNG: %s", image.message);
  }
  *out = buf;
  *out_len = len;
  return CUR_OK;
}

int cur_image_png_decode_exact(const void *buf, size_t len, int w, int h, int bands,
                               unsigned char *out) {
  png_image image;
  memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, buf, len)) {
    png_image_free(&image);
    return 0;
  }
  /* only a straight copy: the size, 8-bit samples of the wanted bands, no
  ** palette, alpha or colour space that a conversion would have to honour */
  png_uint_32 want = bands == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  int exact = image.width == (png_uint_32)w && image.height == (png_uint_32)h &&
              image.format == want && !(image.flags & PNG_IMAGE_FLAG_COLORSPACE_NOT_sRGB);
  int ok = exact && png_image_finish_read(&image, NULL, out, 0, NULL);
  png_image_free(&image);
  return ok;
}
