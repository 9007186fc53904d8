/* serve_guard.c -- the token, Host/Origin and parameter checks of `curate serve`. */
#include "serve_guard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "curate.h"
#include "text.h"

int cur_serve_token_new(char out[CUR_SERVE_TOKEN_LEN + 1]) {
  unsigned char raw[CUR_SERVE_TOKEN_LEN / 2];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cur_errorc(CUR_EIO, "serve: no random bytes for the token: %s", strerror(errno));
    got += (size_t)n;
  }
  for (size_t i = 0; i < sizeof raw; i++) snprintf(out + 2 * i, 3, "%02x", raw[i]);
  return CUR_OK;
}

int cur_serve_token_ok(const char *token, const char *given) {
  if (!given || strlen(given) != CUR_SERVE_TOKEN_LEN) return 0;
  unsigned char diff = 0;
  for (size_t i = 0; i < CUR_SERVE_TOKEN_LEN; i++) diff |= (unsigned char)(token[i] ^ given[i]);
  return diff == 0;
}

int cur_serve_cookie(const char *header, const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  for (const char *p = header; p && *p;) {
    while (*p == ' ' || *p == ';') p++;
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
      if (len - n - 1 >= cap) return 0;
      memcpy(out, p + n + 1, len - n - 1);
      out[len - n - 1] = 0;
      return 1;
    }
    p += len;
  }
  return 0;
}

int cur_serve_host_ok(const char *host, int port) {
  static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
  char want[64];
  for (size_t i = 0; host && i < CUR_ARRAY_LEN(names); i++) {
    snprintf(want, sizeof want, "%s:%d", names[i], port);
    if (strcmp(host, want) == 0) return 1;
  }
  return 0;
}

int cur_serve_origin_ok(const char *origin, int port) {
  if (!origin || strncmp(origin, "http://", 7) != 0) return 0;
  return cur_serve_host_ok(origin + 7, port);
}

int cur_serve_parse_id(const char *s, int64_t *id) {
  size_t n = s ? strspn(s, "0123456789") : 0;
  if (n == 0 || n > 18 || s[n] != 0) return -1;
  long long v = 0;
  for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  if (v < 1) return -1;
  *id = v;
  return 0;
}

int cur_serve_param_ok(const char *s) {
  if (!s || strlen(s) > CUR_SERVE_MAX_PARAM || cur_utf8_invalid(s)) return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f) return 0;
  return 1;
}
