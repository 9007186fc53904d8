/* image_archive.c -- decode the images inside an archive file without extracting it. */
#include "feat.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"

/* Growing buffers of one decode run, freed together. */
typedef struct archive_run {
  uint8_t *data;               /* current entry's encoded bytes */
  size_t data_cap;
  uint8_t *pix;                /* decoded images so far */
  size_t n, pix_cap;           /* images, capacity in images */
} archive_run;

/* Reads the current entry's data into run->data; *len gets its size. */
static int read_entry(struct archive *a, archive_run *run, size_t *len) {
  *len = 0;
  for (;;) {
    if (run->data_cap - *len < 65536) {
      size_t cap = run->data_cap ? 2 * run->data_cap : 1 << 17;
      uint8_t *p = cur_reallocarray(run->data, cap, 1);
      if (!p) return CUR_ENOMEM;
      run->data = p;
      run->data_cap = cap;
    }
    la_ssize_t got = archive_read_data(a, run->data + *len, run->data_cap - *len);
    if (got < 0) return cur_errorc(CUR_EIO, "%s", archive_error_string(a));
    if (got == 0) return CUR_OK;
    *len += (size_t)got;
  }
}

/* Makes room for one more image of img_bytes in run->pix. */
static int grow_pixels(archive_run *run, size_t img_bytes) {
  if (run->n < run->pix_cap) return CUR_OK;
  size_t cap = run->pix_cap ? 2 * run->pix_cap : 256;
  uint8_t *p = cur_reallocarray(run->pix, cap, img_bytes);
  if (!p) return CUR_ENOMEM;
  run->pix = p;
  run->pix_cap = cap;
  return CUR_OK;
}

/* Decodes the current entry into the next image slot. */
static int decode_entry(struct archive *a, archive_run *run, int w, int h, int channels) {
  size_t img_bytes = (size_t)w * h * channels, len;
  int rc = grow_pixels(run, img_bytes);
  if (rc == CUR_OK) rc = read_entry(a, run, &len);
  if (rc == CUR_OK)
    rc = feat_image_decode(run->data, len, w, h, channels, run->pix + run->n * img_bytes);
  if (rc == CUR_OK) run->n++;
  return rc;
}

int feat_archive_decode(const char *path, int w, int h, int channels, feat_archive_keep keep,
                        void *ctx, uint8_t **pix, size_t *n) {
  *pix = NULL;
  *n = 0;
  archive_run run = {NULL, 0, NULL, 0, 0};
  struct archive_entry *e;
  char entry[512] = "", why[1024];
  struct archive *a = archive_read_new();
  if (!a) return cur_errorc(CUR_ENOMEM, "archive: %s: cannot allocate a reader", path);
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  int rc = CUR_OK;
  if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
    rc = cur_errorc(CUR_EIO, "%s", archive_error_string(a));
  while (rc == CUR_OK) {
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      rc = cur_errorc(CUR_EIO, "%s", archive_error_string(a));
      break;
    }
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    snprintf(entry, sizeof entry, "%s", archive_entry_pathname(e));
    int k = keep(ctx, entry);
    if (k < 0) rc = k;
    else if (k > 0) rc = decode_entry(a, &run, w, h, channels);
  }
  archive_read_free(a);
  cur_free(run.data);
  if (rc != CUR_OK) {
    snprintf(why, sizeof why, "%s", cur_error());
    cur_free(run.pix);
    return cur_errorc(rc, "archive: %s%s%s: %s", path, entry[0] ? ": " : "", entry, why);
  }
  *pix = run.pix;
  *n = run.n;
  return CUR_OK;
}
