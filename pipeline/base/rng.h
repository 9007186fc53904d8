/* rng.h -- small seeded random number generator (xoshiro256**, splitmix64 seeding).
**
** Every random choice (weight init, shuffles, patch sampling, k-means
** starts, augmentation parameters) draws from a cur_rng so that a run is reproducible from its
** seed alone; rand() is never used.  The state is a plain value so that
** callers can keep one per object or per thread without allocation.
*/
#ifndef CURATE_RNG_H
#define CURATE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cur_rng {
  uint64_t s[4];                     /* xoshiro256** state, never all zero */
} cur_rng;

void cur_rng_seed(cur_rng *r, uint64_t seed);
/* Seeds from a list of keys, e.g. {run seed, parent image id, variant}:
** other values or another order of the keys give unrelated streams. */
void cur_rng_seed_keys(cur_rng *r, const uint64_t *keys, size_t nkeys);
uint64_t cur_rng_next(cur_rng *r);
/* Uniform in [0, n) without modulo bias; n must be > 0. */
uint64_t cur_rng_below(cur_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double cur_rng_uniform(cur_rng *r);
/* Standard normal deviate (Box-Muller, one value per call). */
double cur_rng_normal(cur_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void cur_rng_shuffle(cur_rng *r, uint32_t *idx, size_t n);

#endif
