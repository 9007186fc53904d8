/* subprocess.c -- runs a /bin/sh command line (posix_spawn, so it is safe
** with worker threads around), passing its output through and keeping its end. */
#include "subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "curate.h"

extern char **environ;

/* The end of the output: up to 2 x max bytes are held and cut back to the
** last max when more arrive, so each byte is moved at most twice.  max is
** one more than the caller keeps: the byte before the kept ones says whether
** they start a line. */
typedef struct tail_buf {
  char *data;        /* 2 x max + 1 bytes */
  size_t len, max;
  size_t cut;        /* bytes dropped from the front */
} tail_buf;

static void tail_add(tail_buf *t, const char *p, size_t n) {
  if (n >= t->max) {
    t->cut += t->len + n - t->max;
    memcpy(t->data, p + n - t->max, t->max);
    t->len = t->max;
    return;
  }
  if (t->len + n > 2 * t->max) {
    size_t keep = t->max - n, drop = t->len - keep;
    memmove(t->data, t->data + drop, keep);
    t->cut += drop;
    t->len = keep;
  }
  memcpy(t->data + t->len, p, n);
  t->len += n;
}

/* The last KEEP bytes, from their first line start when the output was
** longer (a partial first line reads as garbage), NUL-terminated. */
static void tail_finish(tail_buf *t, size_t keep) {
  size_t drop = t->len > keep ? t->len - keep : 0;
  if (drop && t->data[drop - 1] != '\n') {
    const char *nl = memchr(t->data + drop, '\n', t->len - drop);
    if (nl && (size_t)(nl + 1 - t->data) < t->len) drop = (size_t)(nl + 1 - t->data);
  }
  memmove(t->data, t->data + drop, t->len - drop);
  t->cut += drop;
  t->len -= drop;
  t->data[t->len] = 0;
}

/* Whether ENV sets the variable of VAR ("NAME=VALUE"). */
static int overridden(const char *var, const char *const *env) {
  size_t len = strcspn(var, "=");
  for (const char *const *e = env; e && *e; e++)
    if (strncmp(*e, var, len) == 0 && (*e)[len] == '=') return 1;
  return 0;
}

/* This process's environment without the variables ENV sets, then ENV.  The
** strings are borrowed; the caller frees the array. */
static char **make_env(const char *const *env) {
  size_t n = 0, j = 0;
  for (char **e = environ; *e; e++) n++;
  for (const char *const *e = env; e && *e; e++) n++;
  char **out = cur_mallocarray(n + 1, sizeof *out);
  if (!out) return NULL;
  for (char **e = environ; *e; e++)
    if (!overridden(*e, env)) out[j++] = *e;
  for (const char *const *e = env; e && *e; e++) out[j++] = (char *)*e;
  out[j] = NULL;
  return out;
}

/* Starts `/bin/sh -c COMMAND` with stdout and stderr on OUT_FD.  Returns 0
** or an errno value. */
static int spawn(const char *command, char **envp, int out_fd, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  char *argv[] = {"sh", "-c", (char *)command, NULL};
  int err = posix_spawn_file_actions_init(&fa);
  if (err) return err;
  err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (!err) err = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  if (!err) err = posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
  if (!err) err = posix_spawn(pid, "/bin/sh", &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  return err;
}

/* Reads FD to its end into T and ECHO.  SIGINT and SIGTERM interrupt the
** read (the handler has no SA_RESTART): the command gets SIGTERM once. */
static int drain(int fd, pid_t pid, FILE *echo, tail_buf *t, const char *command) {
  char buf[8192];
  int stopped = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      if (echo) fwrite(buf, 1, (size_t)n, echo);
      tail_add(t, buf, (size_t)n);
    } else if (n == 0) {
      return CUR_OK;
    } else if (errno != EINTR) {
      return cur_errorc(CUR_EIO, "%s: reading its output: %s", command, strerror(errno));
    } else if (cur_interrupted() && !stopped) {
      kill(pid, SIGTERM);
      stopped = 1;
    }
  }
}

static int wait_status(pid_t pid, int *status, const char *command) {
  int ws;
  while (waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) return cur_errorc(CUR_EIO, "%s: waiting for it: %s", command, strerror(errno));
  *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return CUR_OK;
}

int cur_subprocess_run(const char *command, const char *const *env, FILE *echo, size_t tail_max,
                       int *status, char **tail, size_t *cut) {
  tail_buf t = {.max = tail_max + 1, .data = cur_mallocarray(tail_max + 2, 2)};
  char **envp = make_env(env);
  int fds[2] = {-1, -1}, rc = t.data && envp ? CUR_OK : CUR_ENOMEM;
  pid_t pid;
  *tail = NULL;
  if (rc == CUR_OK && pipe2(fds, O_CLOEXEC) != 0)
    rc = cur_errorc(CUR_EIO, "%s: cannot make a pipe: %s", command, strerror(errno));
  int err = rc == CUR_OK ? spawn(command, envp, fds[1], &pid) : 0;
  if (err) rc = cur_errorc(CUR_EIO, "%s: cannot start /bin/sh: %s", command, strerror(err));
  if (fds[1] >= 0) close(fds[1]);  /* else the read below never sees the end */
  if (rc == CUR_OK) {
    rc = drain(fds[0], pid, echo, &t, command);
    if (rc) kill(pid, SIGTERM);
    int wrc = wait_status(pid, status, command);
    if (rc == CUR_OK) rc = wrc;
  }
  if (fds[0] >= 0) close(fds[0]);
  cur_free(envp);
  if (rc == CUR_OK) {
    tail_finish(&t, tail_max);
    *tail = t.data;
    *cut = t.cut;
  } else {
    cur_free(t.data);
  }
  return rc;
}
