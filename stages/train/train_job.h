/* train_job.h -- train.command, the train stage's external training job
** (docs/stages/train.md). */
#ifndef CURATE_TRAIN_JOB_H
#define CURATE_TRAIN_JOB_H

#include "stage.h"

/* The path of the newest complete export run's JSONL manifest, which must
** exist: looked up before training, so that a missing one costs nothing.
** The caller frees *path. */
int cur_train_job_manifest(cur_run *run, char **path);
/* Runs train.command of RUN's options on MANIFEST, its output shown as it
** comes (unless --quiet), and records command_exit and command_output.
** A non-zero exit status is an error naming it. */
int cur_train_job_run(cur_run *run, const char *manifest);

#endif
