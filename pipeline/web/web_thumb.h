/* web_thumb.h -- thumbnails of stored images for the web pages: made on
** demand from the stored bytes with libvips' thumbnail (shrink-on-load),
** kept in a bounded in-memory cache. */
#ifndef CURATE_WEB_THUMB_H
#define CURATE_WEB_THUMB_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The sizes a thumbnail may have (longest side, pixels). */
#define CUR_THUMB_SMALL 256
#define CUR_THUMB_LARGE 768

typedef struct cur_thumbs cur_thumbs;

/* A cache of at most SLOTS thumbnails (safe to share between threads);
** cur_thumbs_free(NULL) is a no-op. */
int cur_thumbs_new(int slots, cur_thumbs **out);
void cur_thumbs_free(cur_thumbs *c);

/* The ETag of image IMAGE_ID's thumbnail of SIZE ("\"<sha256>-<size>\""),
** from its sha256 alone (no bytes read); *found 0 when there is no ok image. */
int cur_thumb_etag(cur_store *st, int64_t image_id, int size, char etag[96], int *found);
/* The JPEG thumbnail (longest side at most SIZE, never enlarged) of image
** IMAGE_ID into *jpeg (caller frees) and its ETag: from cache C when it holds
** it (C may be NULL: no cache), else made from the stored bytes and added.
** *found 0 when there is no ok image; CUR_EINPUT when its bytes do not decode. */
int cur_thumb_get(cur_thumbs *c, cur_store *st, int64_t image_id, int size, unsigned char **jpeg,
                  size_t *len, char etag[96], int *found);

#endif
