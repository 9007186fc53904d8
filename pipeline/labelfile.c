/* labelfile.c -- loads CSV (RFC 4180 quoting) and JSONL label files into a path map. */
#include "labelfile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "curate.h"
#include "pathutil.h"
#include "strmap.h"

#define MAX_FIELDS 256

struct cur_labelfile {
  char *path;
  int n_tasks;
  char **task_names;
  cur_strmap *index;          /* display path -> row */
  cur_labelrow *rows;
  size_t n_rows, cap_rows;
  /* resolved column numbers while loading */
  int col_path, col_split, col_group, *col_task;
  cur_report_fn report;
  void *ctx;
};

static void reportf(cur_labelfile *lf, int line, const char *fmt, const char *arg) {
  char msg[512], what[384];
  snprintf(what, sizeof what, fmt, arg);
  snprintf(msg, sizeof msg, "%s:%d: %s", lf->path, line, what);
  lf->report(lf->ctx, msg);
}

/* Splits one CSV record starting at *P into FIELDS (NUL-terminated in place).
** Returns the field count, or -1 for an unterminated quote; *P moves past
** the record and *LINES counts the newlines consumed. */
static int csv_record(char **p, char **fields, int *lines) {
  char *s = *p, *out = s;
  int n = 0;
  fields[n++] = out;
  for (;;) {
    if (*s == '"') {
      for (s++;; s++) {
        if (!*s) return -1;
        if (*s == '"' && s[1] == '"') { *out++ = '"'; s++; continue; }
        if (*s == '"') { s++; break; }
        if (*s == '\n') ++*lines;
        *out++ = *s;
      }
    }
    while (*s && *s != ',' && *s != '\n' && *s != '\r') *out++ = *s++;
    if (*s == ',') {
      *out++ = 0;
      s++;
      if (n == MAX_FIELDS) return -1;
      fields[n++] = out;
      continue;
    }
    if (*s == '\r') s++;
    if (*s == '\n') { s++; ++*lines; }
    *out = 0;
    *p = s;
    return n;
  }
}

static int find_col(char **names, int n, const char *want) {
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], want) == 0) return i;
  return -1;
}

/* Resolves the spec's columns against the header NAMES. */
static int resolve_columns(cur_labelfile *lf, const cur_labelspec *spec, char **names, int n) {
  static const char *const path_names[] = {"path", "image", "file", "filename"};
  lf->col_path = -1;
  if (spec->path_column) lf->col_path = find_col(names, n, spec->path_column);
  for (size_t i = 0; !spec->path_column && lf->col_path < 0 && i < CUR_ARRAY_LEN(path_names); i++)
    lf->col_path = find_col(names, n, path_names[i]);
  if (!spec->path_column && lf->col_path < 0) lf->col_path = 0;
  if (lf->col_path < 0)
    return cur_errorc(CUR_EINPUT, "%s: no column named '%s' (the path column)", lf->path, spec->path_column);
  lf->col_split = find_col(names, n, spec->split_column ? spec->split_column : "split");
  lf->col_group = find_col(names, n, spec->group_column ? spec->group_column : "group");
  if (spec->split_column && lf->col_split < 0)
    return cur_errorc(CUR_EINPUT, "%s: no column named '%s' (the split column)", lf->path, spec->split_column);
  if (spec->group_column && lf->col_group < 0)
    return cur_errorc(CUR_EINPUT, "%s: no column named '%s' (the group column)", lf->path, spec->group_column);
  lf->n_tasks = spec->n_tasks ? spec->n_tasks : 1;
  lf->task_names = cur_calloc((size_t)lf->n_tasks, sizeof *lf->task_names);
  lf->col_task = cur_calloc((size_t)lf->n_tasks, sizeof *lf->col_task);
  if (!lf->task_names || !lf->col_task) return CUR_ENOMEM;
  for (int t = 0; t < lf->n_tasks; t++) {
    const char *name = spec->n_tasks ? spec->task_names[t] : "label";
    const char *col = spec->n_tasks ? spec->task_columns[t] : "label";
    lf->col_task[t] = find_col(names, n, col);
    if (!spec->n_tasks && lf->col_task[t] < 0 && n == 2) lf->col_task[t] = 1 - lf->col_path;
    if (lf->col_task[t] < 0 && strcmp(col, name) == 0)
      return cur_errorc(CUR_EINPUT, "%s: no column named '%s'", lf->path, col);
    if (lf->col_task[t] < 0)
      return cur_errorc(CUR_EINPUT, "%s: no column named '%s' for task '%s'", lf->path, col, name);
    if (!(lf->task_names[t] = cur_strdup(name))) return CUR_ENOMEM;
  }
  return CUR_OK;
}

static char *dup_nonempty(const char *s, int *err) {
  if (!s || !*s) return NULL;
  char *d = cur_strdup(s);
  if (!d) *err = CUR_ENOMEM;
  return d;
}

/* Adds a row from FIELDS (N of them) read at LINE. */
static int add_row(cur_labelfile *lf, char **fields, int n, int line) {
  int err = CUR_OK;
  const char *raw = lf->col_path < n ? fields[lf->col_path] : "";
  if (!raw[0]) { reportf(lf, line, "%s", "empty path; row skipped"); return CUR_OK; }
  char *path = cur_path_display(raw);
  if (!path) return CUR_ENOMEM;
  int added = cur_strmap_put(lf->index, path, lf->n_rows);
  if (added == 0) reportf(lf, line, "path '%s' listed again; the first row is kept", path);
  cur_free(path);
  if (added <= 0) return added < 0 ? CUR_ENOMEM : CUR_OK;
  if (lf->n_rows == lf->cap_rows) {
    size_t cap = lf->cap_rows ? lf->cap_rows * 2 : 1024;
    cur_labelrow *rows = cur_reallocarray(lf->rows, cap, sizeof *rows);
    if (!rows) return CUR_ENOMEM;
    lf->rows = rows;
    lf->cap_rows = cap;
  }
  cur_labelrow *r = &lf->rows[lf->n_rows++];
  memset(r, 0, sizeof *r);
  r->line = line;
  if (!(r->values = cur_calloc((size_t)lf->n_tasks, sizeof *r->values))) return CUR_ENOMEM;
  if (lf->col_split >= 0 && lf->col_split < n) r->split = dup_nonempty(fields[lf->col_split], &err);
  if (lf->col_group >= 0 && lf->col_group < n) r->group = dup_nonempty(fields[lf->col_group], &err);
  for (int t = 0; t < lf->n_tasks; t++)
    if (lf->col_task[t] < n) r->values[t] = dup_nonempty(fields[lf->col_task[t]], &err);
  return err;
}

static int load_csv(cur_labelfile *lf, const cur_labelspec *spec, char *text) {
  char *fields[MAX_FIELDS], *header[MAX_FIELDS], *p = text;
  int line = 1, next_line = 1;
  if (strncmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;  /* byte-order mark */
  int n_header = csv_record(&p, fields, &next_line);
  if (n_header <= 0 || !fields[0][0]) return cur_errorc(CUR_EINPUT, "%s: no header row", lf->path);
  memcpy(header, fields, sizeof header);
  int rc = resolve_columns(lf, spec, header, n_header);
  while (rc == CUR_OK && *p) {
    line = next_line;
    int n = csv_record(&p, fields, &next_line);
    if (n < 0) { reportf(lf, line, "%s", "unterminated quote; the rest of the file is skipped"); break; }
    if (n == 1 && !fields[0][0]) continue;  /* blank line */
    if (n != n_header) {
      char what[64];
      snprintf(what, sizeof what, "%d", n_header);
      reportf(lf, line, "expected %s fields; row skipped", what);
      continue;
    }
    rc = add_row(lf, fields, n, line);
  }
  return rc;
}

/* Writes V as text into BUF (strings as they are, numbers without a
** fraction as integers) and returns it; "" for null or objects. */
static const char *json_text(const cJSON *v, char *buf, size_t cap) {
  if (cJSON_IsString(v)) return v->valuestring;
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? "true" : "false";
  if (cJSON_IsNumber(v)) {
    snprintf(buf, cap, "%.17g", v->valuedouble);
    return buf;
  }
  return "";
}

/* JSONL: keys play the part of columns, named by the first object. */
static int load_jsonl(cur_labelfile *lf, const cur_labelspec *spec, char *text) {
  char *names[MAX_FIELDS];
  const char *fields[MAX_FIELDS];
  char numbuf[MAX_FIELDS][32];
  int n_names = 0, rc = CUR_OK, line = 0;
  for (char *p = text, *nl; rc == CUR_OK && *p; p = nl ? nl + 1 : p + strlen(p)) {
    nl = strchr(p, '\n');
    if (nl) *nl = 0;
    line++;
    if (strspn(p, " \t\r") == strlen(p)) continue;
    cJSON *obj = cJSON_Parse(p);
    if (!cJSON_IsObject(obj)) {
      reportf(lf, line, "%s", "not a JSON object; row skipped");
    } else if (n_names == 0) {
      for (cJSON *it = obj->child; rc == CUR_OK && it && n_names < MAX_FIELDS; it = it->next)
        if (!(names[n_names++] = cur_strdup(it->string))) rc = CUR_ENOMEM;
      if (rc == CUR_OK) rc = resolve_columns(lf, spec, names, n_names);
    }
    for (int c = 0; rc == CUR_OK && cJSON_IsObject(obj) && c < n_names; c++)
      fields[c] = json_text(cJSON_GetObjectItemCaseSensitive(obj, names[c]), numbuf[c], sizeof numbuf[c]);
    if (rc == CUR_OK && cJSON_IsObject(obj)) rc = add_row(lf, (char **)fields, n_names, line);
    cJSON_Delete(obj);
  }
  for (int i = 0; i < n_names; i++) cur_free(names[i]);
  if (rc == CUR_OK && n_names == 0) rc = cur_errorc(CUR_EINPUT, "%s: no JSON rows", lf->path);
  return rc;
}

int cur_labelfile_load(const char *path, const cur_labelspec *spec, cur_report_fn report,
                       void *ctx, cur_labelfile **out) {
  cur_labelfile *lf = cur_calloc(1, sizeof *lf);
  char *text = NULL;
  size_t len;
  int rc;
  if (!lf) return CUR_ENOMEM;
  lf->report = report;
  lf->ctx = ctx;
  if (!(lf->path = cur_strdup(path)) || !(lf->index = cur_strmap_new())) {
    rc = CUR_ENOMEM;
    goto cleanup;
  }
  if ((rc = cur_file_read(path, &text, &len))) goto cleanup;
  if (strlen(text) != len) {
    rc = cur_errorc(CUR_EINPUT, "%s: holds NUL bytes; not a text label file", path);
    goto cleanup;
  }
  size_t plen = strlen(path);
  int jsonl = (plen > 6 && strcasecmp(path + plen - 6, ".jsonl") == 0) ||
              (plen > 5 && strcasecmp(path + plen - 5, ".json") == 0);
  rc = jsonl ? load_jsonl(lf, spec, text) : load_csv(lf, spec, text);
cleanup:
  cur_free(text);
  if (rc) {
    cur_labelfile_free(lf);
    return rc;
  }
  *out = lf;
  return CUR_OK;
}

void cur_labelfile_free(cur_labelfile *lf) {
  if (!lf) return;
  for (size_t i = 0; i < lf->n_rows; i++) {
    cur_labelrow *r = &lf->rows[i];
    for (int t = 0; r->values && t < lf->n_tasks; t++) cur_free(r->values[t]);
    cur_free(r->values);
    cur_free(r->split);
    cur_free(r->group);
  }
  for (int t = 0; lf->task_names && t < lf->n_tasks; t++) cur_free(lf->task_names[t]);
  cur_free(lf->task_names);
  cur_free(lf->col_task);
  cur_free(lf->rows);
  cur_strmap_free(lf->index);
  cur_free(lf->path);
  cur_free(lf);
}

const cur_labelrow *cur_labelfile_find(const cur_labelfile *lf, const char *path) {
  size_t i;
  return cur_strmap_get(lf->index, path, &i) ? &lf->rows[i] : NULL;
}

size_t cur_labelfile_count(const cur_labelfile *lf) { return lf->n_rows; }
const cur_labelrow *cur_labelfile_row(const cur_labelfile *lf, size_t i) { return &lf->rows[i]; }
int cur_labelfile_n_tasks(const cur_labelfile *lf) { return lf->n_tasks; }
const char *cur_labelfile_task(const cur_labelfile *lf, int i) { return lf->task_names[i]; }
const char *cur_labelfile_path(const cur_labelfile *lf) { return lf->path; }
