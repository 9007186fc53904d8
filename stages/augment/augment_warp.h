/* augment_warp.h -- bilinear affine warp of 8-bit pixels, the geometry of an augment variant.
**
** Pixels are interleaved 8-bit samples, row after row with no padding:
** sample k of pixel (x, y) is at [(y * width + x) * bands + k].  Nothing
** here allocates; the caller owns every buffer.  Safe from several threads.
*/
#ifndef CURATE_AUGMENT_WARP_H
#define CURATE_AUGMENT_WARP_H

#include "augment_transform.h"

/* The mean of each band of the image, for CUR_AUGMENT_FILL_MEAN. */
void cur_augment_band_means(const unsigned char *in, int width, int height, int bands,
                            double mean[]);

/* Writes into out (width x height x bands, same layout as in) the image
** in moved by the forward map m of cur_augment_matrix: output pixel P
** takes the bilinear interpolation of in at m^-1(P), with pixel (i, j) at
** the point (i, j).  Samples of the interpolation window that fall outside
** in are the nearest edge pixel (edge fill), 0 (black) or round(fill[k])
** (mean fill; fill is ignored otherwise).  m must be invertible. */
void cur_augment_warp(const unsigned char *in, int width, int height, int bands, const double m[6],
                      cur_augment_fill mode, const double fill[], unsigned char *out);

#endif
