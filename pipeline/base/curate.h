/* curate.h -- status codes, checked allocation, error and log messages.
**
** Every module includes this header.  A function that can fail returns an
** int: CUR_OK (0) or a negative CUR_E* code, and leaves a message naming the
** object and the cause in a per-thread buffer (cur_errorf / cur_error), which
** the command line prints.  All allocation goes through cur_malloc and
** friends, which check size arithmetic for overflow.
*/
#ifndef CURATE_H
#define CURATE_H

#include <stddef.h>
#include <stdint.h>

enum {
  CUR_OK = 0,
  CUR_ERR = -1,       /* generic failure, message set */
  CUR_ENOMEM = -2,    /* allocation failed */
  CUR_EINPUT = -3,    /* bad input file or value */
  CUR_EIO = -4,       /* file system or archive failure */
  CUR_EDB = -5,       /* SQLite failure */
  CUR_ECONFIG = -6,   /* bad configuration or option */
  CUR_EINTR = -7,     /* interrupted by the user (Ctrl-C), work committed */
  CUR_ESTATE = -8,    /* wrong order: e.g. an earlier stage never ran */
  CUR_ESCHEMA = -9    /* database made by another schema version */
};

/* Allocation.  cur_malloc(0) returns a valid unique pointer.  On failure
** each returns NULL and sets the error message.  cur_free(NULL) is a no-op. */
void *cur_malloc(size_t n);
void *cur_calloc(size_t count, size_t size);
void *cur_mallocarray(size_t count, size_t size);
void *cur_reallocarray(void *p, size_t count, size_t size);
/* count x size bytes starting on a 64-byte boundary, uninitialised, for the
** buffers GEMM kernels read: glibc's malloc puts large blocks 16 bytes past
** a page, and oneDNN's AMX matmul runs 3x slower when its rows straddle
** cache lines.  Freed with cur_free. */
void *cur_alignedarray(size_t count, size_t size);
char *cur_strdup(const char *s);
char *cur_strndup(const char *s, size_t n);
void cur_free(void *p);
/* Formatted allocation; the caller frees the result with cur_free. */
char *cur_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Errors.  cur_errorf replaces this thread's message and returns CUR_ERR so
** that "return cur_errorf(...)" reads naturally; cur_errorc does the same
** with a chosen code. */
int cur_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cur_errorc(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *cur_error(void);
void cur_error_clear(void);

/* Reads a whole file into a NUL-terminated buffer; the caller frees *text. */
int cur_file_read(const char *path, char **text, size_t *len);

/* Logging to stderr.  Quiet mode drops info lines, never warnings. */
void cur_log_set_quiet(int quiet);
int cur_log_quiet(void);
void cur_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cur_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Ctrl-C handling: stages poll cur_interrupted() at batch boundaries. */
void cur_interrupt_install(void);
int cur_interrupted(void);

#define CUR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
