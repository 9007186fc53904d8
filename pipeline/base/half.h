/* half.h -- IEEE 754 binary16 ("half") conversion: embeddings are stored as
** half floats, and F16 checkpoints hold them. */
#ifndef CURATE_HALF_H
#define CURATE_HALF_H

#include <stddef.h>
#include <stdint.h>

/* binary16 -> binary32, exact (subnormals, infinities and NaN included). */
float cur_half_to_float(uint16_t h);
/* binary32 -> binary16, rounded to nearest even; overflow gives infinity. */
uint16_t cur_half_from_float(float f);
/* N floats to little-endian half bytes (2N) and back. */
void cur_half_encode(const float *x, size_t n, unsigned char *out);
void cur_half_decode(const unsigned char *in, size_t n, float *x);

#endif
