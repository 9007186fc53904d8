/* web_buf.c -- a growing text buffer with HTML and URL escaping. */
#include "web_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "text.h"

static int grow(cur_buf *b, size_t n) {
  if (b->failed) return -1;
  if (b->len + n + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + n + 1) {
    if (cap > SIZE_MAX / 2) {
      b->failed = 1;
      return -1;
    }
    cap *= 2;
  }
  char *p = cur_reallocarray(b->data, cap, 1);
  if (!p) {
    b->failed = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void cur_buf_add(cur_buf *b, const void *data, size_t n) {
  if (grow(b, n)) return;
  memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = 0;
}

void cur_buf_puts(cur_buf *b, const char *s) { cur_buf_add(b, s, strlen(s)); }

void cur_buf_printf(cur_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || grow(b, (size_t)n)) {
    b->failed = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void cur_buf_html(cur_buf *b, const char *s) {
  for (; s && *s;) {
    size_t n = cur_utf8_len(s);
    unsigned char c = (unsigned char)*s;
    if (n == 0 || c < 0x20 || c == 0x7f || (n == 2 && c == 0xc2 && (unsigned char)s[1] < 0xa0)) {
      cur_buf_puts(b, "\xef\xbf\xbd");  /* U+FFFD: bad byte, C0/DEL or C1 control */
      s += n ? n : 1;
      continue;
    }
    switch (c) {
      case '&': cur_buf_puts(b, "&amp;"); break;
      case '<': cur_buf_puts(b, "&lt;"); break;
      case '>': cur_buf_puts(b, "&gt;"); break;
      case '"': cur_buf_puts(b, "&quot;"); break;
      case '\'': cur_buf_puts(b, "&#39;"); break;
      default: cur_buf_add(b, s, n);
    }
    s += n;
  }
}

void cur_buf_url(cur_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '_' || c == '.' || c == '~') {
      cur_buf_add(b, s, 1);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      cur_buf_add(b, esc, 3);
    }
  }
}

int cur_buf_status(const cur_buf *b) {
  return b->failed ? cur_errorc(CUR_ENOMEM, "out of memory building a page") : CUR_OK;
}

char *cur_buf_take(cur_buf *b, size_t *len) {
  char *p = b->data;
  if (len) *len = b->len;
  *b = (cur_buf){0};
  return p;
}

void cur_buf_free(cur_buf *b) {
  cur_free(b->data);
  *b = (cur_buf){0};
}
