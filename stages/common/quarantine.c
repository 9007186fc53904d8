/* quarantine.c -- a stage's quarantine of an image it cannot decode (embed, audit). */
#include "quarantine.h"

#include "curate.h"
#include "store_images.h"

int cur_stage_quarantine(cur_run *run, const char *stage, int64_t id, const char *why) {
  char *path = NULL, *reason = cur_asprintf("%s: cannot decode: %s", stage, why);
  int rc = reason ? cur_store_image_quarantine(cur_run_store(run), id, reason, &path) : CUR_ENOMEM;
  if (rc == CUR_OK)
    cur_run_input_error(run, "%s: %s (image %lld) cannot be decoded: %s; quarantined", stage, path,
                        (long long)id, why);
  cur_free(path);
  cur_free(reason);
  return rc;
}
