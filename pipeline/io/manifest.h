/* manifest.h -- writing the cleaned manifest: files replaced atomically, the
** JSONL and CSV forms and WebDataset tar shards (docs/stages/export.md).
**
** Every writer emits rows in the order given (image id order) with no time
** or host in its output, so the same rows give byte-identical files.
*/
#ifndef CURATE_MANIFEST_H
#define CURATE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_export.h"

/* A file written as PATH.tmp and renamed to PATH on commit, so a reader
** (or a killed export) never sees half of it; its SHA-256 is kept as it
** is written. */
typedef struct cur_outfile cur_outfile;
int cur_outfile_open(const char *path, cur_outfile **out);
int cur_outfile_write(cur_outfile *f, const void *data, size_t len);
/* Closes, renames into place and frees F; HEX gets the file's SHA-256.
** On failure the temporary file is removed. */
int cur_outfile_commit(cur_outfile *f, char hex[65]);
/* Closes and removes the temporary file; NULL-safe. */
void cur_outfile_abort(cur_outfile *f);

/* The file name extension of an image format (jpeg -> jpg; NULL -> bin). */
const char *cur_manifest_ext(const char *format);
/* "images/<first two hex digits>/<sha256>.<ext>", relative to the export
** folder; the caller frees it. */
char *cur_manifest_image_path(const cur_export_row *r);
/* One row as one line of JSON (no newline); the caller frees it. */
char *cur_manifest_json(const cur_export_row *r);

/* DIR/manifest.jsonl and DIR/manifest.csv; HEX gets the file's SHA-256. */
int cur_manifest_write_jsonl(const char *dir, const cur_export_row *rows, size_t n, char hex[65]);
int cur_manifest_write_csv(const char *dir, const cur_export_row *rows, size_t n, char hex[65]);

/* Called with each shard written: its path relative to the export folder,
** its SHA-256 and its number of samples. */
typedef int (*cur_shard_fn)(void *ctx, const char *rel, const char *sha256, int64_t samples);
/* DIR/shards/<split>-NNNNNN.tar, per split, of SHARD_SIZE (> 0) samples each
** (WebDataset: per image <sha256>.<ext>, <sha256>.json and
** <sha256>.<task>.cls), written with
** libarchive in ustar format with fixed owners and mtime 0; shards left
** from a longer earlier export are removed.  Image bytes come from ST.
** Each split's samples are shuffled with SEED (the same seed, the same
** shards), so that an original and its augmented variants, adjacent in id
** order, are spread over the shards a training job streams. */
int cur_manifest_write_shards(const char *dir, cur_store *st, const cur_export_row *rows,
                              size_t n, int64_t shard_size, uint64_t seed, cur_shard_fn fn,
                              void *ctx);

#endif
