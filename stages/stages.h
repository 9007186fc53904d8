/* stages.h -- the stage definitions the registry lists, one per stages/<name>.c. */
#ifndef CURATE_STAGES_H
#define CURATE_STAGES_H

#include "stage.h"

extern const cur_stage stage_ingest;
extern const cur_stage stage_split;
extern const cur_stage stage_embed;
extern const cur_stage stage_audit;
extern const cur_stage stage_prelabel;
extern const cur_stage stage_aum;
extern const cur_stage stage_pseudolabel;
extern const cur_stage stage_balance;
extern const cur_stage stage_augment;
extern const cur_stage stage_policy;
extern const cur_stage stage_export;
extern const cur_stage stage_train;

/* Embeds, under RUN's id, every ok image without an embedding for the
** model the newest embed run's options configure: how policy and train give
** augmented variants their embeddings.  WHAT names the caller and the count
** in the message it prints. */
int stage_embed_fill(cur_run *run, const char *what, int64_t missing);

#endif
