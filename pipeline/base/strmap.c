/* strmap.c -- open-addressing hash map from strings to indices (FNV-1a, linear probing). */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

#include "curate.h"

typedef struct slot {
  char *key;      /* NULL when empty */
  size_t value;
} slot;

struct cur_strmap {
  slot *slots;
  size_t cap;     /* a power of two */
  size_t count;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

cur_strmap *cur_strmap_new(void) {
  cur_strmap *m = cur_calloc(1, sizeof *m);
  if (!m) return NULL;
  m->cap = 64;
  if (!(m->slots = cur_calloc(m->cap, sizeof *m->slots))) {
    cur_free(m);
    return NULL;
  }
  return m;
}

void cur_strmap_free(cur_strmap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) cur_free(m->slots[i].key);
  cur_free(m->slots);
  cur_free(m);
}

static slot *find(const cur_strmap *m, const char *key) {
  size_t i = (size_t)fnv1a(key) & (m->cap - 1);
  while (m->slots[i].key && strcmp(m->slots[i].key, key) != 0) i = (i + 1) & (m->cap - 1);
  return &m->slots[i];
}

static int grow(cur_strmap *m) {
  cur_strmap bigger = {.cap = m->cap * 2, .count = m->count};
  if (!(bigger.slots = cur_calloc(bigger.cap, sizeof *bigger.slots))) return CUR_ENOMEM;
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key) *find(&bigger, m->slots[i].key) = m->slots[i];
  cur_free(m->slots);
  *m = bigger;
  return CUR_OK;
}

int cur_strmap_put(cur_strmap *m, const char *key, size_t value) {
  /* keep the load under 1/2 so probes stay short */
  if ((m->count + 1) * 2 > m->cap && grow(m)) return CUR_ENOMEM;
  slot *s = find(m, key);
  if (s->key) return 0;
  if (!(s->key = cur_strdup(key))) return CUR_ENOMEM;
  s->value = value;
  m->count++;
  return 1;
}

int cur_strmap_get(const cur_strmap *m, const char *key, size_t *value) {
  const slot *s = find(m, key);
  if (!s->key) return 0;
  *value = s->value;
  return 1;
}

size_t cur_strmap_count(const cur_strmap *m) {
  return m->count;
}
