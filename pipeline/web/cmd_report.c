/* cmd_report.c -- `curate report --out DIR`: the pages of `curate serve` as
** a static snapshot (HTML, SVG, JPEG thumbnails) readable from file://.
**
** The pages come from the same writers (web_*.c) in snapshot mode: relative
** links, no decision controls.  The gallery covers the first --limit flags
** in score order, each with its own page; a thumbnail elsewhere (a
** neighbour, a test image) links to a page only when the snapshot has one.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "curate.h"
#include "text.h"
#include "web_pages.h"
#include "web_thumb.h"

static const char report_help[] =
    "Usage: curate report --out DIR [--limit N]\n"
    "\n"
    "Writes the pages of `curate serve` into DIR as a static snapshot that a\n"
    "browser opens from file:// (DIR/index.html) and that can be shared: the\n"
    "overview, the flagged gallery (the first N flags, lowest score first, each\n"
    "with its image page), the confusion matrices with a page per cell of the\n"
    "test images behind it, and the score histograms, with their thumbnails.\n"
    "No decision controls.\n"
    "\n"
    "  --out DIR   the folder (created; files in it are replaced)\n"
    "  --limit N   flags in the gallery (default 1000)\n";

extern const char cur_web_style_css[];
extern const char cur_web_app_js[];

/* A growing list of (image id, size) pairs. */
typedef struct id_list {
  int64_t *v;
  size_t n, cap;
} id_list;

typedef struct snapshot {
  const char *dir;
  id_list pages;               /* images with a page, sorted once the gallery is done */
  id_list thumbs;              /* id * 4096 + size: the thumbnails pages use */
  int failed;                  /* thumbnails whose image does not decode */
} snapshot;

static int list_add(id_list *l, int64_t v) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    int64_t *p = cur_reallocarray(l->v, cap, sizeof *p);
    if (!p) return CUR_ENOMEM;
    l->v = p;
    l->cap = cap;
  }
  l->v[l->n++] = v;
  return CUR_OK;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int has_page(void *ctx, int64_t id) {
  const snapshot *s = ctx;
  return s->pages.n && bsearch(&id, s->pages.v, s->pages.n, sizeof id, cmp_i64) != NULL;
}

static int use_thumb(void *ctx, int64_t id, int size) {
  snapshot *s = ctx;
  return list_add(&s->thumbs, id * 4096 + size);
}

static int write_file(const snapshot *s, const char *name, const void *data, size_t len) {
  char *path = cur_asprintf("%s/%s", s->dir, name);
  if (!path) return CUR_ENOMEM;
  FILE *f = fopen(path, "wb");
  int rc = CUR_OK;
  if (!f || fwrite(data, 1, len, f) != len) rc = cur_errorc(CUR_EIO, "report: %s: %s", path, strerror(errno));
  if (f && fclose(f) != 0 && rc == CUR_OK) rc = cur_errorc(CUR_EIO, "report: %s: %s", path, strerror(errno));
  cur_free(path);
  return rc;
}

/* Writes the page B holds (when RC is CUR_OK) as NAME and empties B. */
static int write_page(const snapshot *s, const char *name, cur_buf *b, int rc) {
  if (rc == CUR_OK) rc = write_file(s, name, b->data ? b->data : "", b->len);
  cur_buf_free(b);
  return rc;
}

/* The gallery pages and the page of each image on them. */
static int write_gallery(cur_web *w, snapshot *s, int64_t limit) {
  cur_web_filter f = {.limit = limit < CUR_WEB_PAGE_ROWS ? limit : CUR_WEB_PAGE_ROWS};
  cJSON *all = cJSON_CreateArray();
  cur_web_filter every = {.limit = limit};
  int rc = all ? cur_store_web_flags(w->st, &every, all) : CUR_ENOMEM;
  const cJSON *r;
  cJSON_ArrayForEach(r, all) if (rc == CUR_OK) rc = list_add(&s->pages, (int64_t)cur_json_num(r, "image_id", 0));
  qsort(s->pages.v, s->pages.n, sizeof *s->pages.v, cmp_i64);
  int n = cJSON_GetArraySize(all);
  for (int page = 1, at = 0; rc == CUR_OK && (at < n || page == 1); page++) {
    cur_buf b = {0};
    char name[64];
    if (at > 0) {  /* continue after the last row of the previous page */
      const cJSON *last = cJSON_GetArrayItem(all, at - 1);
      f.has_after = 1;
      f.after_key = cur_json_num(last, "sort_key", 0);
      f.after_flag = (int64_t)cur_json_num(last, "flag_id", 0);
    }
    if (n - at < f.limit) f.limit = n - at > 0 ? n - at : 1;
    snprintf(name, sizeof name, "gallery-%d.html", page);
    /* the last page must not link further than the snapshot's flags */
    cur_web_filter q = f;
    rc = write_page(s, name, &b, cur_web_gallery(w, &q, at + f.limit < n ? page : -page, &b));
    at += (int)f.limit;
  }
  cJSON_Delete(all);
  for (size_t i = 0; rc == CUR_OK && i < s->pages.n; i++) {
    if (i && s->pages.v[i] == s->pages.v[i - 1]) continue;
    cur_buf b = {0};
    char name[64];
    int found;
    snprintf(name, sizeof name, "image-%lld.html", (long long)s->pages.v[i]);
    rc = write_page(s, name, &b, cur_web_image(w, s->pages.v[i], &b, &found));
  }
  return rc;
}

/* The confusion page and, for each head, a page per cell that holds test
** images (an empty cell links nowhere). */
static int write_confusion(cur_web *w, snapshot *s) {
  static const char *const heads[] = {"curated", "raw"};
  cur_buf b = {0};
  int rc = write_page(s, "confusion.html", &b, cur_web_confusion(w, &b));
  for (size_t h = 0; rc == CUR_OK && h < CUR_ARRAY_LEN(heads); h++) {
    int k = 0;
    rc = cur_web_confusion_size(w, heads[h], &k);
    for (int cell = 0; rc == CUR_OK && cell < k * k; cell++) {
      char name[80];
      int n = 0;
      snprintf(name, sizeof name, "cell-%s-%d-%d.html", heads[h], cell / k, cell % k);
      rc = cur_web_cell(w, heads[h], cell / k, cell % k, &b, &n);
      if (rc == CUR_OK && n == 0) cur_buf_free(&b);
      else rc = write_page(s, name, &b, rc);
    }
  }
  return rc;
}

/* Every thumbnail a page used, once. */
static int write_thumbs(cur_web *w, snapshot *s) {
  qsort(s->thumbs.v, s->thumbs.n, sizeof *s->thumbs.v, cmp_i64);
  int rc = CUR_OK;
  for (size_t i = 0; rc == CUR_OK && i < s->thumbs.n; i++) {
    if (i && s->thumbs.v[i] == s->thumbs.v[i - 1]) continue;
    int64_t id = s->thumbs.v[i] / 4096;
    int size = (int)(s->thumbs.v[i] % 4096), found;
    unsigned char *jpeg;
    size_t len;
    char etag[96], name[80];
    rc = cur_thumb_get(NULL, w->st, id, size, &jpeg, &len, etag, &found);
    if (rc == CUR_EINPUT) {  /* bytes that do not decode: the page shows a broken image */
      cur_warn("%s", cur_error());
      s->failed++;
      rc = CUR_OK;
      continue;
    }
    snprintf(name, sizeof name, "thumbs/%lld-%d.jpg", (long long)id, size);
    if (rc == CUR_OK && found) rc = write_file(s, name, jpeg, len);
    if (rc == CUR_OK && found) cur_free(jpeg);
  }
  return rc;
}

static int report_write(const cur_globals *g, snapshot *s, int64_t limit) {
  cur_store *st;
  cur_config *cfg;
  char *thumbs = cur_asprintf("%s/thumbs", s->dir);
  if (!thumbs) return CUR_ENOMEM;
  int rc = CUR_OK;
  if ((mkdir(s->dir, 0777) != 0 && errno != EEXIST) || (mkdir(thumbs, 0777) != 0 && errno != EEXIST))
    rc = cur_errorc(CUR_EIO, "report: cannot create %s: %s", thumbs, strerror(errno));
  cur_free(thumbs);
  if (rc || (rc = cli_open(g, 0, &st, &cfg))) return rc;
  cur_web w = {.st = st, .cfg = cfg, .seed = cli_seed(g, cfg), .snapshot = 1,
               .has_page = has_page, .use_thumb = use_thumb, .ctx = s};
  cur_buf b = {0};
  rc = write_file(s, "style.css", cur_web_style_css, strlen(cur_web_style_css));
  if (rc == CUR_OK) rc = write_file(s, "app.js", cur_web_app_js, strlen(cur_web_app_js));
  if (rc == CUR_OK) rc = write_gallery(&w, s, limit);
  if (rc == CUR_OK) rc = write_page(s, "index.html", &b, cur_web_overview(&w, &b));
  if (rc == CUR_OK) rc = write_confusion(&w, s);
  if (rc == CUR_OK) rc = write_page(s, "scores.html", &b, cur_web_scores(&w, &b));
  if (rc == CUR_OK) rc = write_thumbs(&w, s);
  if (rc == CUR_OK)
    cur_info("report: %s/index.html (%zu image pages)", s->dir, s->pages.n);
  cur_config_free(cfg);
  cur_store_close(st);
  return rc;
}

int cur_cmd_report(const cur_globals *g, int argc, char **argv) {
  const char *out = NULL, *limit_s = NULL;
  int r;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(report_help, stdout);
      return CUR_EXIT_OK;
    }
    if ((r = cli_value(&i, argc, argv, "--out", &out)) || (r = cli_value(&i, argc, argv, "--limit", &limit_s))) {
      if (r < 0) return CUR_EXIT_USAGE;
    } else {
      return cli_usage_error("report", "unexpected argument '%s'", argv[i]);
    }
  }
  if (!out) return cli_usage_error("report", "--out DIR is required");
  char *end;
  long long limit = limit_s ? strtoll(limit_s, &end, 10) : 1000;
  if (limit_s && (!*limit_s || *end || limit < 1 || limit > 1000000))
    return cli_usage_error("report", "--limit takes 1 to 1000000, not '%s'", limit_s);
  snapshot s = {.dir = out};
  int rc = report_write(g, &s, limit);
  cur_free(s.pages.v);
  cur_free(s.thumbs.v);
  return rc ? cli_fail(rc) : s.failed ? CUR_EXIT_PARTIAL : CUR_EXIT_OK;
}
