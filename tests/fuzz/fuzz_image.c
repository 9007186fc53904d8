/* fuzz_image.c -- image bytes through ingest's probe, then through the decoders embed uses.
**
** The probe (cur_image_probe: libjpeg for JPEG, libpng for PNG, libvips for
** the rest) decides what ingest keeps; only an image it accepts goes on, as
** in the pipeline, to the pixel decoders: libjpeg's full decode, libvips'
** thumbnail to a small grey and RGB square (feat_image_decode) and CLIP's
** preprocessing.  The pixel ceiling is lower than ingest's default so that
** one input costs milliseconds, not seconds.
*/
#include "fuzz_targets.h"

#include "clip_preprocess.h"
#include "curate.h"
#include "feat.h"
#include "image.h"

#define FUZZ_MAX_PIXELS (1 << 20)
#define SIDE 8

int fuzz_image(const uint8_t *data, size_t size) {
  cur_image_info info;
  char reason[256];
  int rc = cur_image_init();
  if (rc != CUR_OK) return rc;
  rc = cur_image_probe(data, size, FUZZ_MAX_PIXELS, &info, reason, sizeof reason);
  if (rc != CUR_OK) return rc;
  uint8_t pix[SIDE * SIDE * 3];
  int step = feat_image_decode(data, size, SIDE, SIDE, 3, pix);
  if (step != CUR_OK) rc = step;
  if ((step = feat_image_decode(data, size, SIDE, SIDE, 1, pix)) != CUR_OK) rc = step;
  if (cur_image_is_jpeg(data, size)) {
    cur_image_pixels out;
    if ((step = cur_image_jpeg_decode(data, size, FUZZ_MAX_PIXELS, &out, reason, sizeof reason)) == CUR_OK)
      cur_free(out.data);
    else
      rc = step;
  }
  clip_prep prep;
  float tensor[3 * SIDE * SIDE];
  clip_prep_default(&prep, SIDE);
  if ((step = clip_preprocess_buffer(&prep, data, size, "fuzz", tensor)) != CUR_OK) rc = step;
  return rc;
}
