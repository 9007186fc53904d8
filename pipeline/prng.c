/* prng.c -- SplitMix64 generator seeded from a list of keys (see prng.h). */
#include "prng.h"

#include <assert.h>

/* 2^64 / golden ratio: the Weyl increment of SplitMix64. */
#define PRNG_GAMMA UINT64_C(0x9e3779b97f4a7c15)

/* The SplitMix64 output function: a bijective avalanche of 64 bits. */
static uint64_t prng_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void cur_prng_seed(cur_prng *r, const uint64_t *keys, size_t nkeys) {
  assert(r && (keys || nkeys == 0));
  /* Mixing after every key makes the result depend on key order, so that
  ** (seed 1, parent 2) and (seed 2, parent 1) differ; for a fixed prefix
  ** the step is a bijection of the key, so distinct keys never collide. */
  uint64_t s = UINT64_C(0x6a09e667f3bcc908);
  for (size_t i = 0; i < nkeys; i++) s = prng_mix(s + PRNG_GAMMA + keys[i]);
  r->state = s;
}

uint64_t cur_prng_next(cur_prng *r) {
  r->state += PRNG_GAMMA;
  return prng_mix(r->state);
}

double cur_prng_uniform(cur_prng *r) {
  return (double)(cur_prng_next(r) >> 11) * 0x1.0p-53;
}
