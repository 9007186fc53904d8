/* boxfile.h -- detection boxes from COCO JSON, a YOLO txt folder, a Pascal
** VOC XML folder or a CSV/JSONL table, in one form for ingest to crop.
**
** Every format comes out as cur_box: the image the box is on (a path inside
** the source), left, top, width and height in pixels with the origin at the
** image's top-left corner and no half-pixel offset (YOLO's fractions stay
** fractions until the image's size is known), the class name, and the score
** when the file has one.  A box that cannot be used (a malformed line, a
** number that is not finite, zero or negative width or height, an unknown
** class id or image id, a path that is absolute or climbs with "..") is
** reported with its file and line (or JSON path) and skipped; the others
** load.  A file that cannot be read at all (no header, not JSON, no class
** list) is an error of the whole box file.  docs/stages/ingest.md lists
** each format's conventions.
*/
#ifndef CURATE_BOXFILE_H
#define CURATE_BOXFILE_H

#include <stddef.h>

#include "labelfile.h"  /* cur_report_fn */

typedef struct cur_box {
  const char *image;    /* path inside the source (display form, pathutil.h) */
  int stem;             /* image names the path without its extension (YOLO) */
  double x, y, w, h;    /* left, top, width, height in pixels ... */
  int normalised;       /* ... or as fractions of the image's width and height */
  const char *label;    /* class name, valid UTF-8, not empty */
  double score;         /* NAN when the file gives none */
  const char *where;    /* "FILE:LINE" or "FILE: annotations[3]", for messages */
} cur_box;

typedef struct cur_boxfile cur_boxfile;

/* Reads the boxes at PATH in FORMAT (coco, yolo, voc, csv, jsonl; NULL:
** from the path: a .json file is COCO, .csv and .jsonl tables, a folder
** holding .xml files VOC, any other folder YOLO).  Bad boxes go to REPORT.
** *OUT is the caller's to free with cur_boxfile_free. */
int cur_boxfile_load(const char *path, const char *format, cur_report_fn report, void *ctx,
                     cur_boxfile **out);
void cur_boxfile_free(cur_boxfile *bf);
size_t cur_boxfile_count(const cur_boxfile *bf);
const cur_box *cur_boxfile_box(const cur_boxfile *bf, size_t i);
/* The format read (coco, yolo, voc, csv, jsonl). */
const char *cur_boxfile_format(const cur_boxfile *bf);
/* Boxes reported and skipped while loading. */
size_t cur_boxfile_skipped(const cur_boxfile *bf);
/* The format PATH would be read as (see cur_boxfile_load), or NULL when
** FORMAT names none. */
const char *cur_boxfile_format_of(const char *path, const char *format);

/* The crop of box B in an image of W x H pixels: the box grown by PADDING
** times its width on the left and on the right (its height above and
** below), widened to whole pixels and clamped to the image, as
** RECT = {left, top, width, height}.  CUR_EINPUT, with why in WHY, for a
** box that reaches outside the image by more than one pixel (a pixel of
** slack absorbs rounding in exported coordinates) or has no pixel in it. */
int cur_box_rect(const cur_box *b, int w, int h, double padding, int rect[4], char *why,
                 size_t cap);

#endif
