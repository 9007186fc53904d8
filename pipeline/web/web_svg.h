/* web_svg.h -- the charts of the web pages, written as inline SVG. */
#ifndef CURATE_WEB_SVG_H
#define CURATE_WEB_SVG_H

#include <stdint.h>

#include "web_buf.h"

/* Horizontal grouped bars: N_ROWS labelled rows of N_SERIES values each
** (VALUES[row * n_series + series]), one colour per series named in SERIES. */
void cur_svg_bars(cur_buf *b, const char *title, const char *const *row_names, int n_rows,
                  const char *const *series, int n_series, const double *values);
/* A histogram of N values in BINS bins, with a vertical line at MARK unless
** MARK is NaN (e.g. the AUM threshold). */
void cur_svg_histogram(cur_buf *b, const char *title, const double *values, int n, int bins,
                       double mark, const char *mark_name);
/* A K x K heatmap (rows: true class, columns: predicted) with class names;
** HREF(ctx, row, col) gives the link a cell that counts something opens
** (NULL: none; an empty cell has nothing to open). */
void cur_svg_heatmap(cur_buf *b, const char *title, const char *const *names, int k,
                     const double *counts, void (*href)(void *ctx, cur_buf *b, int row, int col),
                     void *ctx);

#endif
