/* cli.c -- the curate command line: global options, the command table, help. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "cmd_clip.h"
#include "config.h"
#include "curate.h"
#include "image.h"
#include "text.h"

typedef struct command {
  const char *name;
  cur_command_fn fn;
  const char *summary;
} command;

static const command commands[] = {
    {"init", cur_cmd_init, "create the database and curate.json with every option"},
    {"ingest", cur_cmd_ingest, "register image sources and read them in"},
    {"sources", cur_cmd_sources, "list the registered sources with their state, or remove one"},
    {"split", cur_cmd_split, "place every unpinned group in train, val or test again"},
    {"run", cur_cmd_run, "run every stage that is not up to date (or chosen ones)"},
    {"merge", cur_cmd_merge, "import shard files made by `run --stage embed|augment --shard I/N`"},
    {"status", cur_cmd_status, "stage states, images per split and class, quarantine"},
    {"flagged", cur_cmd_flagged, "list images flagged as likely mislabelled, worst first"},
    {"review", cur_cmd_review, "accept, drop or relabel flagged images"},
    {"serve", cur_cmd_serve, "the reviewer's workbench in the browser (local, token-protected)"},
    {"report", cur_cmd_report, "the workbench's pages as a static snapshot in a folder"},
    {"config", cur_cmd_config, "show the configuration in force"},
    {"clip", cur_cmd_clip, "embed images or texts, or zero-shot classify, with a CLIP checkpoint"},
    {"export", cur_cmd_export, "write the cleaned manifest now (formats and folder on the command line)"},
    {"compare", cur_cmd_compare, "two runs' metrics side by side, with the difference"},
};

static const char global_help[] =
    "Usage: curate [GLOBAL OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Global options (before or after the command):\n"
    "  --db FILE       the database (default ./curate.db)\n"
    "  --config FILE   the configuration (default ./curate.json)\n"
    "  --threads N     worker threads (default: one per core)\n"
    "  --seed N        seed for random choices (default: the config's seed)\n"
    "  --quiet         no progress or info lines; warnings and errors still print\n"
    "  --json          machine-readable output where a command offers it\n"
    "  -h, --help      this help; `curate COMMAND --help` for a command's\n"
    "\n"
    "Exit codes: 0 done; 1 failed; 2 bad command line; 3 done, but some inputs\n"
    "were rejected or quarantined; 4 database of another schema version;\n"
    "5 `run --strict` finished with warnings in its report;\n"
    "130 interrupted (finished batches are kept; run again to resume).\n";

static void print_help(FILE *out) {
  fputs(global_help, out);
  fputs("\nCommands:\n", out);
  for (size_t i = 0; i < CUR_ARRAY_LEN(commands); i++)
    fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* --seed: an integer, then the range check curate.json's seed has (config.h). */
static int parse_seed(const char *v, uint64_t *out) {
  const char *digits = v + (v[0] == '-');
  if (!digits[0] || strspn(digits, "0123456789") != strlen(digits))
    return cli_usage_error("", "--seed takes an integer"), -1;
  double seed = strtod(v, NULL);  /* exact up to CUR_SEED_MAX; beyond, refused */
  if (cur_config_check_seed(seed, "--seed")) return cli_usage_error("", "%s", cur_error()), -1;
  *out = (uint64_t)seed;
  return 0;
}

/* Removes the global options from argv wherever they stand (up to "--"). */
static int take_globals(int *argc, char **argv, cur_globals *g) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *v;
    long long n;
    int r;
    if (strcmp(argv[i], "--") == 0) {
      while (i < *argc) argv[out++] = argv[i++];
      break;
    }
    if ((r = cli_value(&i, *argc, argv, "--db", &g->db_path))) {
      if (r < 0) return -1;
    } else if ((r = cli_value(&i, *argc, argv, "--config", &g->config_path))) {
      if (r < 0) return -1;
      g->config_set = 1;
    } else if ((r = cli_value(&i, *argc, argv, "--threads", &v))) {
      if (r < 0 || parse_int(v, 0, 1024, &n)) return cli_usage_error("", "--threads takes 0 to 1024"), -1;
      g->threads = (int)n;
    } else if ((r = cli_value(&i, *argc, argv, "--seed", &v))) {
      if (r < 0 || parse_seed(v, &g->seed) < 0) return -1;
      g->seed_set = 1;
    } else if (strcmp(argv[i], "--quiet") == 0) {
      g->quiet = 1;
    } else if (strcmp(argv[i], "--json") == 0) {
      g->json = 1;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  argv[out] = NULL;
  return 0;
}

int cur_cli_main(int argc, char **argv) {
  cur_globals g = {.db_path = "curate.db", .config_path = "curate.json"};
  if (take_globals(&argc, argv, &g) < 0) return CUR_EXIT_USAGE;
  cur_log_set_quiet(g.quiet);
  if (argc < 2) {
    print_help(stderr);
    return CUR_EXIT_USAGE;
  }
  if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
    print_help(stdout);
    return CUR_EXIT_OK;
  }
  for (size_t i = 0; i < CUR_ARRAY_LEN(commands); i++) {
    if (strcmp(argv[1], commands[i].name) != 0) continue;
    /* a mistyped --config must not run the stages with the defaults */
    if (g.config_set && strcmp(argv[1], "init") != 0 && access(g.config_path, F_OK) != 0)
      return cli_usage_error(argv[1], "--config %s: no such file (`curate init --config %s` writes one)",
                             g.config_path, g.config_path);
    if (cur_image_init() != CUR_OK) return cli_fail(CUR_ERR);
    cur_interrupt_install();
    return commands[i].fn(&g, argc - 1, argv + 1);
  }
  fputs("curate: unknown command '", stderr);
  cur_text_print(stderr, argv[1]);
  fputs("'\n\n", stderr);
  print_help(stderr);
  return CUR_EXIT_USAGE;
}
