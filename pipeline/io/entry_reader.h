/* entry_reader.h -- reads a source's entries into batches on a thread of its own,
** and prepares them on worker threads, so that reading (disk, decompression),
** preparing (decoding) and recording overlap.
**
** The reader skips the bytes of entries already recorded: RECORDED maps a
** path to its image id + 1 (1 for a rejected entry).  Paths it yields are
** added with the value CUR_ENTRY_PENDING, so a name that repeats inside one
** source is marked rather than read twice.  Batches come back in source
** order; each must be released before the reader can reuse it.  A PREPARE
** callback, run on a worker thread after a batch is filled, can work on it
** (ingest hashes and decodes there) while the consumer records earlier
** ones; each batch carries EXTRA_SIZE bytes per entry for its results.
** Several batches are in flight at once, so keep them small: the entries'
** bytes held at once stay under 5 x MAX_BYTES + the largest entry.
*/
#ifndef CURATE_ENTRY_READER_H
#define CURATE_ENTRY_READER_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"
#include "strmap.h"

#define CUR_ENTRY_PENDING ((size_t)-1)

/* recorded[i] for each entry of a batch */
enum { CUR_ENTRY_NEW = -1, CUR_ENTRY_REPEATED = -2 };

typedef struct cur_batch {
  cur_entry *entries;
  int64_t *recorded;  /* CUR_ENTRY_NEW, CUR_ENTRY_REPEATED, 0 (recorded, rejected) or the image id */
  int n;
  size_t bytes;       /* the entries' data, for the reader's memory bound */
  int last;           /* the source has no more entries (or failed: rc) */
  int rc;             /* the reader's error code, with error[] its message */
  char error[512];
  void *extra;        /* cap x extra_size bytes, zeroed for each fill */
} cur_batch;

typedef void (*cur_batch_prepare_fn)(void *ctx, cur_batch *b);

typedef struct cur_entry_reader cur_entry_reader;

/* Starts reading SRC (which the reader uses until stopped) in batches of at
** most CAP entries or MAX_BYTES bytes.  RECORDED is the reader's until
** stopped.  PREPARE (may be NULL) runs on each filled batch, with CTX, on
** one of THREADS workers (0: one per core); it must be safe to run on
** different batches at once. */
int cur_entry_reader_start(cur_source *src, cur_strmap *recorded, int cap, size_t max_bytes,
                           size_t extra_size, cur_batch_prepare_fn prepare, void *ctx, int threads,
                           cur_entry_reader **out);
/* Waits for the next batch; NULL only after the last one was taken. */
cur_batch *cur_entry_reader_next(cur_entry_reader *r);
/* Hands a batch back for reuse (the reader clears it before filling it again). */
void cur_entry_reader_release(cur_entry_reader *r, cur_batch *b);
/* Stops the thread (also midway) and frees everything.  NULL-safe. */
void cur_entry_reader_stop(cur_entry_reader *r);

#endif
