/* cmd_init.c -- `curate init` and `curate config show`. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "curate.h"
#include "stages.h"

static const char init_help[] =
    "Usage: curate init [--db FILE] [--config FILE]\n"
    "\n"
    "Creates the database with the schema (schema.sql) and writes curate.json\n"
    "with every option at its default. An existing database of this schema\n"
    "version and an existing curate.json are left as they are.\n";

static const char config_help[] =
    "Usage: curate config show [--config FILE]\n"
    "\n"
    "Prints the configuration in force: curate.json merged over the defaults,\n"
    "after checking every key and type.\n";

int cur_cmd_init(const cur_globals *g, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(init_help, stdout);
      return CUR_EXIT_OK;
    }
    return cli_usage_error("init", "unexpected argument '%s'", argv[i]);
  }
  cur_store *st;
  int created, rc = cur_store_init(g->db_path, &st, &created);
  if (rc) return cli_fail(rc);
  cur_store_close(st);
  cur_info("%s: %s", g->db_path, created ? "created" : "already initialised; kept");
  if (access(g->config_path, F_OK) == 0) {
    cur_config *cfg;
    int missing;
    /* an existing file is kept, but it must still be valid */
    if ((rc = cur_config_load(g->config_path, cur_stage_registry(), &cfg, &missing))) return cli_fail(rc);
    cur_config_free(cfg);
    cur_info("%s: exists; kept", g->config_path);
  } else {
    if ((rc = cur_config_write_defaults(g->config_path, cur_stage_registry()))) return cli_fail(rc);
    cur_info("%s: written with every option at its default", g->config_path);
  }
  return CUR_EXIT_OK;
}

int cur_cmd_config(const cur_globals *g, int argc, char **argv) {
  if (argc < 2 || cli_is_help(argv[1])) {
    fputs(config_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? CUR_EXIT_USAGE : CUR_EXIT_OK;
  }
  if (strcmp(argv[1], "show") != 0) return cli_usage_error("config", "unknown action '%s'", argv[1]);
  if (argc > 2) {
    if (cli_is_help(argv[2])) {
      fputs(config_help, stdout);
      return CUR_EXIT_OK;
    }
    return cli_usage_error("config", "unexpected argument '%s'", argv[2]);
  }
  cur_config *cfg;
  int missing, rc = cur_config_load(g->config_path, cur_stage_registry(), &cfg, &missing);
  if (rc) return cli_fail(rc);
  char *text = cur_config_dump(cfg);
  cur_config_free(cfg);
  if (!text) return cli_fail(CUR_ENOMEM);
  if (missing) cur_info("note: %s not found; these are the defaults", g->config_path);
  puts(text);
  cur_free(text);
  return CUR_EXIT_OK;
}
