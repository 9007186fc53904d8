/* web_thumb.c -- JPEG thumbnails of stored images, with a bounded cache.
**
** The cache is direct-mapped: slot (id, size) mod SLOTS, a collision
** replaces the older entry.  It is bounded (SLOTS thumbnails of a few tens
** of kilobytes), needs no eviction list, and one mutex guards it; entries
** are copied out, so a reader never holds a pointer into a slot.
*/
#include "web_thumb.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "image.h"
#include "store_web.h"

typedef struct slot {
  int64_t id;
  int size;
  unsigned char *jpeg;         /* NULL: empty */
  size_t len;
  char etag[96];
} slot;

struct cur_thumbs {
  pthread_mutex_t mu;
  slot *slots;
  int n;
};

int cur_thumbs_new(int slots, cur_thumbs **out) {
  cur_thumbs *c = cur_calloc(1, sizeof *c);
  if (c) c->slots = cur_calloc((size_t)slots, sizeof *c->slots);
  if (!c || !c->slots) {
    if (c) cur_free(c);
    return CUR_ENOMEM;
  }
  c->n = slots;
  pthread_mutex_init(&c->mu, NULL);
  *out = c;
  return CUR_OK;
}

void cur_thumbs_free(cur_thumbs *c) {
  if (!c) return;
  for (int i = 0; i < c->n; i++) cur_free(c->slots[i].jpeg);
  pthread_mutex_destroy(&c->mu);
  cur_free(c->slots);
  cur_free(c);
}

static slot *slot_of(cur_thumbs *c, int64_t id, int size) {
  uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15u ^ (uint64_t)size;
  return &c->slots[h % (uint64_t)c->n];
}

/* Copies the cached thumbnail out; 1 when it was there. */
static int cache_lookup(cur_thumbs *c, int64_t id, int size, unsigned char **jpeg, size_t *len,
                        char etag[96], int *err) {
  int hit = 0;
  pthread_mutex_lock(&c->mu);
  slot *s = slot_of(c, id, size);
  if (s->jpeg && s->id == id && s->size == size) {
    *jpeg = cur_malloc(s->len);
    if (*jpeg) {
      memcpy(*jpeg, s->jpeg, s->len);
      *len = s->len;
      memcpy(etag, s->etag, 96);
      hit = 1;
    } else {
      *err = CUR_ENOMEM;
    }
  }
  pthread_mutex_unlock(&c->mu);
  return hit;
}

/* Keeps a copy; a failed copy only means no caching. */
static void cache_store(cur_thumbs *c, int64_t id, int size, const unsigned char *jpeg, size_t len,
                        const char *etag) {
  unsigned char *copy = cur_malloc(len);
  if (!copy) return;
  memcpy(copy, jpeg, len);
  pthread_mutex_lock(&c->mu);
  slot *s = slot_of(c, id, size);
  cur_free(s->jpeg);
  *s = (slot){.id = id, .size = size, .jpeg = copy, .len = len};
  snprintf(s->etag, sizeof s->etag, "%s", etag);
  pthread_mutex_unlock(&c->mu);
}

int cur_thumb_etag(cur_store *st, int64_t image_id, int size, char etag[96], int *found) {
  char sha[65];
  int rc = cur_store_web_image_sha(st, image_id, sha, found);
  if (rc == CUR_OK && *found) snprintf(etag, 96, "\"%s-%d\"", sha, size);
  return rc;
}

int cur_thumb_get(cur_thumbs *c, cur_store *st, int64_t image_id, int size, unsigned char **jpeg,
                  size_t *len, char etag[96], int *found) {
  int err = CUR_OK;
  *jpeg = NULL;
  *found = 1;
  if (c && cache_lookup(c, image_id, size, jpeg, len, etag, &err)) return CUR_OK;
  if (err) return err;
  unsigned char *bytes;
  size_t n;
  char sha[65];
  int rc = cur_store_web_image_bytes(st, image_id, &bytes, &n, sha);
  if (rc || !bytes) {
    *found = 0;
    return rc;
  }
  snprintf(etag, 96, "\"%s-%d\"", sha, size);
  rc = cur_image_thumbnail_jpeg(image_id, bytes, n, size, jpeg, len);
  cur_free(bytes);
  if (rc == CUR_OK && c) cache_store(c, image_id, size, *jpeg, *len, etag);
  return rc;
}
