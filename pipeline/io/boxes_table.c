/* boxes_table.c -- boxes from a CSV or JSONL table, one box a row: image,
** x, y, w, h, label and an optional score, x and y the box's top-left
** corner, all in pixels (an external detector's output).
**
** CSV has a header naming the columns (image may be called path, file or
** filename; w and h width and height; label class); JSONL has those keys
** in each object, numbers as numbers (or strings holding one) and the label
** a string or an integer class id.
*/
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxfile_impl.h"
#include "csv.h"
#include "curate.h"
#include "text.h"

enum { C_IMAGE, C_X, C_Y, C_W, C_H, C_LABEL, C_SCORE, N_COLS };
/* each column's names, the first the one messages use */
static const char *const col_names[N_COLS][4] = {
    {"image", "path", "file", "filename"}, {"x"}, {"y"}, {"w", "width"}, {"h", "height"},
    {"label", "class"}, {"score"}};

static int column_of(const char *name) {
  for (int c = 0; c < N_COLS; c++)
    for (int k = 0; k < 4 && col_names[c][k]; k++)
      if (strcmp(name, col_names[c][k]) == 0) return c;
  return -1;
}

/* A box from the text of its columns (FIELD[c], NULL when absent). */
static int add_fields(cur_boxfile *bf, const char *where, const char *const field[N_COLS]) {
  double v[N_COLS] = {0};
  v[C_SCORE] = NAN;
  for (int c = C_X; c < N_COLS; c++) {
    if (c == C_LABEL || (c == C_SCORE && (!field[c] || !field[c][0]))) continue;
    if (!cur__boxes_number(field[c], &v[c])) {
      cur__boxes_skip(bf, where, "%s '%.40s' is not a finite number", col_names[c][0],
                      field[c] ? field[c] : "");
      return CUR_OK;
    }
  }
  cur_box b = {.image = field[C_IMAGE], .x = v[C_X], .y = v[C_Y], .w = v[C_W], .h = v[C_H],
               .label = field[C_LABEL], .score = v[C_SCORE]};
  return cur__boxes_add(bf, where, &b);
}

static int load_csv(cur_boxfile *bf, char *text) {
  cur_fieldvec v = {0};
  int col[N_COLS], line = 1, next = 1, rc;
  char *p = text + (strncmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0);
  for (int c = 0; c < N_COLS; c++) col[c] = -1;
  if ((rc = cur_csv_record(&p, &v, &next)) < 0) goto cleanup;
  for (int i = 0; rc == CUR_OK && i < v.n; i++) {
    int c = column_of(v.at[i]);
    if (c >= 0 && col[c] < 0) col[c] = i;
  }
  for (int c = 0; rc == CUR_OK && c < C_SCORE; c++)
    if (col[c] < 0)
      rc = cur_errorc(CUR_EINPUT, "%s:1: no column '%s' in the header (image, x, y, w, h, label "
                      "and optionally score)", bf->path, col_names[c][0]);
  int n_header = v.n;
  while (rc == CUR_OK && *p) {
    char where[1200];
    const char *field[N_COLS];
    line = next;
    snprintf(where, sizeof where, "%s:%d", bf->path, line);
    if ((rc = cur_csv_record(&p, &v, &next)) < 0) break;
    if (rc > 0) {
      cur__boxes_skip(bf, where, "unterminated quote; the rest of the file is skipped");
      rc = CUR_OK;
      break;
    }
    if (v.n == 1 && !v.at[0][0]) continue;  /* blank line */
    if (v.n != n_header) {
      cur__boxes_skip(bf, where, "%d fields, expected %d", v.n, n_header);
      continue;
    }
    for (int c = 0; c < N_COLS; c++) field[c] = col[c] >= 0 ? v.at[col[c]] : NULL;
    rc = add_fields(bf, where, field);
  }
cleanup:
  cur_free(v.at);
  return rc;
}

/* The text of JSON value J into BUF: a string as it is, a number in full. */
static const char *json_text(const cJSON *j, char *buf, size_t cap) {
  if (cJSON_IsString(j)) return j->valuestring;
  if (!cJSON_IsNumber(j)) return NULL;
  snprintf(buf, cap, "%.17g", j->valuedouble);
  return buf;
}

static int jsonl_row(cur_boxfile *bf, const char *text, int line) {
  char where[1200], num[N_COLS][32], dup[256];
  const char *field[N_COLS] = {0};
  snprintf(where, sizeof where, "%s:%d", bf->path, line);
  cJSON *o = cJSON_Parse(text);
  int rc = CUR_OK;
  if (!cJSON_IsObject(o)) cur__boxes_skip(bf, where, "not one JSON object");
  else if (cur_json_duplicate_key(o, dup, sizeof dup)) cur__boxes_skip(bf, where, "key '%s' given twice", dup);
  else {
    const cJSON *label = NULL;
    for (int c = 0; c < N_COLS; c++)
      for (int k = 0; k < 4 && col_names[c][k] && !field[c]; k++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, col_names[c][k]);
        field[c] = json_text(j, num[c], sizeof num[c]);
        if (c == C_LABEL && j) label = j;
      }
    if (label && cJSON_IsNumber(label) && label->valuedouble != floor(label->valuedouble))
      cur__boxes_skip(bf, where, "label is a fractional number, not a class name or id");
    else
      rc = add_fields(bf, where, field);
  }
  cJSON_Delete(o);
  return rc;
}

static int load_jsonl(cur_boxfile *bf, char *text) {
  int rc = CUR_OK, line = 0;
  for (char *p = text, *nl; rc == CUR_OK && *p; p = nl ? nl + 1 : p + strlen(p)) {
    nl = strchr(p, '\n');
    if (nl) *nl = 0;
    line++;
    if (strspn(p, " \t\r") != strlen(p)) rc = jsonl_row(bf, p, line);
  }
  return rc;
}

int cur__boxes_table(cur_boxfile *bf, char *text, int jsonl) {
  return jsonl ? load_jsonl(bf, text) : load_csv(bf, text);
}
