/* image_jpeg.c -- checks a JPEG with libjpeg directly, without a libvips pipeline.
**
** Ingest must decode every image once to prove it is sound, and JPEG is most
** of what it sees.  Through libvips each small image pays for a pipeline and
** its threads, which cost more than the decode itself (CIFAR-10's 32x32 files
** went at a third of a plain Pillow loop's rate).  Decoding at 1/8 scale
** still entropy-decodes every block of every scan, so truncated or corrupt
** data is caught, while most of the inverse-DCT and colour work is skipped.
*/
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>  /* after stdio.h, which it needs */
#include <jerror.h>

#include "curate.h"
#include "image.h"

typedef struct check_err {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int truncated;
} check_err;

static void on_error(j_common_ptr cinfo) {
  check_err *err = (check_err *)cinfo->err;
  cinfo->err->format_message(cinfo, err->message);
  longjmp(err->jump, 1);
}

/* Warnings are kept going, as libvips' fail_on=truncated does, except the
** one saying the data ended early. */
static void on_message(j_common_ptr cinfo, int level) {
  check_err *err = (check_err *)cinfo->err;
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    err->truncated = 1;
    cinfo->err->format_message(cinfo, err->message);
  }
}

int cur_image_is_jpeg(const void *buf, size_t len) {
  const unsigned char *p = buf;
  return len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

int cur_image_probe_jpeg(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                         char *reason, size_t cap) {
  struct jpeg_decompress_struct cinfo;
  check_err err;
  JSAMPLE row[4 * (65535 / 8 + 1)];  /* one row at 1/8 scale, up to 4 components */
  JSAMPROW rows[1] = {row};
  volatile int rc = CUR_OK;
  memset(&err, 0, sizeof err);
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_error;
  err.mgr.emit_message = on_message;
  if (setjmp(err.jump)) {
    snprintf(reason, cap, "cannot decode: %s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return CUR_EINPUT;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  snprintf(info->format, sizeof info->format, "jpeg");
  info->width = (int)cinfo.image_width;
  info->height = (int)cinfo.image_height;
  info->bands = cinfo.num_components;
  if ((int64_t)info->width * info->height > max_pixels) {
    snprintf(reason, cap, "image is %d x %d pixels, over ingest.max_pixels (%lld)", info->width,
             info->height, (long long)max_pixels);
    rc = CUR_EINPUT;
  } else {
    cinfo.scale_num = 1;
    cinfo.scale_denom = 8;
    cinfo.dct_method = JDCT_IFAST;
    cinfo.do_fancy_upsampling = FALSE;
    jpeg_start_decompress(&cinfo);
    while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, rows, 1);
    jpeg_finish_decompress(&cinfo);
    if (err.truncated) {
      snprintf(reason, cap, "cannot decode: %s", err.message);
      rc = CUR_EINPUT;
    }
  }
  jpeg_destroy_decompress(&cinfo);
  return rc;
}
