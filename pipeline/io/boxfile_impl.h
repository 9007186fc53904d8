/* boxfile_impl.h -- what the box parsers (boxes_*.c) share with boxfile.c. */
#ifndef CURATE_BOXFILE_IMPL_H
#define CURATE_BOXFILE_IMPL_H

#include "boxfile.h"

struct cur_boxfile {
  char *path;
  const char *format;
  cur_box *boxes;
  size_t n, cap;
  size_t skipped;
  cur_report_fn report;
  void *ctx;
};

/* Reports box WHERE as skipped, for the reason FMT ("WHERE: why; box skipped"). */
void cur__boxes_skip(cur_boxfile *bf, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports a fault at WHERE that is not one box's ("WHERE: what"): an entry
** of COCO's images, a whole VOC file. */
void cur__boxes_note(cur_boxfile *bf, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks a box read at WHERE and adds it (copying the strings), or reports
** and skips it; CUR_OK either way, CUR_ENOMEM only. */
int cur__boxes_add(cur_boxfile *bf, const char *where, const cur_box *box);
/* Parses all of S as a finite number into *V; 0 when it is not one. */
int cur__boxes_number(const char *s, double *v);
/* Calls FN with the path (relative to DIR) of every regular file under DIR
** whose name ends in EXT, in sorted order, not following links (a link is
** reported and skipped: no box file leads outside its folder). */
int cur__boxes_walk(cur_boxfile *bf, const char *dir, const char *ext,
                    int (*fn)(cur_boxfile *bf, const char *full, const char *rel, void *ctx),
                    void *ctx);

int cur__boxes_coco(cur_boxfile *bf, char *text, size_t len);
int cur__boxes_yolo(cur_boxfile *bf);
int cur__boxes_voc(cur_boxfile *bf);
int cur__boxes_table(cur_boxfile *bf, char *text, int jsonl);

#endif
