/* fuzz_targets.h -- the fuzzing entry points, one per input format, shared by
** the libFuzzer harnesses (fuzz_main.c) and the corpus replay test
** (tests/test_corpus_replay.c), so that a saved crash replays through exactly
** the code the fuzzer ran.
**
** Each entry point takes the raw bytes libFuzzer made, feeds them to curate's
** own reader the way the pipeline does (through a file when the reader takes
** a path), and returns the reader's status: CUR_OK or a negative CUR_E* code
** with its message set.  It never keeps state between calls, except
** process-wide start-up (libvips) and a scratch folder of its own.
*/
#ifndef CURATE_FUZZ_TARGETS_H
#define CURATE_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_target {
  const char *name;       /* harness name: fuzz_<name>, tests/corpus/<name>/ */
  int (*run)(const uint8_t *data, size_t size);
  size_t max_len;         /* libFuzzer's -max_len for the format */
} fuzz_target;

int fuzz_image(const uint8_t *data, size_t size);
int fuzz_archive(const uint8_t *data, size_t size);
int fuzz_labels(const uint8_t *data, size_t size);
int fuzz_teacher(const uint8_t *data, size_t size);
int fuzz_idx(const uint8_t *data, size_t size);
int fuzz_safetensors(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_tokenizer(const uint8_t *data, size_t size);
int fuzz_boxes(const uint8_t *data, size_t size);

/* The targets in a fixed order, and lookup by name (NULL when unknown). */
extern const fuzz_target fuzz_targets[];
extern const int fuzz_n_targets;
const fuzz_target *fuzz_target_find(const char *name);

/* The process's scratch folder (made on first use under $TMPDIR, removed
** with its files at exit); NULL on failure (message set). */
const char *fuzz_scratch_dir(void);
/* Writes DATA to NAME (a relative path: its folders must exist) in the
** scratch folder, the path into PATH.  CUR_OK or CUR_EIO. */
int fuzz_scratch_file(const char *name, const uint8_t *data, size_t size, char *path, size_t cap);
/* A report callback for the readers that discards the message: the fuzzer
** checks that reporting never crashes, not what it says. */
void fuzz_report_ignore(void *ctx, const char *message);

#endif
