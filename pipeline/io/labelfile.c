/* labelfile.c -- loads CSV (RFC 4180 quoting) and JSONL label files into a path map. */
#include "labelfile.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "csv.h"
#include "curate.h"
#include "pathutil.h"
#include "strmap.h"
#include "text.h"

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

static void reportf(cur_labelfile *lf, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reportf(cur_labelfile *lf, int line, const char *fmt, ...) {
  char msg[1024], what[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(msg, sizeof msg, "%s:%d: %s", lf->path, line, what);
  lf->report(lf->ctx, msg);
}

/* True when every field is valid UTF-8 (labels are stored and exported as text). */
static int fields_utf8(char **fields, int n) {
  for (int i = 0; i < n; i++)
    if (cur_utf8_invalid(fields[i])) return 0;
  return 1;
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
  if (added <= 0) {
    cur_free(path);
    return added < 0 ? CUR_ENOMEM : CUR_OK;
  }
  if (lf->n_rows == lf->cap_rows) {
    size_t cap = lf->cap_rows ? lf->cap_rows * 2 : 1024;
    cur_labelrow *rows = cur_reallocarray(lf->rows, cap, sizeof *rows);
    if (!rows) {
      cur_free(path);
      return CUR_ENOMEM;
    }
    lf->rows = rows;
    lf->cap_rows = cap;
  }
  cur_labelrow *r = &lf->rows[lf->n_rows++];
  memset(r, 0, sizeof *r);
  r->line = line;
  r->path = path;
  if (!(r->values = cur_calloc((size_t)lf->n_tasks, sizeof *r->values))) return CUR_ENOMEM;
  if (lf->col_split >= 0 && lf->col_split < n) r->split = dup_nonempty(fields[lf->col_split], &err);
  if (lf->col_group >= 0 && lf->col_group < n) r->group = dup_nonempty(fields[lf->col_group], &err);
  for (int t = 0; t < lf->n_tasks; t++)
    if (lf->col_task[t] < n) r->values[t] = dup_nonempty(fields[lf->col_task[t]], &err);
  return err;
}

static int load_csv(cur_labelfile *lf, const cur_labelspec *spec, char *text) {
  cur_fieldvec v = {0};
  char **header = NULL, *p = text;
  int line = 1, next_line = 1, n_header, rc;
  if (strncmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;  /* byte-order mark */
  if ((rc = cur_csv_record(&p, &v, &next_line)) < 0) goto cleanup;
  n_header = v.n;
  if (rc > 0 || !v.at[0][0]) {
    rc = cur_errorc(CUR_EINPUT, "%s: no header row", lf->path);
    goto cleanup;
  }
  if (!fields_utf8(v.at, v.n)) {
    rc = cur_errorc(CUR_EINPUT, "%s:1: the header row is not valid UTF-8", lf->path);
    goto cleanup;
  }
  if (!(header = cur_mallocarray((size_t)n_header, sizeof *header))) { rc = CUR_ENOMEM; goto cleanup; }
  memcpy(header, v.at, (size_t)n_header * sizeof *header);
  rc = resolve_columns(lf, spec, header, n_header);
  while (rc == CUR_OK && *p) {
    line = next_line;
    if ((rc = cur_csv_record(&p, &v, &next_line)) < 0) break;
    if (rc > 0) {
      /* the quote runs to the end of the file: nothing after it can be read */
      reportf(lf, line, "unterminated quote; the rest of the file is skipped");
      rc = CUR_OK;
      break;
    }
    if (v.n == 1 && !v.at[0][0]) continue;  /* blank line */
    if (v.n != n_header)
      reportf(lf, line, "%d fields, expected %d; row skipped", v.n, n_header);
    else if (!fields_utf8(v.at, v.n))
      reportf(lf, line, "not valid UTF-8; row skipped");
    else
      rc = add_row(lf, v.at, v.n, line);
  }
cleanup:
  cur_free(header);
  cur_free(v.at);
  return rc;
}

/* The text of column C of a row (VALUE may be NULL: absent), into *OUT:
** strings as they are, null or absent as "", numbers (where a number may
** stand: a group, or any value when spec.numbers) without a fraction as
** integers.  Returns 0 and reports the row otherwise. */
static int json_field(cur_labelfile *lf, const cur_labelspec *spec, int c, const char *name,
                      const cJSON *value, int line, char *buf, size_t cap, const char **out) {
  int is_value = c != lf->col_path && c != lf->col_split;
  *out = "";
  if (!value || cJSON_IsNull(value)) return 1;
  if (cJSON_IsString(value)) {
    *out = value->valuestring;
    return 1;
  }
  if (cJSON_IsNumber(value) && (c == lf->col_group || (spec->numbers && is_value))) {
    snprintf(buf, cap, "%.17g", value->valuedouble);
    *out = buf;
    return 1;
  }
  reportf(lf, line, "'%s' is %s, not a string%s; row skipped", name, cur_json_kind(value),
          cJSON_IsNumber(value) ? " (quote it to use it as a class name)" : "");
  return 0;
}

/* True when column C is one the spec reads. */
static int column_used(const cur_labelfile *lf, int c) {
  if (c == lf->col_path || c == lf->col_split || c == lf->col_group) return 1;
  for (int t = 0; t < lf->n_tasks; t++)
    if (lf->col_task[t] == c) return 1;
  return 0;
}

/* One JSONL line: parsed, checked, added (or reported). */
static int jsonl_row(cur_labelfile *lf, const cur_labelspec *spec, const char *text, int line,
                     cur_fieldvec *names, const char **fields, char (*numbuf)[32]) {
  char key[256];
  int rc = CUR_OK;
  if (cur_utf8_invalid(text)) {
    reportf(lf, line, "not valid UTF-8; row skipped");
    return CUR_OK;
  }
  cJSON *obj = cJSON_ParseWithOpts(text, NULL, 1);  /* 1: nothing may follow the object */
  if (!cJSON_IsObject(obj)) {
    reportf(lf, line, "not a JSON object; row skipped");
  } else if (cur_json_duplicate_key(obj, key, sizeof key)) {
    reportf(lf, line, "key '%s' appears twice; row skipped", key);
  } else {
    int ok = 1;
    for (int c = 0; ok && c < names->n; c++)
      ok = !column_used(lf, c) ? (fields[c] = "", 1)
           : json_field(lf, spec, c, names->at[c], cJSON_GetObjectItemCaseSensitive(obj, names->at[c]),
                        line, numbuf[c], sizeof numbuf[c], &fields[c]);
    if (ok) rc = add_row(lf, (char **)fields, names->n, line);
  }
  cJSON_Delete(obj);
  return rc;
}

/* The keys of the first object of the file name the columns. */
static int jsonl_columns(cur_labelfile *lf, const cur_labelspec *spec, const char *text,
                         cur_fieldvec *names) {
  cJSON *obj = cur_utf8_invalid(text) ? NULL : cJSON_ParseWithOpts(text, NULL, 1);
  int rc = CUR_OK;
  for (cJSON *it = cJSON_IsObject(obj) ? obj->child : NULL; rc == CUR_OK && it; it = it->next) {
    char *name = cur_strdup(it->string);
    rc = name ? cur_fieldvec_push(names, name) : CUR_ENOMEM;
    if (rc) cur_free(name);
  }
  cJSON_Delete(obj);
  return rc == CUR_OK && names->n > 0 ? resolve_columns(lf, spec, names->at, names->n) : rc;
}

/* JSONL: keys play the part of columns, named by the first object. */
static int load_jsonl(cur_labelfile *lf, const cur_labelspec *spec, char *text) {
  cur_fieldvec names = {0};
  const char **fields = NULL;
  char (*numbuf)[32] = NULL;
  int rc = CUR_OK, line = 0;
  for (char *p = text, *nl; rc == CUR_OK && *p; p = nl ? nl + 1 : p + strlen(p)) {
    nl = strchr(p, '\n');
    if (nl) *nl = 0;
    line++;
    if (strspn(p, " \t\r") == strlen(p)) continue;
    if (names.n == 0 && (rc = jsonl_columns(lf, spec, p, &names)) == CUR_OK && names.n > 0) {
      fields = cur_mallocarray((size_t)names.n, sizeof *fields);
      numbuf = cur_mallocarray((size_t)names.n, sizeof *numbuf);
      if (!fields || !numbuf) rc = CUR_ENOMEM;
    }
    /* until an object names the columns, a row can only be reported */
    if (rc == CUR_OK) rc = jsonl_row(lf, spec, p, line, &names, fields, numbuf);
  }
  for (int i = 0; i < names.n; i++) cur_free(names.at[i]);
  cur_free(names.at);
  cur_free(fields);
  cur_free(numbuf);
  if (rc == CUR_OK && names.n == 0) rc = cur_errorc(CUR_EINPUT, "%s: no JSON rows", lf->path);
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
    cur_free(r->path);
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
