/* store_audit.h -- SQL for the audit stage: image statistics, the rows it audits, pairs and groups. */
#ifndef CURATE_STORE_AUDIT_H
#define CURATE_STORE_AUDIT_H

#include <stddef.h>

#include "store.h"

/* pHashes per image: the whole image's (column phash), then the other views
** (column phash_views); models/imstats.h IMSTATS_VIEWS, which the stage
** checks agrees. */
#define CUR_PHASH_VIEWS 8

/* An image_stats row (schema.sql; models/imstats.h computes the values). */
typedef struct cur_image_stats {
  uint64_t phash[CUR_PHASH_VIEWS];
  double sharpness, sharpness_reblur, bright_p01, bright_p99, entropy, colourfulness;
} cur_image_stats;

/* Ok original images without image_stats. */
int cur_store_audit_pending(cur_store *st, int64_t *n);
/* Calls FN with id, stored width and height and encoded bytes (valid during
** the call) of up to LIMIT such images with an id above AFTER_ID, in id order. */
int cur_store_audit_next(cur_store *st, int64_t after_id, int limit,
                         int (*fn)(void *ctx, int64_t id, int width, int height,
                                   const void *bytes, size_t len),
                         void *ctx);
int cur_store_audit_stats_put(cur_store *st, int64_t image_id, const cur_image_stats *s,
                              int64_t run_id);

/* One audited row: an ok original image with statistics. */
typedef struct cur_audit_row {
  int64_t id;
  const char *split;           /* train, val or test */
  const char *path;            /* source_path */
  int width, height;
  cur_image_stats stats;
  const void *vector;          /* MODEL's embedding (dim half floats), NULL when none */
  int dim;
} cur_audit_row;
/* Calls FN for every ok original image with statistics, in id order; the
** row's strings and vector are valid during the call only. */
int cur_store_audit_rows(cur_store *st, const char *model,
                         int (*fn)(void *ctx, const cur_audit_row *row), void *ctx);
/* Calls FN with each ok original image's given class (idx and id) in TASK_ID:
** its newest review label, else its newest human one. */
int cur_store_audit_labels(cur_store *st, int64_t task_id,
                           int (*fn)(void *ctx, int64_t image_id, int class_idx, int64_t class_id),
                           void *ctx);

/* COSINE NaN stores NULL. */
int cur_store_duplicate_pair_put(cur_store *st, int64_t run_id, int64_t a, int64_t b, double cosine,
                                 int hamming);
int cur_store_duplicate_member_put(cur_store *st, int64_t run_id, int64_t image_id, int64_t group_id);

#endif
