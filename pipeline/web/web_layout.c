/* web_layout.c -- the frame every page shares, links and tables.  Links are
** the one place serve and the snapshot differ: /image/ID against
** image-ID.html, /thumb/ID?s=N against thumbs/ID-N.jpg. */
#include <math.h>
#include <string.h>

#include "curate.h"
#include "text.h"
#include "web_internal.h"
#include "web_thumb.h"

static const char *const nav_items[][3] = {
    {"overview", "/", "index.html"},
    {"flagged", "/gallery", "gallery-1.html"},
    {"confusion", "/confusion", "confusion.html"},
    {"scores", "/scores", "scores.html"},
};

void web_page_begin(const cur_web *w, cur_buf *b, const char *title, const char *nav) {
  cur_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width\"><title>");
  cur_buf_html(b, title);
  cur_buf_printf(b, " - curate</title><link rel=\"stylesheet\" href=\"%s\"></head>\n<body",
                 w->snapshot ? "style.css" : "/static/style.css");
  if (!w->snapshot && !w->read_only) cur_buf_puts(b, " data-decide=\"1\"");
  cur_buf_puts(b, "><header><b>curate</b><nav>");
  for (size_t i = 0; i < CUR_ARRAY_LEN(nav_items); i++)
    cur_buf_printf(b, "<a href=\"%s\"%s>%s</a>", nav_items[i][w->snapshot ? 2 : 1],
                   strcmp(nav, nav_items[i][0]) == 0 ? " class=\"here\"" : "", nav_items[i][0]);
  cur_buf_puts(b, "</nav>");
  if (w->snapshot) cur_buf_puts(b, "<span class=\"mode\">snapshot (curate report)</span>");
  else if (w->read_only) cur_buf_puts(b, "<span class=\"mode\">read-only</span>");
  cur_buf_puts(b, "<span id=\"status\" role=\"status\"></span></header>\n<main><h1>");
  cur_buf_html(b, title);
  cur_buf_puts(b, "</h1>\n");
}

void web_page_end(const cur_web *w, cur_buf *b) {
  cur_buf_printf(b, "</main>\n<script src=\"%s\"></script></body></html>\n",
                 w->snapshot ? "app.js" : "/static/app.js");
}

void web_href_image(const cur_web *w, cur_buf *b, int64_t id) {
  cur_buf_printf(b, w->snapshot ? "image-%lld.html" : "/image/%lld", (long long)id);
}

void web_thumb(const cur_web *w, cur_buf *b, int64_t id, int size, const char *caption_html,
               const char *extra_attrs) {
  int linked = !w->snapshot || (w->has_page && w->has_page(w->ctx, id));
  if (w->snapshot && w->use_thumb && w->use_thumb(w->ctx, id, size)) b->failed = 1;
  cur_buf_printf(b, "<figure class=\"thumb\" data-image=\"%lld\" %s>", (long long)id,
                 extra_attrs ? extra_attrs : "");
  if (linked) {
    cur_buf_puts(b, "<a href=\"");
    web_href_image(w, b, id);
    cur_buf_puts(b, "\">");
  }
  if (w->snapshot)
    cur_buf_printf(b, "<img src=\"thumbs/%lld-%d.jpg\"", (long long)id, size);
  else
    cur_buf_printf(b, "<img src=\"/thumb/%lld?s=%d\"", (long long)id, size);
  cur_buf_printf(b, " alt=\"image %lld\" loading=\"lazy\" class=\"s%d\">", (long long)id, size);
  if (linked) cur_buf_puts(b, "</a>");
  cur_buf_printf(b, "<figcaption>%s</figcaption></figure>", caption_html ? caption_html : "");
}

void web_thumb_grid(const cur_web *w, cur_buf *b, const cJSON *rows, const char *heading,
                    const char *grid_class, const char *id_key,
                    void (*caption)(const cJSON *row, cur_buf *cap)) {
  if (cJSON_GetArraySize(rows) == 0) return;
  cur_buf_printf(b, "<h2>%s</h2><div class=\"%s\">", heading, grid_class);
  const cJSON *r;
  cJSON_ArrayForEach(r, rows) {
    cur_buf cap = {0};
    caption(r, &cap);
    if (cap.failed) b->failed = 1;
    else web_thumb(w, b, (int64_t)cur_json_num(r, id_key, 0), CUR_THUMB_SMALL, cap.data, NULL);
    cur_buf_free(&cap);
  }
  cur_buf_puts(b, "</div>");
}

void web_value(cur_buf *b, const cJSON *v) {
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d == floor(d) && fabs(d) < 1e15) cur_buf_printf(b, "%.0f", d);
    else cur_buf_printf(b, "%.4g", d);
  } else if (cJSON_IsString(v)) {
    cur_buf_html(b, v->valuestring);
  } else {
    cur_buf_puts(b, "-");
  }
}

void web_table(cur_buf *b, const cJSON *arr, const char *const *cols, const char *const *heads,
               int n_cols) {
  const cJSON *r;
  cur_buf_puts(b, "<table><tr>");
  for (int c = 0; c < n_cols; c++) {
    cur_buf_puts(b, "<th>");
    cur_buf_html(b, heads[c]);
    cur_buf_puts(b, "</th>");
  }
  cur_buf_puts(b, "</tr>");
  cJSON_ArrayForEach(r, arr) {
    cur_buf_puts(b, "<tr>");
    for (int c = 0; c < n_cols; c++) {
      cur_buf_puts(b, "<td>");
      web_value(b, cJSON_GetObjectItemCaseSensitive(r, cols[c]));
      cur_buf_puts(b, "</td>");
    }
    cur_buf_puts(b, "</tr>");
  }
  cur_buf_puts(b, "</table>\n");
}
