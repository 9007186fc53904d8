/* image_thumb.c -- a small JPEG of an encoded image, for the reviewer's pages. */
#include <string.h>
#include <vips/vips.h>

#include "curate.h"
#include "image.h"

/* vips_thumbnail_buffer shrinks while loading (a JPEG decodes at 1/2, 1/4 or
** 1/8 scale), so a huge photo is not decoded whole; a progressive JPEG still
** needs its coefficients, so it takes the big-decode turn like ingest does. */
int cur_image_thumbnail_jpeg(int64_t id, const unsigned char *bytes, size_t n, int size,
                             unsigned char **jpeg, size_t *len) {
  VipsImage *img = NULL;
  void *out = NULL;
  size_t out_len = 0;
  int rc = cur_image_init();
  if (rc != CUR_OK) return rc;
  int turn = cur_image_big_enter(cur_image_jpeg_held_bytes(bytes, n));
  int bad = vips_thumbnail_buffer((void *)bytes, n, &img, size, "height", size, "size",
                                  VIPS_SIZE_DOWN, NULL) ||
            vips_jpegsave_buffer(img, &out, &out_len, "Q", 82, "strip", TRUE, NULL);
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
