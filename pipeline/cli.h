/* cli.h -- the curate command line: parses global options and dispatches commands. */
#ifndef CURATE_CLI_H
#define CURATE_CLI_H

/* Runs the command line; returns the process exit code (see docs/cli.md). */
int cur_cli_main(int argc, char **argv);

#endif
