/* progress.h -- progress on long work: a bar with rate and ETA on a terminal,
** a plain log line every few seconds otherwise, nothing when quiet. */
#ifndef CURATE_PROGRESS_H
#define CURATE_PROGRESS_H

#include <stdint.h>

typedef struct cur_progress cur_progress;

/* TOTAL may be -1 when unknown.  Returns NULL on allocation failure, which
** callers treat as "no progress display" (cur_progress_* accept NULL). */
cur_progress *cur_progress_new(const char *what, int64_t total);
void cur_progress_add(cur_progress *p, int64_t n);
/* Draws the final state, ends the line and frees. */
void cur_progress_end(cur_progress *p);
double cur_now(void);

#endif
