/* image_decode.c -- encoded image bytes (JPEG, PNG, ...) to fixed-size uint8 grey or RGB buffers.
**
** feat_image_decode runs libvips: thumbnail to exactly w x h (aspect ignored,
** shrink-on-load for JPEG), flatten alpha on black, convert to B_W or sRGB,
** cast to uchar.  libvips starts once per process (cur_image_init).  A PNG
** or JPEG that already is w x h in the wanted bands is decoded through
** libpng or libjpeg instead (cur_image_png_decode_exact,
** cur_image_jpeg_decode_exact): the same pixels, without a libvips
** pipeline's cost, which is most of the time on small images (embed of
** 10,000 16 x 16 JPEG and PNG to 16 x 16 pixel features: 4.1 s of CPU with
** the PNG path alone, 0.37 s with both, the same vectors).
*/
#include "feat.h"

#include <string.h>
#include <vips/vips.h>

#include "curate.h"
#include "image.h"

#define MAX_SIDE 65535

/* Copies the uchar image's pixels (checked to be w x h x channels) to out. */
static int copy_pixels(VipsImage *im, int w, int h, int channels, uint8_t *out) {
  if (im->Xsize != w || im->Ysize != h || im->Bands != channels)
    return cur_errorc(CUR_EINPUT, "decode: got %dx%dx%d, wanted %dx%dx%d", im->Xsize, im->Ysize,
                      im->Bands, w, h, channels);
  size_t size;
  /* libvips allocates this with g_malloc; it lives only for the copy. */
  void *mem = vips_image_write_to_memory(im, &size);
  if (!mem) return cur_errorc(CUR_EINPUT, "decode: %s", vips_error_buffer());
  memcpy(out, mem, (size_t)w * h * channels);
  g_free(mem);
  return CUR_OK;
}

int feat_image_decode(const void *buf, size_t len, int w, int h, int channels, uint8_t *out) {
  if (!buf || len == 0 || !out)
    return cur_errorc(CUR_EINPUT, "decode: empty image buffer");
  if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE || (channels != 1 && channels != 3))
    return cur_errorc(CUR_EINPUT, "decode: bad target %dx%dx%d", w, h, channels);
  if (cur_image_is_png(buf, len) && cur_image_png_decode_exact(buf, len, w, h, channels, out))
    return CUR_OK;
  if (cur_image_jpeg_decode_exact(buf, len, w, h, channels, out)) return CUR_OK;
  int rc = cur_image_init();
  if (rc != CUR_OK) return rc;
  VipsImage *t[4] = {NULL, NULL, NULL, NULL}; /* thumbnail, flattened, coloured, uchar */
  VipsInterpretation space = channels == 1 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
  /* shrink-on-load cannot help a progressive JPEG: its decoder holds the
  ** whole image's coefficients, so large ones take turns */
  int big = cur_image_big_enter(cur_image_jpeg_held_bytes(buf, len));
  rc = CUR_EINPUT;
  if (vips_thumbnail_buffer((void *)buf, len, &t[0], w, "height", h, "size", VIPS_SIZE_FORCE,
                            NULL))
    goto cleanup;
  if (vips_image_hasalpha(t[0]) ? vips_flatten(t[0], &t[1], NULL)
                                : vips_copy(t[0], &t[1], NULL))
    goto cleanup;
  if (vips_colourspace(t[1], &t[2], space, NULL) || vips_cast_uchar(t[2], &t[3], NULL))
    goto cleanup;
  rc = copy_pixels(t[3], w, h, channels, out);
cleanup:
  if (rc != CUR_OK && t[3] == NULL)
    cur_errorc(rc, "decode: cannot decode %zu-byte image: %s", len, vips_error_buffer());
  vips_error_clear();
  for (int i = 0; i < 4; i++)
    if (t[i]) g_object_unref(t[i]);
  cur_image_big_leave(big);
  return rc;
}
