/* web_gallery.c -- the flagged gallery and the page of one image (its
** labels, scores, flags, nearest neighbours and augmented variants). */
#include <math.h>
#include <string.h>

#include "curate.h"
#include "half.h"
#include "text.h"
#include "web_internal.h"
#include "web_thumb.h"

#define NEIGHBOURS 8

/* The classes of every task as JSON for the relabel picker, inside a script
** element: "</" is written "<\/" so a class name cannot close the element. */
static int classes_script(cur_web *w, cur_buf *b) {
  cJSON *arr = cJSON_CreateArray();
  int rc = arr ? cur_store_web_classes(w->st, arr) : CUR_ENOMEM;
  char *text = rc ? NULL : cur_json_print(arr, 0);
  if (rc == CUR_OK && !text) rc = CUR_ENOMEM;
  if (text) {
    cur_buf_puts(b, "<script type=\"application/json\" id=\"classes\">");
    for (const char *p = text; *p; p++) {
      if (p[0] == '<' && p[1] == '/') cur_buf_puts(b, "<\\");
      else cur_buf_add(b, p, 1);
    }
    cur_buf_puts(b, "</script>\n");
  }
  cur_free(text);
  cJSON_Delete(arr);
  return rc;
}

/* A <select name=NAME> of the strings under KEY in ARR, CURRENT selected. */
static void filter_select(cur_buf *b, const char *name, const cJSON *arr, const char *key,
                          const char *current) {
  const cJSON *r;
  cur_buf_printf(b, "<label>%s <select name=\"%s\"><option value=\"\">any</option>", name, name);
  cJSON_ArrayForEach(r, arr) {
    const char *v = key ? cur_json_str(r, key, "") : cJSON_IsString(r) ? r->valuestring : "";
    cur_buf_puts(b, "<option value=\"");
    cur_buf_html(b, v);
    cur_buf_printf(b, "\"%s>", current && strcmp(current, v) == 0 ? " selected" : "");
    cur_buf_html(b, v);
    cur_buf_puts(b, "</option>");
  }
  cur_buf_puts(b, "</select></label> ");
}

static int gallery_filters(cur_web *w, const cur_web_filter *f, cur_buf *b) {
  cJSON *classes = cJSON_CreateArray(), *reasons = cJSON_CreateArray(), *tasks = cJSON_CreateArray();
  cJSON *fixed = cJSON_CreateArray(), *states = cJSON_CreateArray();
  int rc = classes && reasons && tasks && fixed && states ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur_store_web_classes(w->st, classes);
  if (rc == CUR_OK) rc = cur_store_web_reasons(w->st, reasons);
  const cJSON *r;
  const char *last = "";
  cJSON_ArrayForEach(r, classes) {  /* rows come in task order: each task once */
    const char *t = cur_json_str(r, "task", "");
    if (strcmp(t, last) != 0) cJSON_AddItemToArray(tasks, cJSON_CreateString(t));
    last = t;
  }
  static const char *const split_names[] = {"train", "val", "test"};
  static const char *const status_names[] = {"pending", "accepted", "dropped", "relabelled"};
  for (int i = 0; i < 3; i++) cJSON_AddItemToArray(fixed, cJSON_CreateString(split_names[i]));
  for (int i = 0; i < 4; i++) cJSON_AddItemToArray(states, cJSON_CreateString(status_names[i]));
  if (rc == CUR_OK) {
    cur_buf_puts(b, "<form class=\"filters\" method=\"get\" action=\"/gallery\">");
    filter_select(b, "task", tasks, NULL, f->task);
    filter_select(b, "class", classes, "class", f->class_name);
    filter_select(b, "reason", reasons, "reason", f->reason);
    filter_select(b, "split", fixed, NULL, f->split);
    filter_select(b, "status", states, NULL, f->status);
    cur_buf_printf(b, "<label>sort <select name=\"sort\"><option value=\"asc\">lowest score first"
                   "</option><option value=\"desc\"%s>highest score first</option></select></label> "
                   "<button>show</button></form>\n", f->descending ? " selected" : "");
  }
  cJSON_Delete(classes);
  cJSON_Delete(reasons);
  cJSON_Delete(tasks);
  cJSON_Delete(fixed);
  cJSON_Delete(states);
  return rc;
}

/* The link to the page after the row LAST, with F's filters. */
static void gallery_next(const cur_web *w, const cur_web_filter *f, const cJSON *last, int page,
                         cur_buf *b) {
  if (w->snapshot) {
    cur_buf_printf(b, "<a class=\"next\" href=\"gallery-%d.html\">next page</a>", page + 1);
    return;
  }
  const char *keys[] = {"task", "class", "reason", "split", "status"};
  const char *vals[] = {f->task, f->class_name, f->reason, f->split, f->status};
  cur_buf_printf(b, "<a class=\"next\" href=\"/gallery?sort=%s&amp;n=%lld",
                 f->descending ? "desc" : "asc", (long long)f->limit);
  for (int i = 0; i < 5; i++) {
    if (!vals[i]) continue;
    cur_buf_printf(b, "&amp;%s=", keys[i]);
    cur_buf_url(b, vals[i]);
  }
  cur_buf_printf(b, "&amp;after=%.17g&amp;af=%.0f\">next page</a>", cur_json_num(last, "sort_key", 0),
                 cur_json_num(last, "flag_id", 0));
}

/* One flag as a gallery card: thumbnail, label -> suggested, reason, score, status. */
static void gallery_card(cur_web *w, const cJSON *r, cur_buf *b) {
  cur_buf cap = {0}, attrs = {0};
  const cJSON *score = cJSON_GetObjectItemCaseSensitive(r, "score");
  cur_buf_puts(&cap, "<span class=\"label\">");
  cur_buf_html(&cap, cur_json_str(r, "label", "(none)"));
  cur_buf_puts(&cap, "</span> &rarr; <span class=\"suggested\">");
  cur_buf_html(&cap, cur_json_str(r, "suggested", "-"));
  cur_buf_puts(&cap, "</span><br><span class=\"reason\">");
  cur_buf_html(&cap, cur_json_str(r, "reason", ""));
  if (cJSON_IsNumber(score)) cur_buf_printf(&cap, " %.3f", score->valuedouble);
  cur_buf_puts(&cap, "</span> <span class=\"review\">");
  cur_buf_html(&cap, cur_json_str(r, "review_status", ""));
  cur_buf_puts(&cap, "</span>");
  cur_buf_printf(&attrs, "data-flag=\"%.0f\" data-task=\"", cur_json_num(r, "flag_id", 0));
  cur_buf_html(&attrs, cur_json_str(r, "task", ""));
  cur_buf_puts(&attrs, "\" data-label=\"");
  cur_buf_html(&attrs, cur_json_str(r, "label", ""));
  cur_buf_puts(&attrs, "\" data-status=\"");
  cur_buf_html(&attrs, cur_json_str(r, "review_status", ""));
  cur_buf_puts(&attrs, "\" tabindex=\"0\"");
  if (cap.failed || attrs.failed) b->failed = 1;
  else web_thumb(w, b, (int64_t)cur_json_num(r, "image_id", 0), CUR_THUMB_SMALL, cap.data, attrs.data);
  cur_buf_free(&cap);
  cur_buf_free(&attrs);
}

int cur_web_gallery(cur_web *w, const cur_web_filter *f, int page, cur_buf *b) {
  cur_web_filter q = *f;
  q.limit = f->limit + 1;  /* one more row says whether a next page exists */
  cJSON *arr = cJSON_CreateArray();
  int rc = arr ? cur_store_web_flags(w->st, &q, arr) : CUR_ENOMEM;
  if (rc == CUR_OK) {
    web_page_begin(w, b, "Flagged images", "flagged");
    if (!w->snapshot) rc = gallery_filters(w, f, b);
  }
  if (rc == CUR_OK && !w->snapshot && !w->read_only) {
    rc = classes_script(w, b);
    cur_buf_puts(b, "<p class=\"keys\">keys: arrows move, a accept, d drop, r relabel, u undo the "
                 "last decision; a decision is written as `curate review` writes it.</p>");
  }
  if (rc == CUR_OK) {
    int n = cJSON_GetArraySize(arr), shown = n > f->limit ? (int)f->limit : n;
    cur_buf_printf(b, "<div class=\"grid\" id=\"gallery\" data-rows=\"%d\">", shown);
    const cJSON *r = arr->child;
    for (int i = 0; i < shown; i++, r = r->next) gallery_card(w, r, b);
    cur_buf_puts(b, "</div>");
    if (shown == 0) cur_buf_puts(b, "<p class=\"empty\">No flags match.</p>");
    if (n > shown && page > 0) gallery_next(w, f, cJSON_GetArrayItem(arr, shown - 1), page, b);
    web_page_end(w, b);
  }
  cJSON_Delete(arr);
  return rc ? rc : cur_buf_status(b);
}

/* The NEIGHBOURS images nearest to the query by cosine similarity. */
typedef struct nearest {
  int64_t self;
  const float *query;          /* dim floats, unit length */
  float *v;                    /* scratch: one decoded vector */
  int64_t dim;
  int n;
  int64_t id[NEIGHBOURS];
  double sim[NEIGHBOURS];      /* descending */
} nearest;

static int nearest_take(void *ctx, int64_t image_id, const void *half, int64_t dim) {
  nearest *s = ctx;
  if (image_id == s->self || dim != s->dim) return CUR_OK;
  cur_half_decode(half, (size_t)dim, s->v);
  double dot = 0, norm = 0;
  for (int64_t i = 0; i < dim; i++) dot += (double)s->query[i] * s->v[i], norm += (double)s->v[i] * s->v[i];
  double sim = norm > 0 ? dot / sqrt(norm) : -2;
  int at = s->n < NEIGHBOURS ? s->n++ : NEIGHBOURS;
  while (at > 0 && s->sim[at - 1] < sim) {
    if (at < NEIGHBOURS) s->sim[at] = s->sim[at - 1], s->id[at] = s->id[at - 1];
    at--;
  }
  if (at < NEIGHBOURS) s->sim[at] = sim, s->id[at] = image_id;
  return CUR_OK;
}

/* The current labels of image ID as caption text "task: class, ...". */
static int labels_caption(cur_web *w, int64_t id, double sim, cur_buf *cap) {
  cJSON *arr = cJSON_CreateArray();
  int rc = arr ? cur_store_web_current(w->st, id, arr) : CUR_ENOMEM;
  const cJSON *r;
  cJSON_ArrayForEach(r, arr) {
    cur_buf_html(cap, cur_json_str(r, "class", "(dropped)"));
    cur_buf_puts(cap, " ");
  }
  if (isfinite(sim)) cur_buf_printf(cap, "<br><span class=\"sim\">cos %.3f</span>", sim);
  cJSON_Delete(arr);
  return rc;
}

static int image_neighbours(cur_web *w, int64_t id, cur_buf *b) {
  char *model;
  void *half = NULL;
  nearest s = {.self = id};
  float *q = NULL;
  int rc = cur_store_web_embed_model(w->st, id, &model);
  if (rc == CUR_OK && model) rc = cur_store_web_embedding(w->st, model, id, &half, &s.dim);
  if (rc == CUR_OK && half) {
    q = cur_mallocarray((size_t)s.dim, sizeof *q);
    s.v = cur_mallocarray((size_t)s.dim, sizeof *s.v);
    if (!q || !s.v) rc = CUR_ENOMEM;
  }
  if (rc == CUR_OK && q) {
    cur_half_decode(half, (size_t)s.dim, q);
    double norm = 0;
    for (int64_t i = 0; i < s.dim; i++) norm += (double)q[i] * q[i];
    for (int64_t i = 0; norm > 0 && i < s.dim; i++) q[i] = (float)(q[i] / sqrt(norm));
    s.query = q;
    rc = cur_store_web_embeddings(w->st, model, nearest_take, &s);
  }
  if (rc == CUR_OK && s.n) {
    cur_buf_puts(b, "<h2>Nearest neighbours (");
    cur_buf_html(b, model);
    cur_buf_puts(b, ")</h2><div class=\"grid neighbours\">");
    for (int i = 0; rc == CUR_OK && i < s.n; i++) {
      cur_buf cap = {0};
      rc = labels_caption(w, s.id[i], s.sim[i], &cap);
      if (rc == CUR_OK) web_thumb(w, b, s.id[i], CUR_THUMB_SMALL, cap.data ? cap.data : "", NULL);
      if (cap.failed) b->failed = 1;
      cur_buf_free(&cap);
    }
    cur_buf_puts(b, "</div>");
  }
  cur_free(model);
  cur_free(half);
  cur_free(q);
  cur_free(s.v);
  return rc;
}

static void variant_caption(const cJSON *row, cur_buf *cap) {
  cur_buf_puts(cap, "<code>");
  cur_buf_html(cap, cur_json_str(row, "transform", ""));
  cur_buf_puts(cap, "</code>");
}

static int image_variants(cur_web *w, int64_t id, cur_buf *b) {
  cJSON *arr = cJSON_CreateArray();
  int rc = arr ? cur_store_web_variants(w->st, id, arr) : CUR_ENOMEM;
  if (rc == CUR_OK)
    web_thumb_grid(w, b, arr, "Augmented variants", "grid variants", "id", variant_caption);
  cJSON_Delete(arr);
  return rc;
}

/* The decision controls for each task the image has a flag in. */
static void image_controls(const cJSON *flags, int64_t id, cur_buf *b) {
  const cJSON *r;
  const char *last = "";
  cJSON_ArrayForEach(r, flags) {
    const char *task = cur_json_str(r, "task", "");
    if (strcmp(task, last) == 0) continue;
    last = task;
    cur_buf_printf(b, "<div class=\"decide thumb\" tabindex=\"0\" data-image=\"%lld\" data-task=\"",
                   (long long)id);
    cur_buf_html(b, task);
    cur_buf_puts(b, "\" data-label=\"");
    cur_buf_html(b, cur_json_str(r, "label", ""));
    cur_buf_puts(b, "\" data-status=\"");
    cur_buf_html(b, cur_json_str(r, "review_status", ""));
    cur_buf_puts(b, "\">task ");
    cur_buf_html(b, task);
    cur_buf_puts(b, ": <button data-act=\"accept\">accept (a)</button> <button data-act=\"drop\">"
                 "drop (d)</button> <button data-act=\"relabel\">relabel (r)</button> "
                 "<button data-act=\"undo\">undo (u)</button></div>");
  }
}

int cur_web_image(cur_web *w, int64_t id, cur_buf *b, int *found) {
  cJSON *img = cJSON_CreateArray(), *hist = cJSON_CreateArray(), *scores = cJSON_CreateArray();
  cJSON *flags = cJSON_CreateArray();
  int rc = img && hist && scores && flags ? cur_store_web_image(w->st, id, img) : CUR_ENOMEM;
  *found = rc == CUR_OK && cJSON_GetArraySize(img) == 1;
  if (rc == CUR_OK && *found) rc = cur_store_web_label_history(w->st, id, hist);
  if (rc == CUR_OK && *found) rc = cur_store_web_scores(w->st, id, scores);
  if (rc == CUR_OK && *found) rc = cur_store_web_image_flags(w->st, id, flags);
  if (rc == CUR_OK && *found) {
    const cJSON *row = img->child;
    char title[64];
    snprintf(title, sizeof title, "Image %lld", (long long)id);
    web_page_begin(w, b, title, "flagged");
    if (!w->snapshot && !w->read_only) {
      rc = classes_script(w, b);
      image_controls(flags, id, b);
    }
    cur_buf_puts(b, "<div class=\"detail\">");
    cur_buf cap = {0};
    cur_buf_html(&cap, cur_json_str(row, "source_path", ""));
    web_thumb(w, b, id, CUR_THUMB_LARGE, cap.data ? cap.data : "", NULL);
    if (cap.failed) b->failed = 1;
    cur_buf_free(&cap);
    static const char *const icols[] = {"split", "format", "width", "height", "byte_size", "status",
                                        "status_reason", "group_key", "parent_id", "sha256"};
    web_table(b, img, icols, icols, 10);
    cur_buf_puts(b, "</div><h2>Flags</h2>");
    static const char *const fcols[] = {"task", "reason", "score", "suggested", "review_status", "detail"};
    web_table(b, flags, fcols, fcols, 6);
    cur_buf_puts(b, "<h2>Scores (each kind's newest run)</h2>");
    static const char *const scols[] = {"task", "kind", "value", "suggested", "run_id"};
    web_table(b, scores, scols, scols, 5);
    cur_buf_puts(b, "<h2>Label history</h2>");
    static const char *const hcols[] = {"label_id", "task", "class", "source", "confidence",
                                        "run_id", "created_at", "retracted_at"};
    web_table(b, hist, hcols, hcols, 8);
  }
  if (rc == CUR_OK && *found) rc = image_neighbours(w, id, b);
  if (rc == CUR_OK && *found) rc = image_variants(w, id, b);
  if (rc == CUR_OK && *found) web_page_end(w, b);
  cJSON_Delete(img);
  cJSON_Delete(hist);
  cJSON_Delete(scores);
  cJSON_Delete(flags);
  return rc ? rc : cur_buf_status(b);
}
