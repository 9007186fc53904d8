/* cmd_run.c -- `curate run` and `curate ingest`: both end in the runner. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "entry_meta.h"
#include "runner.h"
#include "source.h"
#include "stage.h"
#include "store_images.h"

static const char run_help[] =
    "Usage: curate run [--stage NAME | --from NAME | --until NAME] [--force]\n"
    "\n"
    "Runs, in pipeline order, every stage that is not up to date: a stage is up\n"
    "to date when its options, the seed and everything before it are unchanged\n"
    "since its last complete run. An interrupted or killed run is resumed.\n"
    "\n"
    "  --stage NAME   run only this stage (stops if a stage it needs never ran)\n"
    "  --from NAME    start at this stage\n"
    "  --until NAME   stop after this stage\n"
    "  --force        run the chosen stages even when up to date\n"
    "\n"
    "Stages, in order (their options: `curate config show`, docs/stages/):\n";

static const char ingest_help[] =
    "Usage: curate ingest SOURCE... [options]\n"
    "\n"
    "Registers each SOURCE and runs the ingest and split stages. A SOURCE is a\n"
    "folder in ImageFolder layout ([split/]class/image, with unlabeled/ for\n"
    "images without a label), an archive of the same (tar, tar.gz, tar.xz, zip),\n"
    "or IDX files (a folder of *-images-idx3-ubyte[.gz] with their labels\n"
    "files). Sources already ingested are skipped entry by entry, so\n"
    "re-ingesting changes nothing, and images already placed in a split stay.\n"
    "\n"
    "  --labels FILE          CSV or JSONL mapping relative path to label(s)\n"
    "  --path-column C        its path column (default path, image, file or filename)\n"
    "  --task NAME=COLUMN     a label task read from COLUMN (repeatable;\n"
    "                         default task 'label' from column 'label')\n"
    "  --split-column C       its split column (default 'split' when present)\n"
    "  --group-column C       its group column, e.g. a photographer id (default\n"
    "                         'group' when present); a group never spans splits\n"
    "  --folder-labels        with --labels: folder names still label the paths\n"
    "                         the file does not list\n"
    "  --split S              put every image of these sources in split S\n"
    "  --class-names A,B,...  names of IDX classes 0, 1, ...\n"
    "  --force                run the stages even when they are up to date\n";

int cur_cmd_run(const cur_globals *g, int argc, char **argv) {
  cur_runner_opts o = {0};
  for (int i = 1; i < argc; i++) {
    int r;
    if (cli_is_help(argv[i])) {
      int n;
      const cur_stage *const *stages = cur_stages(&n);
      fputs(run_help, stdout);
      for (int s = 0; s < n; s++) printf("  %-12s %s\n", stages[s]->name, stages[s]->summary);
      return CUR_EXIT_OK;
    }
    if ((r = cli_value(&i, argc, argv, "--stage", &o.only)) ||
        (r = cli_value(&i, argc, argv, "--from", &o.from)) ||
        (r = cli_value(&i, argc, argv, "--until", &o.until))) {
      if (r < 0) return CUR_EXIT_USAGE;
    } else if (strcmp(argv[i], "--force") == 0) {
      o.force = 1;
    } else {
      return cli_usage_error("run", "unexpected argument '%s'", argv[i]);
    }
  }
  if (o.only && (o.from || o.until)) return cli_usage_error("run", "--stage cannot go with --from or --until");
  cur_store *st;
  cur_config *cfg;
  int rc = cli_open(g, 1, &st, &cfg);
  if (rc) return cli_fail(rc);
  return cli_run_stages(g, st, cfg, &o);
}

/* Appends the comma-separated NAMES to a new array KEY of OPTS; 0 on OOM. */
static int add_name_list(cJSON *opts, const char *key, const char *names) {
  cJSON *arr = cJSON_AddArrayToObject(opts, key);
  for (const char *p = names; arr && *p;) {
    size_t n = strcspn(p, ",");
    char *one = cur_strndup(p, n);
    cJSON *str = one ? cJSON_CreateString(one) : NULL;
    cur_free(one);
    if (!str || !cJSON_AddItemToArray(arr, str)) {
      cJSON_Delete(str);
      return 0;
    }
    p += n + (p[n] == ',');
  }
  return arr != NULL;
}

/* Handles one ingest option at argv[*i] into OPTS or TASKS.  Returns 1 when
** taken, 0 when argv[*i] is not an option of ingest, -1 on a usage error
** (printed), or CUR_ENOMEM. */
static int ingest_option(int *i, int argc, char **argv, cJSON *opts, cJSON *tasks) {
  static const char *const plain[][2] = {{"--path-column", "path_column"},
                                         {"--split-column", "split_column"},
                                         {"--group-column", "group_column"}};
  const char *v;
  char real[PATH_MAX];
  int r, ok = 1;
  for (size_t c = 0; c < CUR_ARRAY_LEN(plain); c++)
    if ((r = cli_value(i, argc, argv, plain[c][0], &v)))
      return r < 0 ? -1 : cJSON_AddStringToObject(opts, plain[c][1], v) ? 1 : CUR_ENOMEM;
  if ((r = cli_value(i, argc, argv, "--labels", &v))) {
    if (r < 0) return -1;
    if (!realpath(v, real)) return cli_usage_error("ingest", "--labels %s: %s", v, strerror(errno)), -1;
    ok = cJSON_AddStringToObject(opts, "labels", real) != NULL;
  } else if ((r = cli_value(i, argc, argv, "--task", &v))) {
    const char *eq = r > 0 ? strchr(v, '=') : NULL;
    if (!eq || eq == v || !eq[1]) return cli_usage_error("ingest", "--task takes NAME=COLUMN"), -1;
    char *name = cur_strndup(v, (size_t)(eq - v));
    ok = name && cJSON_AddStringToObject(tasks, name, eq + 1);
    cur_free(name);
  } else if ((r = cli_value(i, argc, argv, "--split", &v))) {
    if (r < 0 || !cur_split_name(v)) return cli_usage_error("ingest", "--split takes train, val or test"), -1;
    ok = cJSON_AddStringToObject(opts, "split", cur_split_name(v)) != NULL;
  } else if ((r = cli_value(i, argc, argv, "--class-names", &v))) {
    if (r < 0) return -1;
    ok = add_name_list(opts, "class_names", v);
  } else if (strcmp(argv[*i], "--folder-labels") == 0) {
    ok = cJSON_AddTrueToObject(opts, "folder_labels") != NULL;
  } else {
    return 0;
  }
  return ok ? 1 : CUR_ENOMEM;
}

/* Builds the per-source options object from the command line; the sources
** are moved to argv[0 .. *n_sources). */
static int parse_ingest_args(int argc, char **argv, cJSON *opts, int *force, int *n_sources) {
  cJSON *tasks = cJSON_CreateObject();
  int rc = tasks ? CUR_OK : CUR_ENOMEM;
  for (int i = 1; rc == CUR_OK && i < argc; i++) {
    int r = ingest_option(&i, argc, argv, opts, tasks);
    if (r == CUR_ENOMEM) rc = cur_errorc(CUR_ENOMEM, "out of memory");
    else if (r < 0) rc = CUR_ECONFIG;
    else if (r > 0) continue;
    else if (strcmp(argv[i], "--force") == 0) *force = 1;
    else if (argv[i][0] == '-' && argv[i][1]) rc = (cli_usage_error("ingest", "unknown option '%s'", argv[i]), CUR_ECONFIG);
    else argv[(*n_sources)++] = argv[i];  /* never past i, so argv stays readable */
  }
  if (rc == CUR_OK && cJSON_GetArraySize(tasks) > 0) {
    if (cJSON_AddItemToObject(opts, "tasks", tasks)) return CUR_OK;
    rc = cur_errorc(CUR_ENOMEM, "out of memory");
  }
  cJSON_Delete(tasks);
  return rc;
}

static int register_sources(cur_store *st, char **sources, int n, const cJSON *opts) {
  char *text = cJSON_PrintUnformatted(opts);
  int rc = text ? cur_store_begin(st) : cur_errorc(CUR_ENOMEM, "out of memory");
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    char real[PATH_MAX];
    const char *kind;
    int64_t id;
    if (!realpath(sources[i], real)) rc = cur_errorc(CUR_EINPUT, "%s: %s", sources[i], strerror(errno));
    else if ((rc = cur_source_kind(real, &kind)) == CUR_OK)
      rc = cur_store_source_put(st, real, kind, text, &id);
  }
  if (text && rc == CUR_OK) rc = cur_store_commit(st);
  else if (text) cur_store_rollback(st);
  cJSON_free(text);
  return rc;
}

int cur_cmd_ingest(const cur_globals *g, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (cli_is_help(argv[i])) {
      fputs(ingest_help, stdout);
      return CUR_EXIT_OK;
    }
  cJSON *opts = cJSON_CreateObject();
  cur_runner_opts o = {.from = "ingest", .until = "split"};
  int n_sources = 0, rc;
  if (!opts) return cli_fail(CUR_ENOMEM);
  if ((rc = parse_ingest_args(argc, argv, opts, &o.force, &n_sources))) {
    cJSON_Delete(opts);
    return rc == CUR_ECONFIG ? CUR_EXIT_USAGE : cli_fail(rc);
  }
  if (n_sources == 0) {
    cJSON_Delete(opts);
    return cli_usage_error("ingest", "give at least one SOURCE");
  }
  cur_store *st;
  cur_config *cfg;
  if ((rc = cli_open(g, 1, &st, &cfg))) {
    cJSON_Delete(opts);
    return cli_fail(rc);
  }
  rc = register_sources(st, argv, n_sources, opts);
  cJSON_Delete(opts);
  if (rc == CUR_OK) return cli_run_stages(g, st, cfg, &o);
  cur_config_free(cfg);
  cur_store_close(st);
  return cli_fail(rc);
}
