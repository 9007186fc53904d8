/* report.h -- the closing report of `curate run`: what curation changed, what the policy chose, raw against curated, warnings. */
#ifndef CURATE_REPORT_H
#define CURATE_REPORT_H

#include <cjson/cJSON.h>

#include "store.h"

/* What the report's warnings are judged by. */
typedef struct cur_report_opts {
  const char *task;         /* the task train evaluates (train.task) */
  int min_eval_rows;        /* a class with fewer val or test rows is a warning */
  double tolerance;         /* curated below raw on test by more than this is a warning */
} cur_report_opts;

/* Builds the report of the database's newest runs into *out (a new object
** the caller frees with cJSON_Delete): the facts of cur_store_report plus
** "warnings" (strings) and "next" (commands to type). */
int cur_report_build(cur_store *st, const cur_report_opts *o, cJSON **out);
/* Prints it for a person, on stdout. */
void cur_report_print(const cJSON *report);
/* The number of warnings in it. */
int cur_report_warnings(const cJSON *report);

#endif
