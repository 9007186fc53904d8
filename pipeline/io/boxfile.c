/* boxfile.c -- loads detection boxes in any supported format; the checks
** every box passes and the crop rectangle of a box (boxfile.h). */
#include "boxfile_impl.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "curate.h"
#include "pathutil.h"
#include "text.h"

/* A box file's own file list is never longer than this many levels: deeper
** folders are a loop or an attack, not a dataset. */
#define WALK_DEPTH 32

static void vreport(cur_boxfile *bf, const char *where, const char *suffix, const char *fmt,
                    va_list ap) {
  char msg[1024], what[768];
  vsnprintf(what, sizeof what, fmt, ap);
  snprintf(msg, sizeof msg, "%s: %s%s", where, what, suffix);
  if (bf->report) bf->report(bf->ctx, msg);
}

void cur__boxes_skip(cur_boxfile *bf, const char *where, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(bf, where, "; box skipped", fmt, ap);
  va_end(ap);
  bf->skipped++;
}

void cur__boxes_note(cur_boxfile *bf, const char *where, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(bf, where, "", fmt, ap);
  va_end(ap);
}

int cur__boxes_number(const char *s, double *v) {
  char *end;
  if (!s || !*s) return 0;
  errno = 0;
  *v = strtod(s, &end);
  while (*end == ' ' || *end == '\t') end++;
  return *end == 0 && isfinite(*v);
}

/* Why box B cannot be used whatever its image, or NULL. */
static const char *box_fault(const cur_box *b) {
  if (!b->image || !b->image[0]) return "no image named";
  if (cur_utf8_invalid(b->image)) return "the image's name is not valid UTF-8";
  const char *unsafe = cur_path_unsafe(b->image);
  if (unsafe) return unsafe;
  if (!b->label || !b->label[0]) return "no label";
  if (cur_utf8_invalid(b->label)) return "the label is not valid UTF-8";
  if (!isfinite(b->x) || !isfinite(b->y) || !isfinite(b->w) || !isfinite(b->h))
    return "a coordinate is not a finite number";
  if (!(b->w > 0) || !(b->h > 0)) return "zero or negative width or height";
  if (isinf(b->score)) return "the score is not a finite number";
  return NULL;
}

int cur__boxes_add(cur_boxfile *bf, const char *where, const cur_box *box) {
  const char *fault = box_fault(box);
  if (fault) {
    cur__boxes_skip(bf, where, "%s", fault);
    return CUR_OK;
  }
  if (bf->n == bf->cap) {
    size_t cap = bf->cap ? bf->cap * 2 : 256;
    cur_box *boxes = cur_reallocarray(bf->boxes, cap, sizeof *boxes);
    if (!boxes) return CUR_ENOMEM;
    bf->boxes = boxes;
    bf->cap = cap;
  }
  cur_box *b = &bf->boxes[bf->n];
  *b = *box;
  b->image = cur_path_display(box->image);
  b->label = cur_strdup(box->label);
  b->where = cur_strdup(where);
  if (!b->image || !b->label || !b->where) {
    cur_free((char *)b->image);
    cur_free((char *)b->label);
    cur_free((char *)b->where);
    return CUR_ENOMEM;
  }
  bf->n++;
  return CUR_OK;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in DIR (not . and ..), sorted; the caller frees each and the array. */
static int list_dir(const char *dir, char ***names, size_t *n) {
  DIR *d = opendir(dir);
  size_t cap = 0;
  struct dirent *de;
  int rc = CUR_OK;
  *names = NULL;
  *n = 0;
  if (!d) return cur_errorc(CUR_EIO, "%s: %s", dir, strerror(errno));
  while (rc == CUR_OK && (de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (*n == cap) {
      char **more = cur_reallocarray(*names, cap = cap ? cap * 2 : 64, sizeof *more);
      if (!more) { rc = CUR_ENOMEM; break; }
      *names = more;
    }
    if (!((*names)[*n] = cur_strdup(de->d_name))) rc = CUR_ENOMEM;
    else ++*n;
  }
  closedir(d);
  if (rc == CUR_OK && *n) qsort(*names, *n, sizeof **names, by_name);
  return rc;
}

static int walk(cur_boxfile *bf, const char *dir, const char *rel, const char *ext, int depth,
                int (*fn)(cur_boxfile *, const char *, const char *, void *), void *ctx) {
  char **names;
  size_t n;
  int rc = list_dir(dir, &names, &n);
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    char *full = cur_path_join(dir, names[i]);
    char *sub = rel[0] ? cur_path_join(rel, names[i]) : cur_strdup(names[i]);
    struct stat sb;
    size_t len = strlen(names[i]), elen = strlen(ext);
    if (!full || !sub) rc = CUR_ENOMEM;
    else if (names[i][0] == '.') { /* hidden, as ingest skips them */ }
    else if (lstat(full, &sb) != 0) cur__boxes_note(bf, full, "%s; file skipped", strerror(errno));
    else if (S_ISLNK(sb.st_mode))
      cur__boxes_note(bf, full, "a link (box files are read only inside their folder); file skipped");
    else if (S_ISDIR(sb.st_mode) && depth < WALK_DEPTH) rc = walk(bf, full, sub, ext, depth + 1, fn, ctx);
    else if (S_ISREG(sb.st_mode) && len > elen && strcasecmp(names[i] + len - elen, ext) == 0)
      rc = fn(bf, full, sub, ctx);
    cur_free(full);
    cur_free(sub);
  }
  for (size_t i = 0; i < n; i++) cur_free(names[i]);
  cur_free(names);
  return rc;
}

int cur__boxes_walk(cur_boxfile *bf, const char *dir, const char *ext,
                    int (*fn)(cur_boxfile *bf, const char *full, const char *rel, void *ctx),
                    void *ctx) {
  return walk(bf, dir, "", ext, 0, fn, ctx);
}

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), e = strlen(ext);
  return n > e && strcasecmp(path + n - e, ext) == 0;
}

/* 1 when folder DIR holds a .xml file (at any depth the walk reaches). */
static int holds_xml(const char *dir, int depth) {
  char **names;
  size_t n;
  int found = 0;
  if (depth > WALK_DEPTH || list_dir(dir, &names, &n) != CUR_OK) return cur_error_clear(), 0;
  for (size_t i = 0; i < n; i++) {
    char *full = found || names[i][0] == '.' ? NULL : cur_path_join(dir, names[i]);
    struct stat sb;
    if (full && lstat(full, &sb) == 0)
      found = (S_ISREG(sb.st_mode) && has_ext(names[i], ".xml")) ||
              (S_ISDIR(sb.st_mode) && holds_xml(full, depth + 1));
    cur_free(full);
    cur_free(names[i]);
  }
  cur_free(names);
  return found;
}

const char *cur_boxfile_format_of(const char *path, const char *format) {
  static const char *const known[] = {"coco", "yolo", "voc", "csv", "jsonl"};
  struct stat sb;
  if (format) {
    for (size_t i = 0; i < CUR_ARRAY_LEN(known); i++)
      if (strcmp(format, known[i]) == 0) return known[i];
    return NULL;
  }
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return holds_xml(path, 0) ? "voc" : "yolo";
  if (has_ext(path, ".jsonl")) return "jsonl";
  if (has_ext(path, ".csv")) return "csv";
  return "coco";
}

int cur_boxfile_load(const char *path, const char *format, cur_report_fn report, void *ctx,
                     cur_boxfile **out) {
  cur_boxfile *bf = cur_calloc(1, sizeof *bf);
  char *text = NULL;
  size_t len = 0;
  int rc = CUR_OK;
  if (!bf) return CUR_ENOMEM;
  bf->report = report;
  bf->ctx = ctx;
  if (!(bf->format = cur_boxfile_format_of(path, format)))
    rc = cur_errorc(CUR_ECONFIG, "%s: '%s' is not a box format (coco, yolo, voc, csv, jsonl)", path,
                    format);
  else if (!(bf->path = cur_strdup(path)))
    rc = CUR_ENOMEM;
  else if (strcmp(bf->format, "yolo") == 0)
    rc = cur__boxes_yolo(bf);
  else if (strcmp(bf->format, "voc") == 0)
    rc = cur__boxes_voc(bf);
  else if ((rc = cur_file_read(path, &text, &len)) == CUR_OK && strcmp(bf->format, "coco") == 0)
    rc = cur__boxes_coco(bf, text, len);
  else if (rc == CUR_OK && strlen(text) != len)
    rc = cur_errorc(CUR_EINPUT, "%s: holds NUL bytes; not a text box file", path);
  else if (rc == CUR_OK)
    rc = cur__boxes_table(bf, text, strcmp(bf->format, "jsonl") == 0);
  cur_free(text);
  if (rc) {
    cur_boxfile_free(bf);
    return rc;
  }
  *out = bf;
  return CUR_OK;
}

void cur_boxfile_free(cur_boxfile *bf) {
  if (!bf) return;
  for (size_t i = 0; i < bf->n; i++) {
    cur_free((char *)bf->boxes[i].image);
    cur_free((char *)bf->boxes[i].label);
    cur_free((char *)bf->boxes[i].where);
  }
  cur_free(bf->boxes);
  cur_free(bf->path);
  cur_free(bf);
}

size_t cur_boxfile_count(const cur_boxfile *bf) { return bf->n; }
const cur_box *cur_boxfile_box(const cur_boxfile *bf, size_t i) { return &bf->boxes[i]; }
const char *cur_boxfile_format(const cur_boxfile *bf) { return bf->format; }
size_t cur_boxfile_skipped(const cur_boxfile *bf) { return bf->skipped; }

/* V, or the integer it is within 1e-6 of: a YOLO fraction times the image
** size, or a VOC 1-based index minus one, lands a hair off the whole pixel
** it came from, and floor or ceil must not turn that into a pixel more. */
static double snap(double v) {
  double r = nearbyint(v);
  return fabs(v - r) < 1e-6 ? r : v;
}

int cur_box_rect(const cur_box *b, int w, int h, double padding, int rect[4], char *why,
                 size_t cap) {
  double sx = b->normalised ? w : 1, sy = b->normalised ? h : 1;
  double x0 = b->x * sx, y0 = b->y * sy, x1 = (b->x + b->w) * sx, y1 = (b->y + b->h) * sy;
  assert(padding >= 0);
  if (x0 < -1 || y0 < -1 || x1 > w + 1.0 || y1 > h + 1.0) {
    snprintf(why, cap, "box [%g, %g, %g, %g] reaches outside the image (%d x %d)", x0, y0, x1 - x0,
             y1 - y0, w, h);
    return CUR_EINPUT;
  }
  double pw = padding * (x1 - x0), ph = padding * (y1 - y0);
  /* whole pixels that the padded box touches, clamped to the image */
  double l = fmax(0, floor(snap(x0 - pw))), t = fmax(0, floor(snap(y0 - ph)));
  double r = fmin(w, ceil(snap(x1 + pw))), btm = fmin(h, ceil(snap(y1 + ph)));
  if (r - l < 1 || btm - t < 1) {
    snprintf(why, cap, "box [%g, %g, %g, %g] holds no pixel of the image (%d x %d)", x0, y0,
             x1 - x0, y1 - y0, w, h);
    return CUR_EINPUT;
  }
  rect[0] = (int)l;
  rect[1] = (int)t;
  rect[2] = (int)(r - l);
  rect[3] = (int)(btm - t);
  return CUR_OK;
}
