/* report.c -- the closing report of `curate run`, built from the database and judged for warnings.
**
** Nothing here decides anything: the policy stage chose what to apply and
** the train stage measured it.  The report puts those facts side by side
** and says what a curator should not miss: features too weak to judge
** labels by, class names that mean "no label", classes too thin in val or
** test to measure, and a curated run worse than the raw labels on test.
*/
#include "report.h"

#include <ctype.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "text.h"
#include "store_report.h"

/* A class name annotators use for "no answer". */
static int junk_name(const char *name) {
  static const char *const junk[] = {"not sure", "other", "others", "skip", "unknown", "n/a",
                                     "na", "?", "none", "misc", "unsure", "-"};
  char low[64];
  size_t n = 0;
  while (*name == ' ') name++;
  for (; name[n] && n + 1 < sizeof low; n++) low[n] = (char)tolower((unsigned char)name[n]);
  while (n > 0 && low[n - 1] == ' ') n--;
  low[n] = 0;
  for (size_t i = 0; i < CUR_ARRAY_LEN(junk); i++)
    if (strcmp(low, junk[i]) == 0) return 1;
  return 0;
}

/* Appends a formatted line to array KEY of R; 0 on out of memory. */
static int add_line(cJSON *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int add_line(cJSON *r, const char *key, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(r, key);
  if (!arr) arr = cJSON_AddArrayToObject(r, key);
  cJSON *s = arr ? cJSON_CreateString(line) : NULL;
  if (s && cJSON_AddItemToArray(arr, s)) return 1;
  cJSON_Delete(s);
  return 0;
}

/* Class names joined by ", " (those for which PICK is true), into BUF. */
static void join_classes(const cJSON *classes, int (*pick)(const cJSON *, int), int arg, char *buf,
                         size_t cap) {
  size_t len = 0;
  const cJSON *c;
  buf[0] = 0;
  cJSON_ArrayForEach(c, classes)
    if (pick(c, arg) && len < cap)
      len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", len ? ", " : "",
                              cur_json_str(c, "class", ""));
}

static int is_junk(const cJSON *c, int unused) {
  (void)unused;
  return junk_name(cur_json_str(c, "class", ""));
}

static int thin_test(const cJSON *c, int min) {
  return cur_json_num(c, "test", NAN) < min;
}

static int thin_val(const cJSON *c, int min) {
  return cur_json_num(c, "val", NAN) < min;
}

static int warn_names_and_splits(cJSON *r, const cur_report_opts *o) {
  const cJSON *classes = cJSON_GetObjectItemCaseSensitive(r, "classes");
  char names[768];
  int ok = 1;
  join_classes(classes, is_junk, 0, names, sizeof names);
  if (names[0])
    ok &= add_line(r, "warnings", "class names that usually mean \"no label\": %s; if they do, "
                   "list them in ingest.ignore_labels and ingest again", names);
  join_classes(classes, thin_test, o->min_eval_rows, names, sizeof names);
  if (names[0])
    ok &= add_line(r, "warnings", "classes with fewer than %d test rows cannot be measured on test: "
                   "%s (see curate status)", o->min_eval_rows, names);
  double val = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, classes) val += cur_json_num(c, "val", NAN);
  join_classes(classes, thin_val, o->min_eval_rows, names, sizeof names);
  if (val == 0)
    ok &= add_line(r, "warnings", "no labelled val rows: the policy decided on folds of the train "
                   "split; sources that pin train and test (split folders) get a val split from "
                   "ingest.val_from_train");
  else if (names[0])
    ok &= add_line(r, "warnings", "classes with fewer than %d val rows weigh little in the policy's "
                   "decisions: %s", o->min_eval_rows, names);
  return ok;
}

/* Weak features: the raw head closes less than a quarter of the gap between
** always answering the largest test class and answering every row right. */
static int warn_figures(cJSON *r, const cur_report_opts *o) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
  const cJSON *c;
  double most = 0, total = 0;
  int ok = 1;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r, "classes")) {
    total += cur_json_num(c, "test", NAN);
    if (cur_json_num(c, "test", NAN) > most) most = cur_json_num(c, "test", NAN);
  }
  double raw_acc = cur_json_num(m, "raw/accuracy", NAN), majority = total > 0 ? most / total : NAN;
  if (!m) return add_line(r, "warnings", "no train run measured the result: no test rows?");
  if (!isnan(raw_acc) && !isnan(majority) && majority < 1 &&
      (raw_acc - majority) / (1 - majority) < 0.25)
    ok &= add_line(r, "warnings", "the features are weak: the raw-label head's test accuracy %.3f is "
                   "close to always answering the largest class (%.3f), so mislabel flags and "
                   "pseudo-labels from them mean little; point embed.model at a CLIP checkpoint "
                   "(docs/models.md)", raw_acc, majority);
  const char *keys[][2] = {{"accuracy", "raw/accuracy"}, {"macro_f1", "raw/macro_f1"}};
  for (size_t i = 0; i < CUR_ARRAY_LEN(keys); i++)
    if (cur_json_num(m, keys[i][0], NAN) < cur_json_num(m, keys[i][1], NAN) - o->tolerance)
      ok &= add_line(r, "warnings", "curated is worse than the raw labels on test: %s %.4f against "
                     "%.4f (the policy decided on validation data; see policy_decisions)",
                     keys[i][0], cur_json_num(m, keys[i][0], NAN), cur_json_num(m, keys[i][1], NAN));
  return ok;
}

int cur_report_build(cur_store *st, const cur_report_opts *o, cJSON **out) {
  cJSON *r = cJSON_CreateObject();
  int rc = r && cJSON_AddStringToObject(r, "task", o->task)
               ? CUR_OK
               : cur_errorc(CUR_ENOMEM, "out of memory");
  if (rc == CUR_OK) rc = cur_store_report(st, o->task, r);
  if (rc == CUR_OK && !cJSON_AddArrayToObject(r, "warnings"))
    rc = cur_errorc(CUR_ENOMEM, "out of memory");
  if (rc == CUR_OK &&
      !(warn_names_and_splits(r, o) && warn_figures(r, o) &&
        add_line(r, "next", "curate flagged --limit 20") &&
        add_line(r, "next", "curate review accept|drop IMAGE_ID... / relabel IMAGE_ID CLASS") &&
        add_line(r, "next", "sqlite3 curate.db 'SELECT * FROM policy_decisions'")))
    rc = cur_errorc(CUR_ENOMEM, "out of memory");
  if (rc) {
    cJSON_Delete(r);
    return rc;
  }
  *out = r;
  return CUR_OK;
}

int cur_report_warnings(const cJSON *report) {
  return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(report, "warnings"));
}

/* 1 when the newest policy run kept DECISION, 0 when it refused it, -1 when not tried. */
static int policy_kept(const cJSON *r, const char *decision) {
  const cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(r, "policy"))
    if (strcmp(cur_json_str(d, "decision", ""), decision) == 0)
      return cur_json_num(d, "kept", NAN) != 0;
  return -1;
}

static void print_policy(const cJSON *r) {
  const cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(r, "policy")) {
    if (strcmp(cur_json_str(d, "decision", ""), "raw") == 0)
      printf("policy (held-out rows: %s):\n  %-14s %7.0f rows          macro-F1 %.4f\n",
             cur_json_str(d, "method", ""), "raw labels", cur_json_num(d, "rows", NAN),
             cur_json_num(d, "macro_f1", NAN));
    else
      printf("  %-14s %7.0f rows changed  macro-F1 %.4f  %s: %s\n", cur_json_str(d, "decision", ""),
             cur_json_num(d, "changed", NAN), cur_json_num(d, "macro_f1", NAN),
             cur_json_num(d, "kept", NAN) ? "kept" : "refused", cur_json_str(d, "why", ""));
  }
}

static void print_figures(const cJSON *r) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metrics");
  if (!m) return;
  printf("raw labels -> curated (train run %.0f):\n", cur_json_num(r, "train_run", NAN));
  if (!isnan(cur_json_num(m, "val/macro_f1", NAN)))
    printf("  val   macro-F1 %.4f -> %.4f   accuracy %.4f -> %.4f\n",
           cur_json_num(m, "raw/val/macro_f1", NAN), cur_json_num(m, "val/macro_f1", NAN),
           cur_json_num(m, "raw/val/accuracy", NAN), cur_json_num(m, "val/accuracy", NAN));
  printf("  test  macro-F1 %.4f -> %.4f   accuracy %.4f -> %.4f\n",
         cur_json_num(m, "raw/macro_f1", NAN), cur_json_num(m, "macro_f1", NAN),
         cur_json_num(m, "raw/accuracy", NAN), cur_json_num(m, "accuracy", NAN));
}

void cur_report_print(const cJSON *r) {
  const cJSON *c;
  printf("\n== report (task %s)\n", cur_json_str(r, "task", ""));
  if (!isnan(cur_json_num(r, "manifest_rows", NAN)))
    printf("manifest: %.0f rows\n", cur_json_num(r, "manifest_rows", NAN));
  printf("  %-24s %9s %9s %6s %6s\n", "class", "raw train", "curated", "val", "test");
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r, "classes"))
      printf("  %-24.24s %9.0f %9.0f %6.0f %6.0f\n", cur_json_str(c, "class", ""),
             cur_json_num(c, "raw_train", NAN), cur_json_num(c, "curated_train", NAN),
             cur_json_num(c, "val", NAN), cur_json_num(c, "test", NAN));
  int drop = policy_kept(r, "drop_flagged"), pseudo = policy_kept(r, "pseudolabels");
  int decided = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "policy")) > 0;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r, "flags")) {
    /* the audit's flags are advice, but for leaks (docs/stages/audit.md) */
    int audit = strcmp(cur_json_str(c, "stage", ""), "audit") == 0;
    int leak = audit && strcmp(cur_json_str(c, "reason", ""), "leak") == 0;
    printf("flags awaiting review: %.0f %s (%s)\n", cur_json_num(c, "pending", NAN),
           cur_json_str(c, "reason", ""),
           leak        ? "val/test rows kept out of the manifest and the curated figures"
           : audit     ? "advice for review: no row held back"
           : drop == 1 ? "their rows left training"
           : drop == 0 ? "advice only: their rows stay in training"
           : decided   ? "none on a training row"
                       : "no policy run yet");
  }
  printf("pseudo-labels: %.0f accepted by pseudolabel (%s)\n", cur_json_num(r, "pseudolabels", NAN),
         pseudo == 1 ? "in training" : pseudo == 0 ? "refused by the policy" : "not tried");
  print_policy(r);
  print_figures(r);
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r, "warnings"))
    printf("warning: %s\n", c->valuestring);
  printf("next:\n");
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r, "next")) printf("  %s\n", c->valuestring);
}
