/* serve_guard.h -- the checks `curate serve` makes before it answers: the
** access token, the Host and Origin headers, and request parameters. */
#ifndef CURATE_SERVE_GUARD_H
#define CURATE_SERVE_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define CUR_SERVE_TOKEN_LEN 64     /* hex digits: 32 random bytes */
#define CUR_SERVE_MAX_PARAM 256    /* longest parameter value accepted */

/* A fresh random token (getrandom) into OUT, NUL-terminated. */
int cur_serve_token_new(char out[CUR_SERVE_TOKEN_LEN + 1]);
/* 1 when GIVEN equals TOKEN, compared in constant time; NULL is 0. */
int cur_serve_token_ok(const char *token, const char *given);
/* The value of cookie NAME in a Cookie header into OUT (CAP bytes); 1 when found. */
int cur_serve_cookie(const char *header, const char *name, char *out, size_t cap);
/* 1 when HOST (the Host header) names this server: 127.0.0.1, localhost or
** [::1] with PORT.  Anything else is another name resolving here (DNS
** rebinding) and is refused. */
int cur_serve_host_ok(const char *host, int port);
/* 1 when ORIGIN (the Origin header of a state-changing request) is this
** server's own http://HOST:PORT; NULL (no header) is refused too. */
int cur_serve_origin_ok(const char *origin, int port);
/* Parses a positive decimal id (at most 18 digits, nothing else); 0 on success. */
int cur_serve_parse_id(const char *s, int64_t *id);
/* 1 when S is an acceptable parameter value: at most CUR_SERVE_MAX_PARAM
** bytes of valid UTF-8 without control characters. */
int cur_serve_param_ok(const char *s);

#endif
