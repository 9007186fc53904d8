/* embedder.h -- embedding the stored images that lack one: the embed stage's work, shared with the stages that embed variants. */
#ifndef CURATE_EMBEDDER_H
#define CURATE_EMBEDDER_H

#include <stddef.h>
#include <stdint.h>

#include "stage.h"

/* Embeds, under RUN's id, every ok image that has no embedding yet for the
** model OPT (embed options) configures; KEY gets the model's key
** (embeddings.model), set even when the run stops part-way.  A sharded run
** (cur_run_shard) embeds its share into its shard file instead. */
int cur_embedder_fill(cur_run *run, const cJSON *opt, char *key, size_t key_cap);

/* Quarantines image ID, which the model cannot decode (WHY), and reports it
** as an input error; a sharded run records it in its shard file instead. */
int cur_embedder_quarantine(cur_run *run, int64_t id, const char *why);

/* Embeds, under RUN's id, every ok image without an embedding for the
** model the newest embed run's options configure: how policy and train give
** augmented variants their embeddings.  WHAT names the caller and the count
** in the message it prints. */
int cur_embedder_fill_newest(cur_run *run, const char *what, int64_t missing);

#endif
