/* cmd_review.c -- `curate flagged` lists flags worst first; `curate review` records decisions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "review_decide.h"
#include "store_review.h"
#include "text.h"

static const char flagged_help[] =
    "Usage: curate flagged [--task T] [--reason R] [--limit N] [--all] [--json]\n"
    "\n"
    "Lists flagged images worst first: lowest score first, where the score is\n"
    "the AUM for reason aum and the probability of the label for confident.\n"
    "Flags come from the newest complete aum and audit runs and from other\n"
    "stages (duplicate_conflict). Only flags awaiting review, unless --all.\n"
    "\n"
    "  --task T     only this task\n"
    "  --reason R   only this reason (aum, confident, duplicate_conflict;\n"
    "               audit: near_duplicate, leak, outlier, blurry, dark, bright,\n"
    "               low_information, odd_aspect, odd_size, grayscale)\n"
    "  --limit N    at most N rows (default: all)\n"
    "  --all        flags already reviewed too\n"
    "  --json       one JSON array: image_id, task, label, suggested, reason,\n"
    "               score, review_status, source_path, detail\n";

static const char review_help[] =
    "Usage: curate review accept|drop|undo IMAGE_ID... [--task T]\n"
    "       curate review relabel IMAGE_ID CLASS [--task T]\n"
    "\n"
    "Records a reviewer's decision as a review label (earlier labels stay in\n"
    "the history) and marks the image's pending flags of that task:\n"
    "  accept    the current label is right: the image stays in training\n"
    "  drop      the image leaves training (its label becomes none)\n"
    "  relabel   the image is of class CLASS\n"
    "  undo      takes back the image's newest decision still standing (a row\n"
    "            in label_retractions; its label row stays): the current label\n"
    "            is again the one before it, whatever its source, and with no\n"
    "            decision left the image's flags are pending again\n"
    "\n"
    "  --task T   the label task (default: the image's only task)\n"
    "\n"
    "The decisions of one command are recorded together or not at all.\n"
    "`curate run` then re-runs the stages, which see them.\n";

static int parse_id(const char *s, int64_t *id) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno || v < 1) return -1;
  *id = v;
  return 0;
}

static void print_flags(const cJSON *arr) {
  const cJSON *r;
  printf("%8s  %-10s %-14s %-14s %-18s %9s  %-10s  %s\n", "image", "task", "label", "suggested",
         "reason", "score", "status", "path");
  cJSON_ArrayForEach(r, arr) {
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(r, "score");
    char num[32] = "";
    if (cJSON_IsNumber(score)) snprintf(num, sizeof num, "%.3f", score->valuedouble);
    const char *cols[] = {"task", "label", "suggested", "reason", "review_status", "source_path"};
    const char *v[CUR_ARRAY_LEN(cols)];
    for (size_t c = 0; c < CUR_ARRAY_LEN(cols); c++) {
      const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, cols[c]);
      v[c] = cJSON_IsString(s) ? s->valuestring : "-";
    }
    printf("%8.0f  %-10s %-14s %-14s %-18s %9s  %-10s  %s\n",
           cJSON_GetObjectItemCaseSensitive(r, "image_id")->valuedouble, v[0], v[1], v[2], v[3],
           num, v[4], v[5]);
  }
}

int cur_cmd_flagged(const cur_globals *g, int argc, char **argv) {
  const char *task = NULL, *reason = NULL, *limit_s = NULL;
  int json = g->json, all = 0, r;
  int64_t limit = -1;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(flagged_help, stdout);
      return CUR_EXIT_OK;
    }
    if ((r = cli_value(&i, argc, argv, "--task", &task)) ||
        (r = cli_value(&i, argc, argv, "--reason", &reason)) ||
        (r = cli_value(&i, argc, argv, "--limit", &limit_s))) {
      if (r < 0) return CUR_EXIT_USAGE;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = 1;
    } else if (strcmp(argv[i], "--all") == 0) {
      all = 1;
    } else {
      return cli_usage_error("flagged", "unexpected argument '%s'", argv[i]);
    }
  }
  if (limit_s && parse_id(limit_s, &limit))
    return cli_usage_error("flagged", "--limit takes a positive integer, not '%s'", limit_s);
  cur_store *st;
  cur_config *cfg;
  cJSON *arr = cJSON_CreateArray();
  int rc = arr ? cli_open(g, 0, &st, &cfg) : CUR_ENOMEM;
  if (rc) {
    cJSON_Delete(arr);
    return cli_fail(rc);
  }
  rc = cur_store_flagged(st, task, reason, !all, limit, arr);
  cur_config_free(cfg);
  cur_store_close(st);
  char *text = rc == CUR_OK && json ? cur_json_print(arr, 1) : NULL;
  if (rc == CUR_OK && json && !text) rc = CUR_ENOMEM;
  if (text) puts(text);
  else if (rc == CUR_OK && (rc = cur_json_make_printable(arr)) == CUR_OK) print_flags(arr);
  cur_free(text);
  cJSON_Delete(arr);
  return rc ? cli_fail(rc) : CUR_EXIT_OK;
}

/* One review command, parsed. */
typedef struct review_req {
  const char *action;          /* accept, drop, relabel or undo */
  const char *task;            /* --task, or NULL */
  const char *class_name;      /* relabel: the new class */
  int n;
  int64_t *ids;                /* n image ids */
} review_req;

/* All decisions in one transaction: a bad id or class records none. */
static int review_all(const cur_globals *g, const review_req *q) {
  cur_store *st;
  cur_config *cfg;
  int rc = cli_open(g, 1, &st, &cfg);
  if (rc) return rc;
  if ((rc = cur_store_begin(st)) == CUR_OK) {
    for (int i = 0; rc == CUR_OK && i < q->n; i++) rc = cur_review_decide(st, q->action, q->task, q->ids[i], q->class_name);
    if (rc == CUR_OK) rc = cur_store_commit(st);
    else cur_store_rollback(st);
  }
  if (rc == CUR_OK)
    cur_info("review: %s: %d image%s recorded", q->action, q->n, q->n == 1 ? "" : "s");
  cur_config_free(cfg);
  cur_store_close(st);
  return rc;
}

/* Parses argv into Q (ids allocated); returns an exit code, or -1 to go on. */
static int review_parse(int argc, char **argv, review_req *q) {
  const char *pos[2];
  int npos = 0, r;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(review_help, stdout);
      return CUR_EXIT_OK;
    }
    if ((r = cli_value(&i, argc, argv, "--task", &q->task))) {
      if (r < 0) return CUR_EXIT_USAGE;
    } else if (!q->action) {
      q->action = argv[i];
    } else if (strcmp(q->action, "relabel") == 0 && npos < 2) {
      pos[npos++] = argv[i];
    } else if (strcmp(q->action, "relabel") == 0) {
      return cli_usage_error("review", "relabel takes one IMAGE_ID and one CLASS");
    } else if (parse_id(argv[i], &q->ids[q->n++])) {
      return cli_usage_error("review", "'%s' is not an image id", argv[i]);
    }
  }
  if (!q->action) return cli_usage_error("review", "missing accept, drop, relabel or undo");
  if (strcmp(q->action, "accept") && strcmp(q->action, "drop") && strcmp(q->action, "relabel") &&
      strcmp(q->action, "undo"))
    return cli_usage_error("review", "unknown decision '%s': accept, drop, relabel or undo",
                           q->action);
  if (strcmp(q->action, "relabel") == 0) {
    if (npos != 2) return cli_usage_error("review", "relabel takes one IMAGE_ID and one CLASS");
    if (parse_id(pos[0], &q->ids[0])) return cli_usage_error("review", "'%s' is not an image id", pos[0]);
    q->n = 1;
    q->class_name = pos[1];
  }
  return q->n ? -1 : cli_usage_error("review", "no IMAGE_ID given");
}

int cur_cmd_review(const cur_globals *g, int argc, char **argv) {
  review_req q = {.ids = cur_calloc((size_t)argc + 1, sizeof *q.ids)};
  if (!q.ids) return cli_fail(CUR_ENOMEM);
  int code = review_parse(argc, argv, &q);
  if (code < 0) {
    int rc = review_all(g, &q);
    code = rc ? cli_fail(rc) : CUR_EXIT_OK;
  }
  cur_free(q.ids);
  return code;
}
