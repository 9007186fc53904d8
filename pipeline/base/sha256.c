/* sha256.c -- SHA-256 helpers over Nettle: strings, integers, hex, unit-interval hashes. */
#include "sha256.h"

#include <string.h>

void cur_sha256_init(cur_sha256 *h) {
  sha256_init(&h->ctx);
}

void cur_sha256_update(cur_sha256 *h, const void *data, size_t len) {
  sha256_update(&h->ctx, len, data);
}

void cur_sha256_str(cur_sha256 *h, const char *s) {
  cur_sha256_update(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

void cur_sha256_i64(cur_sha256 *h, int64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)v >> (8 * i));
  cur_sha256_update(h, b, 8);
}

void cur_sha256_final(cur_sha256 *h, unsigned char out[32]) {
  sha256_digest(&h->ctx, SHA256_DIGEST_SIZE, out);
}

void cur_sha256_hex(cur_sha256 *h, char out[65]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char d[32];
  cur_sha256_final(h, d);
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[d[i] >> 4];
    out[2 * i + 1] = hex[d[i] & 15];
  }
  out[64] = 0;
}

void cur_sha256_buf_hex(const void *data, size_t len, char out[65]) {
  cur_sha256 h;
  cur_sha256_init(&h);
  cur_sha256_update(&h, data, len);
  cur_sha256_hex(&h, out);
}

double cur_hash_unit(const char *tag, const char *key) {
  cur_sha256 h;
  unsigned char d[32];
  cur_sha256_init(&h);
  cur_sha256_str(&h, tag);
  cur_sha256_update(&h, key, strlen(key));
  cur_sha256_final(&h, d);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | d[i];
  return (double)(v >> 11) * 0x1.0p-53;
}
