/* web_buf.h -- a growing text buffer for the pages `curate serve` and
** `curate report` write, with HTML escaping. */
#ifndef CURATE_WEB_BUF_H
#define CURATE_WEB_BUF_H

#include <stddef.h>

/* Zero-initialise; an allocation failure is sticky (failed set, later
** appends do nothing), checked once by cur_buf_status at the end. */
typedef struct cur_buf {
  char *data;                  /* NUL-terminated once anything was added */
  size_t len, cap;
  int failed;
} cur_buf;

void cur_buf_add(cur_buf *b, const void *data, size_t n);
void cur_buf_puts(cur_buf *b, const char *s);
void cur_buf_printf(cur_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* S as HTML text or attribute value: & < > " ' escaped, control characters
** and invalid UTF-8 (a label may hold any bytes) replaced by U+FFFD.  NULL
** writes nothing. */
void cur_buf_html(cur_buf *b, const char *s);
/* S percent-encoded for a URL query value. */
void cur_buf_url(cur_buf *b, const char *s);
/* CUR_OK, or CUR_ENOMEM (message set) when an append failed. */
int cur_buf_status(const cur_buf *b);
/* Hands over the data (the caller frees it with cur_free); B is emptied. */
char *cur_buf_take(cur_buf *b, size_t *len);
void cur_buf_free(cur_buf *b);

#endif
