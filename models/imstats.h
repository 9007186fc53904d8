/* imstats.h -- per-image statistics for the audit stage: a perceptual hash and quality measures.
**
** All take 8-bit pixels (row-major, no padding) and touch no database.
**   pHash (Zauner, "Implementation and Benchmarking of Perceptual Image Hash
**   Functions", 2010; pHash.org): the grey image area-averaged to 32 x 32,
**   its 2-D DCT-II, the 8 x 8 coefficients of rows and columns 1..8 (the DC
**   row and column left out), one bit each: above their median.  Re-encoded,
**   resized and lightly edited copies keep most bits; Hamming distance
**   compares two hashes.  Each image is hashed in IMSTATS_VIEWS views: the
**   whole image, its horizontal mirror, and centred crops to each share of
**   imstats_crop_share (each side), so that a mirrored or cropped copy's
**   whole-image hash meets its original's hash of that view.
**   sharpness: variance of the 4-neighbour Laplacian of the grey image
**   (Pech-Pacheco et al., ICPR 2000), low for blurred images;
**   sharpness_reblur: the same after a 5-tap binomial blur (sigma 1).  Their
**   ratio is the re-blur principle of Crete-Roffet et al. ("The blur effect",
**   SPIE 2007): blurring a sharp image removes much detail, blurring a
**   blurred one little; the ratio cancels the image's contrast and amount
**   of texture, which the variance alone depends on.
**   brightness: 1st and 99th percentiles of perceived brightness
**   sqrt(0.241 R^2 + 0.691 G^2 + 0.068 B^2) (as CleanVision measures it).
**   entropy: Shannon entropy in bits of the 256-bin grey histogram.
**   colourfulness: M of Hasler & Suesstrunk ("Measuring colourfulness in
**   natural images", 2003): 0 for grey images.
** Grey is Rec. 601 luma, 0.299 R + 0.587 G + 0.114 B.
*/
#ifndef CURATE_IMSTATS_H
#define CURATE_IMSTATS_H

#include <stdint.h>

/* The views hashed: phash[IMSTATS_WHOLE], phash[IMSTATS_MIRROR], then the
** crops in imstats_crop_share order. */
enum { IMSTATS_WHOLE, IMSTATS_MIRROR, IMSTATS_CROPS = 6, IMSTATS_VIEWS = 2 + IMSTATS_CROPS };
extern const double imstats_crop_share[IMSTATS_CROPS];

typedef struct imstats {
  uint64_t phash[IMSTATS_VIEWS];
  double sharpness, sharpness_reblur;
  double bright_p01, bright_p99;   /* 0..255 */
  double entropy;                  /* bits, 0..8 */
  double colourfulness;
} imstats;

/* Statistics of a W x H image of BANDS 1 (grey) or 3 (RGB).  CUR_OK, or
** CUR_EINPUT for an empty image or other band counts, CUR_ENOMEM. */
int imstats_compute(const uint8_t *pix, int w, int h, int bands, imstats *out);
/* The pHash of a W x H grey image (W, H >= 1). */
uint64_t imstats_phash(const uint8_t *grey, int w, int h);

#endif
