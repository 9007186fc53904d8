/* fuzz_common.c -- the fuzz target table and the scratch files the targets write their input to. */
#include "fuzz_targets.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curate.h"

/* max_len per format: big enough for a few entries or rows of each format,
** small enough that libFuzzer's mutations stay fast; images are the largest
** because a valid JPEG or PNG with several blocks or chunks needs some KB. */
const fuzz_target fuzz_targets[] = {
  {"image", fuzz_image, 65536},
  {"archive", fuzz_archive, 65536},
  {"labels", fuzz_labels, 16384},
  {"teacher", fuzz_teacher, 16384},
  {"idx", fuzz_idx, 16384},
  {"safetensors", fuzz_safetensors, 8192},
  {"config", fuzz_config, 8192},
  {"tokenizer", fuzz_tokenizer, 16384},
  {"boxes", fuzz_boxes, 16384},
};
const int fuzz_n_targets = (int)(sizeof fuzz_targets / sizeof fuzz_targets[0]);

const fuzz_target *fuzz_target_find(const char *name) {
  for (int i = 0; i < fuzz_n_targets; i++)
    if (strcmp(fuzz_targets[i].name, name) == 0) return &fuzz_targets[i];
  return NULL;
}

static char scratch[4096];

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void remove_scratch(void) {
  if (scratch[0]) nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_scratch_dir(void) {
  if (scratch[0]) return scratch;
  const char *tmp = getenv("TMPDIR");
  snprintf(scratch, sizeof scratch, "%s/curate-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(scratch)) {
    cur_errorc(CUR_EIO, "fuzz: cannot make %s", scratch);
    scratch[0] = 0;
    return NULL;
  }
  atexit(remove_scratch);
  return scratch;
}

int fuzz_scratch_file(const char *name, const uint8_t *data, size_t size, char *path, size_t cap) {
  const char *dir = fuzz_scratch_dir();
  if (!dir) return CUR_EIO;
  snprintf(path, cap, "%s/%s", dir, name);
  FILE *fp = fopen(path, "wb");
  if (!fp) return cur_errorc(CUR_EIO, "fuzz: cannot write %s", path);
  int ok = fwrite(data, 1, size, fp) == size;
  if (fclose(fp) != 0 || !ok) return cur_errorc(CUR_EIO, "fuzz: cannot write %s", path);
  return CUR_OK;
}

void fuzz_report_ignore(void *ctx, const char *message) {
  (void)ctx, (void)message;
}
