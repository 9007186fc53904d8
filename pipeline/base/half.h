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
/* N little-endian half bytes (2N) to N binary16 values, unconverted: the
** form in which stages keep stored embeddings in memory. */
void cur_half_unpack(const unsigned char *in, size_t n, uint16_t *out);
/* N binary16 values to floats, the same values cur_half_to_float gives
** (with the CPU's F16C instructions where it has them: heads convert every
** minibatch of every epoch). */
void cur_half_to_floats(const uint16_t *in, size_t n, float *out);
/* The same conversion, each value then standardised in float arithmetic:
** out[i] = (float(in[i]) - shift[i]) * scale[i], the values of converting
** first and standardising after, in one pass. */
void cur_half_to_floats_scaled(const uint16_t *in, size_t n, const float *shift,
                               const float *scale, float *out);

#endif
