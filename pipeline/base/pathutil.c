/* pathutil.c -- path safety, display escaping and the image-extension filter. */
#include "pathutil.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "curate.h"
#include "text.h"

const char *cur_path_unsafe(const char *path) {
  if (!path[0]) return "empty path";
  if (path[0] == '/' || path[0] == '\\') return "absolute path";
  if (((path[0] | 32) >= 'a' && (path[0] | 32) <= 'z') && path[1] == ':')
    return "absolute path (drive letter)";
  const char *p = path;
  while (*p) {
    size_t n = strcspn(p, "/\\");
    if (n == 2 && p[0] == '.' && p[1] == '.') return "path leaves its folder ('..')";
    p += n;
    if (*p) p++;
  }
  return NULL;
}

char *cur_path_display(const char *path) {
  while (path[0] == '.' && path[1] == '/') path += 2;
  size_t len = strlen(path);
  char *out = cur_mallocarray(len + 1, 4);  /* worst case: every byte as \xNN, then the NUL */
  if (!out) return NULL;
  const unsigned char *s = (const unsigned char *)path;
  size_t o = 0;
  while (*s) {
    size_t n = cur_utf8_len((const char *)s);
    if (n == 0) {
      o += (size_t)sprintf(out + o, "\\x%02X", *s++);
    } else if (*s == '\\' && s[1] == 'x') {
      /* keep the escaped form unambiguous */
      out[o++] = '\\';
      out[o++] = *s++;
    } else {
      memcpy(out + o, s, n);
      o += n;
      s += n;
    }
  }
  out[o] = 0;
  return out;
}

int cur_path_is_image(const char *path) {
  static const char *const exts[] = {"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff",
                                     "ppm", "pgm", "pnm", "pbm", "jxl", "avif", "heic", "heif"};
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (base[0] == '.') return 0;
  const char *dot = strrchr(base, '.');
  if (!dot) return 0;
  for (size_t i = 0; i < CUR_ARRAY_LEN(exts); i++)
    if (strcasecmp(dot + 1, exts[i]) == 0) return 1;
  return 0;
}

char *cur_path_join(const char *a, const char *b) {
  size_t la = strlen(a);
  if (la == 0) return cur_strdup(b);
  return cur_asprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}
