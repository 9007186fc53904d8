/* source_archive.c -- streams image entries out of an archive with libarchive
** (tar, tar.gz, tar.xz, zip, 7z ...), never extracting anything to disk.
**
** Entry names are checked before anything is read: absolute names and ".."
** components are rejected, and link entries are never followed.
*/
#include "source_impl.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

#include "curate.h"
#include "pathutil.h"

#define ARCHIVE_BLOCK 65536

static int archive_fail(cur_source *src, struct archive *a) {
  const char *msg = archive_error_string(a);
  return cur_errorc(CUR_EIO, "%s: archive read error: %s", src->uri, msg ? msg : "unknown");
}

static int read_data(cur_source *src, struct archive *a, cur_entry *e) {
  size_t cap = e->size > 0 ? (size_t)e->size : 4096, len = 0;
  unsigned char *buf = cur_malloc(cap);
  if (!buf) return CUR_ENOMEM;
  for (;;) {
    if (len == cap) {
      /* the header's size was short (or absent, as in streamed zips) */
      if ((int64_t)cap >= src->max_bytes) {
        e->size = (int64_t)cap + 1;  /* over the limit: yielded without data */
        cur_free(buf);
        return CUR_OK;
      }
      unsigned char *nb = cur_reallocarray(buf, cap * 2, 1);
      if (!nb) { cur_free(buf); return CUR_ENOMEM; }
      buf = nb;
      cap *= 2;
    }
    la_ssize_t n = archive_read_data(a, buf + len, cap - len);
    if (n < 0) {
      cur_free(buf);
      return archive_fail(src, a);
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  e->data = buf;
  e->len = len;
  return CUR_OK;
}

/* The entry's name as raw bytes: the archive's own encoding is kept, so a
** non-UTF-8 name is escaped rather than lost. */
static const char *entry_name(struct archive_entry *ae) {
  const char *name = archive_entry_pathname(ae);
  return name ? name : archive_entry_pathname_utf8(ae);
}

static int archive_next(cur_source *src, cur_entry *e, cur_want_fn want, void *ctx) {
  struct archive *a = src->impl;
  struct archive_entry *ae;
  for (;;) {
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) return 0;
    if (r == ARCHIVE_FATAL) return archive_fail(src, a);
    const char *name = entry_name(ae);
    mode_t type = archive_entry_filetype(ae);
    int is_link = type == AE_IFLNK || archive_entry_hardlink(ae) != NULL;
    if (!name || type == AE_IFDIR) continue;
    const char *unsafe = cur_path_unsafe(name);
    if (!unsafe && !is_link && (type != AE_IFREG || !cur_path_is_image(name))) continue;
    if (!unsafe && is_link && !cur_path_is_image(name)) continue;
    if (!(e->path = cur_path_display(name))) return CUR_ENOMEM;
    e->size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
    if (unsafe) e->reject = unsafe;
    else if (is_link) e->reject = "link entries in archives are not followed";
    else if (r == ARCHIVE_FAILED) e->reject = "entry cannot be read";
    if (e->reject || e->size > src->max_bytes || !want(ctx, e->path)) return 1;
    int rc = read_data(src, a, e);
    return rc ? rc : 1;
  }
}

static void archive_close(cur_source *src) {
  if (src->impl) archive_read_free(src->impl);
}

int cur__archive_open(cur_source *src) {
  struct archive *a = archive_read_new();
  if (!a) return cur_errorc(CUR_ENOMEM, "%s: out of memory opening archive", src->uri);
  archive_read_support_filter_all(a);
  /* the archive formats, not format_all: that also takes text as mtree (a
  ** CSV given as a source opened as an empty archive) */
  archive_read_support_format_tar(a);
  archive_read_support_format_zip(a);
  archive_read_support_format_7zip(a);
  if (archive_read_open_filename(a, src->uri, ARCHIVE_BLOCK) != ARCHIVE_OK) {
    int rc = cur_errorc(CUR_EINPUT, "%s: not a readable archive: %s", src->uri,
                        archive_error_string(a) ? archive_error_string(a) : "unknown format");
    archive_read_free(a);
    return rc;
  }
  src->impl = a;
  src->next = archive_next;
  src->close = archive_close;
  return CUR_OK;
}

int cur__read_whole(const char *path, unsigned char **data, size_t *len) {
  struct archive *a = archive_read_new();
  struct archive_entry *ae;
  int rc = CUR_OK;
  if (!a) return cur_errorc(CUR_ENOMEM, "%s: out of memory", path);
  archive_read_support_filter_all(a);
  archive_read_support_format_raw(a);
  cur_source tmp = {.uri = (char *)path, .max_bytes = INT64_MAX};
  cur_entry e = {0};
  if (archive_read_open_filename(a, path, ARCHIVE_BLOCK) != ARCHIVE_OK ||
      archive_read_next_header(a, &ae) != ARCHIVE_OK) {
    rc = archive_fail(&tmp, a);
  } else if ((rc = read_data(&tmp, a, &e)) == CUR_OK) {
    *data = e.data;
    *len = e.len;
  }
  archive_read_free(a);
  return rc;
}
