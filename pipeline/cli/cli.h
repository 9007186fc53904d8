/* cli.h -- the curate command line: global options and the command table. */
#ifndef CURATE_CLI_H
#define CURATE_CLI_H

#include <stdint.h>

/* Options that come before the command name and apply to every command. */
typedef struct cur_globals {
  const char *db_path;      /* --db, default ./curate.db */
  const char *config_path;  /* --config, default ./curate.json */
  int config_set;           /* --config given: the file must exist (init writes it) */
  int threads;              /* --threads, 0 = number of cores */
  uint64_t seed;            /* --seed, overrides the config's seed when seed_set */
  int seed_set;
  int quiet;                /* --quiet: no progress, no info lines */
  int json;                 /* --json: machine-readable output where offered */
} cur_globals;

/* A command's entry point: argv[0] is the command name, the global options
** are already removed.  Returns the process exit code (docs/cli.md). */
typedef int (*cur_command_fn)(const cur_globals *g, int argc, char **argv);

/* Exit codes, documented in docs/cli.md. */
enum {
  CUR_EXIT_OK = 0,
  CUR_EXIT_ERROR = 1,     /* the command failed; the message says why */
  CUR_EXIT_USAGE = 2,     /* bad command line */
  CUR_EXIT_PARTIAL = 3,   /* finished, but some inputs were rejected */
  CUR_EXIT_SCHEMA = 4,    /* database of another schema version */
  CUR_EXIT_WARNINGS = 5,  /* run --strict: finished, with warnings in its report */
  CUR_EXIT_INTERRUPTED = 130
};

/* Runs the command line; returns the process exit code. */
int cur_cli_main(int argc, char **argv);

#endif
