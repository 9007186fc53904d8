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
  const void *bytes;            /* the encoded file, or its start (quarantined rows) */
  int64_t bytes_len;            /* how many bytes of it are stored */
  int64_t byte_size;            /* the whole file's size */
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

/* Records what ingest found in SOURCE_ID: STATE is ok, failed or missing,
** REASON (may be NULL) why. */
int cur_store_source_state(cur_store *st, int64_t source_id, const char *state, const char *reason);

/* Calls FN for every entry recorded for SOURCE_ID whose retry flag is RETRY
** (0: settled, 1: to be read again): its path and image id (0 for a
** rejected entry).  FN returns CUR_OK or an error that stops the walk. */
int cur_store_entries_of(cur_store *st, int64_t source_id, int retry,
                         int (*fn)(void *ctx, const char *path, int64_t image_id), void *ctx);
/* Records an entry, replacing what an earlier run recorded for the same
** path (an entry read again because its RETRY flag was set). */
int cur_store_entry_add(cur_store *st, int64_t source_id, const char *path, int64_t image_id,
                        const char *outcome, const char *reason, int retry, int64_t run_id);
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
/* Rewrites the stored image ID from ROW (bytes, format, size, status, reason,
** run) when ID is quarantined and ROW differs: a quarantined entry read
** again after an option changed.  Other rows are left alone. */
int cur_store_image_recheck(cur_store *st, int64_t id, const cur_image_row *row);

#endif
