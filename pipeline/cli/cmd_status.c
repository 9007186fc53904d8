/* cmd_status.c -- `curate status`: stage states, images per split, task and class,
** quarantined and rejected inputs, flags awaiting review. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "runner.h"
#include "stage.h"
#include "stages.h"
#include "store_sources.h"
#include "store_status.h"
#include "text.h"

static const char status_help[] =
    "Usage: curate status [--json]\n"
    "\n"
    "Shows each stage's state (up to date, pending, never run, interrupted,\n"
    "failed) and why a pending one is pending; the sources with their state (a\n"
    "failed or missing one with the reason), images per split, per task and\n"
    "class, a warning for each class with fewer val or test images than\n"
    "split.min_eval_rows, the quarantined images with their reasons, rejected\n"
    "entries, and flags by review status.\n";

int cli_status_stages(cur_store *st, const cur_config *cfg, uint64_t seed, cJSON *out) {
  cur_stage_list stages = cur_config_stages(cfg);
  cur_runner_opts ro = {.seed = seed};
  cur_stage_state *states = cur_mallocarray((size_t)stages.n, sizeof *states);
  cJSON *arr = cJSON_AddArrayToObject(out, "stages");
  int rc = !states || !arr ? cur_errorc(CUR_ENOMEM, "out of memory")
                           : cur_runner_states(st, cfg, &ro, states);
  for (int i = 0; rc == CUR_OK && i < stages.n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o) ||
        !cJSON_AddStringToObject(o, "stage", stages.at[i]->name) ||
        !cJSON_AddStringToObject(o, "state", states[i].state) ||
        !cJSON_AddNumberToObject(o, "run", (double)states[i].run_id) ||
        (states[i].why[0] && !cJSON_AddStringToObject(o, "why", states[i].why)))
      rc = cur_errorc(CUR_ENOMEM, "out of memory");
  }
  cur_free(states);
  return rc;
}

static int split_col(const char *split) {
  return strcmp(split, "train") == 0 ? 0 : strcmp(split, "val") == 0 ? 1 : 2;
}

/* Classes as a table per task: one row per class, columns train/val/test.
** The rows come sorted by task, then class, then split. */
static void print_classes(const cJSON *rows) {
  const char *task = NULL;
  for (const cJSON *r = rows ? rows->child : NULL; r;) {
    if (!task || strcmp(task, cur_json_str(r, "task", "")) != 0) {
      task = cur_json_str(r, "task", "");
      printf("\nTask %s:\n  %-24s %8s %8s %8s %8s\n", task, "class", "train", "val", "test", "total");
    }
    const char *cls = cur_json_str(r, "class", "");
    double count[3] = {0, 0, 0};
    for (; r && strcmp(cur_json_str(r, "task", ""), task) == 0 &&
           strcmp(cur_json_str(r, "class", ""), cls) == 0;
         r = r->next)
      count[split_col(cur_json_str(r, "split", ""))] += cur_json_num(r, "images", 0);
    printf("  %-24s %8.0f %8.0f %8.0f %8.0f\n", cls, count[0], count[1], count[2],
           count[0] + count[1] + count[2]);
  }
}

/* Classes with fewer than MIN val or test rows: measured on so few rows, a
** class's figures say little.  Added to OUT as "split_warnings". */
static int add_split_warnings(const cur_config *cfg, cJSON *out) {
  int64_t min = cur_opt_int(cur_config_section(cfg, "split"), "min_eval_rows");
  cJSON *warnings = cJSON_AddArrayToObject(out, "split_warnings");
  const cJSON *r;
  if (!warnings || !cJSON_AddNumberToObject(out, "min_eval_rows", (double)min))
    return cur_errorc(CUR_ENOMEM, "out of memory");
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(out, "split_health")) {
    if (cur_json_num(r, "val", 0) >= (double)min && cur_json_num(r, "test", 0) >= (double)min) continue;
    cJSON *w = cJSON_Duplicate(r, 1);
    if (!w || !cJSON_AddItemToArray(warnings, w)) {
      cJSON_Delete(w);
      return cur_errorc(CUR_ENOMEM, "out of memory");
    }
  }
  return CUR_OK;
}

static void print_split_health(const cJSON *out) {
  const cJSON *r;
  double unplaced = cur_json_num(out, "unplaced", 0);
  if (unplaced > 0)
    printf("\nSplit: %.0f images wait for the split stage (`curate run --stage split`)\n", unplaced);
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(out, "split_warnings"))
    printf("warning: task %s, class %s: %.0f val and %.0f test images, fewer than "
           "split.min_eval_rows (%.0f)\n", cur_json_str(r, "task", ""),
           cur_json_str(r, "class", ""), cur_json_num(r, "val", 0), cur_json_num(r, "test", 0),
           cur_json_num(out, "min_eval_rows", 0));
}

static void print_text(const cJSON *out) {
  const cJSON *r;
  printf("Stages:\n");
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(out, "stages")) {
    printf("  %-12s %s", cur_json_str(r, "stage", ""), cur_json_str(r, "state", ""));
    if (cur_json_num(r, "run", 0) > 0) printf(" (run %.0f)", cur_json_num(r, "run", 0));
    if (*cur_json_str(r, "why", "")) {
      printf(": ");
      cur_text_print(stdout, cur_json_str(r, "why", ""));  /* task names come from files */
    }
    printf("\n");
  }
  const cJSON *sources = cJSON_GetObjectItemCaseSensitive(out, "sources");
  if (cJSON_GetArraySize(sources) > 0) printf("\nSources:\n");
  cJSON_ArrayForEach(r, sources) {
    printf("  %4.0f  %-8s %-8s %s\n", cur_json_num(r, "id", 0), cur_json_str(r, "state", ""),
           cur_json_str(r, "kind", ""), cur_json_str(r, "uri", ""));
    if (*cur_json_str(r, "reason", "")) printf("        %s\n", cur_json_str(r, "reason", ""));
  }
  printf("\nImages:\n  %-8s %8s %8s %12s %8s\n", "split", "images", "ok", "quarantined", "derived");
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(out, "splits"))
      printf("  %-8s %8.0f %8.0f %12.0f %8.0f\n", cur_json_str(r, "split", ""),
             cur_json_num(r, "images", 0), cur_json_num(r, "ok", 0),
             cur_json_num(r, "quarantined", 0), cur_json_num(r, "derived", 0));
  print_classes(cJSON_GetObjectItemCaseSensitive(out, "classes"));
  print_split_health(out);
  static const char *const lists[][3] = {{"quarantined", "Quarantined images", "images"},
                                         {"rejected", "Rejected entries", "entries"}};
  for (size_t l = 0; l < CUR_ARRAY_LEN(lists); l++) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, lists[l][0]);
    if (cJSON_GetArraySize(arr) == 0) continue;
    printf("\n%s:\n", lists[l][1]);
    cJSON_ArrayForEach(r, arr)
      printf("  %6.0f  %s\n", cur_json_num(r, lists[l][2], 0), cur_json_str(r, "reason", ""));
  }
  const cJSON *flags = cJSON_GetObjectItemCaseSensitive(out, "flags");
  if (cJSON_GetArraySize(flags) > 0) printf("\nFlags:\n");
  cJSON_ArrayForEach(r, flags)
      printf("  %6.0f  %s (%s)\n", cur_json_num(r, "count", 0), cur_json_str(r, "reason", ""),
             cur_json_str(r, "review_status", ""));
}

int cur_cmd_status(const cur_globals *g, int argc, char **argv) {
  int json = g->json;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(status_help, stdout);
      return CUR_EXIT_OK;
    }
    if (strcmp(argv[i], "--json") == 0) json = 1;
    else return cli_usage_error("status", "unexpected argument '%s'", argv[i]);
  }
  cur_store *st;
  cur_config *cfg;
  cJSON *out = cJSON_CreateObject();
  int rc = out ? cli_open(g, 0, &st, &cfg) : CUR_ENOMEM;
  if (rc) {
    cJSON_Delete(out);
    return cli_fail(rc);
  }
  rc = cli_status_stages(st, cfg, cli_seed(g, cfg), out);
  if (rc == CUR_OK) rc = cur_store_status(st, out);
  cJSON *sources = rc == CUR_OK ? cJSON_AddArrayToObject(out, "sources") : NULL;
  if (rc == CUR_OK) rc = sources ? cur_store_source_list(st, sources) : CUR_ENOMEM;
  if (rc == CUR_OK) rc = add_split_warnings(cfg, out);
  cur_config_free(cfg);
  cur_store_close(st);
  if (rc == CUR_OK && json) {
    char *text = cur_json_print(out, 1);  /* valid UTF-8 whatever the database holds */
    if (text) puts(text);
    else rc = CUR_ENOMEM;
    cur_free(text);
  } else if (rc == CUR_OK && (rc = cur_json_make_printable(out)) == CUR_OK) {
    print_text(out);  /* class names and reasons come from files */
  }
  cJSON_Delete(out);
  return rc ? cli_fail(rc) : CUR_EXIT_OK;
}
