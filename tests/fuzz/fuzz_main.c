/* fuzz_main.c -- libFuzzer's entry points for one target, chosen at build time
** (FUZZ_TARGET, the target's name as a string: CMake builds one fuzz_<name>
** executable per target from this file). */
#include "fuzz_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const fuzz_target *target;

/* Adds -max_len=<the target's> unless the command line gives one: the
** table in fuzz_common.c is the one place that knows each format's size.
** libFuzzer reads its flags after this returns. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static char flag[64];
  static char **args;
  if (!(target = fuzz_target_find(FUZZ_TARGET))) abort();
  for (int i = 1; i < *argc; i++)
    if (strncmp((*argv)[i], "-max_len=", 9) == 0) return 0;
  if (!(args = calloc((size_t)*argc + 2, sizeof *args))) abort();
  memcpy(args, *argv, (size_t)*argc * sizeof *args);
  snprintf(flag, sizeof flag, "-max_len=%zu", target->max_len);
  /* after argv[0], so that a corpus folder stays the first positional argument */
  memmove(args + 2, args + 1, (size_t)(*argc - 1) * sizeof *args);
  args[1] = flag;
  *argv = args;
  ++*argc;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  target->run(data, size);
  return 0;
}
