/* stages.h -- the stage definitions the registry lists, one per stages/<name>.c. */
#ifndef CURATE_STAGES_H
#define CURATE_STAGES_H

#include "stage.h"

extern const cur_stage stage_ingest;
extern const cur_stage stage_embed;
extern const cur_stage stage_prelabel;
extern const cur_stage stage_balance;
extern const cur_stage stage_augment;
extern const cur_stage stage_export;
extern const cur_stage stage_train;

#endif
