/* fuzz_config.c -- curate.json bytes through cur_config_load, then every section read back.
**
** A file the loader accepts must give a configuration whose every stage
** section hashes and whose dump is JSON that loads again to the same dump.
*/
#include "fuzz_targets.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "curate.h"
#include "stage.h"
#include "stages.h"

/* Each registered stage's section hashes. */
static int hash_sections(const cur_config *cfg) {
  int n;
  cur_stage_list registry = cur_stage_registry();
  const cur_stage *const *stages = registry.at;
  n = registry.n;
  char hex[65];
  for (int i = 0; i < n; i++) {
    const cJSON *section = cur_config_section(cfg, stages[i]->name);
    if (!section) abort();
    int rc = cur_config_hash(section, NULL, (uint64_t)cur_config_seed(cfg), hex);
    if (rc != CUR_OK) return rc;
  }
  return CUR_OK;
}

int fuzz_config(const uint8_t *data, size_t size) {
  char path[4200];
  cur_config *cfg = NULL, *again = NULL;
  int missing = 0;
  int rc = fuzz_scratch_file("curate.json", data, size, path, sizeof path);
  if (rc == CUR_OK) rc = cur_config_load(path, cur_stage_registry(), &cfg, &missing);
  if (rc != CUR_OK) return rc;
  char *dump = cur_config_dump(cfg), *dump2 = NULL;
  rc = dump ? hash_sections(cfg) : CUR_ENOMEM;
  /* the dump is a configuration file too, and loads to itself */
  if (rc == CUR_OK) rc = fuzz_scratch_file("dump.json", (const uint8_t *)dump, strlen(dump), path, sizeof path);
  if (rc == CUR_OK) rc = cur_config_load(path, cur_stage_registry(), &again, &missing);
  if (rc == CUR_OK && (!(dump2 = cur_config_dump(again)) || strcmp(dump, dump2) != 0)) abort();
  cur_free(dump);
  cur_free(dump2);
  cur_config_free(cfg);
  cur_config_free(again);
  return rc;
}
