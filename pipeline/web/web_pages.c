/* web_pages.c -- the overview, confusion-matrix and score pages. */
#include <math.h>
#include <string.h>

#include "cli_util.h"
#include "curate.h"
#include "report.h"
#include "store_status.h"
#include "text.h"
#include "web_internal.h"
#include "web_svg.h"
#include "web_thumb.h"

static const char *const splits[] = {"train", "val", "test"};

/* One bar chart per task: images per class and split (class_balance). */
static int overview_balance(cur_buf *b, const cJSON *classes) {
  const cJSON *r = classes ? classes->child : NULL;
  while (r) {
    const char *task = cur_json_str(r, "task", "");
    int n = 0, cap = 0;
    const char **names = NULL;
    double *values = NULL;
    for (; r && strcmp(cur_json_str(r, "task", ""), task) == 0; r = r->next) {
      const char *cls = cur_json_str(r, "class", "");
      if (n == 0 || strcmp(names[n - 1], cls) != 0) {
        if (n == cap) {
          cap = cap ? cap * 2 : 16;
          const char **nn = cur_reallocarray(names, (size_t)cap, sizeof *names);
          double *nv = nn ? cur_reallocarray(values, (size_t)cap * 3, sizeof *values) : NULL;
          if (nn) names = nn;
          if (!nv) {
            cur_free(names);
            cur_free(values);
            return CUR_ENOMEM;
          }
          values = nv;
        }
        names[n] = cls;
        memset(values + (size_t)n * 3, 0, 3 * sizeof *values);
        n++;
      }
      for (int s = 0; s < 3; s++)
        if (strcmp(cur_json_str(r, "split", ""), splits[s]) == 0)
          values[(n - 1) * 3 + s] += cur_json_num(r, "images", 0);
    }
    char *title = cur_asprintf("images per class and split: task %s", task);
    if (title) cur_svg_bars(b, title, names, n, splits, 3, values);
    cur_free(title);
    cur_free(names);
    cur_free(values);
    if (!title) return CUR_ENOMEM;
  }
  return CUR_OK;
}

/* The newest run's closing report: raw against curated, policy, warnings. */
static int overview_report(cur_web *w, cur_buf *b) {
  cur_report_opts o = {.task = cur_opt_str(cur_config_section(w->cfg, "train"), "task"),
                       .min_eval_rows = (int)cur_opt_int(cur_config_section(w->cfg, "split"), "min_eval_rows"),
                       .tolerance = cur_opt_num(cur_config_section(w->cfg, "policy"), "tolerance")};
  cJSON *rep = NULL, *v;
  int rc = cur_report_build(w->st, &o, &rep);
  if (rc) return rc;
  cur_buf_puts(b, "<h2>Newest run's report</h2>");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(rep, "metrics");
  if (cJSON_GetArraySize(m) > 0) {
    cur_buf_puts(b, "<table class=\"metrics\"><tr><th>metric</th><th>value</th></tr>");
    cJSON_ArrayForEach(v, m) {
      cur_buf_puts(b, "<tr><td>");
      cur_buf_html(b, v->string);
      cur_buf_puts(b, "</td><td>");
      web_value(b, v);
      cur_buf_puts(b, "</td></tr>");
    }
    cur_buf_puts(b, "</table>");
  }
  static const char *const pcols[] = {"decision", "rows", "changed", "macro_f1", "kept", "why"};
  if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "policy")) > 0)
    web_table(b, cJSON_GetObjectItemCaseSensitive(rep, "policy"), pcols, pcols, 6);
  cur_buf_puts(b, "<ul class=\"warnings\">");
  cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(rep, "warnings")) {
    cur_buf_puts(b, "<li>warning: ");
    web_value(b, v);
    cur_buf_puts(b, "</li>");
  }
  cur_buf_puts(b, "</ul>");
  cJSON_Delete(rep);
  return CUR_OK;
}

int cur_web_overview(cur_web *w, cur_buf *b) {
  cJSON *status = cJSON_CreateObject();
  if (!status) return CUR_ENOMEM;
  int rc = cur_store_status(w->st, status);
  if (rc == CUR_OK) rc = cli_status_stages(w->st, w->cfg, w->seed, status);
  if (rc == CUR_OK) {
    web_page_begin(w, b, "Overview", "overview");
    static const char *const icols[] = {"split", "images", "ok", "quarantined", "derived"};
    web_table(b, cJSON_GetObjectItemCaseSensitive(status, "splits"), icols, icols, 5);
    rc = overview_balance(b, cJSON_GetObjectItemCaseSensitive(status, "classes"));
    static const char *const scols[] = {"stage", "state", "run"};
    cur_buf_puts(b, "<h2>Stages</h2>");
    web_table(b, cJSON_GetObjectItemCaseSensitive(status, "stages"), scols, scols, 3);
    static const char *const qcols[] = {"reason", "images"};
    cur_buf_puts(b, "<h2>Quarantine</h2>");
    web_table(b, cJSON_GetObjectItemCaseSensitive(status, "quarantined"), qcols, qcols, 2);
    static const char *const fcols[] = {"reason", "review_status", "count"};
    cur_buf_puts(b, "<h2>Flags</h2>");
    web_table(b, cJSON_GetObjectItemCaseSensitive(status, "flags"), fcols, fcols, 3);
  }
  if (rc == CUR_OK) rc = overview_report(w, b);
  if (rc == CUR_OK) web_page_end(w, b);
  cJSON_Delete(status);
  return rc ? rc : cur_buf_status(b);
}

/* The newest train run's confusion matrix METRIC ({"classes", "matrix"}),
** checked square; *k 0 when there is none. */
static int read_confusion(cur_web *w, const char *metric, cJSON **out, int *k) {
  char *text;
  double value;
  *out = NULL;
  *k = 0;
  int rc = cur_store_web_metric(w->st, "train", metric, &text, &value);
  if (rc || !text) return rc;
  cJSON *o = cJSON_Parse(text);
  cur_free(text);
  const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "classes");
  const cJSON *matrix = cJSON_GetObjectItemCaseSensitive(o, "matrix"), *row;
  int n = cJSON_GetArraySize(names), ok = cJSON_IsArray(names) && n > 0 && n <= 4096 &&
                                           cJSON_GetArraySize(matrix) == n;
  cJSON_ArrayForEach(row, matrix) ok &= cJSON_GetArraySize(row) == n;
  if (!ok) {
    cJSON_Delete(o);
    return cur_errorc(CUR_EINPUT, "train metric %s: not a square confusion matrix", metric);
  }
  *out = o;
  *k = n;
  return CUR_OK;
}

/* The confusion metric of HEAD ("curated" or "raw"), or NULL for another. */
static const char *head_metric(const char *head) {
  if (strcmp(head, "curated") == 0) return "confusion";
  if (strcmp(head, "raw") == 0) return "raw/confusion";
  return NULL;
}

/* Where a heatmap of one head sends its cells. */
typedef struct cell_links {
  const cur_web *w;
  const char *head;
} cell_links;

static void cell_href(void *ctx, cur_buf *b, int row, int col) {
  const cell_links *l = ctx;
  cur_buf_printf(b, l->w->snapshot ? "cell-%s-%d-%d.html" : "/cell?h=%s&amp;t=%d&amp;p=%d", l->head,
                 row, col);
}

/* One heatmap of HEAD's test matrix under TITLE; nothing when the run has none. */
static int confusion_chart(cur_web *w, cur_buf *b, const char *head, const char *title) {
  cJSON *o;
  int k, rc = read_confusion(w, head_metric(head), &o, &k);
  if (rc || !k) return rc;
  const char **names = cur_mallocarray((size_t)k, sizeof *names);
  double *counts = cur_mallocarray((size_t)k * k, sizeof *counts);
  if (names && counts) {
    int i = 0;
    const cJSON *v, *row;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, "classes"))
      names[i++] = cJSON_IsString(v) ? v->valuestring : "?";
    i = 0;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(o, "matrix"))
      cJSON_ArrayForEach(v, row) counts[i++] = cJSON_IsNumber(v) ? v->valuedouble : 0;
    cell_links links = {w, head};
    cur_buf_printf(b, "<div class=\"confusion\" data-head=\"%s\">", head);
    cur_svg_heatmap(b, title, names, k, counts, cell_href, &links);
    cur_buf_puts(b, "</div>");
  } else {
    rc = CUR_ENOMEM;
  }
  cur_free(names);
  cur_free(counts);
  cJSON_Delete(o);
  return rc;
}

int cur_web_confusion(cur_web *w, cur_buf *b) {
  web_page_begin(w, b, "Confusion matrix", "confusion");
  cur_buf_puts(b, "<p>The newest train run on the test split: rows are the true class, columns "
               "the prediction. A cell opens the test images behind it: those of its row's "
               "class that the head predicted as its column's (the predictions table).</p>");
  int rc = confusion_chart(w, b, "curated", "curated labels: test");
  if (rc == CUR_OK) rc = confusion_chart(w, b, "raw", "raw labels: test");
  if (rc == CUR_OK && !strstr(b->data ? b->data : "", "<svg"))
    cur_buf_puts(b, "<p class=\"empty\">No complete train run yet: `curate run` makes one.</p>");
  if (rc == CUR_OK) web_page_end(w, b);
  return rc ? rc : cur_buf_status(b);
}

int cur_web_confusion_size(cur_web *w, const char *head, int *k) {
  cJSON *o;
  const char *metric = head_metric(head);
  if (!metric) return cur_errorc(CUR_EINPUT, "confusion: no head '%s': curated or raw", head);
  int rc = read_confusion(w, metric, &o, k);
  cJSON_Delete(o);
  return rc;
}

/* The page of the cell's images, from ROWS ({image_id, confidence, total});
** TRUTH and PRED are the class names (plain text: the title escapes them). */
static void cell_page(cur_web *w, cur_buf *b, const char *head, const char *truth,
                      const char *pred, const cJSON *rows) {
  char *title = cur_asprintf("%s predicted as %s (%s labels, test)", truth, pred, head);
  web_page_begin(w, b, title ? title : "Test images", "confusion");
  cur_free(title);
  const cJSON *r = cJSON_GetArrayItem(rows, 0);
  int shown = cJSON_GetArraySize(rows);
  double total = r ? cur_json_num(r, "total", 0) : 0;
  cur_buf_printf(b, "<p class=\"cell-count\" data-total=\"%.0f\">%.0f test image%s, surest first",
                 total, total, total == 1 ? "" : "s");
  if (total > shown) cur_buf_printf(b, " (the first %d shown)", shown);
  cur_buf_puts(b, ".</p><div class=\"grid\">");
  cJSON_ArrayForEach(r, rows) {
    char cap[48];
    snprintf(cap, sizeof cap, "p %.3f", cur_json_num(r, "confidence", NAN));
    web_thumb(w, b, (int64_t)cur_json_num(r, "image_id", 0), CUR_THUMB_SMALL, cap, NULL);
  }
  cur_buf_puts(b, "</div>");
  web_page_end(w, b);
}

int cur_web_cell(cur_web *w, const char *head, int true_idx, int pred_idx, cur_buf *b,
                 int *n_images) {
  cJSON *o = NULL, *rows = cJSON_CreateArray();
  const char *metric = head_metric(head);
  int k = 0, rc = !rows ? CUR_ENOMEM
                  : !metric ? cur_errorc(CUR_EINPUT, "cell: no head '%s': curated or raw", head)
                  : read_confusion(w, metric, &o, &k);
  if (rc == CUR_OK && (true_idx < 0 || true_idx >= k || pred_idx < 0 || pred_idx >= k))
    rc = cur_errorc(CUR_EINPUT, "cell: no cell %d, %d in the %s confusion matrix", true_idx,
                    pred_idx, head);
  if (rc == CUR_OK) rc = cur_store_web_cell(w->st, head, true_idx, pred_idx, CUR_WEB_CELL_ROWS, rows);
  if (rc == CUR_OK) {
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "classes");
    const cJSON *t = cJSON_GetArrayItem(names, true_idx), *p = cJSON_GetArrayItem(names, pred_idx);
    cell_page(w, b, head, cJSON_IsString(t) ? t->valuestring : "?",
              cJSON_IsString(p) ? p->valuestring : "?", rows);
    *n_images = cJSON_GetArraySize(rows);
  }
  cJSON_Delete(o);
  cJSON_Delete(rows);
  return rc ? rc : cur_buf_status(b);
}

/* A histogram of score KIND's newest run, with the AUM threshold on aum. */
static int score_histogram(cur_web *w, cur_buf *b, const char *kind, const char *title) {
  cJSON *arr = cJSON_CreateArray(), *v;
  int rc = arr ? cur_store_web_score_values(w->st, kind, arr) : CUR_ENOMEM;
  int n = rc ? 0 : cJSON_GetArraySize(arr), i = 0;
  double *values = n ? cur_mallocarray((size_t)n, sizeof *values) : NULL;
  if (n && !values) rc = CUR_ENOMEM;
  if (rc == CUR_OK && n) {
    cJSON_ArrayForEach(v, arr) values[i++] = v->valuedouble;
    double mark = NAN;
    if (strcmp(kind, "aum") == 0) {
      char *text, *metric = cur_asprintf("%s.aum_threshold",
                                         cur_opt_str(cur_config_section(w->cfg, "train"), "task"));
      rc = metric ? cur_store_web_metric(w->st, "aum", metric, &text, &mark) : CUR_ENOMEM;
      cur_free(metric);
      if (rc == CUR_OK) cur_free(text);
    }
    if (rc == CUR_OK) cur_svg_histogram(b, title, values, n, 40, mark, "threshold");
  }
  cur_free(values);
  cJSON_Delete(arr);
  return rc;
}

static void pseudo_caption(const cJSON *row, cur_buf *cap) {
  cur_buf_html(cap, cur_json_str(row, "class", ""));
  cur_buf_printf(cap, " %.3f", cur_json_num(row, "confidence", NAN));
}

/* A few pseudo-labelled images per class, surest first, with their confidence. */
static int pseudo_samples(cur_web *w, cur_buf *b) {
  cJSON *arr = cJSON_CreateArray();
  int rc = arr ? cur_store_web_pseudo_samples(w->st, 4, arr) : CUR_ENOMEM;
  if (rc == CUR_OK)
    web_thumb_grid(w, b, arr, "Pseudo-label samples (the 4 surest per class)", "grid", "image_id",
                   pseudo_caption);
  cJSON_Delete(arr);
  return rc;
}

int cur_web_scores(cur_web *w, cur_buf *b) {
  web_page_begin(w, b, "Scores", "scores");
  int rc = score_histogram(w, b, "aum", "AUM of the newest aum run (lower: likelier mislabelled)");
  if (rc == CUR_OK)
    rc = score_histogram(w, b, "confident", "confident learning: p(given label)");
  if (rc == CUR_OK) rc = score_histogram(w, b, "zeroshot_prob", "zero-shot p(given label)");
  cJSON *rates = cJSON_CreateArray(), *pseudo = cJSON_CreateArray();
  if (rc == CUR_OK && (!rates || !pseudo)) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur_store_web_flag_rates(w->st, rates);
  if (rc == CUR_OK) rc = cur_store_web_pseudo(w->st, pseudo);
  if (rc == CUR_OK) {
    cJSON *r;
    cJSON_ArrayForEach(r, rates) {
      double n = cur_json_num(r, "images", 0);
      if (!cJSON_AddNumberToObject(r, "rate", n > 0 ? cur_json_num(r, "flagged", 0) / n : 0))
        b->failed = 1;
    }
    static const char *const fcols[] = {"task", "class", "images", "flagged", "rate"};
    cur_buf_puts(b, "<h2>Flag rate per class (train originals)</h2>");
    web_table(b, rates, fcols, fcols, 5);
    static const char *const pcols[] = {"task", "class", "n", "mean_confidence", "min_confidence"};
    cur_buf_puts(b, "<h2>Pseudo-labels of the newest pseudolabel run</h2>");
    web_table(b, pseudo, pcols, pcols, 5);
    rc = pseudo_samples(w, b);
  }
  if (rc == CUR_OK) {
    web_page_end(w, b);
  }
  cJSON_Delete(rates);
  cJSON_Delete(pseudo);
  return rc ? rc : cur_buf_status(b);
}
