/* cli_util.c -- option parsing, store and config opening, exit codes for commands. */
#include "cli_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "parallel.h"
#include "runner.h"
#include "stages.h"
#include "text.h"

int cli_value(int *i, int argc, char **argv, const char *name, const char **value) {
  const char *arg = argv[*i];
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0) return 0;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return 1;
  }
  if (arg[n] != 0) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "curate: %s needs a value\n", name);
    return -1;
  }
  *value = argv[++*i];
  return 1;
}

int cli_is_help(const char *arg) {
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "curate %s: ", cmd);
  cur_text_print(stderr, msg);  /* it may quote an argument */
  fprintf(stderr, "\n(see `curate %s --help`)\n", cmd);
  return CUR_EXIT_USAGE;
}

int cli_fail(int rc) {
  fputs("curate: ", stderr);
  cur_text_print(stderr, cur_error());
  fputc('\n', stderr);
  switch (rc) {
  case CUR_EINTR: return CUR_EXIT_INTERRUPTED;
  case CUR_ESCHEMA: return CUR_EXIT_SCHEMA;
  default: return CUR_EXIT_ERROR;
  }
}

int cli_open(const cur_globals *g, int write, cur_store **st, cur_config **cfg) {
  int missing, rc = write < 0 ? cur_store_open_readonly(g->db_path, st) : cur_store_open(g->db_path, st);
  if (rc) return rc;
  if (write > 0 && (rc = cur_store_lock(*st))) goto cleanup;
  if ((rc = cur_config_load(g->config_path, cur_stage_registry(), cfg, &missing))) goto cleanup;
  if (missing) cur_info("note: %s not found; using the default options", g->config_path);
  return CUR_OK;
cleanup:
  cur_store_close(*st);
  *st = NULL;
  return rc;
}

uint64_t cli_seed(const cur_globals *g, const cur_config *cfg) {
  return g->seed_set ? g->seed : (uint64_t)cur_config_seed(cfg);
}

int cli_threads(const cur_globals *g) {
  return g->threads > 0 ? g->threads : cur_cpu_count();
}

int cli_run_stages(const cur_globals *g, cur_store *st, cur_config *cfg, cur_runner_opts *o,
                   cli_after_fn after, void *ctx) {
  int64_t input_errors = 0;
  o->seed = cli_seed(g, cfg);
  o->threads = cli_threads(g);
  int rc = cur_runner_run(st, cfg, o, &input_errors), code = 0;
  if (rc == CUR_OK && after && (code = after(st, cfg, ctx)) < 0) rc = code;
  cur_config_free(cfg);
  cur_store_close(st);
  if (rc) return cli_fail(rc);
  if (input_errors) return CUR_EXIT_PARTIAL;
  return code > 0 ? code : CUR_EXIT_OK;
}
