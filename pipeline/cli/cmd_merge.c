/* cmd_merge.c -- `curate merge FILE...`: imports the shard files of a sharded stage run. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "runner.h"

static const char merge_help[] =
    "Usage: curate merge FILE...\n"
    "\n"
    "Imports shard files made by `curate run --stage embed|augment --shard I/N`,\n"
    "each in one transaction. A file made from another database state (new\n"
    "images, another split) or with other options, seed or model than the ones\n"
    "in force is refused by name with what differs, as is a damaged or\n"
    "unfinished one; the others are imported (exit 3). Augment's shards go in\n"
    "in the plan's order: one whose part comes after a part not merged yet\n"
    "waits for it among the files given, else is refused (merge it later).\n"
    "Merging a file again changes nothing. Once the stage's work is all in,\n"
    "its run is recorded as complete, so `curate status` shows it up to date\n"
    "and `curate run` goes on with the next stages; until then it shows it\n"
    "interrupted.\n";

int cur_cmd_merge(const cur_globals *g, int argc, char **argv) {
  int n_files = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(merge_help, stdout);
      return CUR_EXIT_OK;
    }
    if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("merge", "unknown option '%s'", argv[i]);
    argv[1 + n_files++] = argv[i];
  }
  if (n_files == 0) return cli_usage_error("merge", "give at least one shard FILE");
  cur_store *st;
  cur_config *cfg;
  int rc = cli_open(g, 1, &st, &cfg), refused = 0;
  if (rc) return cli_fail(rc);
  cur_runner_opts o = {.seed = cli_seed(g, cfg), .threads = cli_threads(g)};
  int64_t input_errors = 0;
  rc = cur_runner_merge(st, cfg, &o, argv + 1, n_files, &input_errors, &refused);
  cur_config_free(cfg);
  cur_store_close(st);
  if (rc) return cli_fail(rc);
  return refused || input_errors ? CUR_EXIT_PARTIAL : CUR_EXIT_OK;
}
