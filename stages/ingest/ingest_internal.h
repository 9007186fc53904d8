/* ingest_internal.h -- what the ingest stage's files (ingest.c, ingest_boxes.c) share. */
#ifndef CURATE_INGEST_INTERNAL_H
#define CURATE_INGEST_INTERNAL_H

#include <cjson/cJSON.h>

#include "boxfile.h"
#include "entry_meta.h"
#include "entry_reader.h"
#include "stage.h"
#include "store.h"
#include "strmap.h"

/* A transaction also ends once its entries (or box crops) reach this many
** bytes, whatever batch_size says: the WAL holds them until the commit. */
#define INGEST_BATCH_BYTES (64u << 20)

/* State of one source while it is ingested. */
typedef struct ingest {
  cur_run *run;
  cur_store *st;
  const cJSON *opt;
  int64_t source_id;
  const char *uri;
  cur_meta_rules rules;
  cur_batch *batch;        /* the batch being recorded; its extra holds the probes */
  int64_t max_pixels;
  int64_t max_file_bytes;
  int64_t keep_bytes;      /* keep_quarantined_bytes */
  int batch_size;          /* entries (or box crops) committed per transaction */
  cur_strmap *task_ids;    /* task name -> id, to spare a query per label */
  cur_strmap *class_ids;   /* "<task id>:<class>" -> id: no length limit, so long labels
                           ** never share a key */
  cur_strmap *retrying;    /* path -> image id + 1 of entries recorded with retry set */
  int read_rc;             /* the source could not be read to the end: why (read_error) */
  char read_error[512];
  /* How the label file and the source met (reported at the end, see label_coverage) */
  unsigned char *row_used; /* per label-file row: an entry matched it */
  int64_t no_row;          /* entries the label file has no row for ... */
  char *no_row_first[3];   /* ... and the first of them */
} ingest;

/* Records the entry's labels (META) on IMAGE_ID: a first human label is
** added, an equal one changes nothing, a different one is flagged for
** review.  PATH names the entry in messages; FRESH says the image was just
** added (it has no labels yet). */
int cur__ingest_apply_labels(ingest *g, const cur_entry_meta *m, const char *path, int64_t image_id,
                             int fresh);

/* Cuts the source's boxes (BOXES, read from the box file of the source's
** options OPTS) out of its ingested images: each box not recorded yet
** becomes an image row of its own with the box's label, committed in
** batches (ingest_boxes.c). */
int cur__ingest_boxes(ingest *g, const cur_boxfile *boxes, const cJSON *opts);

#endif
