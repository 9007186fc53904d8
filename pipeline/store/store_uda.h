/* store_uda.h -- UDA's variants of unlabelled rows: what augment makes of them and the
** (unlabelled original, augmented variant) pairs the consistency loss trains on.
**
** A variant of an unlabelled row is recorded in augment_variants with a
** negative variant number (-1, -2, ...): balance plans number theirs from 0,
** so such a row never joins augment_plan, hence never training_rows, the
** policy's rows or the manifest; augment gives it no label either. */
#ifndef CURATE_STORE_UDA_H
#define CURATE_STORE_UDA_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_balance.h"

/* One pair: an original and one of its variants. */
typedef struct cur_uda_pair {
  int64_t source_id, variant_id;
} cur_uda_pair;

/* The variants PER an unlabelled row makes: the ok originals of the train
** split without a human or review label for TASK_ID, times PER. */
int cur_store_uda_plan_size(cur_store *st, int64_t task_id, int per, int64_t *n);
/* Calls FN for at most LIMIT of those variants (variant numbers -1 .. -PER)
** that augment run RUN_ID has not recorded yet, in (parent, -variant) order. */
int cur_store_uda_pending(cur_store *st, int64_t task_id, int per, int64_t run_id, int limit,
                          int (*fn)(void *ctx, const cur_variant_job *job), void *ctx);

/* Every ok variant the newest complete augment run made (or reused) of an
** ok original of the train split that has no human or review label for
** TASK_ID (the unlabelled pile), in variant id order.  *pairs is a new
** array (NULL when none) the caller frees. */
int cur_store_uda_pairs(cur_store *st, int64_t task_id, cur_uda_pair **pairs, size_t *n);

#endif
