/* stages.h -- the registry: the stage definitions in pipeline order, one per stages/<name>. */
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

/* The registry, in pipeline order, and one stage of it by name (NULL when
** there is none). */
cur_stage_list cur_stage_registry(void);
const cur_stage *cur_stage_find(const char *name);

#endif
