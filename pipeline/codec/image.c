/* image.c -- libvips start-up and the decode-once validation of ingested images. */
#include "image.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <vips/vips.h>
#include <vips/vector.h>

#include "curate.h"
#include "image_internal.h"

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_status;

static void start_vips(void) {
  vips_status = vips_init("curate");
  if (vips_status == 0) {
    vips_cache_set_max(0);
    /* libvips' run-time generated SIMD (liborc 0.4.33) crashed in resize
    ** kernels when several threads decoded at once (segfaults in liborc seen
    ** in the kill-and-resume drills); the plain C paths are safe. */
    vips_vector_set_enabled(FALSE);
    /* curate parallelises across images; per-image threads would only contend */
    vips_concurrency_set(1);
  }
}

static pthread_mutex_t big_decode = PTHREAD_MUTEX_INITIALIZER;

int cur_image_big_enter(int64_t estimate_bytes) {
  if (estimate_bytes <= CUR_IMAGE_BIG_DECODE) return 0;
  pthread_mutex_lock(&big_decode);
  return 1;
}

void cur_image_big_leave(int taken) {
  if (taken) pthread_mutex_unlock(&big_decode);
}

int cur_image_init(void) {
  pthread_once(&vips_once, start_vips);
  return vips_status == 0 ? CUR_OK : cur_errorf("cannot start libvips");
}

void cur__image_vips_reason(const char *prefix, char *reason, size_t cap) {
  char *msg = vips_error_buffer_copy();
  char *nl = msg ? strchr(msg, '\n') : NULL;
  if (nl) *nl = 0;
  snprintf(reason, cap, "%s%s%s", prefix, msg && *msg ? ": " : "", msg ? msg : "");
  g_free(msg);
}

/* "VipsForeignLoadJpegBuffer" -> "jpeg"; libvips 8.14 names GIF's loader "Nsgif". */
static void loader_format(const char *loader, char *out, size_t cap) {
  static const char prefix[] = "VipsForeignLoad";
  const char *p = strncmp(loader, prefix, sizeof prefix - 1) == 0 ? loader + sizeof prefix - 1 : loader;
  size_t n = strlen(p), i;
  if (n > 6 && strcmp(p + n - 6, "Buffer") == 0) n -= 6;
  if (n > 2 && strncmp(p, "Ns", 2) == 0) p += 2, n -= 2;
  for (i = 0; i < n && i + 1 < cap; i++) out[i] = (char)(p[i] | 0x20);
  out[i] = 0;
}

/* WebP: libvips decodes the whole frame into memory (4 bytes a pixel: a
** 10000 x 10000 WebP of 4 KB took 400 MB per worker), so a larger image is
** decoded with libwebp's scaling to about this many pixels.  Every block of
** the bitstream is still decoded (the scaler takes the decoded rows), so a
** corrupt or truncated file is caught as before. */
#define WEBP_FULL_PIXELS (1 << 20)

static int probe_webp_scaled(const void *buf, size_t len, const cur_image_info *info,
                             char *reason, size_t cap) {
  double scale = sqrt((double)WEBP_FULL_PIXELS / ((double)info->width * info->height)), avg;
  VipsImage *img = NULL;
  int rc = CUR_OK;
  if (vips_webpload_buffer((void *)buf, len, &img, "scale", scale, "access",
                           VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL) != 0 ||
      vips_avg(img, &avg, NULL) != 0) {
    cur__image_vips_reason("cannot decode", reason, cap);
    rc = CUR_EINPUT;
  }
  if (img) g_object_unref(img);
  return rc;
}

int cur_image_probe(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                    char *reason, size_t cap) {
  if (len == 0) {
    snprintf(reason, cap, "empty file");
    return CUR_EINPUT;
  }
  if (cur_image_is_jpeg(buf, len)) return cur_image_probe_jpeg(buf, len, max_pixels, info, reason, cap);
  if (cur_image_is_png(buf, len)) return cur_image_probe_png(buf, len, max_pixels, info, reason, cap);
  const char *loader = vips_foreign_find_load_buffer(buf, len);
  if (!loader) {
    vips_error_clear();
    snprintf(reason, cap, "not an image: no decoder recognises the content");
    return CUR_EINPUT;
  }
  loader_format(loader, info->format, sizeof info->format);
  /* fail_on=truncated turns libjpeg's "premature end of file" warning into
  ** an error, so truncated files are quarantined, not padded with grey. */
  VipsImage *img = vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                              "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
  if (!img) {
    cur__image_vips_reason("cannot read the header", reason, cap);
    return CUR_EINPUT;
  }
  info->width = vips_image_get_width(img);
  info->height = vips_image_get_height(img);
  info->bands = vips_image_get_bands(img);
  int rc = CUR_OK;
  double avg;
  if ((int64_t)info->width * info->height > max_pixels) {
    /* checked from the header alone, before a decompression bomb is decoded */
    snprintf(reason, cap, "image is %d x %d pixels, over ingest.max_pixels (%lld)", info->width,
             info->height, (long long)max_pixels);
    rc = CUR_EINPUT;
  } else if (strcmp(info->format, "webp") == 0 && (int64_t)info->width * info->height > WEBP_FULL_PIXELS) {
    g_object_unref(img);
    img = NULL;
    rc = probe_webp_scaled(buf, len, info, reason, cap);
  } else {
    /* most of libvips' other loaders hold the frame: 4 bytes a pixel or so */
    int big = cur_image_big_enter((int64_t)info->width * info->height * (info->bands + 1));
    if (vips_avg(img, &avg, NULL) != 0) {
      cur__image_vips_reason("cannot decode", reason, cap);
      rc = CUR_EINPUT;
    }
    cur_image_big_leave(big);
  }
  if (img) g_object_unref(img);
  return rc;
}
