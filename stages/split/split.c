/* split.c -- the split stage: whole groups to train, val and test, stratified by class.
**
** Ingest records a split only where the source gives one (pinned); every
** other original image waits as 'provisional'.  This stage, one transaction,
** reads every original image with its group and its class in one task, and
** places the groups that hold no pinned or already stratified image
** (stratify.c), counting the placed ones toward the targets.  So a
** later ingest adds groups around the ones already placed and moves none;
** `curate split` hands the stratified images back first, to place them all
** afresh.  A killed run commits nothing, and the next one does it all again.
*/
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "stages.h"
#include "store_split.h"
#include "stratify.h"
#include "strmap.h"

static const char *const split_names[3] = {"train", "val", "test"};

static const cur_option split_options[] = {
    {"train", CUR_OPT_NUM, "0.8", "share of each class's rows placed in train (groups the source "
     "does not pin)", cur_option_check_fraction},
    {"val", CUR_OPT_NUM, "0.1", "share of each class's rows placed in val", cur_option_check_fraction},
    {"test", CUR_OPT_NUM, "0.1", "share of each class's rows placed in test", cur_option_check_fraction},
    {"task", CUR_OPT_STR, "\"\"",
     "task whose classes are stratified; \"\" = the first task with labels", NULL},
    {"min_eval_rows", CUR_OPT_INT, "5",
     "`curate status` warns about a class with fewer val or test rows than this",
     cur_option_check_nonnegative},
    {NULL, 0, NULL, NULL, NULL}};

/* An original image waiting for its group's split. */
typedef struct waiting {
  int64_t id;
  int group;
  int now;           /* its split index today, -1 while provisional */
} waiting;

/* A labelled ok row: its group and class, sorted into entries later. */
typedef struct pair {
  int group, cls;
} pair;

typedef struct plan {
  uint64_t seed;
  cur_strmap *group_of, *class_of;  /* key -> group index; class id -> dense class */
  cur_strat_group *groups;
  unsigned char *pinned;            /* [group]: a pinned image placed it */
  int n_groups, cap_groups, cap_pinned, n_classes;
  pair *pairs;
  int n_pairs, cap_pairs;
  waiting *waiting;
  int n_waiting, cap_waiting;
  cur_strat_entry *entries;
  int n_entries;
} plan;

/* Grows *ARR (of SIZE-byte items) to hold one more; 0 or CUR_ENOMEM. */
static int grow(void **arr, int n, int *cap, size_t size) {
  if (n < *cap) return CUR_OK;
  int want = *cap ? *cap * 2 : 256;
  void *bigger = cur_reallocarray(*arr, (size_t)want, size);
  if (!bigger) return cur_errorc(CUR_ENOMEM, "split: out of memory");
  *arr = bigger;
  *cap = want;
  return CUR_OK;
}

static int split_index(const char *s) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, split_names[i]) == 0) return i;
  return 0;
}

/* The group of ROW, created on first sight with its seeded tie. */
static int group_of(plan *p, const cur_split_row *row, int *g) {
  size_t found;
  /* a group key and a content hash never name the same group */
  char *key = cur_asprintf("%c\x1f%s", row->grouped ? 'g' : 'h', row->key);
  int rc = key ? CUR_OK : cur_errorc(CUR_ENOMEM, "split: out of memory");
  if (rc == CUR_OK && cur_strmap_get(p->group_of, key, &found)) {
    *g = (int)found;
    cur_free(key);
    return CUR_OK;
  }
  if (rc == CUR_OK) rc = grow((void **)&p->groups, p->n_groups, &p->cap_groups, sizeof *p->groups);
  if (rc == CUR_OK) rc = grow((void **)&p->pinned, p->n_groups, &p->cap_pinned, sizeof *p->pinned);
  if (rc == CUR_OK) {
    char tag[64];
    snprintf(tag, sizeof tag, "split %llu", (unsigned long long)p->seed);
    p->groups[p->n_groups] = (cur_strat_group){.split = -1, .tie = cur_hash_unit(tag, key)};
    p->pinned[p->n_groups] = 0;
    *g = p->n_groups++;
    if (cur_strmap_put(p->group_of, key, (size_t)*g) < 0) rc = CUR_ENOMEM;
  }
  cur_free(key);
  return rc;
}

static int class_of(plan *p, int64_t class_id, int *cls) {
  char key[32];
  size_t found;
  snprintf(key, sizeof key, "%lld", (long long)class_id);
  if (cur_strmap_get(p->class_of, key, &found)) {
    *cls = (int)found;
    return CUR_OK;
  }
  *cls = p->n_classes++;
  return cur_strmap_put(p->class_of, key, (size_t)*cls) < 0 ? CUR_ENOMEM : CUR_OK;
}

/* One original image: a pinned or stratified one places its group (the
** first pinned image by id decides, else the first stratified one); a
** provisional one waits for it, and so does a stratified one, which
** follows a pinned image that came to its group later (a group never
** straddles splits). */
static int take_row(void *ctx, const cur_split_row *row) {
  plan *p = ctx;
  int g, cls, rc = group_of(p, row, &g);
  if (rc) return rc;
  cur_strat_group *gr = &p->groups[g];
  int provisional = strcmp(row->source, "provisional") == 0;
  int pinned = strcmp(row->source, "pinned") == 0;
  if ((pinned && !p->pinned[g]) || (!provisional && gr->split < 0)) gr->split = split_index(row->split);
  p->pinned[g] |= (unsigned char)pinned;
  if (!pinned) {
    if ((rc = grow((void **)&p->waiting, p->n_waiting, &p->cap_waiting, sizeof *p->waiting))) return rc;
    p->waiting[p->n_waiting++] =
        (waiting){.id = row->id, .group = g, .now = provisional ? -1 : split_index(row->split)};
  }
  if (!row->ok) return CUR_OK;
  gr->size++;
  if (!row->class_id) return CUR_OK;
  if ((rc = class_of(p, row->class_id, &cls)) ||
      (rc = grow((void **)&p->pairs, p->n_pairs, &p->cap_pairs, sizeof *p->pairs)))
    return rc;
  p->pairs[p->n_pairs++] = (pair){.group = g, .cls = cls};
  return CUR_OK;
}

static int by_group_class(const void *pa, const void *pb) {
  const pair *a = pa, *b = pb;
  if (a->group != b->group) return (a->group > b->group) - (a->group < b->group);
  return (a->cls > b->cls) - (a->cls < b->cls);
}

/* Counts the pairs into per-group runs of (class, rows). */
static int make_entries(plan *p) {
  /* no labelled image: no pairs, and qsort wants a real array even for none */
  if (p->n_pairs > 0) qsort(p->pairs, (size_t)p->n_pairs, sizeof *p->pairs, by_group_class);
  p->entries = cur_mallocarray((size_t)p->n_pairs + 1, sizeof *p->entries);
  if (!p->entries) return cur_errorc(CUR_ENOMEM, "split: out of memory");
  for (int i = 0; i < p->n_pairs; i++) {
    const pair *pr = &p->pairs[i];
    cur_strat_group *gr = &p->groups[pr->group];
    if (i > 0 && pr->group == p->pairs[i - 1].group && pr->cls == p->pairs[i - 1].cls) {
      p->entries[p->n_entries - 1].count++;
      continue;
    }
    if (gr->n == 0) gr->first = p->n_entries;
    gr->n++;
    p->entries[p->n_entries++] = (cur_strat_entry){.cls = pr->cls, .count = 1};
  }
  return CUR_OK;
}

static void plan_free(plan *p) {
  cur_strmap_free(p->group_of);
  cur_strmap_free(p->class_of);
  cur_free(p->groups);
  cur_free(p->pinned);
  cur_free(p->pairs);
  cur_free(p->waiting);
  cur_free(p->entries);
}

/* Gives every waiting image whose split differs its group's split;
** *per_split counts them. */
static int write_splits(cur_store *st, const plan *p, int64_t per_split[3]) {
  int rc = CUR_OK;
  for (int i = 0; rc == CUR_OK && i < p->n_waiting; i++) {
    int s = p->groups[p->waiting[i].group].split;
    assert(s >= 0 && s < 3);
    if (p->waiting[i].now == s) continue;
    per_split[s]++;
    rc = cur_store_split_set(st, p->waiting[i].id, split_names[s]);
  }
  return rc == CUR_OK ? cur_store_split_follow_parents(st) : rc;
}

/* Reads the images, places the unplaced groups and writes their splits,
** inside the caller's transaction.  *new_groups counts the groups placed. */
static int place_all(cur_run *run, plan *p, int64_t *new_groups, int64_t per_split[3]) {
  const cJSON *opt = cur_run_options(run);
  cur_store *st = cur_run_store(run);
  const char *task = cur_opt_str(opt, "task");
  const double frac[3] = {cur_opt_num(opt, "train"), cur_opt_num(opt, "val"), cur_opt_num(opt, "test")};
  int64_t task_id = 0, released;
  int found, rc;
  if (cur_run_fresh(run) && (rc = cur_store_split_release(st, &released))) return rc;
  if ((rc = cur_store_split_task(st, task, &task_id, &found))) return rc;
  if (!found && task[0])
    return cur_errorc(CUR_ECONFIG, "split.task: no task named '%s' in the database", task);
  if ((rc = cur_store_split_rows(st, found ? task_id : 0, take_row, p)) || (rc = make_entries(p)))
    return rc;
  *new_groups = 0;
  for (int g = 0; g < p->n_groups; g++) *new_groups += p->groups[g].split < 0;
  if ((rc = cur_stratify(p->groups, p->n_groups, p->entries, p->n_classes, frac)))
    return cur_errorc(rc, "split: out of memory placing %d groups", p->n_groups);
  return write_splits(st, p, per_split);
}

static int split_run(cur_run *run) {
  const cJSON *opt = cur_run_options(run);
  cur_store *st = cur_run_store(run);
  double shares = cur_opt_num(opt, "train") + cur_opt_num(opt, "val") + cur_opt_num(opt, "test");
  if (fabs(shares - 1) > 1e-9)
    return cur_errorc(CUR_ECONFIG, "split.train + split.val + split.test is %g, not 1", shares);
  plan p = {.seed = cur_run_seed(run), .group_of = cur_strmap_new(), .class_of = cur_strmap_new()};
  int64_t new_groups = 0, per_split[3] = {0, 0, 0};
  int rc = p.group_of && p.class_of ? cur_store_begin(st) : cur_errorc(CUR_ENOMEM, "split: out of memory");
  if (rc == CUR_OK) {
    /* one transaction: a killed run leaves the database as it was */
    rc = place_all(run, &p, &new_groups, per_split);
    if (rc == CUR_OK) rc = cur_store_commit(st);
    else cur_store_rollback(st);
  }
  if (rc == CUR_OK) {
    cur_run_count_set(run, "groups", new_groups);
    cur_run_count_set(run, "images", p.n_waiting);
    for (int s = 0; s < 3; s++) cur_run_count_set(run, split_names[s], per_split[s]);
  }
  plan_free(&p);
  return rc;
}

static const char *const split_needs[] = {"ingest", NULL};
/* Images and their human labels.  Groups once placed never move with a
** label (curate split re-splits on purpose), so reviews need not re-run it,
** nor embed after it. */
static const char *const split_reads[] = {"ingest", NULL};
/* it only sets the threshold of a warning in `curate status` */
static const char *const split_unhashed[] = {"min_eval_rows", NULL};

const cur_stage stage_split = {
    .name = "split",
    .reads = split_reads,
    .summary = "place whole groups in train, val and test, each class near its target shares",
    .needs = split_needs,
    .options = split_options,
    .unhashed = split_unhashed,
    .run = split_run,
};
