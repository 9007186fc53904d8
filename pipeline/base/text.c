/* text.c -- UTF-8 checks, printable text and UTF-8-safe JSON (see text.h). */
#include "text.h"

#include <string.h>

#include "curate.h"

size_t cur_utf8_len(const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  if (s[0] < 0x80) return 1;
  size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (!n || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4)) return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;  /* also stops at the terminating NUL */
  if (n == 3 && s[0] == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
  if (n == 3 && s[0] == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
  if (n == 4 && s[0] == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
  if (n == 4 && s[0] == 0xF4 && s[1] >= 0x90) return 0; /* past U+10FFFF */
  return n;
}

const char *cur_utf8_invalid(const char *s) {
  for (size_t n; *s; s += n)
    if (!(n = cur_utf8_len(s))) return s;
  return NULL;
}

/* Bytes of the sequence at S that may be printed as they are (0: escape
** the byte at S).  C1 controls (U+0080 to U+009F) are escaped too: some
** terminals act on U+009B as on ESC [. */
static size_t printable_len(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = cur_utf8_len(s);
  if (n == 1 && (u[0] < 0x20 || u[0] == 0x7F)) return 0;
  if (n == 2 && u[0] == 0xC2 && u[1] < 0xA0) return 0;
  return n;
}

char *cur_text_printable(const char *s, char *out, size_t cap) {
  size_t o = 0;
  if (!cap) return out;
  while (*s) {
    size_t n = printable_len(s);
    if (n == 0) {
      if (o + 4 >= cap) break;
      snprintf(out + o, 5, "\\x%02X", (unsigned char)*s++);
      o += 4;
      continue;
    }
    if (o + n >= cap) break;
    memcpy(out + o, s, n);
    o += n;
    s += n;
  }
  out[o] = 0;
  return out;
}

void cur_text_print(FILE *f, const char *s) {
  while (*s) {
    size_t n = printable_len(s);
    if (n == 0) fprintf(f, "\\x%02X", (unsigned char)*s++);
    else s += fwrite(s, 1, n, f);
  }
}

const char *cur_json_kind(const cJSON *v) {
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "null";
}

int cur_json_make_printable(cJSON *v) {
  if (cJSON_IsString(v)) {
    size_t cap = strlen(v->valuestring) * 4 + 1;  /* each byte at most \xNN */
    char *p = cur_mallocarray(cap, 1);
    int ok = p && cJSON_SetValuestring(v, cur_text_printable(v->valuestring, p, cap));
    cur_free(p);
    if (!ok) return cur_errorc(CUR_ENOMEM, "out of memory escaping text");
  }
  for (cJSON *c = v ? v->child : NULL; c; c = c->next)
    if (cur_json_make_printable(c)) return CUR_ENOMEM;
  return CUR_OK;
}

int cur_json_duplicate_key(const cJSON *v, char *path, size_t cap) {
  for (const cJSON *a = v ? v->child : NULL; a; a = a->next) {
    for (const cJSON *b = v->child; cJSON_IsObject(v) && b != a; b = b->next) {
      if (strcmp(a->string, b->string) == 0) {
        snprintf(path, cap, "%s", a->string);
        return 1;
      }
    }
    if (cur_json_duplicate_key(a, path, cap)) {
      /* prefix the key of the object that holds it (array items have none) */
      if (cJSON_IsObject(v)) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", path);
        snprintf(path, cap, "%s.%s", a->string, inner);
      }
      return 1;
    }
  }
  return 0;
}

char *cur_json_print(const cJSON *v, int formatted) {
  char *text = formatted ? cJSON_Print(v) : cJSON_PrintUnformatted(v);
  if (!text) {
    cur_errorc(CUR_ENOMEM, "out of memory printing JSON");
    return NULL;
  }
  size_t bad = 0, len = strlen(text);
  for (const char *p = text; *p;) {
    size_t n = cur_utf8_len(p);
    bad += n == 0;
    p += n ? n : 1;
  }
  /* each bad byte (1 byte) becomes U+FFFD (3 bytes) */
  char *out = cur_mallocarray(len + 2 * bad + 1, 1);
  if (out) {
    size_t o = 0;
    for (const char *p = text; *p;) {
      size_t n = cur_utf8_len(p);
      if (n == 0) {
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        p++;
      } else {
        memcpy(out + o, p, n);
        o += n;
        p += n;
      }
    }
    out[o] = 0;
  }
  cJSON_free(text);
  return out;
}

double cur_json_num(const cJSON *o, const char *key, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

const char *cur_json_str(const cJSON *o, const char *key, const char *dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : dflt;
}
