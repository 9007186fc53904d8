/* runner.h -- decides which stages are pending and runs them in order. */
#ifndef CURATE_RUNNER_H
#define CURATE_RUNNER_H

#include <stdint.h>

#include "config.h"
#include "stage.h"
#include "store.h"

typedef struct cur_runner_opts {
  const char *only;     /* --stage NAME: just this one */
  const char *from;     /* --from NAME */
  const char *until;    /* --until NAME */
  int force;            /* run even when up to date */
  int fresh;            /* the stages start afresh (cur_run_fresh); implies force */
  uint64_t seed;
  int threads;
} cur_runner_opts;

/* The pipeline run is the configuration's (cur_config_stages): the
** registry for the command, a list of their own for tests. */

/* Runs the selected stages that are not up to date.  Returns CUR_OK,
** CUR_EINTR after a Ctrl-C (work so far committed), or an error code.
** *input_errors gets the number of rejected inputs across stages. */
int cur_runner_run(cur_store *st, const cur_config *cfg, const cur_runner_opts *o,
                   int64_t *input_errors);

/* Runs the share SHARE of stage O->only's work (a stage with a merge hook)
** with ST opened read-only, into a shard file at PATH written atomically:
** no runs row, no lock.  The file carries the stage's config hash, input
** fingerprint and inputs, so that a merge into another database state is
** refused (runner_shard.c). */
int cur_runner_shard(cur_store *st, const cur_config *cfg, const cur_runner_opts *o, cur_share share,
                     const char *path, int64_t *input_errors);
/* Imports the N shard FILES, each in one transaction, under one run of
** their stage, which completes once all the stage's work is in.  A file
** that is unreadable, damaged, or made from another database state or
** options is refused by name (*refused counts them) and the others go on. */
int cur_runner_merge(cur_store *st, const cur_config *cfg, const cur_runner_opts *o,
                     char *const *files, int n, int64_t *input_errors, int *refused);

/* A stage's state for `curate status`: "up to date", "pending", "never
** run", "interrupted" (resumable), "failed"; its newest run id (0 when
** none); and for a pending one why, in words: "options or seed changed",
** "labels of task colour changed by review", "embed's output changed",
** "waits on aum (pending)". */
typedef struct cur_stage_state {
  const char *state;
  int64_t run_id;
  char why[512];
} cur_stage_state;

/* The state of every stage of the configuration's pipeline, in one pass
** (a stage's state depends on those it reads) into OUT, one per stage. */
int cur_runner_states(cur_store *st, const cur_config *cfg, const cur_runner_opts *o,
                      cur_stage_state *out);

#endif
