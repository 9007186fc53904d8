/* clip_textnorm.c -- CLIP text clean-up: HTML unescape, whitespace, lowercase.
**
** Mirrors simple_tokenizer.py: whitespace_clean(basic_clean(text)).lower(),
** where basic_clean is html.unescape(html.unescape(text)).strip() (ftfy is
** skipped, which only matters for mojibake).  Python's html.unescape knows
** all 2231 HTML5 names; we carry the ones that occur in captions and labels
** (below) and every numeric reference, with Python's rules for invalid code
** points.  All work is on arrays of code points.
*/
#include "clip_internal.h"

#include <string.h>
#include <utf8proc.h>

#include "curate.h"

typedef struct entity {
  const char *name;  /* without '&' and ';' */
  int32_t cp;
  int legacy;        /* HTML5 also accepts it without the ';' */
} entity;

static const entity entities[] = {
  {"amp", '&', 1},      {"lt", '<', 1},       {"gt", '>', 1},       {"quot", '"', 1},
  {"apos", '\'', 0},    {"nbsp", 0xa0, 1},    {"copy", 0xa9, 1},    {"reg", 0xae, 1},
  {"deg", 0xb0, 1},     {"middot", 0xb7, 1},  {"times", 0xd7, 1},   {"divide", 0xf7, 1},
  {"laquo", 0xab, 1},   {"raquo", 0xbb, 1},   {"pound", 0xa3, 1},   {"yen", 0xa5, 1},
  {"cent", 0xa2, 1},    {"sect", 0xa7, 1},    {"para", 0xb6, 1},    {"eacute", 0xe9, 1},
  {"egrave", 0xe8, 1},  {"aacute", 0xe1, 1},  {"agrave", 0xe0, 1},  {"uuml", 0xfc, 1},
  {"ouml", 0xf6, 1},    {"auml", 0xe4, 1},    {"szlig", 0xdf, 1},   {"ccedil", 0xe7, 1},
  {"ntilde", 0xf1, 1},  {"trade", 0x2122, 0}, {"hellip", 0x2026, 0}, {"mdash", 0x2014, 0},
  {"ndash", 0x2013, 0}, {"lsquo", 0x2018, 0}, {"rsquo", 0x2019, 0}, {"ldquo", 0x201c, 0},
  {"rdquo", 0x201d, 0}, {"bull", 0x2022, 0},  {"euro", 0x20ac, 0},  {"hearts", 0x2665, 0},
};

/* Windows-1252 meanings of references &#128; to &#159; (html.unescape's table). */
static const int32_t cp1252[32] = {
  0x20ac, 0x81,   0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
  0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d,   0x017d, 0x8f,
  0x90,   0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
  0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d,   0x017e, 0x0178,
};

int clip__is_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
         c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Python's _invalid_codepoints: references to these expand to nothing. */
static int invalid_codepoint(int64_t c) {
  return (c >= 0x1 && c <= 0x8) || c == 0xb || (c >= 0xe && c <= 0x1f) ||
         (c >= 0x7f && c <= 0x9f) || (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe;
}

/* Numeric reference at s[0] == '#'.  Returns the characters consumed after
** '&' (0 when it is not a reference) and the replacement (-1 for none). */
static size_t numeric_ref(const int32_t *s, size_t n, int32_t *rep) {
  int hex = n > 1 && (s[1] == 'x' || s[1] == 'X');
  size_t i = hex ? 2 : 1, start = i;
  int64_t v = 0;
  for (; i < n; i++) {
    int32_t c = s[i];
    int d = (c >= '0' && c <= '9') ? c - '0'
          : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
          : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) break;
    if (v <= 0x10ffff) v = v * (hex ? 16 : 10) + d; /* saturate past the Unicode range */
  }
  if (i == start) return 0;
  if (i < n && s[i] == ';') i++;
  if (v == 0) *rep = 0xfffd;
  else if (v == 0x0d) *rep = '\r';
  else if (v >= 0x80 && v <= 0x9f) *rep = cp1252[v - 0x80];
  else if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) *rep = 0xfffd;
  else if (invalid_codepoint(v)) *rep = -1;
  else *rep = (int32_t)v;
  return i;
}

static const entity *find_entity(const int32_t *s, size_t len, int need_legacy) {
  for (size_t e = 0; e < CUR_ARRAY_LEN(entities); e++) {
    const char *nm = entities[e].name;
    if (strlen(nm) != len || (need_legacy && !entities[e].legacy)) continue;
    size_t k = 0;
    while (k < len && s[k] == (unsigned char)nm[k]) k++;
    if (k == len) return &entities[e];
  }
  return NULL;
}

/* Named reference at s[0]: the longest exact "name;" or else the longest
** legacy prefix, as html.unescape does.  Same contract as numeric_ref. */
static size_t named_ref(const int32_t *s, size_t n, int32_t *rep) {
  size_t len = 0;
  while (len < n && len < 32 && s[len] != '\t' && s[len] != '\n' && s[len] != '\f' &&
         s[len] != ' ' && s[len] != '<' && s[len] != '&' && s[len] != '#' && s[len] != ';')
    len++;
  const entity *e;
  if (len < n && s[len] == ';' && (e = find_entity(s, len, 0))) {
    *rep = e->cp;
    return len + 1;
  }
  for (size_t x = len; x >= 2; x--) {
    if ((e = find_entity(s, x, 1))) {
      *rep = e->cp;
      return x;
    }
  }
  return 0;
}

/* One pass of html.unescape; out has room for n code points. */
static size_t html_unescape(const int32_t *in, size_t n, int32_t *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    int32_t rep = -1;
    size_t used = 0;
    if (in[i] == '&' && i + 1 < n)
      used = in[i + 1] == '#' ? numeric_ref(in + i + 1, n - i - 1, &rep)
                              : named_ref(in + i + 1, n - i - 1, &rep);
    if (used == 0) {
      out[o++] = in[i++];
      continue;
    }
    if (rep >= 0) out[o++] = rep;
    i += 1 + used;
  }
  return o;
}

/* Collapses whitespace runs to one space, strips, lowercases; in place. */
static size_t clean_and_lower(int32_t *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (clip__is_space(s[i])) {
      if (o > 0 && s[o - 1] != ' ') s[o++] = ' ';
      continue;
    }
    s[o++] = utf8proc_tolower(s[i]);
  }
  if (o > 0 && s[o - 1] == ' ') o--;
  return o;
}

int clip__text_normalize(const char *text, int32_t **out, size_t *n_out) {
  size_t len = strlen(text);
  /* U+0130 lowercases to two code points in Python, so leave room for 2n. */
  int32_t *a = cur_mallocarray(2 * len + 1, sizeof *a);
  int32_t *b = cur_mallocarray(2 * len + 1, sizeof *b);
  if (!a || !b) {
    cur_free(a);
    cur_free(b);
    return CUR_ENOMEM;
  }
  size_t n = 0;
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
  for (size_t i = 0; i < len;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
    if (k <= 0) {
      c = 0xfffd;
      k = 1;
    }
    a[n++] = c;
    i += (size_t)k;
  }
  n = html_unescape(a, n, b);
  n = html_unescape(b, n, a);
  /* Python lowercases U+0130 to "i" + U+0307; utf8proc's simple mapping gives "i". */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    b[m++] = a[i] == 0x130 ? 'i' : a[i];
    if (a[i] == 0x130) b[m++] = 0x307;
  }
  cur_free(a);
  *n_out = clean_and_lower(b, m);
  *out = b;
  return CUR_OK;
}
