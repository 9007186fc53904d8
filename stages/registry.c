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

cur_stage_list cur_stage_registry(void) {
  return (cur_stage_list){registry, (int)CUR_ARRAY_LEN(registry)};
}

const cur_stage *cur_stage_find(const char *name) {
  return cur_stage_list_find(cur_stage_registry(), name);
}
