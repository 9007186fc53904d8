/* fuzz_safetensors.c -- .safetensors bytes through cur_st_open, then every tensor read.
**
** Open promises a validated header: ranges inside the data section, not
** overlapping, element counts matching byte counts.  The harness leans on
** that promise: it checks that the ranges fit in the file, finds each tensor
** by name and converts every float tensor to float32.
*/
#include "fuzz_targets.h"

#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "safetensors.h"

int fuzz_safetensors(const uint8_t *data, size_t size) {
  char path[4200];
  cur_st_file *f = NULL;
  int rc = fuzz_scratch_file("model.safetensors", data, size, path, sizeof path);
  if (rc == CUR_OK) rc = cur_st_open(path, &f);
  if (rc != CUR_OK) return rc;
  size_t total = 0;
  for (int i = 0; rc == CUR_OK && i < cur_st_count(f); i++) {
    const cur_st_tensor *t = cur_st_get(f, i);
    total += t->nbytes;
    if (total > size || cur_st_find(f, t->name) == NULL) abort();
    if (t->dtype != CUR_ST_F32 && t->dtype != CUR_ST_F16 && t->dtype != CUR_ST_BF16) continue;
    float *out = cur_mallocarray(t->numel ? t->numel : 1, sizeof *out);
    if (!out) rc = CUR_ENOMEM;
    else rc = cur_st_to_f32(t, out);
    cur_free(out);
  }
  cur_st_close(f);
  return rc;
}
