/* source_folder.c -- reads the image files under a folder, in sorted order.
**
** The walk is done at open: every image file below the root, with symbolic
** links resolved and checked.  A link whose target is outside the root (or
** a folder, which is never followed, so a link cannot make a loop) is
** yielded as a rejected entry; its target is never opened.
*/
#include "source_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curate.h"
#include "pathutil.h"

typedef struct file_item {
  char *rel;            /* raw relative path (bytes as on disk) */
  const char *reject;   /* why it is not read, or NULL */
} file_item;

typedef struct folder {
  char *root_real;      /* realpath of the root */
  int root_fd;          /* the root, open: files are opened relative to it */
  file_item *items;
  size_t n, cap, next;
} folder;

static int add_item(folder *f, const char *rel, const char *reject) {
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 256;
    file_item *items = cur_reallocarray(f->items, cap, sizeof *items);
    if (!items) return CUR_ENOMEM;
    f->items = items;
    f->cap = cap;
  }
  if (!(f->items[f->n].rel = cur_strdup(rel))) return CUR_ENOMEM;
  f->items[f->n++].reject = reject;
  return CUR_OK;
}

static int inside_root(const folder *f, const char *real) {
  size_t n = strlen(f->root_real);
  return strncmp(real, f->root_real, n) == 0 && (real[n] == '/' || real[n] == 0);
}

/* Classifies a symbolic link at FULL (relative name REL). */
static int add_link(folder *f, const char *full, const char *rel) {
  char real[PATH_MAX];
  struct stat sb;
  if (!realpath(full, real)) return cur_path_is_image(rel) ? add_item(f, rel, "broken symbolic link") : CUR_OK;
  if (!inside_root(f, real)) return add_item(f, rel, "symbolic link leads outside the source");
  if (stat(real, &sb) != 0 || S_ISDIR(sb.st_mode))
    return add_item(f, rel, "symbolic link to a folder (not followed)");
  return cur_path_is_image(rel) ? add_item(f, rel, NULL) : CUR_OK;
}

/* The type of the entry at REL below the root: from the folder listing when
** it says (sparing an lstat per file), else from an lstat. */
static unsigned char entry_type(const folder *f, const struct dirent *d, const char *rel) {
  struct stat sb;
  if (d->d_type != DT_UNKNOWN) return d->d_type;
  if (fstatat(f->root_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) != 0) return DT_UNKNOWN;
  return S_ISLNK(sb.st_mode) ? DT_LNK : S_ISDIR(sb.st_mode) ? DT_DIR : S_ISREG(sb.st_mode) ? DT_REG : DT_FIFO;
}

/* Adds the images in the folder REL below ROOT ("" for the root) and below
** it.  REL is a PATH_MAX buffer that the walk extends in place and restores:
** paths are built without an allocation per file (60,000 CIFAR-10 files
** were walked before any was read). */
static int walk(folder *f, const char *root, char *rel, int depth) {
  size_t len = strlen(rel);
  struct dirent **names = NULL;
  int n = -1, rc = CUR_OK;
  if (depth > 64) return cur_errorc(CUR_EINPUT, "%s/%s: folders nested too deep", root, rel);
  n = scandirat(f->root_fd, len ? rel : ".", &names, NULL, cur__name_order);
  if (n < 0) return cur_errorc(CUR_EIO, "%s%s%s: cannot list: %s", root, len ? "/" : "", rel, strerror(errno));
  for (int i = 0; i < n && rc == CUR_OK; i++) {
    const char *name = names[i]->d_name;
    size_t name_len = strlen(name);
    if (name[0] == '.') continue;  /* ., .. and hidden files */
    if (len + 1 + name_len >= PATH_MAX) {
      rc = cur_errorc(CUR_EINPUT, "%s/%s/%s: path too long", root, rel, name);
      break;
    }
    char *at = len ? rel + len + 1 : rel;
    if (len) rel[len] = '/';
    memcpy(at, name, name_len + 1);
    unsigned char type = entry_type(f, names[i], rel);
    if (type == DT_UNKNOWN) rc = add_item(f, rel, "cannot stat the file");
    else if (type == DT_DIR) rc = walk(f, root, rel, depth + 1);
    else if (type == DT_REG && cur_path_is_image(name)) rc = add_item(f, rel, NULL);
    else if (type == DT_LNK) {
      char *full = cur_path_join(root, rel);
      rc = full ? add_link(f, full, rel) : CUR_ENOMEM;
      cur_free(full);
    }
    rel[len] = 0;
  }
  for (int i = 0; i < n; i++) free(names[i]);  /* scandir's allocations */
  free(names);
  return rc;
}

/* Reads the file at REL below the root whole unless it is over MAX bytes
** (then *data stays NULL).  Returns CUR_EIO when it cannot be opened or read,
** with the errno in *err. */
static int read_file(const folder *f, const char *rel, int64_t max, unsigned char **data,
                     int64_t *size, int *err) {
  int fd = openat(f->root_fd, rel, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    *err = errno;
    if (fd >= 0) close(fd);
    return cur_errorc(CUR_EIO, "%s: cannot open: %s", rel, strerror(*err));
  }
  *size = (int64_t)sb.st_size;
  unsigned char *buf = *size <= max ? cur_malloc((size_t)*size) : NULL;
  int rc = *size > max ? CUR_OK : buf ? CUR_OK : CUR_ENOMEM;
  for (int64_t done = 0; buf && rc == CUR_OK && done < *size;) {
    ssize_t n = read(fd, buf + done, (size_t)(*size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = n ? errno : EIO;
      rc = cur_errorc(CUR_EIO, "%s: read failed: %s", rel, n ? strerror(*err) : "file shrank");
    } else {
      done += n;
    }
  }
  close(fd);
  if (rc) cur_free(buf);
  else *data = buf;
  return rc;
}

static int folder_next(cur_source *src, cur_entry *e, cur_want_fn want, void *ctx) {
  folder *f = src->impl;
  if (f->next == f->n) return 0;
  file_item *it = &f->items[f->next++];
  if (!(e->path = cur_path_display(it->rel))) return CUR_ENOMEM;
  e->reject = it->reject;
  /* every reject here comes from the file system (links, stat), not the bytes */
  e->retry = e->reject != NULL;
  if (e->reject || !want(ctx, e->path)) return 1;
  int err = 0;
  int rc = read_file(f, it->rel, src->max_bytes, &e->data, &e->size, &err);
  if (rc == CUR_OK && e->data) e->len = (size_t)e->size;
  if (rc == CUR_EIO) {  /* one unreadable file does not stop the source */
    e->reject = err == EACCES || err == EPERM ? "cannot read the file: permission denied"
                                              : "cannot read the file";
    e->retry = 1;  /* permissions, say: fixed, it is read again */
    rc = CUR_OK;
  }
  return rc ? rc : 1;
}

static void folder_close(cur_source *src) {
  folder *f = src->impl;
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) cur_free(f->items[i].rel);
  cur_free(f->items);
  if (f->root_fd >= 0) close(f->root_fd);
  free(f->root_real);  /* from realpath */
  cur_free(f);
}

int cur__folder_open(cur_source *src) {
  folder *f = cur_calloc(1, sizeof *f);
  if (!f) return CUR_ENOMEM;
  f->root_fd = -1;
  src->impl = f;
  src->next = folder_next;
  src->close = folder_close;
  if (!(f->root_real = realpath(src->uri, NULL)) ||
      (f->root_fd = open(src->uri, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    int rc = cur_errorc(CUR_EIO, "%s: %s", src->uri, strerror(errno));
    folder_close(src);
    return rc;
  }
  char rel[PATH_MAX] = "";
  int rc = walk(f, src->uri, rel, 0);
  if (rc) folder_close(src);
  else src->count = (int64_t)f->n;
  return rc;
}
