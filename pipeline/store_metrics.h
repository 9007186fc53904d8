/* store_metrics.h -- metrics of a run (train): accuracy, per-class scores,
** the confusion matrix as JSON text. */
#ifndef CURATE_STORE_METRICS_H
#define CURATE_STORE_METRICS_H

#include "store.h"

/* Deletes RUN_ID's metrics (a rerun records them anew). */
int cur_store_metrics_clear(cur_store *st, int64_t run_id);
/* Records a metric: VALUE (NaN = none) and/or TEXT (may be NULL). */
int cur_store_metric_put(cur_store *st, int64_t run_id, const char *name, double value,
                         const char *text);
/* Whether RUN_ID has a metric NAME. */
int cur_store_metric_exists(cur_store *st, int64_t run_id, const char *name, int *found);

#endif
