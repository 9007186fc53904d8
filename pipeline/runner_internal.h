/* runner_internal.h -- what runner.c shares with runner_shard.c: the run context and the steps of a run. */
#ifndef CURATE_RUNNER_INTERNAL_H
#define CURATE_RUNNER_INTERNAL_H

#include <cjson/cJSON.h>

#include "progress.h"
#include "runner.h"
#include "stage.h"
#include "store_shard.h"

struct cur_run {
  const cur_stage *stage;
  cur_store *st;
  const cJSON *options;
  const cur_config *config;  /* every stage's options */
  uint64_t seed;
  int threads;
  int fresh;            /* see cur_run_fresh */
  int64_t id;
  cJSON *counts;        /* name -> number, stored in runs.counts */
  char config_hash[65];
  int64_t input_errors;
  cur_progress *progress;
  cur_shard *shard;     /* sharded run: where results go (runner_shard.c); else NULL */
  cur_share share;      /* and which images it does */
};

/* RUN's inputs (a new JSON object) and its input fingerprint. */
int cur__run_fingerprint(cur_run *run, cJSON **inputs, char out[65]);
/* CUR_ESTATE, naming it, when a stage STAGE needs never completed. */
int cur__run_check_needs(cur_store *st, const cur_stage *stage);
/* Records RUN's end in its runs row: status, message (may be NULL), counts. */
int cur__run_store_counts(cur_run *run, const char *status, const char *message, double secs);
/* "embed: complete in 1.2 s: embedded 12, ..." */
void cur__run_print_summary(const cur_run *run, double secs);

#endif
