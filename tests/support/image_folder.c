/* image_folder.c -- labelled "<split>/<class>/<file>" image sets read straight from an archive.
**
** Labels are handed out in order of first appearance while the archive
** streams (entries may come in any order), then renumbered so that label i
** is the i-th class name in strcmp order, which makes labels agree between
** splits that hold the same classes.
*/
#include "feat.h"
#include "image_sets.h"

#include <stdlib.h>
#include <string.h>

#include "curate.h"

/* State of the keep() filter during one archive pass. */
typedef struct folder_scan {
  const char *split;           /* first path component to keep */
  int per_class;               /* cap per class, 0 = none */
  char **classes;              /* names by first appearance */
  int *counts;                 /* files kept per class */
  int n_classes, cap_classes;
  int *labels;                 /* appearance label of each kept file */
  size_t n, cap_labels;
} folder_scan;

/* Index of class name[0..len) in s, appending it when new; <0 on error. */
static int class_index(folder_scan *s, const char *name, size_t len) {
  for (int i = 0; i < s->n_classes; i++)
    if (strlen(s->classes[i]) == len && memcmp(s->classes[i], name, len) == 0) return i;
  if (s->n_classes == s->cap_classes) {
    int cap = s->cap_classes ? 2 * s->cap_classes : 16;
    char **c = cur_reallocarray(s->classes, (size_t)cap, sizeof *c);
    if (c) s->classes = c;
    int *n = c ? cur_reallocarray(s->counts, (size_t)cap, sizeof *n) : NULL;
    if (!n) return CUR_ENOMEM;
    s->counts = n;
    s->cap_classes = cap;
  }
  if (!(s->classes[s->n_classes] = cur_strndup(name, len))) return CUR_ENOMEM;
  s->counts[s->n_classes] = 0;
  return s->n_classes++;
}

static int keep_in_split(void *ctx, const char *path) {
  folder_scan *s = ctx;
  size_t sl = strlen(s->split);
  if (strncmp(path, "./", 2) == 0) path += 2;
  if (strncmp(path, s->split, sl) != 0 || path[sl] != '/') return 0;
  const char *cls = path + sl + 1, *slash = strchr(cls, '/');
  if (!slash || slash == cls || !slash[1] || strchr(slash + 1, '/')) return 0;
  int c = class_index(s, cls, (size_t)(slash - cls));
  if (c < 0) return c;
  if (s->per_class > 0 && s->counts[c] >= s->per_class) return 0;
  if (s->n == s->cap_labels) {
    size_t cap = s->cap_labels ? 2 * s->cap_labels : 1024;
    int *l = cur_reallocarray(s->labels, cap, sizeof *l);
    if (!l) return CUR_ENOMEM;
    s->labels = l;
    s->cap_labels = cap;
  }
  s->counts[c]++;
  s->labels[s->n++] = c;
  return 1;
}

typedef struct named {
  char *name;                  /* class name */
  int label;                   /* its appearance label */
} named;

static int by_name(const void *a, const void *b) {
  return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Renumbers labels and reorders s->classes into strcmp order. */
static int sort_classes(folder_scan *s) {
  size_t k = (size_t)s->n_classes;
  named *v = cur_mallocarray(k, sizeof *v);
  int *rank = cur_mallocarray(k, sizeof *rank);
  if (!v || !rank) {
    cur_free(v);
    cur_free(rank);
    return CUR_ENOMEM;
  }
  for (size_t i = 0; i < k; i++) v[i] = (named){s->classes[i], (int)i};
  qsort(v, k, sizeof *v, by_name);
  for (size_t i = 0; i < k; i++) {
    rank[v[i].label] = (int)i;
    s->classes[i] = v[i].name;
  }
  for (size_t i = 0; i < s->n; i++) s->labels[i] = rank[s->labels[i]];
  cur_free(v);
  cur_free(rank);
  return CUR_OK;
}

static void scan_free(folder_scan *s) {
  for (int i = 0; i < s->n_classes; i++) cur_free(s->classes[i]);
  cur_free(s->classes);
  cur_free(s->counts);
  cur_free(s->labels);
}

void feat_folder_free(feat_folder *f) {
  if (!f) return;
  for (int i = 0; i < f->n_classes; i++) cur_free(f->classes[i]);
  cur_free(f->classes);
  cur_free(f->labels);
  cur_free((void *)f->im.pix);
  cur_free(f);
}

int feat_folder_decode(const char *archive, const char *split, int per_class, int size,
                       int channels, feat_folder **out) {
  *out = NULL;
  if (!split || !*split || per_class < 0)
    return cur_errorc(CUR_EINPUT, "folder: %s: bad split or per-class cap", archive);
  folder_scan s = {split, per_class, NULL, NULL, 0, 0, NULL, 0, 0};
  uint8_t *pix = NULL;
  size_t n = 0;
  feat_folder *f = NULL;
  int rc = feat_archive_decode(archive, size, size, channels, keep_in_split, &s, &pix, &n);
  if (rc == CUR_OK && n == 0)
    rc = cur_errorc(CUR_EINPUT, "folder: %s: no images under %s/<class>/", archive, split);
  if (rc == CUR_OK) rc = sort_classes(&s);
  if (rc == CUR_OK && !(f = cur_calloc(1, sizeof *f))) rc = CUR_ENOMEM;
  if (rc != CUR_OK) {
    scan_free(&s);
    cur_free(pix);
    return rc;
  }
  f->im = (feat_images){pix, n, size, size, channels};
  f->labels = s.labels;
  f->classes = s.classes;
  f->n_classes = s.n_classes;
  cur_free(s.counts);
  *out = f;
  return CUR_OK;
}
