/* web_internal.h -- what the page writers (web_*.c) share: the frame of a
** page, links that differ between serve and the snapshot, small tables. */
#ifndef CURATE_WEB_INTERNAL_H
#define CURATE_WEB_INTERNAL_H

#include <cjson/cJSON.h>

#include "web_pages.h"

/* The start of a page (head, navigation; NAV names the current item) and its end. */
void web_page_begin(const cur_web *w, cur_buf *b, const char *title, const char *nav);
void web_page_end(const cur_web *w, cur_buf *b);
/* A link to image ID's page (href value only). */
void web_href_image(const cur_web *w, cur_buf *b, int64_t id);
/* A thumbnail of image ID, linked to its page when it has one, with
** CAPTION_HTML under it and EXTRA_ATTRS on its figure (both markup the
** caller built, text in them escaped with cur_buf_html). */
void web_thumb(const cur_web *w, cur_buf *b, int64_t id, int size, const char *caption_html,
               const char *extra_attrs);
/* An <h2> HEADING (HTML) over a grid (class GRID_CLASS) of small thumbnails,
** one per row of ROWS: the image id in the row's ID_KEY, the caption (HTML)
** CAPTION writes for the row.  Nothing when ROWS is empty. */
void web_thumb_grid(const cur_web *w, cur_buf *b, const cJSON *rows, const char *heading,
                    const char *grid_class, const char *id_key,
                    void (*caption)(const cJSON *row, cur_buf *cap));
/* A table of the rows in ARR: COLS[i] keys, HEADS[i] column titles. */
void web_table(cur_buf *b, const cJSON *arr, const char *const *cols, const char *const *heads,
               int n_cols);
/* A JSON value as page text (numbers to 4 significant digits, null as "-"). */
void web_value(cur_buf *b, const cJSON *v);

#endif
