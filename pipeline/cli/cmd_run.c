/* cmd_run.c -- `curate run` and `curate ingest`: both end in the runner. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "boxfile.h"
#include "cli_util.h"
#include "curate.h"
#include "entry_meta.h"
#include "report.h"
#include "runner.h"
#include "source.h"
#include "stage.h"
#include "stages.h"
#include "store_images.h"
#include "text.h"

static const char run_help[] =
    "Usage: curate run [--stage NAME | --from NAME | --until NAME] [--force]\n"
    "                  [--json] [--strict]\n"
    "       curate run --stage embed|augment --shard I/N\n"
    "\n"
    "Runs, in pipeline order, every stage that is not up to date: a stage is up\n"
    "to date when its options, the seed and what it reads (earlier stages'\n"
    "output, review decisions; `curate status` says why one is pending) are\n"
    "unchanged since its last complete run. An interrupted or killed run is\n"
    "resumed.\n"
    "A run that ends with the train stage prints a report: rows per class\n"
    "before and after curation, what the policy kept and why, raw labels\n"
    "against curated on val and test, warnings and the next commands.\n"
    "\n"
    "  --stage NAME   run only this stage (stops if a stage it needs never ran)\n"
    "  --from NAME    start at this stage\n"
    "  --until NAME   stop after this stage\n"
    "  --force        run the chosen stages even when up to date\n"
    "  --json         print the report as JSON on stdout\n"
    "  --strict       exit 5 when the report has warnings (for CI pipelines)\n"
    "  --shard I/N    do share I of N (0 <= I < N) of the stage's work (embed:\n"
    "                 the images whose id modulo N is I; augment: the I-th of N\n"
    "                 consecutive parts of the plan), reading the database only,\n"
    "                 into DB.STAGE-shard-I-of-N.sqlite beside it; `curate merge`\n"
    "                 imports the shard files (docs/scale.md)\n"
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
    "A SOURCE that does not exist or does not open is reported and left out;\n"
    "the others go on (exit 3). `curate sources` lists the registered sources.\n"
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
    "  --boxes FILE           detection boxes on the images: each box becomes an\n"
    "                         image of its own (a crop) labelled with its class:\n"
    "                         COCO JSON, a YOLO txt folder, a Pascal VOC XML\n"
    "                         folder, or CSV/JSONL (image,x,y,w,h,label[,score])\n"
    "  --boxes-format F       coco, yolo, voc, csv or jsonl (default: from FILE)\n"
    "  --box-padding F        grow each box by F times its width and height on\n"
    "                         each side, clamped to the image (default 0)\n"
    "  --box-min-size PX      skip boxes narrower or lower than PX pixels (default 0)\n"
    "  --box-min-score S      skip boxes scored below S (default: keep all)\n"
    "  --box-task NAME        the task the box labels go to (default 'label')\n"
    "  --force                run the stages even when they are up to date; entries\n"
    "                         rejected or quarantined for a limit or a permission\n"
    "                         are read again\n";

/* How `curate run` ends: the report, printed or as JSON, and --strict. */
typedef struct run_end {
  int json, strict;
} run_end;

/* Builds and prints the closing report; returns CUR_EXIT_WARNINGS under
** --strict when it warns, 0, or an error code. */
static int report_after(cur_store *st, const cur_config *cfg, void *ctx) {
  const run_end *e = ctx;
  cur_report_opts o = {.task = cur_opt_str(cur_config_section(cfg, "train"), "task"),
                       .min_eval_rows = (int)cur_opt_int(cur_config_section(cfg, "split"), "min_eval_rows"),
                       .tolerance = cur_opt_num(cur_config_section(cfg, "policy"), "tolerance")};
  cJSON *report = NULL;
  int rc = cur_report_build(st, &o, &report);
  if (rc) return rc;
  if (e->json) {
    char *text = cur_json_print(report, 1);  /* valid UTF-8 whatever the labels hold */
    if (text) puts(text);
    else rc = CUR_ENOMEM;
    cur_free(text);
  } else if ((rc = cur_json_make_printable(report)) == CUR_OK) {
    /* class names and paths come from files: escaped before a terminal sees them */
    cur_report_print(report);
  }
  int warnings = cur_report_warnings(report);
  cJSON_Delete(report);
  if (rc) return rc;
  return e->strict && warnings ? CUR_EXIT_WARNINGS : 0;
}

/* Whether the stages O runs end with train, whose figures the report reads. */
static int ends_with_train(const cur_runner_opts *o) {
  const char *last = o->only ? o->only : o->until;
  return !last || strcmp(last, "train") == 0;
}

/* Parses --shard's I/N; 0 when it is not one. */
static int parse_share(const char *v, cur_share *share) {
  char *end;
  long long i = strtoll(v, &end, 10), n = 0;
  if (end == v || *end != '/' || i < 0) return 0;
  const char *rest = end + 1;
  n = strtoll(rest, &end, 10);
  if (end == rest || *end || n < 1 || n > 1000000 || i >= n) return 0;
  *share = (cur_share){.count = n, .index = i};
  return 1;
}

/* `curate run --stage X --shard I/N`: the share into a file beside the database. */
static int run_shard(const cur_globals *g, cur_runner_opts *o, cur_share share) {
  cur_store *st;
  cur_config *cfg;
  int64_t input_errors = 0;
  int rc = cli_open(g, -1, &st, &cfg);
  if (rc) return cli_fail(rc);
  char *path = cur_asprintf("%s.%s-shard-%lld-of-%lld.sqlite", cur_store_file(st), o->only,
                            (long long)share.index, (long long)share.count);
  o->seed = cli_seed(g, cfg);
  o->threads = cli_threads(g);
  rc = path ? cur_runner_shard(st, cfg, o, share, path, &input_errors) : CUR_ENOMEM;
  if (rc == CUR_OK) puts(path);  /* for scripts: the file to merge */
  cur_free(path);
  cur_config_free(cfg);
  cur_store_close(st);
  if (rc) return cli_fail(rc);
  return input_errors ? CUR_EXIT_PARTIAL : CUR_EXIT_OK;
}

int cur_cmd_run(const cur_globals *g, int argc, char **argv) {
  cur_runner_opts o = {0};
  const char *shard = NULL;
  run_end end = {.json = g->json};
  for (int i = 1; i < argc; i++) {
    int r;
    if (cli_is_help(argv[i])) {
      int n;
      cur_stage_list registry = cur_stage_registry();
      const cur_stage *const *stages = registry.at;
      n = registry.n;
      fputs(run_help, stdout);
      for (int s = 0; s < n; s++) printf("  %-12s %s\n", stages[s]->name, stages[s]->summary);
      return CUR_EXIT_OK;
    }
    if ((r = cli_value(&i, argc, argv, "--stage", &o.only)) ||
        (r = cli_value(&i, argc, argv, "--from", &o.from)) ||
        (r = cli_value(&i, argc, argv, "--until", &o.until)) ||
        (r = cli_value(&i, argc, argv, "--shard", &shard))) {
      if (r < 0) return CUR_EXIT_USAGE;
    } else if (strcmp(argv[i], "--force") == 0) {
      o.force = 1;
    } else if (strcmp(argv[i], "--json") == 0) {
      end.json = 1;
    } else if (strcmp(argv[i], "--strict") == 0) {
      end.strict = 1;
    } else {
      return cli_usage_error("run", "unexpected argument '%s'", argv[i]);
    }
  }
  if (o.only && (o.from || o.until)) return cli_usage_error("run", "--stage cannot go with --from or --until");
  const char *const named[][2] = {{"--stage", o.only}, {"--from", o.from}, {"--until", o.until}};
  for (size_t i = 0; i < CUR_ARRAY_LEN(named); i++)
    if (named[i][1] && !cur_stage_find(named[i][1]))
      return cli_usage_error("run", "%s: no stage named '%s'", named[i][0], named[i][1]);
  if (shard) {
    cur_share share;
    if (!o.only) return cli_usage_error("run", "--shard needs --stage NAME");
    if (o.force || end.json || end.strict) return cli_usage_error("run", "--shard cannot go with --force, --json or --strict");
    if (!parse_share(shard, &share)) return cli_usage_error("run", "--shard %s: give I/N with 0 <= I < N <= 1000000", shard);
    return run_shard(g, &o, share);
  }
  cur_store *st;
  cur_config *cfg;
  int rc = cli_open(g, 1, &st, &cfg);
  if (rc) return cli_fail(rc);
  return cli_run_stages(g, st, cfg, &o, ends_with_train(&o) ? report_after : NULL, &end);
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

/* cli_value for an option whose value names columns, tasks or classes:
** those become stored and exported text, so they must be valid UTF-8. */
static int name_value(int *i, int argc, char **argv, const char *name, const char **value) {
  int r = cli_value(i, argc, argv, name, value);
  if (r > 0 && cur_utf8_invalid(*value))
    return cli_usage_error("ingest", "%s %s: not valid UTF-8", name, *value), -1;
  return r;
}

/* The numeric box options (--box-padding, --box-min-size, --box-min-score)
** into OPTS: 1 when taken, 0 when argv[*i] is none of them, -1 on a usage
** error (printed), or CUR_ENOMEM. */
static int box_number(int *i, int argc, char **argv, cJSON *opts) {
  static const struct { const char *flag, *key; double lo; } box_opts[] = {
      {"--box-padding", "box_padding", 0}, {"--box-min-size", "box_min_size", 0},
      {"--box-min-score", "box_min_score", -INFINITY}};
  const char *v;
  for (size_t c = 0; c < CUR_ARRAY_LEN(box_opts); c++) {
    int r = cli_value(i, argc, argv, box_opts[c].flag, &v);
    if (r == 0) continue;
    char *end;
    double x = r > 0 ? strtod(v, &end) : NAN;
    if (r < 0 || end == v || *end || !isfinite(x) || x < box_opts[c].lo)
      return cli_usage_error("ingest", "%s takes a finite number%s", box_opts[c].flag,
                             box_opts[c].lo == 0 ? " >= 0" : ""), -1;
    return cJSON_AddNumberToObject(opts, box_opts[c].key, x) ? 1 : CUR_ENOMEM;
  }
  return 0;
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
    if ((r = name_value(i, argc, argv, plain[c][0], &v)))
      return r < 0 ? -1 : cJSON_AddStringToObject(opts, plain[c][1], v) ? 1 : CUR_ENOMEM;
  if ((r = cli_value(i, argc, argv, "--labels", &v))) {
    if (r < 0) return -1;
    if (!realpath(v, real)) return cli_usage_error("ingest", "--labels %s: %s", v, strerror(errno)), -1;
    ok = cJSON_AddStringToObject(opts, "labels", real) != NULL;
  } else if ((r = name_value(i, argc, argv, "--task", &v))) {
    const char *eq = r > 0 ? strchr(v, '=') : NULL;
    if (!eq || eq == v || !eq[1]) return cli_usage_error("ingest", "--task takes NAME=COLUMN"), -1;
    char *name = cur_strndup(v, (size_t)(eq - v));
    ok = name && cJSON_AddStringToObject(tasks, name, eq + 1);
    cur_free(name);
  } else if ((r = cli_value(i, argc, argv, "--split", &v))) {
    if (r < 0 || !cur_split_name(v)) return cli_usage_error("ingest", "--split takes train, val or test"), -1;
    ok = cJSON_AddStringToObject(opts, "split", cur_split_name(v)) != NULL;
  } else if ((r = name_value(i, argc, argv, "--class-names", &v))) {
    if (r < 0) return -1;
    ok = add_name_list(opts, "class_names", v);
  } else if ((r = cli_value(i, argc, argv, "--boxes", &v))) {
    if (r < 0) return -1;
    if (!realpath(v, real)) return cli_usage_error("ingest", "--boxes %s: %s", v, strerror(errno)), -1;
    ok = cJSON_AddStringToObject(opts, "boxes", real) != NULL;
  } else if ((r = cli_value(i, argc, argv, "--boxes-format", &v))) {
    if (r < 0 || !cur_boxfile_format_of(NULL, v))
      return cli_usage_error("ingest", "--boxes-format takes coco, yolo, voc, csv or jsonl"), -1;
    ok = cJSON_AddStringToObject(opts, "boxes_format", v) != NULL;
  } else if ((r = name_value(i, argc, argv, "--box-task", &v))) {
    if (r < 0) return -1;
    ok = cJSON_AddStringToObject(opts, "box_task", v) != NULL;
  } else if ((r = box_number(i, argc, argv, opts))) {
    return r;
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
  if (rc == CUR_OK && cJSON_GetArraySize(tasks) > CUR_MAX_TASKS) {
    const char *labels = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(opts, "labels"));
    cli_usage_error("ingest", "--labels %s: %d tasks given; at most %d are supported",
                    labels ? labels : "(none)", cJSON_GetArraySize(tasks), CUR_MAX_TASKS);
    rc = CUR_ECONFIG;
  }
  static const char *const box_keys[] = {"boxes_format", "box_padding", "box_min_size",
                                         "box_min_score", "box_task"};
  for (size_t k = 0; rc == CUR_OK && k < CUR_ARRAY_LEN(box_keys); k++)
    if (cJSON_HasObjectItem(opts, box_keys[k]) && !cJSON_HasObjectItem(opts, "boxes"))
      rc = (cli_usage_error("ingest", "the --box options go with --boxes FILE"), CUR_ECONFIG);
  if (rc == CUR_OK && cJSON_GetArraySize(tasks) > 0) {
    if (cJSON_AddItemToObject(opts, "tasks", tasks)) return CUR_OK;
    rc = cur_errorc(CUR_ENOMEM, "out of memory");
  }
  cJSON_Delete(tasks);
  return rc;
}

/* Checks that a file given as a source opens as an archive (libarchive
** reads its first block), so a label file given by mistake is never
** registered to fail every later ingest. */
static int check_archive(const char *path) {
  static const char *const label_ext[] = {".csv", ".tsv", ".jsonl", ".json", ".txt"};
  cur_source *src;
  int rc = cur_source_open(path, "archive", INT64_MAX, NULL, 0, &src);
  if (rc == CUR_OK) {
    cur_source_close(src);
    return CUR_OK;
  }
  size_t n = strlen(path);
  for (size_t i = 0; rc != CUR_ENOMEM && i < CUR_ARRAY_LEN(label_ext); i++) {
    size_t e = strlen(label_ext[i]);
    if (n > e && strcasecmp(path + n - e, label_ext[i]) == 0) {
      char why[512];
      snprintf(why, sizeof why, "%s", cur_error());  /* cur_errorc rewrites the message */
      return cur_errorc(rc, "%s (a label file goes with --labels FILE)", why);
    }
  }
  return rc;
}

/* Registers each source that exists and can be opened; one that cannot is
** reported by name and left out (*refused counts them), and the others go
** on. */
static int register_sources(cur_store *st, char **sources, int n, const cJSON *opts, int *refused) {
  char *text = cJSON_PrintUnformatted(opts);
  int rc = text ? cur_store_begin(st) : cur_errorc(CUR_ENOMEM, "out of memory");
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    char real[PATH_MAX];
    const char *kind;
    int64_t id;
    if (!realpath(sources[i], real)) rc = cur_errorc(CUR_EINPUT, "%s: %s", sources[i], strerror(errno));
    else if ((rc = cur_source_kind(real, &kind)) == CUR_OK && strcmp(kind, "archive") == 0)
      rc = check_archive(real);
    if (rc == CUR_OK) {
      rc = cur_store_source_put(st, real, kind, text, &id);
    } else if (rc != CUR_ENOMEM) {
      fprintf(stderr, "error: ingest: %s; not registered\n", cur_error());
      ++*refused;
      rc = CUR_OK;
    }
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
  int refused = 0;
  rc = register_sources(st, argv, n_sources, opts, &refused);
  cJSON_Delete(opts);
  if (rc == CUR_OK) {
    int code = cli_run_stages(g, st, cfg, &o, NULL, NULL);
    return refused && code == CUR_EXIT_OK ? CUR_EXIT_PARTIAL : code;
  }
  cur_config_free(cfg);
  cur_store_close(st);
  return cli_fail(rc);
}
