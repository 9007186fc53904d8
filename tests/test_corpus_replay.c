/* test_corpus_replay.c -- replays every saved fuzzing input in tests/corpus/<target>/
** through the entry point its harness ran (tests/fuzz/fuzz_targets.h).
**
** corpus-1.*: each saved input returns a defined status (CUR_OK or a CUR_E*
**             code) without crashing; in the sanitizer build, without a
**             memory error or undefined behaviour either.
** corpus-2.*: every target survives an empty and a one-byte input.
**
** The inputs are the crashes the fuzzers found (each fixed since), so this
** test is their regression test.  CURATE_SOURCE_DIR locates tests/corpus.
*/
#include <dirent.h>
#include <stdlib.h>

#include "fuzz_targets.h"
#include "testlib.h"

/* The lowest CUR_E* code; a status outside [CUR_ESCHEMA, CUR_OK] is no defined result. */
#define LOWEST_CODE CUR_ESCHEMA

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int regular(const struct dirent *d) {
  return d->d_name[0] != '.';
}

/* Replays every file in tests/corpus/NAME; returns how many inputs ran. */
static int replay_dir(const fuzz_target *t) {
  char *dir = cur_asprintf("%s/tests/corpus/%s", CURATE_SOURCE_DIR, t->name);
  struct dirent **names = NULL;
  int n = dir ? scandir(dir, &names, regular, by_name) : -1, ran = 0;
  for (int i = 0; i < n; i++) {
    char *path = cur_asprintf("%s/%s", dir, names[i]->d_name), *data = NULL;
    size_t len = 0;
    if (path && cur_file_read(path, &data, &len) == CUR_OK) {
      int rc = t->run((const uint8_t *)data, len);
      if (rc > CUR_OK || rc < LOWEST_CODE)
        test_fail(__FILE__, __LINE__, "%s: status %d is no CUR_* code", path, rc);
      ran++;
    } else {
      test_fail(__FILE__, __LINE__, "cannot read %s", path ? path : names[i]->d_name);
    }
    cur_free(data);
    cur_free(path);
    free(names[i]);  /* scandir's */
  }
  free(names);
  cur_free(dir);
  return ran;
}

TEST(every_saved_input_replays_to_a_defined_status) {
  int total = 0;
  for (int i = 0; i < fuzz_n_targets; i++) total += replay_dir(&fuzz_targets[i]);
  printf("  replayed %d saved inputs\n", total);
  CHECK(total > 0);  /* the corpus is in the checkout: an empty walk means a wrong path */
}

TEST(every_target_survives_empty_and_one_byte_inputs) {
  static const uint8_t byte = 0xFF;
  for (int i = 0; i < fuzz_n_targets; i++) {
    int rc0 = fuzz_targets[i].run(&byte, 0), rc1 = fuzz_targets[i].run(&byte, 1);
    CHECK(rc0 <= CUR_OK && rc0 >= LOWEST_CODE);
    CHECK(rc1 <= CUR_OK && rc1 >= LOWEST_CODE);
  }
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(every_saved_input_replays_to_a_defined_status);
  RUN(every_target_survives_empty_and_one_byte_inputs);
  return test_finish();
}
