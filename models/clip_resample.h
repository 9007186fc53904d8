/* clip_resample.h -- Pillow's bicubic resampling of 8-bit pixels, one window of the result. */
#ifndef CURATE_CLIP_RESAMPLE_H
#define CURATE_CLIP_RESAMPLE_H

/* Writes the S x S window at (LEFT, TOP) of SRC (W x H, BANDS interleaved
** 8-bit samples, rows unpadded) resized to NW x NH, into DST (S x S x
** BANDS), with the values Pillow's Image.resize(BICUBIC) gives those
** pixels.  The window must lie inside NW x NH.  CUR_ENOMEM or CUR_OK. */
int clip_resample_window(const unsigned char *src, int w, int h, int bands, int nw, int nh, int left,
                         int top, int s, unsigned char *dst);
/* The same with the AVX2 loop where the CPU has it (VECTOR 1) or the plain
** one (0): the bytes are the same; the tests compare the two. */
int clip__resample_window_as(const unsigned char *src, int w, int h, int bands, int nw, int nh,
                             int left, int top, int s, unsigned char *dst, int vector);

#endif
