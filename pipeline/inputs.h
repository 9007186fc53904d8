/* inputs.h -- a stage's inputs as versions: its fingerprint, and the words for what changed (inputs.c). */
#ifndef CURATE_INPUTS_H
#define CURATE_INPUTS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "config.h"
#include "sha256.h"
#include "stage.h"
#include "store.h"

/* Adds the version of STAGE's output, as a stage reading it sees it, to H. */
int cur_inputs_output_version(cur_store *st, const cur_stage *stage, cur_sha256 *h);
/* The versions of what STAGE reads (its reads list, or when it has none
** every stage before it in PIPELINE and the reviews; then its own
** fingerprint hook, called with RUN) as a new JSON object of name -> version. */
int cur_inputs_build(cur_run *run, cur_store *st, const cur_stage *stage, cur_stage_list pipeline,
                     cJSON **out);
/* The input fingerprint: sha256 of the object's text. */
int cur_inputs_fingerprint(const cJSON *inputs, char out[65]);
/* What differs between a run's inputs THEN (NULL when it recorded none) and
** NOW, in words ("labels of task colour changed by review; embed's output
** changed"), into WHY; empty when nothing differs. */
void cur_inputs_explain(const cJSON *then, const cJSON *now, const cur_stage *stage, char *why,
                        size_t cap);

#endif
