/* sha256.h -- SHA-256 for content hashes and fingerprints (Nettle underneath,
** which uses the CPU's SHA extensions where it has them). */
#ifndef CURATE_SHA256_H
#define CURATE_SHA256_H

#include <nettle/sha2.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cur_sha256 {
  struct sha256_ctx ctx;
} cur_sha256;

void cur_sha256_init(cur_sha256 *h);
void cur_sha256_update(cur_sha256 *h, const void *data, size_t len);
/* Adds a string and its terminating NUL, so "ab","c" and "a","bc" differ. */
void cur_sha256_str(cur_sha256 *h, const char *s);
void cur_sha256_i64(cur_sha256 *h, int64_t v);
void cur_sha256_final(cur_sha256 *h, unsigned char out[32]);
/* Finishes and writes 64 lower-case hex digits and a NUL. */
void cur_sha256_hex(cur_sha256 *h, char out[65]);
void cur_sha256_buf_hex(const void *data, size_t len, char out[65]);
/* The first 8 bytes of SHA-256(tag NUL key) as a number in [0, 1). */
double cur_hash_unit(const char *tag, const char *key);

#endif
