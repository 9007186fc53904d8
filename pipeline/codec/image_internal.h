/* image_internal.h -- what the codec's files share and no other layer sees. */
#ifndef CURATE_IMAGE_INTERNAL_H
#define CURATE_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Copies libvips' error text (first line) into REASON after PREFIX, and
** clears libvips' error buffer. */
void cur__image_vips_reason(const char *prefix, char *reason, size_t cap);

/* From a JPEG's header: the bands cur_image_jpeg_decode gives it (1 grey, 3
** RGB, 4 CMYK; 0 when libjpeg refuses the header or the colour space), and
** in *BYTES what decoding it whole holds (its pixels, and a progressive
** file's coefficients). */
int cur__image_jpeg_frame(const void *buf, size_t len, int64_t *bytes);

#endif
