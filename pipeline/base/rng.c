/* rng.c -- xoshiro256** generator seeded through splitmix64. */
#include "rng.h"

#include <assert.h>
#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void cur_rng_seed(cur_rng *r, uint64_t seed) {
  uint64_t x = seed;
  /* splitmix64 never yields four zero words in a row, so the state is valid. */
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

void cur_rng_seed_keys(cur_rng *r, const uint64_t *keys, size_t nkeys) {
  assert(keys || nkeys == 0);
  /* Mixing after every key makes the seed depend on key order, so that
  ** (seed 1, parent 2) and (seed 2, parent 1) differ; for a fixed prefix
  ** each step is a bijection of the key, so distinct keys never collide. */
  uint64_t s = 0x6a09e667f3bcc908ULL;
  for (size_t i = 0; i < nkeys; i++) {
    uint64_t x = s + keys[i];
    s = splitmix64(&x);
  }
  cur_rng_seed(r, s);
}

uint64_t cur_rng_next(cur_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t cur_rng_below(cur_rng *r, uint64_t n) {
  assert(n > 0);
  /* Reject the top partial block so every residue is equally likely. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = cur_rng_next(r); while (x >= limit);
  return x % n;
}

double cur_rng_uniform(cur_rng *r) {
  return (double)(cur_rng_next(r) >> 11) * 0x1.0p-53;
}

double cur_rng_normal(cur_rng *r) {
  /* 1 - u lies in (0, 1], so the logarithm is finite. */
  double u = 1.0 - cur_rng_uniform(r);
  double v = cur_rng_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

void cur_rng_shuffle(cur_rng *r, uint32_t *idx, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)cur_rng_below(r, i);
    uint32_t t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}
