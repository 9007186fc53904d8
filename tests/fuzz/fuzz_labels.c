/* fuzz_labels.c -- label-file bytes through cur_labelfile_load, read as CSV and as JSONL.
**
** The same bytes are loaded twice, once under each extension (the extension
** picks the parser), with the default columns: path, label, split, group.
*/
#include "fuzz_targets.h"

#include <stdlib.h>

#include "curate.h"
#include "labelfile.h"

/* Loads PATH and walks its rows; returns the load's status. */
static int load_and_walk(const char *path) {
  const cur_labelspec spec = {0};
  cur_labelfile *lf = NULL;
  int rc = cur_labelfile_load(path, &spec, fuzz_report_ignore, NULL, &lf);
  if (rc != CUR_OK) return rc;
  for (size_t i = 0; i < cur_labelfile_count(lf); i++) {
    const cur_labelrow *r = cur_labelfile_row(lf, i);
    if (r->line < 1 || !r->values) abort();
  }
  cur_labelfile_free(lf);
  return CUR_OK;
}

int fuzz_labels(const uint8_t *data, size_t size) {
  char path[4200];
  int rc = fuzz_scratch_file("labels.csv", data, size, path, sizeof path);
  if (rc == CUR_OK) rc = load_and_walk(path);
  int rc_jsonl = fuzz_scratch_file("labels.jsonl", data, size, path, sizeof path);
  if (rc_jsonl == CUR_OK) rc_jsonl = load_and_walk(path);
  return rc != CUR_OK ? rc : rc_jsonl;
}
