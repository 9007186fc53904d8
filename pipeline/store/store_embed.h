/* store_embed.h -- embeddings per image and model, and learned blobs (dictionaries). */
#ifndef CURATE_STORE_EMBED_H
#define CURATE_STORE_EMBED_H

#include <stddef.h>

#include "store.h"

/* A learned blob by key; *found 0 when absent.  The caller frees *data. */
int cur_store_blob_get(cur_store *st, const char *key, unsigned char **data, size_t *len, int *found);
int cur_store_blob_put(cur_store *st, const char *key, const char *kind, const char *config,
                       const void *data, size_t len, int64_t run_id);

/* Ok images (derived ones too) of SHARE without an embedding for MODEL. */
int cur_store_embed_pending(cur_store *st, const char *model, cur_share share, int64_t *n);
/* Calls FN with id and encoded bytes of up to LIMIT such images with an id
** above AFTER_ID, in id order.  The bytes are valid during the call only. */
int cur_store_embed_next(cur_store *st, const char *model, cur_share share, int64_t after_id,
                         int limit, int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                         void *ctx);
/* Calls FN with id and vector bytes of up to LIMIT embeddings of MODEL of ok
** original images (not augmented variants, which later stages embed) with
** an id above AFTER_ID, in id order (valid during the call). */
int cur_store_embeddings_next(cur_store *st, const char *model, int64_t after_id, int limit,
                              int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                              void *ctx);
int cur_store_embedding_put(cur_store *st, int64_t image_id, const char *model, int dim,
                            const void *vector, size_t len, int64_t run_id);
/* Calls FN with image ID's embedding for MODEL (id, vector bytes), if it has one. */
int cur_store_embedding_of(cur_store *st, const char *model, int64_t id,
                           int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                           void *ctx);
/* The embedding model stages use when none is configured: the newest
** complete embed run's (the model augmented variants get embedded with),
** else the one with the most embeddings (ties: the smallest key).  The
** caller frees *model; *found 0 when there are no embeddings. */
int cur_store_embedding_model_default(cur_store *st, char **model, int *found);
int cur_store_embedding_count(cur_store *st, const char *model, int64_t run_id, int64_t *n);

/* Ids of the ok, original images of a split, in id order; the caller frees *ids. */
int cur_store_split_ids(cur_store *st, const char *split, int64_t **ids, size_t *n);
/* Calls FN with the encoded bytes of image ID. */
int cur_store_image_bytes(cur_store *st, int64_t id,
                          int (*fn)(void *ctx, int64_t id, const void *bytes, size_t len),
                          void *ctx);

#endif
