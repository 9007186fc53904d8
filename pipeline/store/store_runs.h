/* store_runs.h -- stage runs: start, resume, finish, and the last run of a stage. */
#ifndef CURATE_STORE_RUNS_H
#define CURATE_STORE_RUNS_H

#include "store.h"

typedef struct cur_run_info {
  int64_t id;
  char status[16];          /* running | interrupted | failed | complete */
  char config_hash[65];
  char fingerprint[65];
  double seconds;
} cur_run_info;

/* The newest run of STAGE (only complete ones when complete_only). */
int cur_store_run_last(cur_store *st, const char *stage, int complete_only,
                       cur_run_info *out, int *found);
int cur_store_run_start(cur_store *st, const char *stage, const char *config_hash,
                        const char *fingerprint, int64_t seed, const char *config_json,
                        int64_t *id);
/* Marks an unfinished run as running again. */
int cur_store_run_resume(cur_store *st, int64_t id);
/* Records the end of a run: status, message (may be NULL), counts as JSON
** (may be NULL) and seconds spent in this attempt (added to earlier ones). */
int cur_store_run_finish(cur_store *st, int64_t id, const char *status, const char *message,
                         const char *counts_json, double seconds);
/* The options (JSON) of STAGE's newest complete run; the caller frees *json. */
int cur_store_run_config(cur_store *st, const char *stage, char **json, int *found);
/* The newest label id recorded by `curate review` (0 when none): part of
** every stage's input fingerprint, since reviews change what stages see. */
int cur_store_review_version(cur_store *st, int64_t *version);

#endif
