/* image_png.c -- PNG through libpng, without a libvips pipeline: check, encode, decode.
**
** For the same reason as image_jpeg.c: a small image through libvips pays
** for an image object, a pipeline and its thread handoffs, which cost many
** times the decode itself (Fashion-MNIST's 28x28 PNGs went at about 2,000
** per second, most of it in GLib locks and the scheduler).  The check
** decodes every row, so a corrupt or truncated file is caught, but keeps
** only one row at a time; encode and decode use libpng's simplified API.
*/
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "image.h"

int cur_image_is_png(const void *buf, size_t len) {
  return len >= 8 && png_sig_cmp(buf, 0, 8) == 0;
}

/* The encoded bytes libpng reads from, where it is in them, and its error. */
typedef struct png_source {
  const unsigned char *data;
  size_t len, at;
  char message[128];
} png_source;

static void read_from_memory(png_structp png, png_bytep out, size_t n) {
  png_source *src = png_get_io_ptr(png);
  if (n > src->len - src->at) png_error(png, "file ends early (truncated)");
  memcpy(out, src->data + src->at, n);
  src->at += n;
}

/* What a libpng error says, kept for the reason; then back to the setjmp. */
static void on_png_error(png_structp png, png_const_charp message) {
  png_source *src = png_get_error_ptr(png);
  snprintf(src->message, sizeof src->message, "%s", message);
  png_longjmp(png, 1);
}

/* Warnings (a bad ancillary chunk, an odd gamma) do not make an image unsound. */
static void on_png_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;
}

/* Ancillary chunks that say nothing about the pixels: skipped unread, as
** libpng's simplified API skips them, so a bad one does not quarantine. */
static const png_byte unused_chunks[] = {'h', 'I', 'S', 'T', 0, 'i', 'T', 'X', 't', 0,
                                         'o', 'F', 'F', 's', 0, 'p', 'C', 'A', 'L', 0,
                                         'p', 'H', 'Y', 's', 0, 's', 'C', 'A', 'L', 0,
                                         's', 'P', 'L', 'T', 0, 't', 'E', 'X', 't', 0,
                                         't', 'I', 'M', 'E', 0, 'z', 'T', 'X', 't', 0};

/* The check reads every row of every interlace pass into one row buffer,
** so it inflates all the image data (and checks its CRCs) in memory of one
** row, not width x height x 4 (eight 10000 x 10000 PNGs took 1.5 GB). */
int cur_image_probe_png(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                        char *reason, size_t cap) {
  png_source src = {buf, len, 0, ""};
  png_bytep volatile row = NULL;  /* volatile: freed after a longjmp */
  volatile int header_read = 0, rc = CUR_OK;
  png_infop pinfo = NULL;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_png_error,
                                           on_png_warning);
  if (!png || !(pinfo = png_create_info_struct(png))) {
    png_destroy_read_struct(&png, NULL, NULL);
    return CUR_ENOMEM;
  }
  if (setjmp(png_jmpbuf(png))) {
    snprintf(reason, cap, "%s: %s", header_read ? "cannot decode" : "cannot read the header",
             src.message);
    png_destroy_read_struct(&png, &pinfo, NULL);
    cur_free(row);
    return CUR_EINPUT;
  }
  png_set_read_fn(png, &src, read_from_memory);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, unused_chunks,
                              (int)(sizeof unused_chunks / 5));
  png_read_info(png, pinfo);
  header_read = 1;
  png_uint_32 width = png_get_image_width(png, pinfo), height = png_get_image_height(png, pinfo);
  int color_type = png_get_color_type(png, pinfo);
  snprintf(info->format, sizeof info->format, "png");
  info->width = (int)width;
  info->height = (int)height;
  /* bands as libvips reports them: a palette counts as the colours it
  ** expands to, and a tRNS chunk adds alpha */
  info->bands = (color_type & PNG_COLOR_MASK_COLOR ? 3 : 1) +
                (color_type & PNG_COLOR_MASK_ALPHA || png_get_valid(png, pinfo, PNG_INFO_tRNS) ? 1 : 0);
  if ((int64_t)width * height > max_pixels) {
    /* checked from the header alone, before a decompression bomb is decoded */
    snprintf(reason, cap, "image is %u x %u pixels, over ingest.max_pixels (%lld)", width, height,
             (long long)max_pixels);
    rc = CUR_EINPUT;
  } else {
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    /* libpng caps the width (1,000,000 by default), so a row is at most 8 MB */
    size_t row_bytes = png_get_rowbytes(png, pinfo);
    if (!(row = cur_malloc(row_bytes ? row_bytes : 1))) {
      rc = CUR_ENOMEM;
    } else {
      for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < height; y++) png_read_row(png, row, NULL);
    }
  }
  png_destroy_read_struct(&png, &pinfo, NULL);
  cur_free(row);
  return rc;
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
