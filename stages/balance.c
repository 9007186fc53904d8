/* balance.c -- the balance stage: per task, schedules augmented variants for
** small classes and weights every row; undersamples large classes only when
** asked to.
**
** For each task it reads the eligible original rows of the split (current
** class, no pending or dropped flag), sets a target per class and plans
** variants for a class below it, round-robin over its rows, at most
** max_variants_per_source each.  By default every eligible row is kept: a
** labelled row is real data, and what is left uneven the class weights make
** up for.  With `undersample` a class above its target keeps its best
** `target` rows (highest AUM first, ties by a seeded draw).  Everything a task
** decides is written in one transaction after deleting what the same run
** wrote for it before, so a resumed run ends with the same rows.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "entry_meta.h"
#include "rng.h"
#include "stages.h"
#include "store_balance.h"
#include "store_labels.h"

#define WEIGHT_DECIMALS 1e6  /* weights are stored rounded, so they print and compare cleanly */

/* How the per-class target is chosen (option balance.target). */
typedef enum target_mode { TARGET_MEDIAN, TARGET_MEAN, TARGET_MAX, TARGET_RATIO, TARGET_COUNT } target_mode;

static const char *const mode_names[] = {"median", "mean", "max", "ratio"};

/* Parses balance.target (NAME in the message): a mode name or a positive
** whole number of rows. */
static int parse_target(const char *text, const char *name, target_mode *mode, int64_t *count) {
  for (size_t i = 0; i < CUR_ARRAY_LEN(mode_names); i++) {
    if (strcmp(text, mode_names[i]) == 0) {
      *mode = (target_mode)i;
      return CUR_OK;
    }
  }
  char *end;
  long long n = strtoll(text, &end, 10);
  if (end == text || *end || n <= 0)
    return cur_errorc(CUR_ECONFIG, "%s: \"%s\" is not median, mean, max, ratio or a positive "
                      "whole number", name, text);
  *mode = TARGET_COUNT;
  *count = n;
  return CUR_OK;
}

static int check_target(const cJSON *v, const char *name) {
  target_mode mode;
  int64_t count;
  return parse_target(v->valuestring, name, &mode, &count);
}

static int check_ratio(const cJSON *v, const char *name) {
  if (v->valuedouble < 1) return cur_errorc(CUR_ECONFIG, "%s: %g is below 1", name, v->valuedouble);
  return CUR_OK;
}

static int check_non_negative(const cJSON *v, const char *name) {
  if (v->valuedouble < 0) return cur_errorc(CUR_ECONFIG, "%s: must not be negative", name);
  return CUR_OK;
}

static int check_split(const cJSON *v, const char *name) {
  if (!cur_split_name(v->valuestring))
    return cur_errorc(CUR_ECONFIG, "%s: \"%s\" is not train, val or test", name, v->valuestring);
  return CUR_OK;
}

static const cur_option balance_options[] = {
    {"target", CUR_OPT_STR, "\"median\"",
     "rows per class: \"median\", \"mean\" or \"max\" of the class sizes, \"ratio\" (see "
     "max_ratio) or a whole number such as \"500\"",
     check_target},
    {"max_ratio", CUR_OPT_NUM, "4",
     "with target \"ratio\": largest class / smallest class at most this (both ends move)",
     check_ratio},
    {"undersample", CUR_OPT_BOOL, "false",
     "also cut classes above the target down to it (rows discarded, lowest AUM first); "
     "false: every labelled row is kept", NULL},
    {"max_variants_per_source", CUR_OPT_INT, "5",
     "most augmented variants planned per source image; 0 = no augmentation", check_non_negative},
    {"tasks", CUR_OPT_STRS, "[]", "tasks to balance; [] = every task with labels", NULL},
    {"split", CUR_OPT_STR, "\"train\"", "split whose rows are balanced", check_split},
    {NULL, 0, NULL, NULL, NULL}};

/* A row being balanced, with its keep preference. */
typedef struct item {
  int64_t image_id, class_id;
  double aum;          /* NaN when not scored: counts as 0, AUM's neutral point */
  uint64_t draw;       /* seeded tie-break */
} item;

/* One class of the task being balanced; its rows are items[first, first+n),
** best first once sorted. */
typedef struct klass {
  size_t first;
  cur_balance_class c;
} klass;

typedef struct task_plan {
  item *items;
  size_t n_items;
  klass *classes;
  size_t n_classes;
} task_plan;

/* Keep order within a class: higher AUM first, then the seeded draw. */
static int compare_items(const void *pa, const void *pb) {
  const item *a = pa, *b = pb;
  if (a->class_id != b->class_id) return a->class_id < b->class_id ? -1 : 1;
  double ka = isnan(a->aum) ? 0.0 : a->aum, kb = isnan(b->aum) ? 0.0 : b->aum;
  if (ka != kb) return ka > kb ? -1 : 1;
  if (a->draw != b->draw) return a->draw < b->draw ? -1 : 1;
  return a->image_id < b->image_id ? -1 : a->image_id > b->image_id;
}

static int compare_i64(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  return (a > b) - (a < b);
}

/* Reads the task's rows, orders them and groups them by class. */
static int load_plan(cur_run *run, int64_t task_id, const char *split, task_plan *tp) {
  cur_balance_row *rows = NULL;
  size_t n = 0;
  int rc = cur_store_balance_rows(cur_run_store(run), task_id, split, &rows, &n);
  if (rc) return rc;
  tp->items = cur_calloc(n, sizeof *tp->items);
  tp->classes = cur_calloc(n, sizeof *tp->classes);
  if (!tp->items || !tp->classes) {
    cur_free(rows);
    return CUR_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const uint64_t keys[3] = {cur_run_seed(run), (uint64_t)task_id, (uint64_t)rows[i].image_id};
    cur_rng r;
    cur_rng_seed_keys(&r, keys, CUR_ARRAY_LEN(keys));
    tp->items[i] = (item){rows[i].image_id, rows[i].class_id, rows[i].aum, cur_rng_next(&r)};
  }
  cur_free(rows);
  tp->n_items = n;
  qsort(tp->items, n, sizeof *tp->items, compare_items);
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || tp->items[i].class_id != tp->items[i - 1].class_id)
      tp->classes[tp->n_classes++] = (klass){.first = i, .c.class_id = tp->items[i].class_id};
    tp->classes[tp->n_classes - 1].c.before++;
  }
  return CUR_OK;
}

static void plan_free(task_plan *tp) {
  cur_free(tp->items);
  cur_free(tp->classes);
}

/* The target of every class (see docs/stages/balance.md for each mode). */
static int set_targets(task_plan *tp, target_mode mode, int64_t count, double max_ratio) {
  size_t k = tp->n_classes;
  int64_t sum = 0, lo = 0, hi = INT64_MAX;  /* ratio mode: targets clamp to [lo, hi] */
  int64_t *sizes = cur_calloc(k, sizeof *sizes);
  if (!sizes) return CUR_ENOMEM;
  for (size_t i = 0; i < k; i++) sum += sizes[i] = tp->classes[i].c.before;
  qsort(sizes, k, sizeof *sizes, compare_i64);
  int64_t t = count;
  if (mode == TARGET_MEDIAN) t = k % 2 ? sizes[k / 2] : (sizes[k / 2 - 1] + sizes[k / 2]) / 2;
  if (mode == TARGET_MEAN) t = llround((double)sum / (double)k);
  if (mode == TARGET_MAX) t = sizes[k - 1];
  if (mode == TARGET_RATIO && (double)sizes[k - 1] > max_ratio * (double)sizes[0]) {
    /* Meet in the middle on a log scale: the smallest class grows by the
    ** factor the largest shrinks by, so that hi / lo = max_ratio. */
    lo = (int64_t)ceil(sqrt((double)sizes[0] * (double)sizes[k - 1] / max_ratio));
    hi = (int64_t)floor((double)lo * max_ratio);
  }
  for (size_t i = 0; i < k; i++) {
    int64_t n = tp->classes[i].c.before;
    tp->classes[i].c.target = mode != TARGET_RATIO ? t : n < lo ? lo : n > hi ? hi : n;
  }
  cur_free(sizes);
  return CUR_OK;
}

/* Kept rows (every row unless UNDERSAMPLE), variants (capped per source)
** and weights from the targets.
** Weight: N / (K after_c) with N rows in all and K classes, so every class
** carries the same total weight and a balanced task has weight 1 everywhere. */
static void set_counts(task_plan *tp, int64_t cap, int undersample) {
  int64_t total = 0;
  for (size_t i = 0; i < tp->n_classes; i++) {
    cur_balance_class *c = &tp->classes[i].c;
    c->kept = undersample && c->before > c->target ? c->target : c->before;
    int64_t need = c->target - c->before, most = c->before * cap;
    c->variants = need <= 0 ? 0 : need < most ? need : most;
    c->after = c->kept + c->variants;
    total += c->after;
  }
  for (size_t i = 0; i < tp->n_classes; i++) {
    cur_balance_class *c = &tp->classes[i].c;
    double w = (double)total / ((double)tp->n_classes * (double)c->after);
    c->weight = round(w * WEIGHT_DECIMALS) / WEIGHT_DECIMALS;
  }
}

/* Writes one class: its summary, its kept rows and its planned variants,
** variant j going to source j mod n (round-robin, best sources first). */
static int write_class(cur_run *run, int64_t task_id, const task_plan *tp, const klass *k) {
  cur_store *st = cur_run_store(run);
  const item *rows = tp->items + k->first;
  int64_t n = k->c.before;
  int rc = cur_store_balance_class_add(st, cur_run_id(run), task_id, &k->c);
  for (int64_t j = 0; rc == CUR_OK && j < k->c.kept; j++)
    rc = cur_store_training_add(st, cur_run_id(run), task_id, rows[j].image_id, k->c.class_id,
                                k->c.weight);
  for (int64_t j = 0; rc == CUR_OK && j < k->c.variants; j++)
    rc = cur_store_plan_add(st, cur_run_id(run), task_id, rows[j % n].image_id, (int)(j / n),
                            k->c.class_id);
  return rc;
}

static int write_plan(cur_run *run, int64_t task_id, const task_plan *tp) {
  cur_store *st = cur_run_store(run);
  int rc = cur_store_begin(st);
  if (rc) return rc;
  rc = cur_store_balance_clear(st, cur_run_id(run), task_id);
  for (size_t i = 0; rc == CUR_OK && i < tp->n_classes; i++)
    rc = write_class(run, task_id, tp, &tp->classes[i]);
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

/* Largest / smallest of a count over the classes (before or after). */
static double class_ratio(const task_plan *tp, int after) {
  int64_t lo = INT64_MAX, hi = 0;
  for (size_t i = 0; i < tp->n_classes; i++) {
    int64_t n = after ? tp->classes[i].c.after : tp->classes[i].c.before;
    lo = n < lo ? n : lo;
    hi = n > hi ? n : hi;
  }
  return lo > 0 ? (double)hi / (double)lo : INFINITY;
}

/* Prints the before/after table of a task (info lines: --quiet drops them). */
static int report(cur_run *run, const char *task, const char *split, const char *target,
                  int undersample, const task_plan *tp) {
  char name[64];
  cur_info("balance: task %s, split %s, target %s, %s", task, split, target,
           undersample ? "undersampling classes above it" : "every row kept");
  cur_info("  %-20s %7s %7s %7s %8s %7s %9s", "class", "before", "target", "kept", "variants",
           "after", "weight");
  for (size_t i = 0; i < tp->n_classes; i++) {
    const cur_balance_class *c = &tp->classes[i].c;
    int rc = cur_store_class_name(cur_run_store(run), c->class_id, name, sizeof name);
    if (rc) return rc;
    cur_info("  %-20s %7lld %7lld %7lld %8lld %7lld %9.4f", name, (long long)c->before,
             (long long)c->target, (long long)c->kept, (long long)c->variants, (long long)c->after,
             c->weight);
  }
  cur_info("  largest/smallest: %.2f before, %.2f after", class_ratio(tp, 0), class_ratio(tp, 1));
  return CUR_OK;
}

static int balance_task(cur_run *run, int64_t task_id, const char *task) {
  const cJSON *opt = cur_run_options(run);
  const char *target = cur_opt_str(opt, "target"), *split = cur_split_name(cur_opt_str(opt, "split"));
  target_mode mode = TARGET_MEDIAN;
  int64_t count = 0;
  task_plan tp = {0};
  int rc = parse_target(target, "balance.target", &mode, &count);
  if (rc == CUR_OK) rc = load_plan(run, task_id, split, &tp);
  if (rc == CUR_OK && tp.n_classes == 0) {
    cur_info("balance: task %s: no labelled rows in split %s; nothing to balance", task, split);
    rc = write_plan(run, task_id, &tp);  /* still clears an earlier attempt's rows */
    goto cleanup;
  }
  if (rc == CUR_OK) rc = set_targets(&tp, mode, count, cur_opt_num(opt, "max_ratio"));
  if (rc) goto cleanup;
  int undersample = cur_opt_bool(opt, "undersample");
  set_counts(&tp, cur_opt_int(opt, "max_variants_per_source"), undersample);
  if ((rc = write_plan(run, task_id, &tp))) goto cleanup;
  rc = report(run, task, split, target, undersample, &tp);
cleanup:
  plan_free(&tp);
  return rc;
}

static int balance_one(void *ctx, int64_t task_id, const char *name) {
  int rc = balance_task(ctx, task_id, name);
  return rc == CUR_OK && cur_interrupted() ? CUR_EINTR : rc;
}

static int balance_run(cur_run *run) {
  const cJSON *tasks = cur_opt_json(cur_run_options(run), "tasks");
  cur_store *st = cur_run_store(run);
  int64_t kept, dropped, planned;
  int rc = cJSON_GetArraySize(tasks) > 0
               ? cur_store_tasks_listed(st, tasks, "balance.tasks", balance_one, run)
               : cur_store_tasks_labelled(st, balance_one, run);
  if (rc) return rc;
  /* counts come from the database, so a resumed run reports the same */
  if ((rc = cur_store_balance_totals(st, cur_run_id(run), &kept, &dropped, &planned))) return rc;
  cur_run_count_set(run, "kept", kept);
  cur_run_count_set(run, "dropped", dropped);
  cur_run_count_set(run, "variants_planned", planned);
  return CUR_OK;
}

static const char *const balance_needs[] = {"split", NULL};

const cur_stage stage_balance = {
    .name = "balance",
    .summary = "plan augmented variants for small classes, weight rows (undersampling opt-in)",
    .needs = balance_needs,
    .options = balance_options,
    .fingerprint = NULL,
    .run = balance_run,
};
