/* store_scores.h -- what the aum stage reads (labelled vectors) and writes (scores, metrics). */
#ifndef CURATE_STORE_SCORES_H
#define CURATE_STORE_SCORES_H

#include <stddef.h>

#include "store.h"

/* The embeddings model key covering the most ok images (ties: the smaller
** key), or NULL when there are no embeddings.  The caller frees *model. */
int cur_store_embed_model_top(cur_store *st, char **model);

/* Calls FN with every task's id and name, in id order. */
int cur_store_tasks(cur_store *st, int (*fn)(void *ctx, int64_t id, const char *name), void *ctx);
/* The class ids of a task in idx order; the caller frees *ids. */
int cur_store_class_ids(cur_store *st, int64_t task_id, int64_t **ids, int *n);

/* One labelled row: image, its current class's idx, whether that label came
** from a review, and its embedding (dim half floats, valid during the call). */
typedef int (*cur_labelled_fn)(void *ctx, int64_t image_id, int class_idx, int reviewed,
                               const void *vector, int dim);
/* Calls FN, in image id order, for the ok original images of SPLIT with a
** current class in TASK_ID and an embedding under MODEL. */
int cur_store_labelled_vectors(cur_store *st, int64_t task_id, const char *split,
                               const char *model, cur_labelled_fn fn, void *ctx);

int cur_store_score_put(cur_store *st, int64_t run_id, const char *kind, int64_t image_id,
                        int64_t task_id, double value, int64_t suggested_class_id);
int cur_store_metric_put(cur_store *st, int64_t run_id, const char *name, double value);
int cur_store_metric_exists(cur_store *st, int64_t run_id, const char *name, int *found);
/* Rows of a run: scores of KIND, flags of REASON. */
int cur_store_score_count(cur_store *st, int64_t run_id, const char *kind, int64_t *n);
int cur_store_flag_count(cur_store *st, int64_t run_id, const char *reason, int64_t *n);

#endif
