/* image_thumb.c -- a small JPEG of an encoded image, for the reviewer's pages.
**
** Both paths shrink while loading, so a huge photo is never decoded whole; a
** progressive JPEG still needs its coefficients, so it takes the big-decode
** turn like ingest does.
**
** A 1- or 3-band JPEG (nearly every photo) is loaded at 1/2, 1/4 or 1/8
** scale by libjpeg (jpegload's shrink), then resized (lanczos3, as
** vips_thumbnail) to fit SIZE x SIZE and turned upright by its EXIF
** orientation.  That is vips_thumbnail's own pipeline for such a file
** without its generality, and costs 3.4 ms of CPU against its 6.0 ms on the
** clothing photos (400 x 600; 100 images, libvips 8.14, vector paths off):
** the cold gallery page is 100 of them.  Any other image (CMYK JPEG, PNG,
** WebP, GIF, ...) goes through vips_thumbnail_buffer, which also shrinks on
** load where the format allows and converts the colour to sRGB.
*/
#include <string.h>
#include <vips/vips.h>

#include "curate.h"
#include "image.h"

/* The JPEG fast path: *out fits SIZE x SIZE; 0, or -1 with vips' error set. */
static int jpeg_thumbnail(const unsigned char *bytes, size_t n, int width, int height, int size,
                          VipsImage **out) {
  VipsImage *loaded = NULL, *resized = NULL;
  int longer = width > height ? width : height, shrink = 1;
  while (shrink < 8 && longer / (shrink * 2) >= size) shrink *= 2;
  if (vips_jpegload_buffer((void *)bytes, n, &loaded, "shrink", shrink, "access",
                           VIPS_ACCESS_SEQUENTIAL, NULL))
    return -1;
  int w = vips_image_get_width(loaded), h = vips_image_get_height(loaded);
  double scale = (double)size / (w > h ? w : h);
  int rc = 0;
  if (scale < 1) {
    rc = vips_resize(loaded, &resized, scale, NULL);
    g_object_unref(loaded);
  } else {  /* never enlarged: the loaded image is the thumbnail */
    resized = loaded;
  }
  if (rc) return -1;
  /* a rotation reads out of order, which a sequential load cannot: the
  ** small resized image is copied to memory first (most photos need none) */
  int orientation = 1;
  if (vips_image_get_typeof(resized, VIPS_META_ORIENTATION))
    vips_image_get_int(resized, VIPS_META_ORIENTATION, &orientation);
  if (orientation <= 1 || orientation > 8) {
    *out = resized;
    return 0;
  }
  VipsImage *memory = vips_image_copy_memory(resized);
  g_object_unref(resized);
  if (!memory) return -1;
  rc = vips_autorot(memory, out, NULL);
  g_object_unref(memory);
  return rc;
}

/* Whether BYTES is a JPEG of 1 or 3 bands, with its size (header only). */
static int plain_jpeg(const unsigned char *bytes, size_t n, int *width, int *height) {
  const char *loader = vips_foreign_find_load_buffer(bytes, n);
  if (!loader || strcmp(loader, "VipsForeignLoadJpegBuffer") != 0) {
    vips_error_clear();
    return 0;
  }
  VipsImage *header = vips_image_new_from_buffer(bytes, n, "", NULL);
  if (!header) {
    vips_error_clear();
    return 0;
  }
  int bands = vips_image_get_bands(header);
  *width = vips_image_get_width(header);
  *height = vips_image_get_height(header);
  g_object_unref(header);
  return bands == 1 || bands == 3;
}

int cur_image_thumbnail_jpeg(int64_t id, const unsigned char *bytes, size_t n, int size,
                             unsigned char **jpeg, size_t *len) {
  VipsImage *img = NULL;
  void *out = NULL;
  size_t out_len = 0;
  int rc = cur_image_init(), width, height;
  if (rc != CUR_OK) return rc;
  int turn = cur_image_big_enter(cur_image_jpeg_held_bytes(bytes, n));
  int bad = plain_jpeg(bytes, n, &width, &height)
                ? jpeg_thumbnail(bytes, n, width, height, size, &img)
                : vips_thumbnail_buffer((void *)bytes, n, &img, size, "height", size, "size",
                                        VIPS_SIZE_DOWN, NULL);
  bad = bad || vips_jpegsave_buffer(img, &out, &out_len, "Q", 82, "strip", TRUE, NULL);
  cur_image_big_leave(turn);
  if (img) g_object_unref(img);
  if (bad) {
    rc = cur_errorc(CUR_EINPUT, "thumbnail: image %lld: %s", (long long)id, vips_error_buffer());
    vips_error_clear();
    g_free(out);
    return rc;
  }
  *jpeg = cur_malloc(out_len ? out_len : 1);
  if (*jpeg) memcpy(*jpeg, out, out_len);
  *len = out_len;
  g_free(out);
  return *jpeg ? CUR_OK : CUR_ENOMEM;
}
