/* curate.c -- checked allocation, per-thread error messages, logging, Ctrl-C flag. */
#include "curate.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static _Thread_local char error_buf[2048];
static int log_quiet;
static volatile sig_atomic_t interrupt_flag;

void *cur_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) cur_errorc(CUR_ENOMEM, "out of memory allocating %zu bytes", n);
  return p;
}

void *cur_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) cur_errorc(CUR_ENOMEM, "out of memory allocating %zu x %zu bytes", count, size);
  return p;
}

void *cur_mallocarray(size_t count, size_t size) {
  return cur_reallocarray(NULL, count, size);
}

/* count x size into *n; 0 (with the message set) when it overflows. */
static int array_bytes(size_t count, size_t size, size_t *n) {
  if (size && count > SIZE_MAX / size) {
    cur_errorc(CUR_ENOMEM, "allocation of %zu x %zu bytes overflows", count, size);
    return 0;
  }
  *n = count * size;
  return 1;
}

void *cur_reallocarray(void *p, size_t count, size_t size) {
  size_t n;
  if (!array_bytes(count, size, &n)) return NULL;
  void *q = realloc(p, n ? n : 1);
  if (!q) cur_errorc(CUR_ENOMEM, "out of memory allocating %zu bytes", n);
  return q;
}

void *cur_alignedarray(size_t count, size_t size) {
  size_t n;
  void *p = NULL;
  if (!array_bytes(count, size, &n)) return NULL;
  int err = posix_memalign(&p, 64, n ? n : 1);
  if (err) {
    cur_errorc(CUR_ENOMEM, "out of memory allocating %zu aligned bytes", n);
    return NULL;
  }
  return p;
}

char *cur_strdup(const char *s) {
  return cur_strndup(s, strlen(s));
}

char *cur_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *d = cur_malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = 0;
  return d;
}

void cur_free(void *p) {
  free(p);
}

char *cur_asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    cur_errorf("bad format string");
    return NULL;
  }
  char *s = cur_malloc((size_t)n + 1);
  if (!s) return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

int cur_file_read(const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return cur_errorc(CUR_EIO, "%s: cannot read: %s", path, strerror(errno));
  char *buf = NULL;
  size_t used = 0, cap = 0;
  int rc = CUR_OK;
  for (;;) {
    if (used + 1 >= cap) {
      char *nb = cur_reallocarray(buf, cap = cap ? cap * 2 : 65536, 1);
      if (!nb) { rc = CUR_ENOMEM; break; }
      buf = nb;
    }
    size_t n = fread(buf + used, 1, cap - used - 1, f);
    used += n;
    if (n == 0) break;
  }
  if (rc == CUR_OK && ferror(f)) rc = cur_errorc(CUR_EIO, "%s: read error", path);
  fclose(f);
  if (rc) {
    cur_free(buf);
    return rc;
  }
  buf[used] = 0;
  *text = buf;
  *len = used;
  return CUR_OK;
}

/* A message is one line: libraries' own text (libvips' error buffer) ends
** in a newline, which would split the line curate prints after it. */
static void error_vset(const char *fmt, va_list ap) {
  vsnprintf(error_buf, sizeof error_buf, fmt, ap);
  size_t n = strlen(error_buf);
  while (n > 0 && (error_buf[n - 1] == '\n' || error_buf[n - 1] == ' ')) error_buf[--n] = 0;
}

int cur_errorf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_vset(fmt, ap);
  va_end(ap);
  return CUR_ERR;
}

int cur_errorc(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_vset(fmt, ap);
  va_end(ap);
  return code;
}

const char *cur_error(void) {
  return error_buf[0] ? error_buf : "unknown error";
}

void cur_error_clear(void) {
  error_buf[0] = 0;
}

void cur_log_set_quiet(int quiet) {
  log_quiet = quiet;
}

int cur_log_quiet(void) {
  return log_quiet;
}

/* One line to stderr, its control characters escaped: messages carry file
** names and labels, which must not drive the terminal (text.h). */
static void log_line(const char *prefix, const char *fmt, va_list ap) {
  char msg[4096];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fputs(prefix, stderr);
  cur_text_print(stderr, msg);
  fputc('\n', stderr);
}

void cur_info(const char *fmt, ...) {
  if (log_quiet) return;
  va_list ap;
  va_start(ap, fmt);
  log_line("", fmt, ap);
  va_end(ap);
}

void cur_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_line("warning: ", fmt, ap);
  va_end(ap);
}

static void on_sigint(int sig) {
  (void)sig;
  /* A second Ctrl-C while a batch is still finishing means "now". */
  if (interrupt_flag) _Exit(130);
  interrupt_flag = 1;
}

void cur_interrupt_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int cur_interrupted(void) {
  return interrupt_flag != 0;
}

