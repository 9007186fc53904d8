/* parallel.h -- a parallel for-loop over indices on a few POSIX threads. */
#ifndef CURATE_PARALLEL_H
#define CURATE_PARALLEL_H

#include <stddef.h>

/* Calls FN(ctx, i) for every i in [0, N) on up to THREADS threads (the
** caller's among them), handing out indices one at a time, and returns when
** all are done.  FN must not fail: it records its own outcome per index. */
void cur_parallel_for(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx);
/* The number of online cores (at least 1). */
int cur_cpu_count(void);

#endif
