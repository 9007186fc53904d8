/* cmd_compare.c -- `curate compare RUN_A RUN_B`: two runs' metrics side by side
** with the difference B - A, then each run's confusion matrix. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "store_metrics.h"
#include "store_runs.h"
#include "text.h"

static const char compare_help[] =
    "Usage: curate compare RUN_A RUN_B [--json]\n"
    "\n"
    "Prints two runs' metrics side by side (for example a train run on the raw\n"
    "labels and one on the curated labels): one line per metric of either run\n"
    "with its value in A, in B and the difference B - A (\"-\" where a run has\n"
    "no value), then each run's confusion matrix. Other text metrics (such as\n"
    "train.command's command_output) are only named: they are in the metrics\n"
    "table.\n"
    "\n"
    "A RUN is a run id, as `curate status` shows it, or `last`: the newest\n"
    "complete train run.\n"
    "\n"
    "  --json   {\"runs\": [A, B], \"metrics\": [{\"name\", \"a\", \"b\", \"diff\"}],\n"
    "           \"confusion\": [A's, B's]} (null where a run has no value)\n";

/* One metric of a run; text NULL when it has none, value NaN likewise. */
typedef struct metric {
  char *name;
  double value;
  char *text;
} metric;

/* A run's metrics in name order (byte order, as the store returns them). */
typedef struct run_metrics {
  int64_t id;
  metric *m;
  size_t n, cap;
} run_metrics;

static void run_metrics_free(run_metrics *r) {
  for (size_t i = 0; i < r->n; i++) {
    cur_free(r->m[i].name);
    cur_free(r->m[i].text);
  }
  cur_free(r->m);
}

/* Store callback: appends one metric to the run_metrics CTX. */
static int take_metric(void *ctx, const char *name, double value, const char *text) {
  run_metrics *r = ctx;
  if (r->n == r->cap) {
    metric *grown = cur_reallocarray(r->m, r->cap = r->cap ? r->cap * 2 : 32, sizeof *grown);
    if (!grown) return CUR_ENOMEM;
    r->m = grown;
  }
  metric *m = &r->m[r->n];
  *m = (metric){.name = cur_strdup(name), .value = value, .text = text ? cur_strdup(text) : NULL};
  if (!m->name || (text && !m->text)) {
    cur_free(m->name);
    cur_free(m->text);
    return CUR_ENOMEM;
  }
  r->n++;
  return CUR_OK;
}

/* Reads a RUN argument: *id the run id, or 0 for `last`.  -1 when it is neither. */
static int parse_run(const char *arg, int64_t *id) {
  char *end;
  *id = 0;
  if (strcmp(arg, "last") == 0) return 0;
  errno = 0;
  long long v = strtoll(arg, &end, 10);
  if (!*arg || *end || errno || v < 1) return -1;
  *id = v;
  return 0;
}

/* Reads the metrics of run R->id (0: the newest complete train run) into R. */
static int load_run(cur_store *st, run_metrics *r) {
  int found, rc = CUR_OK;
  if (r->id == 0) {
    cur_run_info info;
    rc = cur_store_run_last(st, "train", 1, &info, &found);
    if (rc == CUR_OK && !found) return cur_errorc(CUR_ESTATE, "compare: last: no complete train run");
    r->id = info.id;
  }
  if (rc == CUR_OK) rc = cur_store_metrics_each(st, r->id, take_metric, r, &found);
  if (rc == CUR_OK && !found) return cur_errorc(CUR_EINPUT, "compare: no run %lld", (long long)r->id);
  if (rc == CUR_OK && r->n == 0)
    return cur_errorc(CUR_EINPUT, "compare: run %lld has no metrics (train, aum and pseudolabel "
                      "runs record them)", (long long)r->id);
  return rc;
}

/* VALUE for a table cell, "-" for none; SIGN forces a leading + (the
** difference column). */
static const char *cell(char *buf, size_t cap, double value, int sign) {
  if (isnan(value)) return "-";
  snprintf(buf, cap, sign ? "%+.4f" : "%.4f", value);
  return buf;
}

/* Prints one table line; A or B is NULL when its run lacks the metric. */
static void print_line(int width, const char *name, const metric *a, const metric *b) {
  char ba[32], bb[32], bd[32], nb[256];
  double va = a ? a->value : NAN, vb = b ? b->value : NAN;
  const char *ca = a && isnan(va) && a->text ? "(text)" : cell(ba, sizeof ba, va, 0);
  const char *cb = b && isnan(vb) && b->text ? "(text)" : cell(bb, sizeof bb, vb, 0);
  printf("%-*s %12s %12s %12s\n", width, cur_text_printable(name, nb, sizeof nb), ca, cb,
         cell(bd, sizeof bd, vb - va, 1));
}

/* The width of the name column: the longest name of either run. */
static int name_width(const run_metrics *a, const run_metrics *b) {
  size_t w = strlen("metric");
  for (size_t i = 0; i < a->n; i++) w = strlen(a->m[i].name) > w ? strlen(a->m[i].name) : w;
  for (size_t i = 0; i < b->n; i++) w = strlen(b->m[i].name) > w ? strlen(b->m[i].name) : w;
  return (int)w;
}

/* Calls FN for every metric name of either run, with A's and B's metric
** (NULL where the run lacks it): both lists are in name order, so one merge
** walk pairs them. */
static int each_pair(const run_metrics *a, const run_metrics *b,
                     int (*fn)(void *ctx, const char *name, const metric *ma, const metric *mb),
                     void *ctx) {
  int rc = CUR_OK;
  for (size_t i = 0, j = 0; rc == CUR_OK && (i < a->n || j < b->n);) {
    int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->m[i].name, b->m[j].name);
    const metric *ma = c <= 0 ? &a->m[i++] : NULL, *mb = c >= 0 ? &b->m[j++] : NULL;
    rc = fn(ctx, ma ? ma->name : mb->name, ma, mb);
  }
  return rc;
}

static int print_pair(void *ctx, const char *name, const metric *ma, const metric *mb) {
  print_line(*(const int *)ctx, name, ma, mb);
  return CUR_OK;
}

static void print_table(const run_metrics *a, const run_metrics *b) {
  int width = name_width(a, b);
  char ha[32], hb[32];
  snprintf(ha, sizeof ha, "run %lld", (long long)a->id);
  snprintf(hb, sizeof hb, "run %lld", (long long)b->id);
  printf("%-*s %12s %12s %12s\n", width, "metric", ha, hb, "B - A");
  each_pair(a, b, print_pair, &width);
}

/* VALUE as a JSON number, or null for none. */
static cJSON *json_value(double value) {
  return isnan(value) ? cJSON_CreateNull() : cJSON_CreateNumber(value);
}

static int add_json_pair(void *ctx, const char *name, const metric *ma, const metric *mb) {
  double va = ma ? ma->value : NAN, vb = mb ? mb->value : NAN;
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddItemToArray(ctx, o)) {
    cJSON_Delete(o);
    return CUR_ENOMEM;
  }
  int ok = cJSON_AddStringToObject(o, "name", name) && cJSON_AddItemToObject(o, "a", json_value(va)) &&
           cJSON_AddItemToObject(o, "b", json_value(vb)) &&
           cJSON_AddItemToObject(o, "diff", json_value(vb - va));
  return ok ? CUR_OK : CUR_ENOMEM;
}

/* The confusion metric's text of R parsed, or null. */
static cJSON *json_confusion(const run_metrics *r) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->m[i].name, "confusion") == 0 && r->m[i].text) {
      cJSON *o = cJSON_Parse(r->m[i].text);
      return o ? o : cJSON_CreateNull();
    }
  return cJSON_CreateNull();
}

static int print_json(const run_metrics *a, const run_metrics *b) {
  cJSON *o = cJSON_CreateObject(), *runs = o ? cJSON_AddArrayToObject(o, "runs") : NULL;
  cJSON *metrics = o ? cJSON_AddArrayToObject(o, "metrics") : NULL;
  cJSON *confusion = o ? cJSON_AddArrayToObject(o, "confusion") : NULL;
  int rc = runs && metrics && confusion &&
           cJSON_AddItemToArray(runs, cJSON_CreateNumber((double)a->id)) &&
           cJSON_AddItemToArray(runs, cJSON_CreateNumber((double)b->id)) &&
           cJSON_AddItemToArray(confusion, json_confusion(a)) &&
           cJSON_AddItemToArray(confusion, json_confusion(b)) ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = each_pair(a, b, add_json_pair, metrics);
  char *text = rc == CUR_OK ? cur_json_print(o, 1) : NULL;
  if (rc == CUR_OK && !text) rc = CUR_ENOMEM;
  if (text) puts(text);
  cur_free(text);
  cJSON_Delete(o);
  return rc;
}

/* The confusion matrix stored as {"classes": [...], "matrix": [[...], ...]};
** a text that does not parse as one is named instead. */
static void print_confusion(const run_metrics *r) {
  const metric *m = NULL;
  for (size_t i = 0; i < r->n && !m; i++)
    if (strcmp(r->m[i].name, "confusion") == 0 && r->m[i].text) m = &r->m[i];
  if (!m) return;
  cJSON *o = cJSON_Parse(m->text);
  if (cur_json_make_printable(o)) cur_warn("compare: %s", cur_error());  /* class names */
  const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "classes");
  const cJSON *rows = cJSON_GetObjectItemCaseSensitive(o, "matrix"), *name, *row, *v;
  printf("\nconfusion, run %lld (rows: true class, columns: predicted, in class order):\n",
         (long long)r->id);
  if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) != cJSON_GetArraySize(rows))
    printf("  (not a confusion matrix: see metrics.text of run %lld)\n", (long long)r->id);
  else
    for (name = names->child, row = rows->child; name && row; name = name->next, row = row->next) {
      printf("  %-20s", cJSON_IsString(name) ? name->valuestring : "?");
      cJSON_ArrayForEach(v, row) printf(" %6.0f", cJSON_IsNumber(v) ? v->valuedouble : NAN);
      printf("\n");
    }
  cJSON_Delete(o);
}

/* Text metrics other than the confusion matrix (command_output) can be long:
** one line each says where they are. */
static void print_text_notes(const run_metrics *r) {
  for (size_t i = 0; i < r->n; i++)
    if (r->m[i].text && strcmp(r->m[i].name, "confusion") != 0)
      printf("\n%s of run %lld: text in the metrics table (run_id %lld, name '%s')\n",
             r->m[i].name, (long long)r->id, (long long)r->id, r->m[i].name);
}

int cur_cmd_compare(const cur_globals *g, int argc, char **argv) {
  run_metrics run[2] = {{0}, {0}};
  int n_runs = 0, json = g->json;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(compare_help, stdout);
      return CUR_EXIT_OK;
    }
    if (strcmp(argv[i], "--json") == 0) {
      json = 1;
      continue;
    }
    if (n_runs == 2) return cli_usage_error("compare", "unexpected argument '%s'", argv[i]);
    if (parse_run(argv[i], &run[n_runs++].id))
      return cli_usage_error("compare", "'%s' is not a run id (or `last`)", argv[i]);
  }
  if (n_runs != 2) return cli_usage_error("compare", "needs two runs: RUN_A RUN_B");
  cur_store *st;
  int rc = cur_store_open(g->db_path, &st);
  if (rc) return cli_fail(rc);
  rc = load_run(st, &run[0]);
  if (rc == CUR_OK) rc = load_run(st, &run[1]);
  cur_store_close(st);
  if (rc == CUR_OK && json) {
    rc = print_json(&run[0], &run[1]);
  } else if (rc == CUR_OK) {
    print_table(&run[0], &run[1]);
    for (int i = 0; i < 2; i++) print_confusion(&run[i]);
    for (int i = 0; i < 2; i++) print_text_notes(&run[i]);
  }
  run_metrics_free(&run[0]);
  run_metrics_free(&run[1]);
  return rc ? cli_fail(rc) : CUR_EXIT_OK;
}
