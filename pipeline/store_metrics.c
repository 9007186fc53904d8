/* store_metrics.c -- SQL for the metrics table. */
#include "internal.h"
#include "store_metrics.h"

#include <math.h>

int cur_store_metrics_clear(cur_store *st, int64_t run_id) {
  return cur__exec(st, "DELETE FROM metrics WHERE run_id = ?1", "i", run_id);
}

int cur_store_metric_put(cur_store *st, int64_t run_id, const char *name, double value,
                         const char *text) {
  return cur__exec(st, "INSERT INTO metrics(run_id, name, value, text) VALUES (?1, ?2, ?3, ?4)",
                   "itet", run_id, name, value, text);
}

int cur_store_metric_exists(cur_store *st, int64_t run_id, const char *name, int *found) {
  int64_t one;
  return cur__query_i64(st, "SELECT 1 FROM metrics WHERE run_id = ?1 AND name = ?2", &one, found,
                        "it", run_id, name);
}

