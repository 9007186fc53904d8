/* source_impl.h -- what the source readers (source_*.c) share with source.c. */
#ifndef CURATE_SOURCE_IMPL_H
#define CURATE_SOURCE_IMPL_H

#include <dirent.h>

#include "source.h"

typedef int (*cur_want_fn)(void *ctx, const char *path);

struct cur_source {
  char *uri;
  int64_t max_bytes;
  char *const *class_names;   /* borrowed from the caller */
  int n_class_names;
  void *impl;
  int64_t count;              /* entries, or -1 when unknown until read */
  int (*next)(cur_source *src, cur_entry *e, cur_want_fn want, void *ctx);
  void (*close)(cur_source *src);
};

/* scandir order by bytes, independent of the locale. */
int cur__name_order(const struct dirent **a, const struct dirent **b);

int cur__folder_open(cur_source *src);
int cur__archive_open(cur_source *src);
int cur__idx_open(cur_source *src);
/* Reads all of an archive's first entry (or a plain file through the raw
** format, gunzipping as needed) into memory; the caller frees *data. */
int cur__read_whole(const char *path, unsigned char **data, size_t *len);

#endif
