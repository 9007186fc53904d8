/* fuzz_tokenizer.c -- CLIP tokenizer files and text through clip_tokenizer_open and _encode.
**
** The input holds three parts separated by NUL bytes: vocab.json,
** merges.txt and the text to encode (none of them can hold a NUL of its
** own).  The first two are written into a folder that the tokenizer loads;
** the text is then encoded to CLIP's 77 positions, where the start token
** must come first, the end token at the position reported, and zeros after.
*/
#include "fuzz_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clip_tokenizer.h"
#include "curate.h"

/* Writes the part of DATA[0..SIZE) before the next NUL (or the end) to
** NAME and returns where the part after it starts (SIZE when none). */
static size_t write_part(const char *name, const uint8_t *data, size_t size, size_t at, int *rc) {
  char path[4300];
  const uint8_t *nul = memchr(data + at, 0, size - at);
  size_t len = nul ? (size_t)(nul - (data + at)) : size - at;
  if (*rc == CUR_OK) *rc = fuzz_scratch_file(name, data + at, len, path, sizeof path);
  return nul ? at + len + 1 : size;
}

static void check_ids(const clip_tokenizer *t, const int32_t *ids, int eot_pos) {
  if (ids[0] != clip_tokenizer_sot(t) || eot_pos < 1 || eot_pos >= CLIP_CONTEXT_LEN) abort();
  if (ids[eot_pos] != clip_tokenizer_eot(t)) abort();
  for (int j = eot_pos + 1; j < CLIP_CONTEXT_LEN; j++)
    if (ids[j] != 0) abort();
}

int fuzz_tokenizer(const uint8_t *data, size_t size) {
  char dir[4200];
  const char *scratch = fuzz_scratch_dir();
  if (!scratch) return CUR_EIO;
  snprintf(dir, sizeof dir, "%s/tok", scratch);
  mkdir(dir, 0700);
  int rc = CUR_OK;
  size_t at = write_part("tok/vocab.json", data, size, 0, &rc);
  at = write_part("tok/merges.txt", data, size, at, &rc);
  if (rc != CUR_OK) return rc;
  /* the text: the rest, NUL-terminated */
  char *text = cur_malloc(size - at + 1);
  clip_tokenizer *t = NULL;
  if (!text) return CUR_ENOMEM;
  memcpy(text, data + at, size - at);
  text[size - at] = 0;
  rc = clip_tokenizer_open(dir, &t);
  if (rc == CUR_OK) {
    int32_t ids[CLIP_CONTEXT_LEN];
    int eot_pos = -1;
    rc = clip_tokenizer_encode(t, text, CLIP_CONTEXT_LEN, ids, &eot_pos);
    if (rc == CUR_OK) check_ids(t, ids, eot_pos);
  }
  clip_tokenizer_free(t);
  cur_free(text);
  return rc;
}
