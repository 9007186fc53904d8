/* image_sets.h -- test and benchmark helpers: images in an archive decoded to feature buffers. */
#ifndef CURATE_IMAGE_SETS_H
#define CURATE_IMAGE_SETS_H

#include <stddef.h>
#include <stdint.h>

#include "feat.h"

/* Called for each image file of an archive (by extension; unsafe names are
** never offered); returns 1 to decode it, 0 to skip it, or a negative CUR_E*
** code to stop. */
typedef int (*feat_archive_keep)(void *ctx, const char *path);
/* Decodes, in archive order, every entry of the archive file at `path` that
** keep() accepts into *pix (n * h * w * channels bytes, freed by the caller
** with cur_free); *n receives the count. */
int feat_archive_decode(const char *path, int w, int h, int channels, feat_archive_keep keep,
                        void *ctx, uint8_t **pix, size_t *n);

/* ---- labelled image folders inside an archive: <split>/<class>/<file> ---- */
typedef struct feat_folder {
  feat_images im;              /* decoded images; im.pix is owned */
  int *labels;                 /* im.n indices into classes */
  char **classes;              /* n_classes names in strcmp order */
  int n_classes;
} feat_folder;
/* Decodes the files under <split>/ of the archive (an optional leading "./"
** is ignored), at most per_class per class (0 = all) in archive order, at
** size x size with `channels`.  Free the result with feat_folder_free. */
int feat_folder_decode(const char *archive, const char *split, int per_class, int size,
                       int channels, feat_folder **out);
void feat_folder_free(feat_folder *f);

#endif
