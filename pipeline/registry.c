/* registry.c -- the stages in their fixed pipeline order. */
#include <string.h>

#include "curate.h"

#include "stage.h"
#include "stages.h"

static const cur_stage *const registry[] = {
    &stage_ingest,
};

const cur_stage *const *cur_stages(int *count) {
  *count = (int)CUR_ARRAY_LEN(registry);
  return registry;
}

int cur_stage_index(const char *name) {
  for (size_t i = 0; i < CUR_ARRAY_LEN(registry); i++)
    if (strcmp(registry[i]->name, name) == 0) return (int)i;
  return -1;
}

const cur_stage *cur_stage_find(const char *name) {
  int i = cur_stage_index(name);
  return i < 0 ? NULL : registry[i];
}
