/* subprocess.h -- runs a command line through /bin/sh with extra environment
** variables, its combined output passed through and the end of it kept. */
#ifndef CURATE_SUBPROCESS_H
#define CURATE_SUBPROCESS_H

#include <stddef.h>
#include <stdio.h>

/* Runs COMMAND with `/bin/sh -c`, stdin from /dev/null, the environment of
** this process plus ENV ("NAME=VALUE" strings, NULL-ended; they replace
** variables of the same name).  Its stdout and stderr go, as they come, to
** ECHO (may be NULL) and the last TAIL_MAX bytes of them (from a line start
** when the output was longer) to *tail, a NUL-terminated string the caller
** frees; *cut counts the bytes left out before it.  *status is the exit
** status, or 128 + the signal that ended it.  Ctrl-C or SIGTERM sent to
** curate alone is passed on to the command with SIGTERM.  Returns CUR_OK when
** the command ran (whatever its status), else an error naming COMMAND. */
int cur_subprocess_run(const char *command, const char *const *env, FILE *echo, size_t tail_max,
                       int *status, char **tail, size_t *cut);

#endif
