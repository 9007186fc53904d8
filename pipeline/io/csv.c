/* csv.c -- one CSV record at a time (RFC 4180 quoting), split in place. */
#include "csv.h"

#include "curate.h"

int cur_fieldvec_push(cur_fieldvec *v, char *field) {
  if (v->n == v->cap) {
    int cap = v->cap ? v->cap * 2 : 64;
    char **at = cur_reallocarray(v->at, (size_t)cap, sizeof *at);
    if (!at) return CUR_ENOMEM;
    v->at = at;
    v->cap = cap;
  }
  v->at[v->n++] = field;
  return CUR_OK;
}

int cur_csv_record(char **p, cur_fieldvec *v, int *lines) {
  char *s = *p, *out = s;
  v->n = 0;
  if (cur_fieldvec_push(v, out)) return CUR_ENOMEM;
  for (;;) {
    if (*s == '"') {
      for (s++;; s++) {
        if (!*s) return 1;
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
      if (cur_fieldvec_push(v, out)) return CUR_ENOMEM;
      continue;
    }
    if (*s == '\r') s++;
    if (*s == '\n') { s++; ++*lines; }
    *out = 0;
    *p = s;
    return CUR_OK;
  }
}
