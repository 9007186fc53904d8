/* store_metrics.h -- metrics of a run (train): accuracy, per-class scores,
** the confusion matrix as JSON text, and the per-image predictions behind it. */
#ifndef CURATE_STORE_METRICS_H
#define CURATE_STORE_METRICS_H

#include "store.h"

/* Deletes RUN_ID's metrics (a rerun records them anew). */
int cur_store_metrics_clear(cur_store *st, int64_t run_id);
/* Records a metric: VALUE (NaN = none) and/or TEXT (may be NULL), replacing
** an earlier one of the same NAME. */
int cur_store_metric_put(cur_store *st, int64_t run_id, const char *name, double value,
                         const char *text);
/* Deletes RUN_ID's per-image predictions (a rerun records them anew). */
int cur_store_predictions_clear(cur_store *st, int64_t run_id);
/* Records HEAD's ("curated" or "raw") prediction for IMAGE_ID of SPLIT
** ("val" or "test"): the true and the predicted class as indices of
** TASK_ID's classes, and the head's probability of the predicted one. */
int cur_store_prediction_put(cur_store *st, int64_t run_id, int64_t task_id, const char *head,
                             int64_t image_id, const char *split, int true_idx, int predicted_idx,
                             double confidence);
/* Whether RUN_ID has a metric NAME. */
int cur_store_metric_exists(cur_store *st, int64_t run_id, const char *name, int *found);
/* Calls FN for each metric of RUN_ID in name order (byte order, as strcmp);
** VALUE is NaN and TEXT NULL when absent, both valid only during the call.
** A non-zero return from FN stops the walk and is returned.  *found is 0
** when there is no run RUN_ID. */
int cur_store_metrics_each(cur_store *st, int64_t run_id,
                           int (*fn)(void *ctx, const char *name, double value, const char *text),
                           void *ctx, int *found);

#endif
