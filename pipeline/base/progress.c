/* progress.c -- progress bar on a terminal, periodic log lines elsewhere. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "curate.h"
#include "text.h"

#define BAR_WIDTH 28
#define TTY_INTERVAL 0.1   /* seconds between redraws on a terminal */
#define LOG_INTERVAL 5.0   /* seconds between lines in a log */

struct cur_progress {
  char what[64];
  int64_t total, done;
  double start, last_draw;
  int tty;
  int drawn;       /* something was printed */
};

double cur_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

cur_progress *cur_progress_new(const char *what, int64_t total) {
  cur_progress *p = cur_calloc(1, sizeof *p);
  if (!p) return NULL;
  cur_text_printable(what, p->what, sizeof p->what);  /* it may hold a source's name */
  p->total = total;
  p->start = p->last_draw = cur_now();
  p->tty = isatty(STDERR_FILENO);
  return p;
}

static void format_eta(double secs, char *buf, size_t cap) {
  if (secs < 0 || secs > 1e7) {
    snprintf(buf, cap, "--:--");
    return;
  }
  long s = (long)(secs + 0.5);
  if (s >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

static void draw(cur_progress *p, double now, int final) {
  double elapsed = now - p->start;
  double rate = elapsed > 0 ? p->done / elapsed : 0;
  char eta[32];
  format_eta(p->total > 0 && rate > 0 ? (p->total - p->done) / rate : -1, eta, sizeof eta);
  if (p->tty) {
    char bar[BAR_WIDTH + 1];
    int fill = p->total > 0 ? (int)(BAR_WIDTH * (double)p->done / p->total) : 0;
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = 0;
    if (p->total > 0)
      fprintf(stderr, "\r%s [%s] %lld/%lld %.0f/s ETA %s\033[K", p->what, bar,
              (long long)p->done, (long long)p->total, rate, eta);
    else
      fprintf(stderr, "\r%s %lld %.0f/s\033[K", p->what, (long long)p->done, rate);
    if (final) fputc('\n', stderr);
  } else if (p->total > 0) {
    fprintf(stderr, "%s: %lld/%lld (%.0f%%) %.0f/s ETA %s\n", p->what, (long long)p->done,
            (long long)p->total, 100.0 * p->done / p->total, rate, eta);
  } else {
    fprintf(stderr, "%s: %lld done, %.0f/s\n", p->what, (long long)p->done, rate);
  }
  p->drawn = 1;
  p->last_draw = now;
}

void cur_progress_add(cur_progress *p, int64_t n) {
  if (!p) return;
  p->done += n;
  if (cur_log_quiet()) return;
  double now = cur_now();
  if (now - p->last_draw >= (p->tty ? TTY_INTERVAL : LOG_INTERVAL)) draw(p, now, 0);
}

void cur_progress_end(cur_progress *p) {
  if (!p) return;
  /* Short work that never drew needs no final line in a log. */
  if (!cur_log_quiet() && (p->tty || p->drawn)) draw(p, cur_now(), 1);
  cur_free(p);
}
