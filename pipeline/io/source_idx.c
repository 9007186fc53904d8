/* source_idx.c -- reads IDX files (the MNIST / Fashion-MNIST format) as images.
**
** A source is a folder holding NAME-images-idx3-ubyte[.gz] files, each with
** its NAME-labels-idx1-ubyte[.gz] beside it, or one such images file.  Each
** image becomes a lossless greyscale PNG; its path is "FILE#INDEX".  Files
** whose name starts with "train" give the train split, "t10k" or "test" the
** test split.  Class names come from the source's class_names option, else
** the label digits.
*/
#include "source_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curate.h"
#include "image.h"
#include "pathutil.h"

typedef struct idx_file {
  char *name;                 /* images file name inside the folder */
  unsigned char *images, *labels;
  size_t n_images_bytes, n_labels_bytes;
  uint32_t count, rows, cols;
} idx_file;

typedef struct idx_reader {
  char *dir;
  char **names;               /* images files, sorted */
  int n_names, file;          /* current file index */
  idx_file cur;
  uint32_t next;              /* next image in cur */
} idx_reader;

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void file_clear(idx_file *f) {
  cur_free(f->name);
  cur_free(f->images);
  cur_free(f->labels);
  memset(f, 0, sizeof *f);
}

/* NAME with "images"->"labels" and "idx3"->"idx1"; when that file is not in
** DIR, the same with ".gz" added or removed (one may be gzipped alone). */
static char *labels_path(const char *dir, const char *name) {
  size_t n = strlen(name);
  char *s = cur_asprintf("%s/%s.gz", dir, name);
  if (!s) return NULL;
  char *base = s + strlen(dir) + 1, *p = strstr(base, "images");
  if (p) memcpy(p, "labels", 6);
  if ((p = strstr(base, "idx3"))) p[3] = '1';
  base[n] = 0;  /* first without the added ".gz" */
  if (access(s, F_OK) == 0) return s;
  if (n > 3 && strcmp(base + n - 3, ".gz") == 0) base[n - 3] = 0;
  else base[n] = '.';
  return s;
}

static int load_file(idx_reader *r, const char *name) {
  idx_file *f = &r->cur;
  char *ipath = cur_path_join(r->dir, name), *lpath = labels_path(r->dir, name);
  int rc = CUR_OK;
  if (!ipath || !lpath) { rc = CUR_ENOMEM; goto cleanup; }
  if (!(f->name = cur_strdup(name))) { rc = CUR_ENOMEM; goto cleanup; }
  if ((rc = cur__read_whole(ipath, &f->images, &f->n_images_bytes))) goto cleanup;
  if ((rc = cur__read_whole(lpath, &f->labels, &f->n_labels_bytes))) goto cleanup;
  if (f->n_images_bytes < 16 || be32(f->images) != 0x803)
    { rc = cur_errorc(CUR_EINPUT, "%s: not an IDX3 unsigned-byte images file", ipath); goto cleanup; }
  if (f->n_labels_bytes < 8 || be32(f->labels) != 0x801)
    { rc = cur_errorc(CUR_EINPUT, "%s: not an IDX1 unsigned-byte labels file", lpath); goto cleanup; }
  f->count = be32(f->images + 4);
  f->rows = be32(f->images + 8);
  f->cols = be32(f->images + 12);
  if (f->rows == 0 || f->cols == 0 || f->rows > 65536 || f->cols > 65536 ||
      (f->n_images_bytes - 16) / ((size_t)f->rows * f->cols) < f->count)
    { rc = cur_errorc(CUR_EINPUT, "%s: header promises more pixels than the file has", ipath); goto cleanup; }
  if (be32(f->labels + 4) != f->count || f->n_labels_bytes - 8 < f->count)
    { rc = cur_errorc(CUR_EINPUT, "%s: %u labels for %u images", lpath, be32(f->labels + 4), f->count); goto cleanup; }
cleanup:
  cur_free(ipath);
  cur_free(lpath);
  if (rc) file_clear(f);
  return rc;
}

static int encode_png(const unsigned char *pixels, uint32_t w, uint32_t h, cur_entry *e) {
  const cur_image_pixels in = {(unsigned char *)pixels, (int)w, (int)h, 1};
  unsigned char *buf = NULL;
  size_t len = 0;
  int rc = cur_image_png_encode(&in, &buf, &len);
  if (rc) return rc;
  e->data = buf;
  e->len = len;
  e->size = (int64_t)len;
  return CUR_OK;
}

static const char *split_of(const char *name) {
  if (strncmp(name, "train", 5) == 0) return "train";
  if (strncmp(name, "t10k", 4) == 0 || strncmp(name, "test", 4) == 0) return "test";
  return NULL;
}

static int idx_next(cur_source *src, cur_entry *e, cur_want_fn want, void *ctx) {
  idx_reader *r = src->impl;
  while (!r->cur.name || r->next == r->cur.count) {
    file_clear(&r->cur);
    if (r->file == r->n_names) return 0;
    int rc = load_file(r, r->names[r->file++]);
    if (rc) return rc;
    r->next = 0;
  }
  idx_file *f = &r->cur;
  uint32_t i = r->next++;
  unsigned lab = f->labels[8 + i];
  if (!(e->path = cur_asprintf("%s#%u", f->name, i))) return CUR_ENOMEM;
  e->label = (int)lab < src->n_class_names ? cur_strdup(src->class_names[lab])
                                            : cur_asprintf("%u", lab);
  if (!e->label) return CUR_ENOMEM;
  e->split = split_of(f->name);
  if (!want(ctx, e->path)) return 1;
  int rc = encode_png(f->images + 16 + (size_t)i * f->rows * f->cols, f->cols, f->rows, e);
  return rc ? rc : 1;
}

static void idx_close(cur_source *src) {
  idx_reader *r = src->impl;
  if (!r) return;
  file_clear(&r->cur);
  for (int i = 0; i < r->n_names; i++) cur_free(r->names[i]);
  cur_free(r->names);
  cur_free(r->dir);
  cur_free(r);
}

static int list_images(idx_reader *r) {
  struct dirent **names;
  int n = scandir(r->dir, &names, NULL, cur__name_order), rc = CUR_OK;
  if (n < 0) return cur_errorc(CUR_EIO, "%s: cannot list", r->dir);
  if (!(r->names = cur_mallocarray((size_t)n + 1, sizeof *r->names))) rc = CUR_ENOMEM;
  for (int i = 0; i < n; i++) {
    const char *nm = names[i]->d_name;
    if (rc == CUR_OK && strstr(nm, "images") && strstr(nm, "idx3") &&
        !(r->names[r->n_names++] = cur_strdup(nm)))
      rc = CUR_ENOMEM;
    free(names[i]);  /* scandir's */
  }
  free(names);
  return rc;
}

int cur__idx_open(cur_source *src) {
  idx_reader *r = cur_calloc(1, sizeof *r);
  struct stat sb;
  int rc = CUR_OK;
  if (!r) return CUR_ENOMEM;
  src->impl = r;
  src->next = idx_next;
  src->close = idx_close;
  if (stat(src->uri, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    if (!(r->dir = cur_strdup(src->uri))) rc = CUR_ENOMEM;
    else rc = list_images(r);
  } else {
    const char *slash = strrchr(src->uri, '/');
    r->dir = slash ? cur_strndup(src->uri, (size_t)(slash - src->uri)) : cur_strdup(".");
    r->names = cur_mallocarray(1, sizeof *r->names);
    if (!r->dir || !r->names || !(r->names[0] = cur_strdup(slash ? slash + 1 : src->uri))) rc = CUR_ENOMEM;
    else r->n_names = 1;
  }
  if (rc) idx_close(src);
  return rc;
}
