/* fuzz_idx.c -- IDX bytes (MNIST's format) through the idx source, as ingest reads them.
**
** The input holds both files of a pair: its first two bytes (little-endian)
** give the length L of the labels file, the next L bytes are the labels file
** (train-labels-idx1-ubyte) and the rest the images file
** (train-images-idx3-ubyte).  Either may be gzipped, as the reader allows.
** Every image the reader yields must come with a label and PNG bytes.
*/
#include "fuzz_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "curate.h"
#include "image.h"
#include "source.h"

/* Enough images to cover the walk without spending seconds on PNG encodes. */
#define MAX_ENTRIES 64

static int want_all(void *ctx, const char *path) {
  (void)ctx, (void)path;
  return 1;
}

int fuzz_idx(const uint8_t *data, size_t size) {
  char dir[4200], path[4300];
  char *classes[3] = {"zero", "one", "two"};
  size_t lab_len = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : 0;
  if (size < 2 || lab_len > size - 2) return CUR_EINPUT;  /* not a pair: nothing to read */
  const char *scratch = fuzz_scratch_dir();
  if (!scratch) return CUR_EIO;
  snprintf(dir, sizeof dir, "%s/idx", scratch);
  mkdir(dir, 0700);
  int rc = fuzz_scratch_file("idx/train-labels-idx1-ubyte", data + 2, lab_len, path, sizeof path);
  if (rc == CUR_OK)
    rc = fuzz_scratch_file("idx/train-images-idx3-ubyte", data + 2 + lab_len, size - 2 - lab_len,
                           path, sizeof path);
  cur_source *src = NULL;
  if (rc == CUR_OK) rc = cur_source_open(dir, "idx", 1 << 20, classes, 3, &src);
  cur_entry e = {0};
  for (int n = 0; rc == CUR_OK && n < MAX_ENTRIES; n++) {
    int got = cur_source_next(src, &e, want_all, NULL);
    if (got <= 0) {
      rc = got;
      break;
    }
    if (!e.path || !e.label || !e.data || !cur_image_is_png(e.data, e.len)) abort();
  }
  cur_entry_clear(&e);
  cur_source_close(src);
  return rc;
}
