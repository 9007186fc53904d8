/* source.c -- choosing and opening the reader for an ingest source. */
#include "source_impl.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "curate.h"
#include "pathutil.h"

static int is_idx_name(const char *name) {
  return strstr(name, "images") && strstr(name, "idx3");
}

static int folder_has_idx(const char *uri) {
  DIR *d = opendir(uri);
  if (!d) return 0;
  struct dirent *de;
  int found = 0;
  while (!found && (de = readdir(d))) found = is_idx_name(de->d_name);
  closedir(d);
  return found;
}

int cur_source_kind(const char *uri, const char **kind) {
  struct stat sb;
  if (stat(uri, &sb) != 0)
    return cur_errorc(CUR_EINPUT, "%s: cannot read source: %s", uri, strerror(errno));
  const char *base = strrchr(uri, '/');
  base = base ? base + 1 : uri;
  if (S_ISDIR(sb.st_mode)) *kind = folder_has_idx(uri) ? "idx" : "folder";
  else if (S_ISREG(sb.st_mode)) *kind = is_idx_name(base) ? "idx" : "archive";
  else return cur_errorc(CUR_EINPUT, "%s: not a folder, an archive or an IDX file", uri);
  return CUR_OK;
}

int cur_source_open(const char *uri, const char *kind, int64_t max_bytes,
                    char *const *class_names, int n_class_names, cur_source **out) {
  cur_source *src = cur_calloc(1, sizeof *src);
  if (!src) return CUR_ENOMEM;
  src->max_bytes = max_bytes;
  src->count = -1;
  src->class_names = class_names;
  src->n_class_names = n_class_names;
  int rc;
  if (!(src->uri = cur_strdup(uri))) rc = CUR_ENOMEM;
  else if (strcmp(kind, "folder") == 0) rc = cur__folder_open(src);
  else if (strcmp(kind, "archive") == 0) rc = cur__archive_open(src);
  else if (strcmp(kind, "idx") == 0) rc = cur__idx_open(src);
  else rc = cur_errorc(CUR_EINPUT, "%s: unknown source kind '%s'", uri, kind);
  if (rc) {
    cur_free(src->uri);
    cur_free(src);
    return rc;
  }
  *out = src;
  return CUR_OK;
}

int cur_source_next(cur_source *src, cur_entry *e, int (*want)(void *ctx, const char *path),
                    void *ctx) {
  cur_entry_clear(e);
  int rc = src->next(src, e, want, ctx);
  /* a reader that fails midway may have named the entry already (a tar cut
  ** inside an entry's data); the caller keeps only entries it was given */
  if (rc <= 0) cur_entry_clear(e);
  return rc;
}

int64_t cur_source_count(const cur_source *src) {
  return src->count;
}

void cur_source_close(cur_source *src) {
  if (!src) return;
  if (src->close) src->close(src);
  cur_free(src->uri);
  cur_free(src);
}

void cur_entry_clear(cur_entry *e) {
  cur_free(e->path);
  cur_free(e->data);
  cur_free(e->label);
  memset(e, 0, sizeof *e);
}

int cur__name_order(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* For a file source (an archive, an idx pair), its size and time; for a
** folder, the names of what ingest would read in it (images, and folders
** in which to look; with ALL, every file, by name, size and time: a folder
** of box files), in name order, down the tree.  Not the folders' own
** times: those change whenever anything is written beside the images (the
** database and its journal kept in the folder, notes, an editor's backup),
** which ingest would not read.  A file rewritten in place under the same
** name is not read again anyway (its entry is recorded), so stat-ing every
** file would only cost time. */
static int stamp_tree(const char *path, cur_sha256 *h, int all, int depth) {
  struct stat sb;
  if (lstat(path, &sb) != 0) {
    /* ingest reports the source; the fingerprint changes when it comes back */
    cur_sha256_str(h, strerror(errno));
    return CUR_OK;
  }
  if (!S_ISDIR(sb.st_mode)) {
    if (depth == 0 || all) { /* below an image source, a file that is no image is never read */
      cur_sha256_i64(h, (int64_t)sb.st_size);
      cur_sha256_i64(h, (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
    }
    return CUR_OK;
  }
  if (depth > 64) return CUR_OK;
  struct dirent **names;
  int n = scandir(path, &names, NULL, cur__name_order);
  if (n < 0) {
    cur_sha256_str(h, strerror(errno));
    return CUR_OK;
  }
  int rc = CUR_OK;
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    unsigned char type = names[i]->d_type;
    if (rc != CUR_OK || name[0] == '.') {
      /* hidden, as the walk skips them */
    } else if (!all && (cur_path_is_image(name) || type == DT_LNK)) {
      cur_sha256_str(h, name);
    } else if (all || type == DT_DIR || type == DT_UNKNOWN) {
      char *child = cur_path_join(path, name);
      if (!child) rc = CUR_ENOMEM;
      else {
        cur_sha256_str(h, name);
        rc = stamp_tree(child, h, all, depth + 1);
        cur_free(child);
      }
    }
    free(names[i]);  /* allocated by scandir */
  }
  free(names);
  return rc;
}

int cur_source_stamp(const char *uri, cur_sha256 *h) {
  cur_sha256_str(h, uri);
  return stamp_tree(uri, h, 0, 0);
}

int cur_file_stamp(const char *path, cur_sha256 *h) {
  cur_sha256_str(h, path);
  return stamp_tree(path, h, 1, 0);
}
