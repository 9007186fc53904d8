/* cli_util.h -- what the command implementations (cmd_*.c) share: option
** parsing, opening the store and config, and turning results into exit codes. */
#ifndef CURATE_CLI_UTIL_H
#define CURATE_CLI_UTIL_H

#include <cjson/cJSON.h>

#include "cli.h"
#include "config.h"
#include "store.h"

/* Matches argv[*i] against --NAME VALUE or --NAME=VALUE.  Returns 1 and sets
** *value (advancing *i past a separate value), 0 when it is not this option,
** or -1 (message printed) when the value is missing. */
int cli_value(int *i, int argc, char **argv, const char *name, const char **value);
/* True when argv[i] is -h or --help. */
int cli_is_help(const char *arg);
/* Prints "curate: MESSAGE" and returns CUR_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the last error and returns the exit code for RC. */
int cli_fail(int rc);
/* Opens the database and the config: WRITE 1 takes the writer lock, 0
** does not, -1 opens the database read-only (a shard). */
int cli_open(const cur_globals *g, int write, cur_store **st, cur_config **cfg);
/* The seed in force: --seed, else the config's. */
uint64_t cli_seed(const cur_globals *g, const cur_config *cfg);
int cli_threads(const cur_globals *g);
/* Runs the runner with O (its seed and threads filled in from G and CFG),
** then, when the stages succeeded and AFTER is not NULL, AFTER(st, cfg, ctx)
** (e.g. the closing report), closes ST and frees CFG, and returns the
** command's exit code: AFTER's when it returns one above 0. */
struct cur_runner_opts;
typedef int (*cli_after_fn)(cur_store *st, const cur_config *cfg, void *ctx);
int cli_run_stages(const cur_globals *g, cur_store *st, cur_config *cfg, struct cur_runner_opts *o,
                   cli_after_fn after, void *ctx);

/* Adds "stages" [{stage, state, run}] to OUT: each stage's state as
** `curate status` shows it (also on the overview page of `curate serve`). */
int cli_status_stages(cur_store *st, const cur_config *cfg, uint64_t seed, cJSON *out);

/* Commands, one per cmd_*.c file. */
int cur_cmd_init(const cur_globals *g, int argc, char **argv);
int cur_cmd_config(const cur_globals *g, int argc, char **argv);
int cur_cmd_ingest(const cur_globals *g, int argc, char **argv);
int cur_cmd_run(const cur_globals *g, int argc, char **argv);
int cur_cmd_status(const cur_globals *g, int argc, char **argv);
int cur_cmd_flagged(const cur_globals *g, int argc, char **argv);
int cur_cmd_review(const cur_globals *g, int argc, char **argv);
int cur_cmd_export(const cur_globals *g, int argc, char **argv);
int cur_cmd_compare(const cur_globals *g, int argc, char **argv);
int cur_cmd_sources(const cur_globals *g, int argc, char **argv);
int cur_cmd_split(const cur_globals *g, int argc, char **argv);
int cur_cmd_serve(const cur_globals *g, int argc, char **argv);
int cur_cmd_report(const cur_globals *g, int argc, char **argv);
int cur_cmd_merge(const cur_globals *g, int argc, char **argv);

#endif
