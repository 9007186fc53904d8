/* parallel.c -- parallel for-loop with dynamic scheduling over pthreads. */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "curate.h"

#define MAX_THREADS 64

typedef struct job {
  atomic_size_t next;
  size_t n;
  void (*fn)(void *ctx, size_t i);
  void *ctx;
} job;

static void *worker(void *arg) {
  job *j = arg;
  for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) j->fn(j->ctx, i);
  return NULL;
}

int cur_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void cur_parallel_for(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx) {
  job j = {.n = n, .fn = fn, .ctx = ctx};
  atomic_init(&j.next, 0);
  pthread_t tid[MAX_THREADS];
  int started = 0;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if ((size_t)threads > n) threads = (int)n;
  for (; started < threads - 1; started++)
    if (pthread_create(&tid[started], NULL, worker, &j) != 0) break;  /* fewer threads still finish */
  worker(&j);
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
}
