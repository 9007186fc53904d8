/* image_archive.c -- decodes the images inside an archive, through the ingest
** source reader (pipeline/io/source.h), so the same name checks apply. */
#include "feat.h"
#include "image_sets.h"

#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "source.h"

typedef struct keep_ctx {
  feat_archive_keep keep;
  void *ctx;
  int rc;                      /* a negative answer of keep() stops the run */
} keep_ctx;

static int want(void *ctx, const char *path) {
  keep_ctx *k = ctx;
  int r = k->rc ? 0 : k->keep(k->ctx, path);
  if (r < 0) k->rc = r;
  return r > 0;
}

/* Decodes entry E into the next image slot of *pix, growing it as needed. */
static int append(const cur_entry *e, int w, int h, int channels, uint8_t **pix, size_t *n,
                  size_t *cap) {
  size_t img_bytes = (size_t)w * h * channels;
  if (*n == *cap) {
    size_t grown = *cap ? 2 * *cap : 256;
    uint8_t *p = cur_reallocarray(*pix, grown, img_bytes);
    if (!p) return CUR_ENOMEM;
    *pix = p;
    *cap = grown;
  }
  int rc = feat_image_decode(e->data, e->len, w, h, channels, *pix + *n * img_bytes);
  if (rc == CUR_OK) ++*n;
  return rc;
}

int feat_archive_decode(const char *path, int w, int h, int channels, feat_archive_keep keep,
                        void *ctx, uint8_t **pix, size_t *n) {
  keep_ctx k = {keep, ctx, CUR_OK};
  cur_source *src = NULL;
  cur_entry e = {0};
  size_t cap = 0;
  *pix = NULL;
  *n = 0;
  int rc = cur_source_open(path, "archive", INT64_MAX, NULL, 0, &src), r = 0;
  while (rc == CUR_OK && (r = cur_source_next(src, &e, want, &k)) == 1 && k.rc == CUR_OK)
    if (e.data) rc = append(&e, w, h, channels, pix, n, &cap);
  if (rc == CUR_OK) rc = r < 0 ? r : k.rc;
  if (rc != CUR_OK && e.path) {
    char why[1024];
    snprintf(why, sizeof why, "%s", cur_error());
    cur_errorc(rc, "archive: %s: %s: %s", path, e.path, why);
  }
  cur_entry_clear(&e);
  cur_source_close(src);
  if (rc != CUR_OK) {
    cur_free(*pix);
    *pix = NULL;
    *n = 0;
  }
  return rc;
}
