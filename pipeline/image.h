/* image.h -- image I/O shared by the stages: libvips start-up and validation. */
#ifndef CURATE_IMAGE_H
#define CURATE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cur_image_info {
  char format[16];   /* jpeg, png, webp, ... */
  int width, height, bands;
} cur_image_info;

/* Starts libvips once per process (thread-safe), with its operation cache
** off: curate decodes each image once, so caching only costs memory. */
int cur_image_init(void);
/* Decodes BUF fully to prove it is a sound image of at most MAX_PIXELS.
** CUR_OK fills INFO; CUR_EINPUT writes why it is not into REASON (the
** image is to be quarantined).  Safe to call from several threads. */
int cur_image_probe(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                    char *reason, size_t reason_cap);

/* The JPEG fast path of cur_image_probe (image_jpeg.c). */
int cur_image_is_jpeg(const void *buf, size_t len);
int cur_image_probe_jpeg(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                         char *reason, size_t reason_cap);

#endif
