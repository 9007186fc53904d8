/* cmd_sources.c -- `curate sources`: the registered sources with their state,
** and `curate sources remove ID [--purge [--force]]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "text.h"
#include "store_sources.h"

static const char sources_help[] =
    "Usage: curate sources [list]\n"
    "       curate sources remove ID [--purge [--force]]\n"
    "\n"
    "Lists the registered sources: id, state, what became of their entries\n"
    "(ingested, duplicate, quarantined, rejected), kind and path. The state is\n"
    "what the last ingest found: new (not read yet), ok (read to the end),\n"
    "failed (cannot be opened, or breaks off midway: the reason is printed\n"
    "below it; entries read before stay) or missing (the path is gone). A\n"
    "failed or missing source is read again once its files change, or with\n"
    "`curate ingest --force`. With --json, the list is printed as JSON.\n"
    "\n"
    "  remove ID   unregister source ID: its entries are forgotten, its images\n"
    "              stay (credited to another source holding the same content)\n"
    "  --purge     also delete the images only this source holds, their\n"
    "              variants, labels, flags, scores and embeddings\n"
    "  --force     with --purge: also when some carry review decisions\n";

static void print_sources(const cJSON *arr) {
  if (!arr->child) {
    printf("no sources yet; add one with `curate ingest SOURCE`\n");
    return;
  }
  printf("%4s  %-8s %9s %9s %11s %8s  %-7s  %s\n", "id", "state", "ingested", "duplicate",
         "quarantined", "rejected", "kind", "path");
  for (const cJSON *r = arr->child; r; r = r->next) {
    printf("%4.0f  %-8s %9.0f %9.0f %11.0f %8.0f  %-7s  %s\n", cur_json_num(r, "id", 0),
           cur_json_str(r, "state", NULL), cur_json_num(r, "ingested", 0),
           cur_json_num(r, "duplicate", 0), cur_json_num(r, "quarantined", 0),
           cur_json_num(r, "rejected", 0), cur_json_str(r, "kind", NULL),
           cur_json_str(r, "uri", NULL));
    if (cur_json_str(r, "reason", NULL)) printf("      %s\n", cur_json_str(r, "reason", NULL));
  }
}

static int list_sources(const cur_globals *g) {
  cur_store *st;
  cur_config *cfg;
  cJSON *arr = cJSON_CreateArray();
  int rc = arr ? cli_open(g, 0, &st, &cfg) : cur_errorc(CUR_ENOMEM, "out of memory");
  if (rc) {
    cJSON_Delete(arr);
    return cli_fail(rc);
  }
  rc = cur_store_source_list(st, arr);
  if (rc == CUR_OK && g->json) {
    char *text = cur_json_print(arr, 1);  /* valid UTF-8 whatever the paths hold */
    if (text) printf("%s\n", text);
    else rc = CUR_ENOMEM;
    cur_free(text);
  } else if (rc == CUR_OK && (rc = cur_json_make_printable(arr)) == CUR_OK) {
    print_sources(arr);  /* paths and reasons escaped for the terminal */
  }
  cJSON_Delete(arr);
  cur_config_free(cfg);
  cur_store_close(st);
  return rc ? cli_fail(rc) : CUR_EXIT_OK;
}

static int remove_source(const cur_globals *g, int argc, char **argv) {
  const char *id_arg = NULL;
  int purge = 0, force = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--purge") == 0) purge = 1;
    else if (strcmp(argv[i], "--force") == 0) force = 1;
    else if (argv[i][0] != '-' && !id_arg) id_arg = argv[i];
    else return cli_usage_error("sources", "unexpected argument '%s'", argv[i]);
  }
  char *end;
  long long id = id_arg ? strtoll(id_arg, &end, 10) : 0;
  if (!id_arg || !*id_arg || *end || id <= 0)
    return cli_usage_error("sources", "remove takes a source id (`curate sources` lists them)");
  if (force && !purge) return cli_usage_error("sources", "--force goes with --purge");
  cur_store *st;
  cur_config *cfg;
  int64_t purged = 0;
  int rc = cli_open(g, 1, &st, &cfg);
  if (rc) return cli_fail(rc);
  rc = cur_store_source_remove(st, id, purge, force, &purged);
  cur_config_free(cfg);
  cur_store_close(st);
  if (rc) return cli_fail(rc);
  if (purge) cur_info("sources: removed source %lld and purged %lld images", id, (long long)purged);
  else cur_info("sources: removed source %lld; its images stay", id);
  return CUR_EXIT_OK;
}

int cur_cmd_sources(const cur_globals *g, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (cli_is_help(argv[i])) {
      fputs(sources_help, stdout);
      return CUR_EXIT_OK;
    }
  if (argc >= 2 && strcmp(argv[1], "remove") == 0) return remove_source(g, argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "list") != 0)
    return cli_usage_error("sources", "unexpected argument '%s'", argv[1]);
  if (argc > 2) return cli_usage_error("sources", "unexpected argument '%s'", argv[2]);
  return list_sources(g);
}
