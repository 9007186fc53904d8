/* boxes_yolo.c -- boxes from a YOLO label folder.
**
** One FOLDER/REL.txt per image (the image is the source's REL with any
** image extension), one box a line: "CLASS CX CY W H [SCORE]", CLASS a
** 0-based index into the class list and the rest fractions of the image's
** width and height, CX CY the box's centre.  The class list is the folder's
** classes.txt, else obj.names, one name a line.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxfile_impl.h"
#include "curate.h"
#include "pathutil.h"
#include "text.h"

/* At most this many fields on a line: a longer line is malformed, and the
** field array stays on the stack. */
#define MAX_FIELDS 8

typedef struct classes {
  char *text;          /* the class file, split in place */
  char **name;
  size_t n;
  const char *file;    /* classes.txt or obj.names */
} classes;

/* Splits TEXT in place at newlines into LINES (lines point into TEXT). */
static int split_lines(char *text, char ***lines, size_t *n) {
  size_t cap = 1;
  for (const char *p = text; *p; p++) cap += *p == '\n';
  if (!(*lines = cur_mallocarray(cap, sizeof **lines))) return CUR_ENOMEM;
  *n = 0;
  for (char *p = text; p;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    size_t len = strlen(p);
    if (len && p[len - 1] == '\r') p[len - 1] = 0;
    (*lines)[(*n)++] = p;
    p = nl ? nl + 1 : NULL;
  }
  if (*n && !(*lines)[*n - 1][0]) --*n;  /* the final newline ends a line, not starts one */
  return CUR_OK;
}

static int load_classes(cur_boxfile *bf, classes *c) {
  static const char *const names[] = {"classes.txt", "obj.names"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(names) && !c->text; i++) {
    char *path = cur_path_join(bf->path, names[i]);
    size_t len;
    if (!path) return CUR_ENOMEM;
    int rc = cur_file_read(path, &c->text, &len);
    cur_free(path);
    if (rc == CUR_ENOMEM) return rc;
    cur_error_clear();
    if (rc == CUR_OK && strlen(c->text) != len)
      return cur_errorc(CUR_EINPUT, "%s/%s: holds NUL bytes; not a class list", bf->path, names[i]);
    c->file = names[i];
  }
  if (!c->text)
    return cur_errorc(CUR_EINPUT, "%s: no classes.txt or obj.names (the class names, one a line, "
                      "in the order of the class ids)", bf->path);
  int rc = split_lines(c->text, &c->name, &c->n);
  for (size_t i = 0; rc == CUR_OK && i < c->n; i++)
    if (!c->name[i][0] || cur_utf8_invalid(c->name[i]))
      rc = cur_errorc(CUR_EINPUT, "%s/%s:%zu: a class name must be non-empty valid UTF-8", bf->path,
                      c->file, i + 1);
  return rc;
}

/* One line of a label file: WHERE names it. */
static int yolo_line(cur_boxfile *bf, const classes *c, const char *image, char *line,
                     const char *where) {
  char *field[MAX_FIELDS], *save = NULL;
  int n = 0;
  for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
    if (n < MAX_FIELDS) field[n++] = t;
    else return cur__boxes_skip(bf, where, "more than %d fields", MAX_FIELDS), CUR_OK;
  if (n == 0) return CUR_OK;  /* blank */
  if (n != 5 && n != 6)
    return cur__boxes_skip(bf, where, "%d fields, expected 5 (class cx cy w h) or 6 (and a score)", n), CUR_OK;
  double v[6] = {0, 0, 0, 0, 0, NAN};
  for (int i = 0; i < n; i++)
    if (!cur__boxes_number(field[i], &v[i]))
      return cur__boxes_skip(bf, where, "field %d '%.40s' is not a finite number", i + 1, field[i]), CUR_OK;
  if (v[0] != floor(v[0]) || v[0] < 0 || v[0] >= (double)c->n)
    return cur__boxes_skip(bf, where, "class id %.40s is not one of %s's %zu classes (unknown class id)",
                           field[0], c->file, c->n), CUR_OK;
  cur_box b = {.image = image, .stem = 1, .normalised = 1, .x = v[1] - v[3] / 2,
               .y = v[2] - v[4] / 2, .w = v[3], .h = v[4], .label = c->name[(size_t)v[0]],
               .score = v[5]};
  return cur__boxes_add(bf, where, &b);
}

/* One label file FULL, REL inside the folder. */
static int yolo_file(cur_boxfile *bf, const char *full, const char *rel, void *ctx) {
  const classes *c = ctx;
  char *text = NULL, **lines = NULL, *image = NULL;
  size_t len, n = 0;
  if (strcmp(rel, c->file) == 0) return CUR_OK;  /* the class list itself */
  int rc = cur_file_read(full, &text, &len);
  if (rc == CUR_ENOMEM) return rc;
  if (rc) {
    cur__boxes_note(bf, full, "%s; file skipped", cur_error());
    return CUR_OK;
  }
  if (strlen(text) != len) {
    cur__boxes_note(bf, full, "holds NUL bytes; not a label file; file skipped");
    goto cleanup;
  }
  if (!(image = cur_strndup(rel, strlen(rel) - 4)) || (rc = split_lines(text, &lines, &n))) {
    rc = CUR_ENOMEM;
    goto cleanup;
  }
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    char where[1200];
    snprintf(where, sizeof where, "%s:%zu", full, i + 1);
    rc = yolo_line(bf, c, image, lines[i], where);
  }
cleanup:
  cur_free(lines);
  cur_free(image);
  cur_free(text);
  return rc;
}

int cur__boxes_yolo(cur_boxfile *bf) {
  classes c = {0};
  int rc = load_classes(bf, &c);
  if (rc == CUR_OK) rc = cur__boxes_walk(bf, bf->path, ".txt", yolo_file, &c);
  cur_free(c.name);
  cur_free(c.text);
  return rc;
}
