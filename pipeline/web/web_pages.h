/* web_pages.h -- the pages of the reviewer's workbench, written once for
** both `curate serve` (live, with decision controls) and `curate report`
** (a static snapshot: relative links, no controls). */
#ifndef CURATE_WEB_PAGES_H
#define CURATE_WEB_PAGES_H

#include <stdint.h>

#include "config.h"
#include "store.h"
#include "store_web.h"
#include "web_buf.h"

typedef struct cur_web {
  cur_store *st;
  const cur_config *cfg;       /* for the stage states and the run report */
  uint64_t seed;
  int snapshot;                /* 1: `curate report` (file links, no controls) */
  int read_only;               /* serve --read-only: no controls */
  /* snapshot only: whether image ID has a page of its own (else its
  ** thumbnail links nowhere), and a note that a thumbnail of SIZE is used */
  int (*has_page)(void *ctx, int64_t id);
  int (*use_thumb)(void *ctx, int64_t id, int size);
  void *ctx;
} cur_web;

/* Page size of the gallery unless the request asks otherwise. */
#define CUR_WEB_PAGE_ROWS 100
#define CUR_WEB_MAX_PAGE_ROWS 500
/* Images a confusion cell's page shows at most (a diagonal cell can hold
** most of the test split). */
#define CUR_WEB_CELL_ROWS 1000

/* Each writes one whole HTML page into B; CUR_OK or an error (message set). */
int cur_web_overview(cur_web *w, cur_buf *b);
/* The flags F selects, one page.  PAGE numbers the snapshot's files (1..);
** a negative PAGE is the snapshot's last (no link to a next page). */
int cur_web_gallery(cur_web *w, const cur_web_filter *f, int page, cur_buf *b);
/* *found 0 (nothing written) when there is no image IMAGE_ID. */
int cur_web_image(cur_web *w, int64_t image_id, cur_buf *b, int *found);
int cur_web_confusion(cur_web *w, cur_buf *b);
int cur_web_scores(cur_web *w, cur_buf *b);
/* The number of classes K of HEAD's ("curated" or "raw") test confusion
** matrix in the newest complete train run; 0 when there is none. */
int cur_web_confusion_size(cur_web *w, const char *head, int *k);
/* The test images behind the cell (TRUE_IDX, PRED_IDX) of HEAD's test
** confusion matrix (at most CUR_WEB_CELL_ROWS; the page says how many there
** are), *n_images of them; CUR_EINPUT (nothing written) for no such head or
** cell. */
int cur_web_cell(cur_web *w, const char *head, int true_idx, int pred_idx, cur_buf *b,
                 int *n_images);

#endif
