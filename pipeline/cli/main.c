/* main.c -- entry point of the curate command. */
#include "cli.h"

int main(int argc, char **argv) {
  return cur_cli_main(argc, argv);
}
