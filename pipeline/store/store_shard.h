/* store_shard.h -- shard files: one share of a stage's work, made from the database opened read-only, merged into it later.
**
** A shard file is a small SQLite file of its own beside the database: key
** and value text (meta: which stage, share, config hash, input fingerprint,
** model key ...), the results (embeddings, or augment's variants), the
** images that failed with why, and learned blobs (a patches dictionary),
** with a sha256 digest of all of it in meta.  It is written under a temporary name and renamed when
** complete, so a killed shard leaves no file that looks finished.
*/
#ifndef CURATE_STORE_SHARD_H
#define CURATE_STORE_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct cur_shard cur_shard;

/* Starts a shard file that cur_shard_finish renames to PATH (it is written
** to PATH.tmp-PID meanwhile), first removing the PATH.tmp-PID files of
** processes no longer running (killed shards).  Close it with
** cur_shard_close. */
int cur_shard_create(const char *path, cur_shard **out);
int cur_shard_meta_put(cur_shard *sh, const char *key, const char *value);
int cur_shard_vector_put(cur_shard *sh, int64_t image_id, int dim, const void *vector, size_t len);
/* Records a failed image; *added 0 when it was recorded already (the
** patches dictionary and the embedding pass can both meet it). */
int cur_shard_failed_put(cur_shard *sh, int64_t image_id, const char *reason, int *added);
int cur_shard_blob_put(cur_shard *sh, const char *key, const char *kind, const char *config,
                       const void *data, size_t len);
/* One variant an augment shard made: its encoded bytes, format, sha256
** (hex) and parameters (JSON); or, for a parent that cannot be decoded,
** only ERROR (the others NULL). */
typedef struct cur_shard_variant {
  int64_t parent_id;
  int variant;
  const char *error, *format, *sha256, *transform;
  const void *bytes;
  size_t len;
} cur_shard_variant;
int cur_shard_variant_put(cur_shard *sh, const cur_shard_variant *v);
/* Calls FN for each variant of the shard, in (parent, variant) order; a
** made variant missing its bytes or fields is CUR_EINPUT naming the file. */
int cur_shard_variants(cur_shard *sh, int (*fn)(void *ctx, const cur_shard_variant *v), void *ctx);

/* Stores the digest, writes the file to disk and renames it to its path. */
int cur_shard_finish(cur_shard *sh);
/* NULL-safe.  A shard created and not finished has its temporary file removed. */
void cur_shard_close(cur_shard *sh);

/* Opens a finished shard file read-only and checks it: a curate shard of
** this format version, intact (SQLite's quick_check), and its digest equal
** to its contents'.  Errors name PATH and what is wrong. */
int cur_shard_open(const char *path, cur_shard **out);
const char *cur_shard_path(const cur_shard *sh);
/* A meta value (owned by SH), or NULL when absent. */
const char *cur_shard_meta(const cur_shard *sh, const char *key);

typedef int (*cur_shard_blob_fn)(void *ctx, const char *key, const char *kind, const char *config,
                                 const void *data, size_t len);
/* Calls FN for each blob of the shard, in key order. */
int cur_shard_blobs(cur_shard *sh, cur_shard_blob_fn fn, void *ctx);
/* Inside ST's open transaction: stores the shard's vectors as ST's
** embeddings of MODEL under RUN_ID, leaving those already there alone
** (*added counts the new ones), and calls FAILED for each failed image that
** is still ok in ST. */
int cur_shard_import_embeddings(cur_shard *sh, cur_store *st, const char *model, int64_t run_id,
                                int (*failed)(void *ctx, int64_t id, const char *reason),
                                void *ctx, int64_t *added);

#endif
