/* clip_tokenizer.c -- CLIP byte-level BPE: pre-tokenizer, merges, vocabulary.
**
** A word's bytes are mapped to printable code points (bytes_to_unicode in
** simple_tokenizer.py), "</w>" is glued to the last one, and the pair of
** adjacent symbols with the lowest merge rank is merged everywhere, left to
** right, until no ranked pair remains.  Symbols are spans of one UTF-8
** string, so a merge just removes a boundary.
*/
#include "clip_tokenizer.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "clip_internal.h"
#include "curate.h"

#define BPE_NO_RANK INT32_MAX

/* Open-addressing string -> int map; keys are owned. */
typedef struct strmap {
  char **keys;
  int32_t *vals;
  size_t cap;  /* power of two, at most half full */
} strmap;

struct clip_tokenizer {
  strmap vocab;      /* token -> id */
  strmap ranks;      /* "left right" -> merge rank */
  char byte_sym[256][3]; /* byte -> UTF-8 of its printable code point */
  int32_t sot, eot;
};

static uint64_t hash_str(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static int map_init(strmap *m, size_t n) {
  m->cap = 16;
  while (m->cap < 2 * n + 2) m->cap *= 2;
  m->keys = cur_calloc(m->cap, sizeof *m->keys);
  m->vals = cur_calloc(m->cap, sizeof *m->vals);
  return (m->keys && m->vals) ? CUR_OK : CUR_ENOMEM;
}

static void map_free(strmap *m) {
  for (size_t i = 0; m->keys && i < m->cap; i++) cur_free(m->keys[i]);
  cur_free(m->keys);
  cur_free(m->vals);
}

/* Slot of key s[0..n) : either holding it or the empty slot where it goes. */
static size_t map_slot(const strmap *m, const char *s, size_t n) {
  size_t i = (size_t)hash_str(s, n) & (m->cap - 1);
  while (m->keys[i] && (strncmp(m->keys[i], s, n) != 0 || m->keys[i][n] != 0))
    i = (i + 1) & (m->cap - 1);
  return i;
}

/* Inserts unless the key is present (a repeated key keeps its first value).
** The map never fills: callers size it at init. */
static int map_put(strmap *m, const char *s, size_t n, int32_t v) {
  size_t i = map_slot(m, s, n);
  if (m->keys[i]) return CUR_OK;
  if (!(m->keys[i] = cur_strndup(s, n))) return CUR_ENOMEM;
  m->vals[i] = v;
  return CUR_OK;
}

static int map_get(const strmap *m, const char *s, size_t n, int32_t *v) {
  size_t i = map_slot(m, s, n);
  if (!m->keys[i]) return 0;
  *v = m->vals[i];
  return 1;
}

/* bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68
** bytes to 256, 257, ... in byte order. */
static void init_byte_syms(clip_tokenizer *t) {
  int next = 256;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    int cp = printable ? b : next++;
    utf8proc_uint8_t buf[4] = {0};
    utf8proc_ssize_t k = utf8proc_encode_char(cp, buf);
    memcpy(t->byte_sym[b], buf, (size_t)k);
    t->byte_sym[b][k] = 0;
  }
}

static int load_vocab(clip_tokenizer *t, const char *path) {
  cJSON *root = NULL;
  int rc = clip__json_read(path, &root);
  if (rc != CUR_OK) return rc; /* the message names the file */
  if ((rc = map_init(&t->vocab, (size_t)cJSON_GetArraySize(root))) != CUR_OK) goto cleanup;
  const cJSON *e;
  cJSON_ArrayForEach(e, root) {
    if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX) {
      rc = cur_errorc(CUR_EINPUT, "tokenizer: %s: token '%s' has no valid id", path, e->string);
      goto cleanup;
    }
    if ((rc = map_put(&t->vocab, e->string, strlen(e->string), e->valueint)) != CUR_OK)
      goto cleanup;
  }
cleanup:
  cJSON_Delete(root);
  return rc;
}

/* merges.txt: a "#version" line, then "left right" per line in rank order. */
static int load_merges(clip_tokenizer *t, const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return cur_errorc(CUR_EIO, "tokenizer: %s: %s", path, strerror(errno));
  int rc = map_init(&t->ranks, 65536), rank = 0;
  char line[1024];
  while (rc == CUR_OK && fgets(line, sizeof line, fp)) {
    size_t n = strcspn(line, "\r\n");
    line[n] = 0;
    if (n == 0 || (rank == 0 && strncmp(line, "#version", 8) == 0)) continue;
    char *sp = strchr(line, ' ');
    if (!sp || sp == line || !sp[1] || strchr(sp + 1, ' ')) {
      rc = cur_errorc(CUR_EINPUT, "tokenizer: %s: merge %d is not \"left right\"", path, rank + 1);
      break;
    }
    if ((size_t)rank * 2 + 2 >= t->ranks.cap) {
      rc = cur_errorc(CUR_EINPUT, "tokenizer: %s: more than %zu merges", path, t->ranks.cap / 2 - 1);
      break;
    }
    rc = map_put(&t->ranks, line, n, rank++);
  }
  if (rc == CUR_OK && ferror(fp)) rc = cur_errorc(CUR_EIO, "tokenizer: %s: read error", path);
  fclose(fp);
  return rc;
}

int clip_tokenizer_open(const char *dir, clip_tokenizer **out) {
  *out = NULL;
  clip_tokenizer *t = cur_calloc(1, sizeof *t);
  char *vp = cur_asprintf("%s/vocab.json", dir), *mp = cur_asprintf("%s/merges.txt", dir);
  int rc = CUR_ENOMEM;
  if (!t || !vp || !mp) goto cleanup;
  init_byte_syms(t);
  if ((rc = load_vocab(t, vp)) != CUR_OK || (rc = load_merges(t, mp)) != CUR_OK) goto cleanup;
  if (!map_get(&t->vocab, "<|startoftext|>", 15, &t->sot) ||
      !map_get(&t->vocab, "<|endoftext|>", 13, &t->eot))
    rc = cur_errorc(CUR_EINPUT, "tokenizer: %s: no <|startoftext|> or <|endoftext|> token", vp);
cleanup:
  cur_free(vp);
  cur_free(mp);
  if (rc != CUR_OK) {
    clip_tokenizer_free(t);
    return rc;
  }
  *out = t;
  return CUR_OK;
}

void clip_tokenizer_free(clip_tokenizer *t) {
  if (!t) return;
  map_free(&t->vocab);
  map_free(&t->ranks);
  cur_free(t);
}

int32_t clip_tokenizer_sot(const clip_tokenizer *t) { return t->sot; }
int32_t clip_tokenizer_eot(const clip_tokenizer *t) { return t->eot; }

/* Scratch space for one text, sized from its code point count. */
typedef struct bpe_buf {
  char *word;    /* mapped UTF-8 bytes of one piece + "</w>" */
  int *bounds;   /* symbol start offsets in word, then its length */
  char *key;     /* "left right" for rank lookups */
} bpe_buf;

static int sym_eq(const char *w, const int *b, int i, const char *s, int len) {
  return b[i + 1] - b[i] == len && memcmp(w + b[i], s, (size_t)len) == 0;
}

/* Lowest-ranked adjacent pair, or -1 when no pair has a rank. */
static int best_pair(const clip_tokenizer *t, bpe_buf *bb, int nsym) {
  int32_t best = BPE_NO_RANK, r;
  int at = -1;
  for (int i = 0; i + 1 < nsym; i++) {
    int l1 = bb->bounds[i + 1] - bb->bounds[i], l2 = bb->bounds[i + 2] - bb->bounds[i + 1];
    memcpy(bb->key, bb->word + bb->bounds[i], (size_t)l1);
    bb->key[l1] = ' ';
    memcpy(bb->key + l1 + 1, bb->word + bb->bounds[i + 1], (size_t)l2);
    if (map_get(&t->ranks, bb->key, (size_t)(l1 + l2 + 1), &r) && r < best) {
      best = r;
      at = i;
    }
  }
  return at;
}

/* Merges ranked pairs until none is left; returns the symbol count. */
static int bpe_merge(const clip_tokenizer *t, bpe_buf *bb, int nsym) {
  int at;
  while (nsym > 1 && (at = best_pair(t, bb, nsym)) >= 0) {
    int *b = bb->bounds;
    const char *first = bb->word + b[at], *second = bb->word + b[at + 1];
    int l1 = b[at + 1] - b[at], l2 = b[at + 2] - b[at + 1];
    for (int i = 0; i + 1 < nsym; i++) {
      if (sym_eq(bb->word, b, i, first, l1) && sym_eq(bb->word, b, i + 1, second, l2)) {
        memmove(&b[i + 1], &b[i + 2], (size_t)(nsym - i - 1) * sizeof *b);
        nsym--;
      }
    }
  }
  return nsym;
}

/* BPE-encodes code points cp[0..n) and appends ids until *k reaches cap. */
static int encode_piece(const clip_tokenizer *t, bpe_buf *bb, const int32_t *cp, size_t n,
                        int32_t *ids, int *k, int cap) {
  size_t len = 0;
  int nsym = 0;
  for (size_t i = 0; i < n; i++) {
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t m = utf8proc_encode_char(cp[i], u);
    for (utf8proc_ssize_t j = 0; j < m; j++) {
      const char *s = t->byte_sym[u[j]];
      bb->bounds[nsym++] = (int)len;
      memcpy(bb->word + len, s, strlen(s));
      len += strlen(s);
    }
  }
  memcpy(bb->word + len, "</w>", 4);
  bb->bounds[nsym] = (int)(len + 4);
  nsym = bpe_merge(t, bb, nsym);
  for (int i = 0; i < nsym && *k < cap; i++) {
    int32_t id;
    int l = bb->bounds[i + 1] - bb->bounds[i];
    if (!map_get(&t->vocab, bb->word + bb->bounds[i], (size_t)l, &id))
      return cur_errorc(CUR_EINPUT, "tokenizer: symbol '%.*s' is not in vocab.json", l,
                        bb->word + bb->bounds[i]);
    ids[(*k)++] = id;
  }
  return CUR_OK;
}

static int is_letter(int32_t c) {
  utf8proc_category_t k = utf8proc_category(c);
  return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int is_number(int32_t c) {
  utf8proc_category_t k = utf8proc_category(c);
  return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

static int matches(const int32_t *s, size_t n, const char *lit) {
  size_t l = strlen(lit);
  if (l > n) return 0;
  for (size_t i = 0; i < l; i++)
    if (s[i] != (unsigned char)lit[i]) return 0;
  return (int)l;
}

/* Length of the piece the pattern matches at s (0: a space to skip), in the
** pattern's order: special tokens, 's 't 're 've 'm 'll 'd, a letter run,
** one digit, a run of other non-space symbols.  *special gets the id of a
** special token, else -1. */
static size_t next_piece(const clip_tokenizer *t, const int32_t *s, size_t n, int32_t *special) {
  static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  size_t l;
  *special = -1;
  if ((l = (size_t)matches(s, n, "<|startoftext|>"))) { *special = t->sot; return l; }
  if ((l = (size_t)matches(s, n, "<|endoftext|>"))) { *special = t->eot; return l; }
  for (size_t i = 0; i < CUR_ARRAY_LEN(contractions); i++)
    if ((l = (size_t)matches(s, n, contractions[i]))) return l;
  if (is_letter(s[0])) {
    for (l = 1; l < n && is_letter(s[l]); l++) {}
    return l;
  }
  if (is_number(s[0])) return 1;
  if (clip__is_space(s[0])) return 0;
  for (l = 1; l < n && !clip__is_space(s[l]) && !is_letter(s[l]) && !is_number(s[l]); l++) {}
  return l;
}

int clip_tokenizer_encode(const clip_tokenizer *t, const char *text, int context,
                          int32_t *ids, int *eot_pos) {
  assert(context >= 2);
  int32_t *cp = NULL;
  size_t n = 0;
  int rc = clip__text_normalize(text, &cp, &n);
  if (rc != CUR_OK) return rc;
  bpe_buf bb = {cur_mallocarray(8 * n + 8, 1), cur_mallocarray(4 * n + 2, sizeof(int)),
                cur_mallocarray(8 * n + 8, 1)};
  int k = 1;
  if (!bb.word || !bb.bounds || !bb.key) {
    rc = CUR_ENOMEM;
    goto cleanup;
  }
  ids[0] = t->sot;
  for (size_t i = 0; i < n && k < context - 1 && rc == CUR_OK;) {
    int32_t special;
    size_t l = next_piece(t, cp + i, n - i, &special);
    if (special >= 0)
      ids[k++] = special;
    else if (l > 0)
      rc = encode_piece(t, &bb, cp + i, l, ids, &k, context - 1);
    i += l ? l : 1;
  }
  ids[k] = t->eot;
  if (eot_pos) *eot_pos = k;
  for (int j = k + 1; j < context; j++) ids[j] = 0;
cleanup:
  cur_free(bb.word);
  cur_free(bb.bounds);
  cur_free(bb.key);
  cur_free(cp);
  return rc;
}
