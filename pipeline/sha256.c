/* sha256.c -- SHA-256 (FIPS 180-4), written from the standard's pseudocode. */
#include "sha256.h"

#include <string.h>

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress(uint32_t s[8], const unsigned char *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

void cur_sha256_init(cur_sha256 *h) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(h->state, iv, sizeof iv);
  h->total = 0;
  h->fill = 0;
}

void cur_sha256_update(cur_sha256 *h, const void *data, size_t len) {
  const unsigned char *p = data;
  h->total += len;
  if (h->fill) {
    size_t take = 64 - h->fill < len ? 64 - h->fill : len;
    memcpy(h->block + h->fill, p, take);
    h->fill += take; p += take; len -= take;
    if (h->fill < 64) return;
    compress(h->state, h->block);
    h->fill = 0;
  }
  for (; len >= 64; p += 64, len -= 64) compress(h->state, p);
  memcpy(h->block, p, len);
  h->fill = len;
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
  uint64_t bits = h->total * 8;
  unsigned char pad[72] = {0x80};
  size_t padlen = (h->fill < 56 ? 56 : 120) - h->fill;
  for (int i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
  cur_sha256_update(h, pad, padlen + 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(h->state[i] >> 24);
    out[4 * i + 1] = (unsigned char)(h->state[i] >> 16);
    out[4 * i + 2] = (unsigned char)(h->state[i] >> 8);
    out[4 * i + 3] = (unsigned char)h->state[i];
  }
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
