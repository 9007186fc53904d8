/* pathutil.h -- source-relative paths: safety checks, display form, image extensions. */
#ifndef CURATE_PATHUTIL_H
#define CURATE_PATHUTIL_H

#include <stddef.h>

/* NULL when PATH is a safe relative path; else a static reason (absolute,
** a ".." component, empty).  Backslashes count as separators too, since
** zip files made on Windows use them. */
const char *cur_path_unsafe(const char *path);
/* A valid UTF-8 copy of PATH in which each byte of an invalid sequence is
** written \xNN (and a backslash as \\ only when followed by x); leading "./"
** removed.  The caller frees it. */
char *cur_path_display(const char *path);
/* True when the file name's extension is one of the image formats ingest
** reads (case-insensitive).  Hidden files (".name") are not images. */
int cur_path_is_image(const char *path);
/* Joins A and B with one '/'; the caller frees the result. */
char *cur_path_join(const char *a, const char *b);

#endif
