/* stage.h -- what a stage is, and what the runner hands it while it runs.
**
** A stage is a cur_stage value defined in stages/ (a file, or a folder for a stage with helpers) and listed in the
** registry (stages/registry.c) in the fixed pipeline order.  Its run
** function gets a cur_run: the store, its options, the seed, the thread count
** and a progress reporter.  A stage commits its work in batches and polls
** cur_interrupted() between them; it must be written so that being killed at
** any point and run again gives the same database as one uninterrupted run.
*/
#ifndef CURATE_STAGE_H
#define CURATE_STAGE_H

#include <stdint.h>

#include "config.h"
#include "sha256.h"
#include "store.h"
#include "store_shard.h"

typedef struct cur_run cur_run;

/* In cur_stage.reads: the review decisions (`curate review`, `curate serve`). */
#define CUR_READS_REVIEWS "reviews"

typedef struct cur_stage {
  const char *name;
  const char *summary;             /* one line for --help and status */
  const char *const *needs;        /* earlier stages that must have completed; NULL-ended */
  const cur_option *options;       /* its curate.json options; ended by a NULL key */
  /* Options that tune speed but cannot change a result (e.g. batch sizes of
  ** independent items): left out of the config hash.  NULL-ended, may be NULL. */
  const char *const *unhashed;
  /* What the stage reads, NULL-ended: names of earlier stages (their
  ** output) and CUR_READS_REVIEWS (the review decisions of every task).  Its
  ** input fingerprint hashes their versions (pipeline/inputs.c), so it is
  ** pending exactly when something it reads changed.  NULL: every earlier
  ** stage and the reviews. */
  const char *const *reads;
  /* Adds what the stage reads from outside the database (e.g. ingest: the
  ** sources' sizes and times) to its input fingerprint.  May be NULL. */
  int (*fingerprint)(cur_run *run, cur_sha256 *h);
  /* What that hook hashes, for `curate status` ("the sources' files"). */
  const char *fingerprint_what;
  /* The version of the stage's output as the stages that read it see it.
  ** NULL: its newest complete run's id.  Ingest's hashes what it stored, so
  ** a re-ingest that finds nothing new changes nothing after it. */
  int (*output_version)(cur_store *st, cur_sha256 *h);
  /* Run alone (`--stage`, `curate export`), the stage refuses while an
  ** earlier stage that has run is pending, failed or interrupted: its output
  ** (a manifest a training job consumes) must not be built from stale runs. */
  int fresh_inputs;
  /* Does the work.  CUR_OK when complete, CUR_EINTR when stopped by Ctrl-C at
  ** a batch boundary, another code with the message set on failure. */
  int (*run)(cur_run *run);
  /* Sharded work (docs/scale.md).  A stage that sets merge can run a share
  ** of its work (`curate run --stage X --shard I/N`): run is called with the
  ** store read-only, no run id, cur_run_share saying which images and
  ** cur_run_shard the file its results go to (the stage puts the meta "key":
  ** what its results are of, e.g. the model).  `curate merge` then calls
  ** merge for each shard file inside a transaction it holds, under the run's
  ** id (*added: rows it changed in the store), and merge_done, out of any
  ** transaction, to say whether all the stage's work for KEY is in (*done;
  ** then the run completes with the counts merge_done set). */
  int (*merge)(cur_run *run, cur_shard *in, int64_t *added);
  int (*merge_done)(cur_run *run, const char *key, int *done);
} cur_stage;

/* The run context. */
cur_store *cur_run_store(cur_run *run);
/* A sharded run's share of the images (CUR_SHARE_ALL when not sharded). */
cur_share cur_run_share(const cur_run *run);
/* A sharded run's shard file (NULL when not sharded): its results go there. */
cur_shard *cur_run_shard(cur_run *run);
int64_t cur_run_id(const cur_run *run);
uint64_t cur_run_seed(const cur_run *run);
int cur_run_threads(const cur_run *run);
const cJSON *cur_run_options(const cur_run *run);
/* Another stage's options, for a stage that must work as that one does (the
** policy trains its heads as train does); its fingerprint hook should hash
** them, since the config hash covers only the stage's own section. */
const cJSON *cur_run_options_of(const cur_run *run, const char *stage);
const char *cur_run_stage(const cur_run *run);
/* True when the command asked the stage to start afresh rather than add to
** what its earlier runs left (`curate split`: place every unpinned group again). */
int cur_run_fresh(const cur_run *run);
/* The run's config hash (runs.config_hash): options and seed. */
const char *cur_run_config_hash(const cur_run *run);
/* Sets a named count to a value (counts recomputed from the database). */
void cur_run_count_set(cur_run *run, const char *name, int64_t n);
/* Progress: total may be -1 when unknown; the runner draws the bar. */
void cur_run_progress_start(cur_run *run, const char *what, int64_t total);
void cur_run_progress_add(cur_run *run, int64_t n);
/* Records an input error (named file and problem): printed as a warning,
** counted, and the command exits with CUR_EXIT_PARTIAL at the end. */
void cur_run_input_error(cur_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
