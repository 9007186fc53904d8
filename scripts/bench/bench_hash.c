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
** With --db, the hashes are a database's own (image_stats, as the audit
** stage measured them; the scale benchmark's are clustered, with repeated
** views): the search runs REPEAT times on THREADS threads at the default
** limits, and each run's CPU time (user + sys of the process), wall time,
** pair count and a digest of the pairs (a, b, distance) are printed, so
** that two builds can be compared pair for pair.
**
**   bench_hash [N ...]   (default 10000 30000 100000 300000 1000000)
**   bench_hash --db DB [THREADS=1] [REPEAT=1]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_detect.h"
#include "curate.h"
#include "rng.h"
#include "store.h"
#include "store_audit.h"

#define VIEWS 8
#define SCAN_MAX 100000

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct hashes {
  uint64_t *h;
  int64_t n, cap;
} hashes;

static int take_row(void *ctx, const cur_audit_row *row) {
  hashes *hs = ctx;
  if (hs->n == hs->cap) {
    int64_t cap = hs->cap ? 2 * hs->cap : 65536;
    uint64_t *h = cur_reallocarray(hs->h, (size_t)cap, VIEWS * sizeof *h);
    if (!h) return CUR_ENOMEM;
    hs->h = h, hs->cap = cap;
  }
  memcpy(hs->h + hs->n++ * VIEWS, row->stats.phash, VIEWS * sizeof *hs->h);
  return CUR_OK;
}

/* The search on DB's own hashes (file comment). */
static int from_db(const char *db, int threads, int repeat) {
  cur_store *st = NULL;
  hashes hs = {0};
  int rc = cur_store_open(db, &st);
  if (rc == CUR_OK) rc = cur_store_audit_rows(st, "", take_row, &hs);
  cur_store_close(st);
  if (rc != CUR_OK) return rc;
  printf("%s: %lld images\n%8s %8s %10s %18s\n", db, (long long)hs.n, "cpu s", "wall s", "pairs",
         "digest");
  for (int i = 0; rc == CUR_OK && i < repeat; i++) {
    audit_pair *pairs = NULL;
    int64_t found = 0, cap = 0;
    double c0 = cpu_now(), t0 = now();
    rc = audit_hash_pairs(hs.h, hs.n, VIEWS, 9, 6, threads, &pairs, &found, &cap);
    double cpu = cpu_now() - c0, wall = now() - t0;
    uint64_t digest = 14695981039346656037ull;   /* FNV-1a over (a, b, distance) */
    for (int64_t j = 0; j < found; j++) {
      uint64_t v[3] = {(uint64_t)pairs[j].a, (uint64_t)pairs[j].b, (uint64_t)pairs[j].hamming};
      for (int k = 0; k < 3; k++) digest = (digest ^ v[k]) * 1099511628211ull;
    }
    if (rc == CUR_OK)
      printf("%8.2f %8.2f %10lld %018llx\n", cpu, wall, (long long)found,
             (unsigned long long)digest);
    cur_free(pairs);
  }
  cur_free(hs.h);
  return rc;
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
  if (argc > 2 && strcmp(argv[1], "--db") == 0)
    return from_db(argv[2], argc > 3 ? atoi(argv[3]) : 1, argc > 4 ? atoi(argv[4]) : 1) ? 1 : 0;
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
