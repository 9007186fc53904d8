/* boxes_voc.c -- boxes from a folder of Pascal VOC annotation files (XML, read with expat).
**
** One FILE.xml per image: <annotation> holds <filename> (the image, in the
** source folder that matches the XML's own folder inside the box folder)
** and an <object> per box with <name> (the class) and <bndbox> <xmin> <ymin>
** <xmax> <ymax>.  VOC counts pixels from 1 and includes both ends, so the
** box is left = xmin - 1, top = ymin - 1, width = xmax - xmin + 1, height =
** ymax - ymin + 1 in curate's pixels.  An optional <score> inside <object>
** is read as the box's score.  A document type declaration is refused
** (entities are the XML bombs' way in), so is text longer than TEXT_MAX.
*/
#include <expat.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxfile_impl.h"
#include "curate.h"
#include "pathutil.h"

#define TEXT_MAX 4096   /* longest element text kept: a path or a class name */
#define MAX_DEPTH 64    /* deeper nesting is not VOC */

enum { F_NAME, F_XMIN, F_YMIN, F_XMAX, F_YMAX, F_SCORE, N_FIELDS };
static const char *const field_tag[N_FIELDS] = {"name", "xmin", "ymin", "xmax", "ymax", "score"};

typedef struct voc {
  cur_boxfile *bf;
  XML_Parser parser;
  const char *full, *rel;     /* the XML file: its path, and inside the box folder */
  int depth, in_object, in_bndbox;
  int object_line;            /* where the current <object> starts */
  int field;                  /* the field whose text is collected, or -1 */
  int filename;               /* collecting <annotation><filename> */
  char text[TEXT_MAX + 1];
  size_t text_len;
  int text_over;
  char filename_text[TEXT_MAX + 1];
  char value[N_FIELDS][TEXT_MAX + 1];
  int have[N_FIELDS];
  /* objects, held until </annotation> names the image */
  cur_box *objects;
  char **where;
  size_t n, cap;
  int rc;                     /* CUR_ENOMEM stops the parse */
  const char *fault;          /* why the file is refused */
} voc;

static void stop(voc *v, const char *fault) {
  if (!v->fault) v->fault = fault;
  XML_StopParser(v->parser, XML_FALSE);
}

static void XMLCALL on_start(void *ctx, const XML_Char *tag, const XML_Char **attr) {
  voc *v = ctx;
  (void)attr;
  if (++v->depth > MAX_DEPTH) {
    stop(v, "nested too deep for a VOC annotation");
    return;
  }
  v->text_len = 0;
  v->text_over = 0;
  v->field = -1;
  v->filename = v->depth == 2 && strcmp(tag, "filename") == 0;
  if (v->depth == 2 && strcmp(tag, "object") == 0) {
    v->in_object = 1;
    v->object_line = (int)XML_GetCurrentLineNumber(v->parser);
    memset(v->have, 0, sizeof v->have);
  } else if (v->in_object && v->depth == 3 && strcmp(tag, "bndbox") == 0) {
    v->in_bndbox = 1;
  }
  for (int f = 0; f < N_FIELDS && v->in_object; f++)
    if (strcmp(tag, field_tag[f]) == 0 &&
        v->depth == ((f == F_NAME || f == F_SCORE) ? 3 : 4) && ((f == F_NAME || f == F_SCORE) || v->in_bndbox))
      v->field = f;
}

static void XMLCALL on_text(void *ctx, const XML_Char *s, int len) {
  voc *v = ctx;
  if (v->field < 0 && !v->filename) return;
  if (v->text_len + (size_t)len > TEXT_MAX) {
    v->text_over = 1;
    return;
  }
  memcpy(v->text + v->text_len, s, (size_t)len);
  v->text_len += (size_t)len;
}

/* The text collected, without surrounding white space. */
static const char *trimmed(voc *v) {
  char *s = v->text;
  v->text[v->text_len] = 0;
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

/* Turns the finished <object> into a held box, or reports it. */
static void end_object(voc *v) {
  char where[1200];
  double n[N_FIELDS] = {0};
  snprintf(where, sizeof where, "%s:%d", v->full, v->object_line);
  for (int f = 0; f < F_SCORE; f++)
    if (!v->have[f]) {
      cur__boxes_skip(v->bf, where, "<object> has no <%s>", field_tag[f]);
      return;
    }
  for (int f = F_XMIN; f < N_FIELDS; f++)
    if (v->have[f] && !cur__boxes_number(v->value[f], &n[f])) {
      cur__boxes_skip(v->bf, where, "<%s> '%.40s' is not a finite number", field_tag[f], v->value[f]);
      return;
    }
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    cur_box *o = cur_reallocarray(v->objects, cap, sizeof *o);
    if (o) v->objects = o;
    char **w = o ? cur_reallocarray(v->where, cap, sizeof *w) : NULL;
    if (w) v->where = w;
    if (!o || !w) {
      v->rc = CUR_ENOMEM;
      stop(v, "out of memory");
      return;
    }
    v->cap = cap;
  }
  /* 1-based inclusive pixel indexes to left, top, width, height */
  cur_box *b = &v->objects[v->n];
  *b = (cur_box){.x = n[F_XMIN] - 1, .y = n[F_YMIN] - 1, .w = n[F_XMAX] - n[F_XMIN] + 1,
                 .h = n[F_YMAX] - n[F_YMIN] + 1, .label = cur_strdup(v->value[F_NAME]),
                 .score = v->have[F_SCORE] ? n[F_SCORE] : NAN};
  v->where[v->n] = cur_strdup(where);
  if (!b->label || !v->where[v->n]) {
    cur_free((char *)b->label);
    cur_free(v->where[v->n]);
    v->rc = CUR_ENOMEM;
    stop(v, "out of memory");
    return;
  }
  v->n++;
}

static void XMLCALL on_end(void *ctx, const XML_Char *tag) {
  voc *v = ctx;
  (void)tag;
  if (v->text_over) {
    stop(v, "an element's text is over 4096 bytes");
    return;
  }
  if (v->filename) snprintf(v->filename_text, sizeof v->filename_text, "%s", trimmed(v));
  if (v->field >= 0) {
    snprintf(v->value[v->field], sizeof v->value[v->field], "%s", trimmed(v));
    v->have[v->field] = 1;
  }
  if (v->in_bndbox && v->depth == 3) v->in_bndbox = 0;
  if (v->in_object && v->depth == 2) {
    v->in_object = 0;
    end_object(v);
  }
  v->field = -1;
  v->filename = 0;
  v->text_len = 0;
  v->depth--;
}

static void XMLCALL on_doctype(void *ctx, const XML_Char *name, const XML_Char *sys,
                               const XML_Char *pub, int internal) {
  (void)name, (void)sys, (void)pub, (void)internal;
  stop(ctx, "a document type declaration (DTD) is not allowed");
}

/* The image the held boxes are on: <filename> beside the XML's own folder,
** else the XML's name without .xml, any image extension. */
static int add_objects(voc *v) {
  const char *slash = strrchr(v->rel, '/');
  char *image = NULL;
  int stem = !v->filename_text[0], rc = CUR_OK;
  if (stem) image = cur_strndup(v->rel, strlen(v->rel) - 4);
  else if (slash) {
    char *dir = cur_strndup(v->rel, (size_t)(slash - v->rel));
    image = dir ? cur_path_join(dir, v->filename_text) : NULL;
    cur_free(dir);
  } else image = cur_strdup(v->filename_text);
  if (!image) return CUR_ENOMEM;
  for (size_t i = 0; rc == CUR_OK && i < v->n; i++) {
    v->objects[i].image = image;
    v->objects[i].stem = stem;
    rc = cur__boxes_add(v->bf, v->where[i], &v->objects[i]);
  }
  cur_free(image);
  return rc;
}

static int voc_file(cur_boxfile *bf, const char *full, const char *rel, void *ctx) {
  char *text = NULL;
  size_t len;
  (void)ctx;
  voc v = {.bf = bf, .full = full, .rel = rel, .field = -1};
  int rc = cur_file_read(full, &text, &len);
  if (rc == CUR_ENOMEM) return rc;
  if (rc) return cur__boxes_note(bf, full, "%s; file skipped", cur_error()), CUR_OK;
  if (!(v.parser = XML_ParserCreate(NULL))) {
    cur_free(text);
    return CUR_ENOMEM;
  }
  XML_SetUserData(v.parser, &v);
  XML_SetElementHandler(v.parser, on_start, on_end);
  XML_SetCharacterDataHandler(v.parser, on_text);
  XML_SetStartDoctypeDeclHandler(v.parser, on_doctype);
  if (len > (size_t)INT32_MAX) v.fault = "over 2 GiB";
  else if (XML_Parse(v.parser, text, (int)len, XML_TRUE) == XML_STATUS_ERROR && !v.fault) {
    char where[1200];
    snprintf(where, sizeof where, "%s:%lu", full, (unsigned long)XML_GetCurrentLineNumber(v.parser));
    cur__boxes_note(bf, where, "not well-formed XML (%s); the file's boxes are skipped",
                    XML_ErrorString(XML_GetErrorCode(v.parser)));
  } else if (!v.fault) {
    rc = add_objects(&v);
  }
  if (v.fault && v.rc == CUR_OK) cur__boxes_note(bf, full, "%s; the file's boxes are skipped", v.fault);
  if (v.rc) rc = v.rc;
  for (size_t i = 0; i < v.n; i++) {
    cur_free((char *)v.objects[i].label);
    cur_free(v.where[i]);
  }
  cur_free(v.objects);
  cur_free(v.where);
  XML_ParserFree(v.parser);
  cur_free(text);
  return rc;
}

int cur__boxes_voc(cur_boxfile *bf) {
  return cur__boxes_walk(bf, bf->path, ".xml", voc_file, NULL);
}
