/* store_uda.h -- the (unlabelled original, augmented variant) pairs UDA's consistency loss trains on. */
#ifndef CURATE_STORE_UDA_H
#define CURATE_STORE_UDA_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One pair: an original and one of its variants. */
typedef struct cur_uda_pair {
  int64_t source_id, variant_id;
} cur_uda_pair;

/* Every ok variant of an ok original of the train split that has no human
** or review label for TASK_ID (the unlabelled pile), in variant id order.
** *pairs is a new array (NULL when none) the caller frees. */
int cur_store_uda_pairs(cur_store *st, int64_t task_id, cur_uda_pair **pairs, size_t *n);

#endif
