/* cmd_export.c -- `curate export`: the export stage run by hand, with its
** options given on the command line over curate.json's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "runner.h"

static const char export_help[] =
    "Usage: curate export [--format F]... [--out DIR] [--task NAME]... [--shard-size N]\n"
    "\n"
    "Runs the export stage now, with these options over the \"export\" section of\n"
    "curate.json: writes the cleaned manifest (the balanced training rows, the val\n"
    "and test rows, with their current labels), the images named by content hash\n"
    "and metadata.json into DIR. Exporting unchanged data again gives\n"
    "byte-identical files.\n"
    "\n"
    "  --format F       jsonl, csv or webdataset (repeatable; default jsonl)\n"
    "  --out DIR        the output folder (default ./export)\n"
    "  --task NAME      export only this task's labels (repeatable; default all)\n"
    "  --shard-size N   images per WebDataset tar shard (default 10000)\n";

/* Appends VALUE to the string array KEY of OPTS (created on first use). */
static int add_to_list(cJSON *opts, const char *key, const char *value) {
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(opts, key);
  if (!arr) arr = cJSON_AddArrayToObject(opts, key);
  cJSON *s = arr ? cJSON_CreateString(value) : NULL;
  if (s && cJSON_AddItemToArray(arr, s)) return CUR_OK;
  cJSON_Delete(s);
  return cur_errorc(CUR_ENOMEM, "out of memory");
}

/* Reads the command line into OPTS (export options).  CUR_ECONFIG after a
** usage error, which is printed. */
static int parse_export_args(int argc, char **argv, cJSON *opts) {
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r, rc = CUR_OK;
    if ((r = cli_value(&i, argc, argv, "--format", &v)) > 0) rc = add_to_list(opts, "formats", v);
    else if (r == 0 && (r = cli_value(&i, argc, argv, "--task", &v)) > 0) rc = add_to_list(opts, "tasks", v);
    else if (r == 0 && (r = cli_value(&i, argc, argv, "--out", &v)) > 0)
      rc = cJSON_AddStringToObject(opts, "out", v) ? CUR_OK : cur_errorc(CUR_ENOMEM, "out of memory");
    else if (r == 0 && (r = cli_value(&i, argc, argv, "--shard-size", &v)) > 0) {
      char *end;
      long long n = strtoll(v, &end, 10);
      if (!*v || *end || n <= 0)
        return cli_usage_error("export", "--shard-size takes a positive whole number"), CUR_ECONFIG;
      rc = cJSON_AddNumberToObject(opts, "shard_size", (double)n) ? CUR_OK : cur_errorc(CUR_ENOMEM, "out of memory");
    } else if (r == 0) {
      return cli_usage_error("export", "unexpected argument '%s'", argv[i]), CUR_ECONFIG;
    }
    if (r < 0) return CUR_ECONFIG;
    if (rc) return rc;
  }
  return CUR_OK;
}

int cur_cmd_export(const cur_globals *g, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (cli_is_help(argv[i])) {
      fputs(export_help, stdout);
      return CUR_EXIT_OK;
    }
  cur_runner_opts o = {.only = "export", .force = 1};
  cur_store *st = NULL;
  cur_config *cfg = NULL;
  cJSON *opts = cJSON_CreateObject();
  int rc = opts ? parse_export_args(argc, argv, opts) : CUR_ENOMEM;
  if (rc == CUR_ECONFIG) {
    cJSON_Delete(opts);
    return CUR_EXIT_USAGE;
  }
  if (rc == CUR_OK) rc = cli_open(g, 1, &st, &cfg);
  if (rc == CUR_OK) rc = cur_config_merge(cfg, "export", opts, "command line");
  cJSON_Delete(opts);
  if (rc == CUR_OK) return cli_run_stages(g, st, cfg, &o, NULL, NULL);
  cur_config_free(cfg);
  cur_store_close(st);
  return cli_fail(rc);
}
