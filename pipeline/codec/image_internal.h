/* image_internal.h -- what the codec's files share and no other layer sees. */
#ifndef CURATE_IMAGE_INTERNAL_H
#define CURATE_IMAGE_INTERNAL_H

#include <stddef.h>

/* Copies libvips' error text (first line) into REASON after PREFIX, and
** clears libvips' error buffer. */
void cur__image_vips_reason(const char *prefix, char *reason, size_t cap);

#endif
