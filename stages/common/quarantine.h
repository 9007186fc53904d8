/* quarantine.h -- a stage's quarantine of an image it cannot decode. */
#ifndef CURATE_QUARANTINE_H
#define CURATE_QUARANTINE_H

#include <stdint.h>

#include "stage.h"

/* Quarantines image ID, which ingest accepted but STAGE's decoder refuses
** (a stricter decoder than ingest's probe, or bytes changed since), with the
** reason "STAGE: cannot decode: WHY", and reports it once as an input error
** naming its path: no later run trips on it again. */
int cur_stage_quarantine(cur_run *run, const char *stage, int64_t id, const char *why);

#endif
