/* cmd_split.c -- `curate split`: place every unpinned group afresh. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "runner.h"
#include "stage.h"
#include "stages.h"
#include "store_split.h"

static const char split_help[] =
    "Usage: curate split [--force]\n"
    "\n"
    "Places every group that no source pins in train, val or test again, from\n"
    "scratch, with the split options and the seed in force (split.train,\n"
    "split.val, split.test, split.task). Pinned splits (split folders, a split\n"
    "column, IDX file names) stay. Every stage after split becomes pending.\n"
    "Refused while images carry review decisions, which were made on the\n"
    "current split, unless --force; it then says how many reviewed images moved.\n"
    "\n"
    "  --force   re-split even though reviews exist\n";

/* Names the stages after split that have a complete run and are pending now. */
static void report_pending(cur_store *st, const cur_config *cfg, const cur_runner_opts *o) {
  cur_stage_list stages = cur_config_stages(cfg);
  cur_stage_state *states = cur_mallocarray((size_t)stages.n, sizeof *states);
  char line[512] = "";
  size_t len = 0;
  if (states && cur_runner_states(st, cfg, o, states) == CUR_OK)
    for (int i = 0, after = 0; i < stages.n; i++) {
      if (strcmp(stages.at[i]->name, "split") == 0) after = 1;
      else if (after && strcmp(states[i].state, "pending") == 0 && len < sizeof line)
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", len ? ", " : "",
                                stages.at[i]->name);
    }
  cur_free(states);
  cur_error_clear();
  if (len) cur_info("split: now pending: %s (`curate run` brings them up to date)", line);
}

/* Re-splits with the runner; ST and CFG stay open for the report. */
static int resplit(const cur_globals *g, cur_store *st, const cur_config *cfg, int64_t reviewed) {
  cur_runner_opts o = {.only = "split", .fresh = 1, .seed = cli_seed(g, cfg), .threads = cli_threads(g)};
  int64_t input_errors, moved, moved_reviewed;
  int rc = cur_store_split_snapshot(st);
  if (rc == CUR_OK) rc = cur_runner_run(st, cfg, &o, &input_errors);
  if (rc == CUR_OK) rc = cur_store_split_moved(st, &moved, &moved_reviewed);
  if (rc) return rc;
  cur_info("split: %lld images changed split", (long long)moved);
  if (reviewed)
    cur_warn("split: %lld of the %lld images with review decisions changed split",
             (long long)moved_reviewed, (long long)reviewed);
  report_pending(st, cfg, &o);
  return CUR_OK;
}

int cur_cmd_split(const cur_globals *g, int argc, char **argv) {
  int force = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(split_help, stdout);
      return CUR_EXIT_OK;
    }
    if (strcmp(argv[i], "--force") == 0) force = 1;
    else return cli_usage_error("split", "unexpected argument '%s'", argv[i]);
  }
  cur_store *st;
  cur_config *cfg;
  int64_t reviewed = 0;
  int rc = cli_open(g, 1, &st, &cfg);
  if (rc) return cli_fail(rc);
  if ((rc = cur_store_split_reviewed(st, &reviewed)) == CUR_OK && reviewed > 0 && !force)
    rc = cur_errorc(CUR_ESTATE, "split: %lld images carry review decisions made on the current "
                    "split; re-splitting may move them between train, val and test, and makes "
                    "every stage after split pending. Run `curate split --force` to re-split "
                    "anyway", (long long)reviewed);
  if (rc == CUR_OK) rc = resplit(g, st, cfg, reviewed);
  cur_config_free(cfg);
  cur_store_close(st);
  return rc ? cli_fail(rc) : CUR_EXIT_OK;
}
