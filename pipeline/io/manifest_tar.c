/* manifest_tar.c -- WebDataset tar shards of the manifest, written with libarchive.
**
** A sample is every file whose name starts with the same key (WebDataset
** splits the name at its first dot): <sha256>.<ext> holds the image,
** <sha256>.json the manifest row, <sha256>.<task>.cls the class index.
** Entries are ustar with mode 0644, owner 0:0 and mtime 0, so a shard's
** bytes depend only on its rows.
*/
#include "manifest.h"

#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curate.h"
#include "rng.h"
#include "store_embed.h"

/* The shard being written: libarchive writes through OUT. */
typedef struct shard {
  struct archive *a;
  cur_outfile *out;
  const char *path;          /* for messages */
} shard;

static la_ssize_t shard_write(struct archive *a, void *ctx, const void *buf, size_t n) {
  (void)a;
  return cur_outfile_write(ctx, buf, n) == CUR_OK ? (la_ssize_t)n : -1;
}

static int shard_entry(shard *s, const char *name, const void *data, size_t len) {
  struct archive_entry *e = archive_entry_new();
  int rc = e ? CUR_OK : CUR_ENOMEM;
  if (e) {
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    if (archive_write_header(s->a, e) != ARCHIVE_OK ||
        archive_write_data(s->a, data, len) != (la_ssize_t)len)
      rc = cur_errorc(CUR_EIO, "export: %s: %s: %s", s->path, name, archive_error_string(s->a));
  }
  archive_entry_free(e);
  return rc;
}

/* The sample whose image the store hands to shard_image. */
typedef struct sample {
  shard *s;
  const cur_export_row *r;
} sample;

/* Store callback: the image file of a sample. */
static int shard_image(void *ctx, int64_t id, const void *bytes, size_t len) {
  const sample *x = ctx;
  (void)id;
  char *name = cur_asprintf("%s.%s", x->r->sha256, cur_manifest_ext(x->r->format));
  int rc = name ? shard_entry(x->s, name, bytes, len) : CUR_ENOMEM;
  cur_free(name);
  return rc;
}

/* The image, the JSON row and one .cls per task of one sample. */
static int shard_sample(shard *s, cur_store *st, const cur_export_row *r) {
  sample x = {s, r};
  char *json = NULL, *name = NULL, idx[16];
  int rc = cur_store_image_bytes(st, r->image_id, shard_image, &x);
  if (rc == CUR_OK && (!(json = cur_manifest_json(r)) || !(name = cur_asprintf("%s.json", r->sha256))))
    rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = shard_entry(s, name, json, strlen(json));
  for (int j = 0; rc == CUR_OK && j < r->n_labels; j++) {
    cur_free(name);
    snprintf(idx, sizeof idx, "%d", r->labels[j].class_idx);
    name = cur_asprintf("%s.%s.cls", r->sha256, r->labels[j].task);
    rc = name ? shard_entry(s, name, idx, strlen(idx)) : CUR_ENOMEM;
  }
  cur_free(json);
  cur_free(name);
  return rc;
}

/* Writes shard INDEX of SPLIT from N rows and reports it through FN. */
static int write_shard(const char *dir, cur_store *st, const cur_export_row *const *rows, size_t n,
                       const char *split, int index, cur_shard_fn fn, void *ctx) {
  char rel[64], hex[65];
  snprintf(rel, sizeof rel, "shards/%s-%06d.tar", split, index);
  char *path = cur_asprintf("%s/%s", dir, rel);
  shard s = {.a = archive_write_new(), .path = path};
  int rc = path && s.a ? cur_outfile_open(path, &s.out) : CUR_ENOMEM;
  if (rc == CUR_OK && (archive_write_set_format_ustar(s.a) != ARCHIVE_OK ||
                       archive_write_open(s.a, s.out, NULL, shard_write, NULL) != ARCHIVE_OK))
    rc = cur_errorc(CUR_EIO, "export: %s: %s", path, archive_error_string(s.a));
  for (size_t i = 0; rc == CUR_OK && i < n; i++) rc = shard_sample(&s, st, rows[i]);
  if (rc == CUR_OK && archive_write_close(s.a) != ARCHIVE_OK)
    rc = cur_errorc(CUR_EIO, "export: %s: %s", path, archive_error_string(s.a));
  if (s.a) archive_write_free(s.a);
  if (rc == CUR_OK) rc = cur_outfile_commit(s.out, hex);
  else cur_outfile_abort(s.out);
  if (rc == CUR_OK) rc = fn(ctx, rel, hex, (int64_t)n);
  cur_free(path);
  return rc;
}

/* Removes shards of SPLIT numbered FROM and up that an earlier, longer
** export left. */
static int remove_stale(const char *dir, const char *split, int from) {
  for (int i = from;; i++) {
    char *path = cur_asprintf("%s/shards/%s-%06d.tar", dir, split, i);
    if (!path) return CUR_ENOMEM;
    int gone = unlink(path) != 0, err = errno;
    int rc = gone && err != ENOENT
                 ? cur_errorc(CUR_EIO, "export: %s: cannot remove: %s", path, strerror(err)) : CUR_OK;
    cur_free(path);
    if (gone) return rc;
  }
}

/* The shards of one split: its rows, shuffled with SEED, SHARD_SIZE to a shard. */
static int write_split(const char *dir, cur_store *st, const cur_export_row *rows, size_t n,
                       const char *split, int64_t shard_size, uint64_t seed, cur_shard_fn fn,
                       void *ctx) {
  const cur_export_row **mine = cur_calloc(n, sizeof *mine);
  size_t count = 0;
  int rc = mine ? CUR_OK : CUR_ENOMEM, index = 0;
  for (size_t i = 0; mine && i < n; i++)
    if (strcmp(rows[i].split, split) == 0) mine[count++] = &rows[i];
  cur_rng r;
  cur_rng_seed_keys(&r, (uint64_t[]){seed, 0x7368617264ull, (uint64_t)split[0] << 8 | (uint64_t)split[1]}, 3);  /* "shard", "tr"/"va"/"te" */
  for (size_t i = count; mine && i > 1; i--) {  /* Fisher-Yates */
    size_t j = (size_t)cur_rng_below(&r, i);
    const cur_export_row *t = mine[i - 1];
    mine[i - 1] = mine[j];
    mine[j] = t;
  }
  for (size_t first = 0; rc == CUR_OK && first < count; first += (size_t)shard_size, index++) {
    size_t k = count - first < (size_t)shard_size ? count - first : (size_t)shard_size;
    rc = write_shard(dir, st, mine + first, k, split, index, fn, ctx);
  }
  cur_free(mine);
  return rc == CUR_OK ? remove_stale(dir, split, index) : rc;
}

int cur_manifest_write_shards(const char *dir, cur_store *st, const cur_export_row *rows,
                              size_t n, int64_t shard_size, uint64_t seed, cur_shard_fn fn,
                              void *ctx) {
  static const char *const splits[] = {"train", "val", "test"};
  assert(shard_size > 0);
  char *sub = cur_asprintf("%s/shards", dir);
  int rc = sub ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK && mkdir(sub, 0777) != 0 && errno != EEXIST)
    rc = cur_errorc(CUR_EIO, "export: %s: cannot create: %s", sub, strerror(errno));
  cur_free(sub);
  for (size_t i = 0; rc == CUR_OK && i < CUR_ARRAY_LEN(splits); i++)
    rc = write_split(dir, st, rows, n, splits[i], shard_size, seed, fn, ctx);
  return rc;
}
