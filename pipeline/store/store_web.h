/* store_web.h -- the SQL behind the pages of `curate serve` and `curate report`. */
#ifndef CURATE_STORE_WEB_H
#define CURATE_STORE_WEB_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A gallery query: filters (NULL matches any) and the keyset cursor. */
typedef struct cur_web_filter {
  const char *task, *class_name, *reason, *split, *status;
  int descending;              /* highest score first */
  int has_after;               /* continue after (after_key, after_flag) */
  double after_key;            /* the sort key of the last row shown */
  int64_t after_flag;          /* and its flag id */
  int64_t limit;
} cur_web_filter;

/* Appends up to F->limit rows of the flagged view to ARR in score order (a
** flag without a score sorts as 1e308), each with flag_id, image_id, task,
** label, suggested, reason, score, sort_key, review_status, split, detail.
** Keyset pagination: a page costs the same however deep it is. */
int cur_store_web_flags(cur_store *st, const cur_web_filter *f, cJSON *arr);
/* Every task and class: {task, class, idx} in task, index order. */
int cur_store_web_classes(cur_store *st, cJSON *arr);
/* The distinct values of the flags' reasons, for the filter menus. */
int cur_store_web_reasons(cur_store *st, cJSON *arr);

/* One image's row (without the bytes) as an object in ARR (none: no row). */
int cur_store_web_image(cur_store *st, int64_t image_id, cJSON *arr);
/* Its label history, oldest first: {label_id, task, class, source, confidence, run_id,
** created_at, retracted_at} (retracted_at: when an undo took the label back, else NULL). */
int cur_store_web_label_history(cur_store *st, int64_t image_id, cJSON *arr);
/* Its current labels: {task, class, source}. */
int cur_store_web_current(cur_store *st, int64_t image_id, cJSON *arr);
/* Its scores of each kind's newest run: {kind, task, value, suggested, run_id}. */
int cur_store_web_scores(cur_store *st, int64_t image_id, cJSON *arr);
/* Its flags (flagged view): {task, reason, score, suggested, review_status, detail}. */
int cur_store_web_image_flags(cur_store *st, int64_t image_id, cJSON *arr);
/* Its augmented variants: {id, transform}. */
int cur_store_web_variants(cur_store *st, int64_t image_id, cJSON *arr);

/* The encoded bytes of an ok image or variant, its sha256 and format: *bytes
** (caller frees) NULL when there is no such row or it holds no image. */
int cur_store_web_image_bytes(cur_store *st, int64_t image_id, unsigned char **bytes, size_t *len,
                              char sha256[65]);
/* The sha256 of an image (its thumbnail's ETag) without reading the bytes;
** *found 0 when no image row with a format exists. */
int cur_store_web_image_sha(cur_store *st, int64_t image_id, char sha256[65], int *found);

/* The embedding model to compare neighbours in: the one IMAGE_ID has from
** the newest embed run, else any it has; *model NULL when it has none. */
int cur_store_web_embed_model(cur_store *st, int64_t image_id, char **model);
/* IMAGE_ID's embedding in MODEL as DIM half floats in *half (caller frees;
** NULL when it has none or its size disagrees with its dim). */
int cur_store_web_embedding(cur_store *st, const char *model, int64_t image_id, void **half,
                            int64_t *dim);
/* Calls FN for every embedding of MODEL (DIM half floats, little-endian). */
int cur_store_web_embeddings(cur_store *st, const char *model,
                             int (*fn)(void *ctx, int64_t image_id, const void *half, int64_t dim),
                             void *ctx);

/* The newest complete run of STAGE's metric NAME: *text (caller frees; NULL
** when absent) and *value (NaN when absent). */
int cur_store_web_metric(cur_store *st, const char *stage, const char *name, char **text,
                         double *value);
/* The values of score KIND of its newest run, in ARR as numbers. */
int cur_store_web_score_values(cur_store *st, const char *kind, cJSON *arr);
/* Per task and current class of labelled train originals: {task, class,
** images, flagged} (flags of the flagged view). */
int cur_store_web_flag_rates(cur_store *st, cJSON *arr);
/* Teacher labels of the newest pseudolabel run per class: {task, class, n,
** mean_confidence, min_confidence}. */
int cur_store_web_pseudo(cur_store *st, cJSON *arr);
/* Up to PER_CLASS teacher labels per class of the newest pseudolabel run,
** surest first: {image_id, task, class, confidence}. */
int cur_store_web_pseudo_samples(cur_store *st, int64_t per_class, cJSON *arr);
/* The test images behind one cell of HEAD's ("curated" or "raw") test
** confusion matrix of the newest complete train run: those of true class
** index TRUE_IDX predicted as PRED_IDX, surest first, up to LIMIT, as
** {image_id, confidence, total} (total: the cell's rows, all of them). */
int cur_store_web_cell(cur_store *st, const char *head, int true_idx, int pred_idx, int64_t limit,
                       cJSON *arr);
/* The newest run of every stage: {stage, status, id, finished_at}. */
int cur_store_web_runs(cur_store *st, cJSON *arr);

#endif
