/* cli.c -- placeholder dispatcher, replaced by the full command line. */
#include "cli.h"
#include <stdio.h>
int cur_cli_main(int argc, char **argv) {
  (void)argc; (void)argv;
  fprintf(stderr, "curate: not built yet\n");
  return 1;
}
