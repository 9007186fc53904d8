/* store_report.h -- the facts behind the closing report of `curate run`. */
#ifndef CURATE_STORE_REPORT_H
#define CURATE_STORE_REPORT_H

#include <cjson/cJSON.h>

#include "store.h"

/* Adds to OUT, for TASK: "classes" (per class: raw training rows, curated
** training rows, val and test rows), "flags" (pending flags per reason),
** "pseudolabels" (teacher labels in force on train), "policy" (the newest
** complete policy run's tries), "metrics" (the newest complete train run's
** figures, name -> value) with "train_run", and "manifest_rows" (the newest
** complete export's JSONL rows, or absent). */
int cur_store_report(cur_store *st, const char *task, cJSON *out);

#endif
