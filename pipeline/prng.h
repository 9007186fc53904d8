/* prng.h -- small deterministic random number generator for reproducible runs.
**
** The generator is SplitMix64: one 64-bit word of state, a Weyl step and a
** strong output mix.  It is not for cryptography; it is for drawing the same
** numbers on every machine from the same keys.  A cur_prng is a plain value
** (no allocation, nothing to free), so callers keep it on the stack.
*/
#ifndef CURATE_PRNG_H
#define CURATE_PRNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cur_prng {
  uint64_t state;  /* advanced by a fixed odd constant each draw */
} cur_prng;

/* Seeds *r from a list of keys, e.g. {run seed, parent image id, variant}.
** Different key lists (including different orders) give unrelated streams. */
void cur_prng_seed(cur_prng *r, const uint64_t *keys, size_t nkeys);
/* Next 64 uniformly distributed bits. */
uint64_t cur_prng_next(cur_prng *r);
/* Uniform double in [0, 1), with 53 random bits. */
double cur_prng_uniform(cur_prng *r);

#endif
