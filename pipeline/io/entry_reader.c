/* entry_reader.c -- a reader thread filling small batches, and worker threads
** preparing them, while the consumer records earlier ones.
**
** Invariants:
**   1. Each batch is in one place: `free_list` (the reader may fill it),
**      being filled, or in the ring `order`, where it is FILLED (waiting for
**      a worker), PREPARING or READY, until the consumer takes the head.
**   2. `order` keeps batches in the order they were filled, so the consumer
**      sees entries in source order even though workers finish out of order.
**   3. After a batch with `last` set, the reader fills nothing more.
**
** Batches are small and several are in flight so that reading, preparing
** and recording overlap from the first entries to the last: with two large
** batches, the first was read before anything else could start and the last
** was recorded with every other thread idle.
**
** Memory: `held` counts the bytes of every batch not yet cleared (handed
** over, or released but not yet cleared, which the reader does).  The reader
** starts a batch only when, with the released ones cleared, less than
** HELD_BATCHES x max_bytes is held; a batch adds less than max_bytes plus
** one entry, so the entries' bytes in memory stay under
** (HELD_BATCHES + 1) x max_bytes + the largest entry, whatever the number of
** batches (docs/stages/ingest.md, "Memory").
*/
#include "entry_reader.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "parallel.h"

#define N_BATCHES 8
#define HELD_BATCHES 4
#define MAX_WORKERS 16

enum { FILLED, PREPARING, READY };

struct cur_entry_reader {
  cur_source *src;
  cur_strmap *recorded;
  int cap;
  size_t max_bytes, extra_size;
  cur_batch_prepare_fn prepare;
  void *ctx;
  cur_batch batches[N_BATCHES];
  int state[N_BATCHES];              /* of the batch at the same index, while in `order` */
  cur_batch *free_list[N_BATCHES], *order[N_BATCHES];
  int n_free, n_order, head;         /* order[head] is the oldest */
  size_t held;                       /* bytes of the batches not cleared */
  int stop, done, taken_last;
  pthread_mutex_t mu;
  pthread_cond_t freed, filled, ready;  /* what the reader, workers and consumer wait for */
  pthread_t thread, workers[MAX_WORKERS];
  int started, n_workers;
};

/* Source callback: read the bytes only of entries not recorded before. */
static int want(void *ctx, const char *path) {
  cur_entry_reader *r = ctx;
  size_t v;
  return !cur_strmap_get(r->recorded, path, &v);
}

/* Fills B from the source; returns 1 when the source is exhausted. */
static int fill(cur_entry_reader *r, cur_batch *b) {
  size_t bytes = 0;
  while (b->n < r->cap && bytes < r->max_bytes && !r->stop) {
    cur_entry *e = &b->entries[b->n];
    int got = cur_source_next(r->src, e, want, r);
    if (got <= 0) {
      /* a source failing midway may have named the entry: it is not counted
      ** in b->n, so batch_clear would never free it */
      cur_entry_clear(e);
      if (got < 0) {
        b->rc = got;
        snprintf(b->error, sizeof b->error, "%s", cur_error());
      }
      return 1;
    }
    size_t v;
    int64_t *rec = &b->recorded[b->n];
    if (!cur_strmap_get(r->recorded, e->path, &v)) {
      *rec = CUR_ENTRY_NEW;
      if (cur_strmap_put(r->recorded, e->path, CUR_ENTRY_PENDING) < 0) {
        cur_entry_clear(e);
        b->rc = CUR_ENOMEM;
        snprintf(b->error, sizeof b->error, "out of memory");
        return 1;
      }
    } else {
      *rec = v == CUR_ENTRY_PENDING ? CUR_ENTRY_REPEATED : (int64_t)v - 1;
    }
    bytes += e->len;
    b->bytes = bytes;
    b->n++;
  }
  return 0;
}

static void batch_clear(cur_batch *b, size_t extra_size) {
  for (int i = 0; i < b->n; i++) cur_entry_clear(&b->entries[i]);
  if (b->extra) memset(b->extra, 0, (size_t)b->n * extra_size);
  b->n = 0;
  b->bytes = 0;
  b->last = 0;
  b->rc = 0;
  b->error[0] = 0;
}

static int *state_of(cur_entry_reader *r, const cur_batch *b) {
  return &r->state[b - r->batches];
}

/* Clears the released batches (here rather than in release: the consumer
** is busier); called and returns locked.  Only the reader takes batches off
** free_list, so the ones listed stay where they are while it works unlocked. */
static void clear_released(cur_entry_reader *r) {
  /* the list only grows meanwhile: go on until no release came in between,
  ** so that the reader never waits while a cleared batch would do */
  for (int done = 0; done < r->n_free;) {
    cur_batch *released[N_BATCHES];
    int n = r->n_free;
    size_t bytes = 0;
    memcpy(released, r->free_list + done, (size_t)(n - done) * sizeof *released);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < n - done; i++) {
      bytes += released[i]->bytes;
      batch_clear(released[i], r->extra_size);
    }
    pthread_mutex_lock(&r->mu);
    r->held -= bytes;
    done = n;
  }
}

static void *reader_main(void *arg) {
  cur_entry_reader *r = arg;
  pthread_mutex_lock(&r->mu);
  while (!r->stop && !r->done) {
    clear_released(r);
    if (r->n_free == 0 || r->held >= HELD_BATCHES * r->max_bytes) {
      /* a release signals; the loop then clears it and looks again */
      if (!r->stop) pthread_cond_wait(&r->freed, &r->mu);
      continue;
    }
    cur_batch *b = r->free_list[--r->n_free];
    pthread_mutex_unlock(&r->mu);
    int end = fill(r, b);
    pthread_mutex_lock(&r->mu);
    r->held += b->bytes;
    b->last = end || b->rc;
    r->done = b->last;
    *state_of(r, b) = r->prepare && b->n > 0 ? FILLED : READY;
    r->order[(r->head + r->n_order++) % N_BATCHES] = b;
    pthread_cond_signal(*state_of(r, b) == FILLED ? &r->filled : &r->ready);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* The oldest batch waiting for a worker, or NULL (called locked). */
static cur_batch *claim(cur_entry_reader *r) {
  for (int i = 0; i < r->n_order; i++) {
    cur_batch *b = r->order[(r->head + i) % N_BATCHES];
    if (*state_of(r, b) == FILLED) {
      *state_of(r, b) = PREPARING;
      return b;
    }
  }
  return NULL;
}

static void *worker_main(void *arg) {
  cur_entry_reader *r = arg;
  cur_batch *b = NULL;
  pthread_mutex_lock(&r->mu);
  while (!r->stop) {
    if (!(b = claim(r))) {
      pthread_cond_wait(&r->filled, &r->mu);
      continue;
    }
    pthread_mutex_unlock(&r->mu);
    r->prepare(r->ctx, b);
    pthread_mutex_lock(&r->mu);
    *state_of(r, b) = READY;
    pthread_cond_signal(&r->ready);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* Starts the reader and, with PREPARE, up to THREADS workers (at least one). */
static int start_threads(cur_entry_reader *r, int threads) {
  if (pthread_create(&r->thread, NULL, reader_main, r) != 0)
    return cur_errorf("cannot start the reader thread");
  r->started = 1;
  if (!r->prepare) return CUR_OK;
  if (threads > MAX_WORKERS) threads = MAX_WORKERS;
  for (; r->n_workers < threads; r->n_workers++)
    if (pthread_create(&r->workers[r->n_workers], NULL, worker_main, r) != 0) break;
  return r->n_workers > 0 ? CUR_OK : cur_errorf("cannot start a worker thread");
}

int cur_entry_reader_start(cur_source *src, cur_strmap *recorded, int cap, size_t max_bytes,
                           size_t extra_size, cur_batch_prepare_fn prepare, void *ctx, int threads,
                           cur_entry_reader **out) {
  cur_entry_reader *r = cur_calloc(1, sizeof *r);
  if (!r) return CUR_ENOMEM;
  r->src = src;
  r->recorded = recorded;
  r->cap = cap;
  r->max_bytes = max_bytes;
  r->extra_size = extra_size;
  r->prepare = prepare;
  r->ctx = ctx;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->freed, NULL);
  pthread_cond_init(&r->filled, NULL);
  pthread_cond_init(&r->ready, NULL);
  for (int i = 0; i < N_BATCHES; i++) {
    r->batches[i].entries = cur_calloc((size_t)cap, sizeof *r->batches[i].entries);
    r->batches[i].recorded = cur_calloc((size_t)cap, sizeof *r->batches[i].recorded);
    r->batches[i].extra = cur_calloc((size_t)cap, extra_size ? extra_size : 1);
    if (!r->batches[i].entries || !r->batches[i].recorded || !r->batches[i].extra) {
      cur_entry_reader_stop(r);
      return CUR_ENOMEM;
    }
    r->free_list[r->n_free++] = &r->batches[i];
  }
  int rc = start_threads(r, threads < 1 ? cur_cpu_count() : threads);
  if (rc) {
    cur_entry_reader_stop(r);
    return rc;
  }
  *out = r;
  return CUR_OK;
}

cur_batch *cur_entry_reader_next(cur_entry_reader *r) {
  cur_batch *b = NULL;
  pthread_mutex_lock(&r->mu);
  while (!r->taken_last && !(r->n_order > 0 && *state_of(r, r->order[r->head]) == READY))
    pthread_cond_wait(&r->ready, &r->mu);
  if (!r->taken_last) {
    b = r->order[r->head];
    r->head = (r->head + 1) % N_BATCHES;
    r->n_order--;
    r->taken_last = b->last;
  }
  pthread_mutex_unlock(&r->mu);
  return b;
}

void cur_entry_reader_release(cur_entry_reader *r, cur_batch *b) {
  pthread_mutex_lock(&r->mu);
  r->free_list[r->n_free++] = b;
  pthread_cond_signal(&r->freed);
  pthread_mutex_unlock(&r->mu);
}

void cur_entry_reader_stop(cur_entry_reader *r) {
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_broadcast(&r->freed);
  pthread_cond_broadcast(&r->filled);
  pthread_mutex_unlock(&r->mu);
  if (r->started) pthread_join(r->thread, NULL);
  for (int i = 0; i < r->n_workers; i++) pthread_join(r->workers[i], NULL);
  for (int i = 0; i < N_BATCHES; i++) {
    batch_clear(&r->batches[i], r->extra_size);
    cur_free(r->batches[i].entries);
    cur_free(r->batches[i].recorded);
    cur_free(r->batches[i].extra);
  }
  pthread_cond_destroy(&r->freed);
  pthread_cond_destroy(&r->filled);
  pthread_cond_destroy(&r->ready);
  pthread_mutex_destroy(&r->mu);
  cur_free(r);
}
