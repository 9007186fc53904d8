/* clip_preprocess.h -- decode an image and turn it into CLIP's input tensor.
**
** Matches torchvision's Resize(size, BICUBIC) + CenterCrop(size) + RGB +
** Normalize(mean, std) on PIL: short side to `size` (long side truncated to
** an integer), bicubic (Catmull-Rom) resampling with antialiasing, centre
** crop with offsets rounded half to even, greyscale replicated to three
** channels, alpha resampled premultiplied and then dropped.
*/
#ifndef CURATE_CLIP_PREPROCESS_H
#define CURATE_CLIP_PREPROCESS_H

#include <stddef.h>

typedef struct clip_prep {
  int size;          /* output height and width */
  float mean[3];     /* per channel, in [0,1] units */
  float std[3];
} clip_prep;

/* CLIP's own mean and std at the given input size. */
void clip_prep_default(clip_prep *p, int size);

/* Decodes encoded image bytes (JPEG, PNG, WebP, ... whatever libvips
** reads) and writes 3 x size x size floats, CHW, into out (caller's buffer).
** `name` is only used in error messages and may be NULL. */
int clip_preprocess_buffer(const clip_prep *p, const void *buf, size_t len, const char *name,
                           float *out);
/* The same for an image file. */
int clip_preprocess_file(const clip_prep *p, const char *path, float *out);

#endif
