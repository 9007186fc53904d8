/* store_status.h -- the summaries `curate status` shows, as JSON. */
#ifndef CURATE_STORE_STATUS_H
#define CURATE_STORE_STATUS_H

#include <cjson/cJSON.h>

#include "store.h"

/* Adds to OUT: "images" {total, ok, quarantined, derived, per split},
** "classes" [{task, split, class, images}], "split_health" [{task, class,
** train, val, test}] (ok original rows), "unplaced" (originals waiting for
** the split stage), "quarantined" [{reason, images}],
** "rejected" [{reason, entries}], "flags" [{reason, review_status, count}]. */
int cur_store_status(cur_store *st, cJSON *out);

#endif
