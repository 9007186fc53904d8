/* registry.c -- the stages in their fixed pipeline order. */
#include <string.h>

#include "curate.h"

#include "stage.h"
#include "stages.h"

static const cur_stage *const registry[] = {
    &stage_ingest,
    &stage_split,
    &stage_embed,
    &stage_audit,
    &stage_prelabel,
    &stage_aum,
    &stage_pseudolabel,
    &stage_balance,
    &stage_augment,
    &stage_policy,
    &stage_export,
    &stage_train,
};

const cur_stage *const *cur_stages(int *count) {
  *count = (int)CUR_ARRAY_LEN(registry);
  return registry;
}

const cur_stage *cur_stage_find(const char *name) {
  for (size_t i = 0; i < CUR_ARRAY_LEN(registry); i++)
    if (strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}
