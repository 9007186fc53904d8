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
/* INPUTS_JSON: the versions of what the stage reads, by name (runs.inputs),
** which `curate status` compares with today's to say why it is pending. */
int cur_store_run_start(cur_store *st, const char *stage, const char *config_hash,
                        const char *fingerprint, const char *inputs_json, int64_t seed,
                        const char *config_json, int64_t *id);
/* Run ID's inputs (JSON, the caller frees it); *json is NULL when it has none. */
int cur_store_run_inputs(cur_store *st, int64_t id, char **json);
/* Marks an unfinished run as running again. */
int cur_store_run_resume(cur_store *st, int64_t id);
/* Records the end of a run: status, message (may be NULL), counts as JSON
** (may be NULL) and seconds spent in this attempt (added to earlier ones). */
int cur_store_run_finish(cur_store *st, int64_t id, const char *status, const char *message,
                         const char *counts_json, double seconds);
/* The options (JSON) of STAGE's newest complete run; the caller frees *json. */
int cur_store_run_config(cur_store *st, const char *stage, char **json, int *found);
/* The review decisions of each task that has any, in task-name order: their
** count and newest label id, so a new decision, or one removed, changes the
** version of the stages that read reviews. */
typedef int (*cur_review_version_fn)(void *ctx, const char *task, int64_t count, int64_t newest);
int cur_store_review_versions(cur_store *st, cur_review_version_fn each, void *ctx);
/* What ingest produced, as numbers that change exactly when it adds or
** re-checks something: original images (count, newest id, newest run id),
** human labels, duplicate_conflict flags and sources (count and newest id
** of each).  A re-ingest that finds nothing new leaves them as they were,
** so the stages after it stay up to date. */
#define CUR_INGEST_VERSION_LEN 9
int cur_store_ingest_version(cur_store *st, int64_t version[CUR_INGEST_VERSION_LEN]);

#endif
