/* web_svg.c -- bar charts, histograms and heatmaps as inline SVG.
**
** Coordinates are SVG user units (pixels at 100% zoom); labels are escaped
** like any other page text, so a class name cannot inject markup.
*/
#include "web_svg.h"

#include <math.h>

#include "curate.h"

#define LABEL_W 170   /* room for a class name left of the bars */
#define BAR_H 12
#define PLOT_W 420

static const char *const palette[] = {"#3b6ea8", "#e08a2c", "#4a9b5a", "#b04a6a", "#7a5fb0"};

static void title_text(cur_buf *b, const char *title, int x, int y) {
  cur_buf_printf(b, "<text x=\"%d\" y=\"%d\" class=\"t\">", x, y);
  cur_buf_html(b, title);
  cur_buf_puts(b, "</text>");
}

void cur_svg_bars(cur_buf *b, const char *title, const char *const *row_names, int n_rows,
                  const char *const *series, int n_series, const double *values) {
  double max = 1;
  for (int i = 0; i < n_rows * n_series; i++) max = values[i] > max ? values[i] : max;
  int row_h = n_series * BAR_H + 6, h = 40 + n_rows * row_h + 10;
  cur_buf_printf(b, "<svg class=\"chart bars\" role=\"img\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\">", LABEL_W + PLOT_W + 60, h, LABEL_W + PLOT_W + 60, h);
  title_text(b, title, 4, 16);
  for (int s = 0; s < n_series; s++) {
    cur_buf_printf(b, "<rect x=\"%d\" y=\"24\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"33\">", LABEL_W + s * 80, palette[s % 5], LABEL_W + s * 80 + 14);
    cur_buf_html(b, series[s]);
    cur_buf_puts(b, "</text>");
  }
  for (int r = 0; r < n_rows; r++) {
    int y = 40 + r * row_h;
    cur_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", LABEL_W - 6,
                   y + row_h / 2 + 4);
    cur_buf_html(b, row_names[r]);
    cur_buf_puts(b, "</text>");
    for (int s = 0; s < n_series; s++) {
      double v = values[r * n_series + s];
      int w = (int)lround(v / max * PLOT_W);
      cur_buf_printf(b, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                     "fill=\"%s\"><title>%.0f</title></rect><text x=\"%d\" y=\"%d\" "
                     "class=\"v\">%.0f</text>", LABEL_W, y + s * BAR_H, w, BAR_H - 2,
                     palette[s % 5], v, LABEL_W + w + 3, y + s * BAR_H + BAR_H - 3, v);
    }
  }
  cur_buf_puts(b, "</svg>");
}

void cur_svg_histogram(cur_buf *b, const char *title, const double *values, int n, int bins,
                       double mark, const char *mark_name) {
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < n; i++) {
    if (!isfinite(values[i])) continue;
    lo = fmin(lo, values[i]);
    hi = fmax(hi, values[i]);
  }
  if (isfinite(mark)) lo = fmin(lo, mark), hi = fmax(hi, mark);
  if (!(hi > lo)) hi = lo + 1;  /* no values, or all equal: one unit wide */
  int count[64] = {0}, max = 1, W = 480, H = 160, x0 = 40, y0 = 24;
  bins = bins < 1 ? 1 : bins > 64 ? 64 : bins;
  for (int i = 0; i < n; i++) {
    if (!isfinite(values[i])) continue;
    int k = (int)((values[i] - lo) / (hi - lo) * bins);
    k = k < 0 ? 0 : k >= bins ? bins - 1 : k;
    if (++count[k] > max) max = count[k];
  }
  cur_buf_printf(b, "<svg class=\"chart histogram\" role=\"img\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\">", W + x0 + 20, H + y0 + 30, W + x0 + 20, H + y0 + 30);
  title_text(b, title, 4, 16);
  for (int k = 0; k < bins; k++) {
    int h = (int)lround((double)count[k] / max * H), bw = W / bins;
    cur_buf_printf(b, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                   "fill=\"%s\"><title>%d in [%.3g, %.3g)</title></rect>", x0 + k * bw,
                   y0 + H - h, bw - 1, h, palette[0], count[k], lo + (hi - lo) * k / bins,
                   lo + (hi - lo) * (k + 1) / bins);
  }
  cur_buf_printf(b, "<text x=\"%d\" y=\"%d\">%.3g</text><text x=\"%d\" y=\"%d\" "
                 "text-anchor=\"end\">%.3g</text><text x=\"4\" y=\"%d\">%d</text>", x0,
                 y0 + H + 14, lo, x0 + W, y0 + H + 14, hi, y0 + 10, max);
  if (isfinite(mark)) {
    int x = x0 + (int)lround((mark - lo) / (hi - lo) * W);
    cur_buf_printf(b, "<line class=\"mark\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                   "<text x=\"%d\" y=\"%d\" class=\"mark\">", x, y0, x, y0 + H, x + 3, y0 + 10);
    cur_buf_html(b, mark_name);
    cur_buf_printf(b, " %.3f</text>", mark);
  }
  cur_buf_puts(b, "</svg>");
}

void cur_svg_heatmap(cur_buf *b, const char *title, const char *const *names, int k,
                     const double *counts, void (*href)(void *ctx, cur_buf *b, int row, int col),
                     void *ctx) {
  int cell = k > 25 ? 18 : 28, x0 = LABEL_W, y0 = 130;
  double max = 1;
  for (int i = 0; i < k * k; i++) max = counts[i] > max ? counts[i] : max;
  int W = x0 + k * cell + 10, H = y0 + k * cell + 10;
  cur_buf_printf(b, "<svg class=\"chart heatmap\" role=\"img\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\">", W, H, W, H);
  title_text(b, title, 4, 16);
  for (int j = 0; j < k; j++) {  /* predicted classes, written upwards above the columns */
    int x = x0 + j * cell + cell / 2 + 4;
    cur_buf_printf(b, "<text transform=\"translate(%d,%d) rotate(-60)\">", x, y0 - 4);
    cur_buf_html(b, names[j]);
    cur_buf_puts(b, "</text>");
  }
  for (int i = 0; i < k; i++) {
    cur_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", x0 - 6,
                   y0 + i * cell + cell / 2 + 4);
    cur_buf_html(b, names[i]);
    cur_buf_puts(b, "</text>");
    for (int j = 0; j < k; j++) {
      double v = counts[i * k + j];
      /* sqrt: the diagonal would otherwise wash out every off-diagonal cell */
      double t = sqrt(v / max);
      int linked = href && v > 0;
      if (linked) {
        cur_buf_printf(b, "<a class=\"cell\" data-true=\"%d\" data-pred=\"%d\" href=\"", i, j);
        href(ctx, b, i, j);
        cur_buf_puts(b, "\">");
      }
      cur_buf_printf(b, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                     "fill=\"rgb(%d,%d,%d)\"><title>", x0 + j * cell, y0 + i * cell, cell - 1,
                     cell - 1, (int)(255 - 196 * t), (int)(255 - 145 * t), (int)(255 - 87 * t));
      cur_buf_html(b, names[i]);
      cur_buf_puts(b, " as ");
      cur_buf_html(b, names[j]);
      cur_buf_printf(b, ": %.0f</title></rect>", v);
      if (v > 0)
        cur_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"%s\">%.0f</text>",
                       x0 + j * cell + cell / 2, y0 + i * cell + cell / 2 + 4,
                       t > 0.6 ? "v light" : "v", v);
      if (linked) cur_buf_puts(b, "</a>");
    }
  }
  cur_buf_puts(b, "</svg>");
}
