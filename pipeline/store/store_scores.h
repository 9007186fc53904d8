/* store_scores.h -- what the aum stage reads: class ids and labelled vectors. */
#ifndef CURATE_STORE_SCORES_H
#define CURATE_STORE_SCORES_H

#include <stddef.h>

#include "store.h"

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


#endif
