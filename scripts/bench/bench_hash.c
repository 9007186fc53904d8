/* bench_hash.c -- time of the pHash pair search (multi-index hashing) against a full scan, by size.
**
** N images of 8 hashes each (as the audit stores: whole, mirror, six crops),
** drawn as audit_hash-2 in tests/test_audit_hash.c draws them: random, a
** third of them near copies of an earlier image.  For each N it times
** audit_hash_pairs at the default limits (9 whole, 6 views) and, up to
** SCAN_MAX images, a full scan of every pair with audit_hash_is_pair, and
** checks that both find the same number of pairs.  Random hashes are the
** kind multi-index hashing is quickest on; real hashes cluster more (plain
** images), so real sets see more candidates per band value.
**
**   bench_hash [N ...]   (default 10000 30000 100000 300000 1000000)
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "audit_detect.h"
#include "curate.h"
#include "rng.h"

#define VIEWS 8
#define SCAN_MAX 100000

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void generate(uint64_t *h, int64_t n, cur_rng *r) {
  for (int64_t i = 0; i < n; i++) {
    for (int v = 0; v < VIEWS; v++) h[i * VIEWS + v] = cur_rng_next(r);
    if (i == 0 || cur_rng_below(r, 3) != 0) continue;
    uint64_t w = h[(int64_t)cur_rng_below(r, (uint64_t)i) * VIEWS + cur_rng_below(r, VIEWS)];
    for (int f = (int)cur_rng_below(r, 13); f > 0; f--) w ^= 1ull << cur_rng_below(r, 64);
    h[i * VIEWS] = w;
  }
}

int main(int argc, char **argv) {
  static const int64_t sizes[] = {10000, 30000, 100000, 300000, 1000000};
  int count = argc > 1 ? argc - 1 : (int)CUR_ARRAY_LEN(sizes);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("%10s %10s %12s %12s\n", "images", "pairs", "index s", "full scan s");
  for (int c = 0; c < count; c++) {
    int64_t n = argc > 1 ? atoll(argv[c + 1]) : sizes[c], found = 0, cap = 0, scanned = 0;
    uint64_t *h = cur_mallocarray((size_t)n, VIEWS * sizeof *h);
    audit_pair *pairs = NULL;
    cur_rng r;
    if (!h || n < 2) return 1;
    cur_rng_seed(&r, 1);
    generate(h, n, &r);
    double t0 = now();
    if (audit_hash_pairs(h, n, VIEWS, 9, 6, 1, &pairs, &found, &cap)) return 1;
    double t_index = now() - t0, t_scan = -1;
    if (n <= SCAN_MAX) {
      t0 = now();
      for (int64_t a = 0; a < n; a++)
        for (int64_t b = a + 1; b < n; b++)
          scanned += audit_hash_is_pair(h + a * VIEWS, h + b * VIEWS, VIEWS, 9, 6);
      t_scan = now() - t0;
      if (scanned != found) fprintf(stderr, "bench_hash: %lld pairs by index, %lld by scan\n",
                                    (long long)found, (long long)scanned);
    }
    printf("%10lld %10lld %12.2f %12.2f\n", (long long)n, (long long)found, t_index, t_scan);
    cur_free(pairs);
    cur_free(h);
  }
  return 0;
}
