/* store_images.h -- sources, source entries and image rows. */
#ifndef CURATE_STORE_IMAGES_H
#define CURATE_STORE_IMAGES_H

#include <stddef.h>

#include "store.h"

typedef struct cur_source_row {
  int64_t id;
  char *uri, *kind, *options;   /* options: JSON text */
} cur_source_row;

typedef struct cur_image_row {
  const char *sha256;
  const void *bytes;            /* the encoded file */
  int64_t byte_size;
  const char *format;           /* NULL when not an image */
  int width, height, bands;     /* 0 when unknown */
  int64_t source_id;            /* 0 for derived rows */
  const char *source_path;
  const char *split;
  const char *split_source;     /* pinned | stratified | provisional; NULL on derived rows */
  const char *group_key;        /* may be NULL */
  int64_t parent_id;            /* 0 for original rows */
  const char *transform;        /* JSON, may be NULL */
  const char *status;           /* ok | quarantined */
  const char *status_reason;    /* may be NULL */
  int64_t run_id;
} cur_image_row;

/* Registers a source, or updates the kind and options of a known one. */
int cur_store_source_put(cur_store *st, const char *uri, const char *kind, const char *options,
                         int64_t *id);
/* All sources in id order; free with cur_store_sources_free. */
int cur_store_sources(cur_store *st, cur_source_row **rows, int *n);
void cur_store_sources_free(cur_source_row *rows, int n);

/* Calls FN for every entry recorded for SOURCE_ID: its path and image id
** (0 for a rejected entry).  FN returns CUR_OK or an error that stops the walk. */
int cur_store_entries_of(cur_store *st, int64_t source_id,
                         int (*fn)(void *ctx, const char *path, int64_t image_id), void *ctx);
int cur_store_entry_add(cur_store *st, int64_t source_id, const char *path, int64_t image_id,
                        const char *outcome, const char *reason, int64_t run_id);
/* Calls FN for each outcome of the run's entries with its count. */
int cur_store_entry_counts(cur_store *st, int64_t run_id,
                           void (*fn)(void *ctx, const char *outcome, int64_t n), void *ctx);

/* Adds an image row unless its content (sha256) is stored already: *added
** says which, and *id is the row holding the content either way. */
int cur_store_image_add(cur_store *st, const cur_image_row *row, int64_t *id, int *added);
/* Sets image ID's status to quarantined with REASON, for a failure found
** after ingest (a later stage cannot decode it).  *source_path gets the
** path it was read from, for the message; the caller frees it. */
int cur_store_image_quarantine(cur_store *st, int64_t id, const char *reason, char **source_path);

#endif
