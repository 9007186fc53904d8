/* train_job.c -- train.command: the train stage's external training job.
**
** It lives in pipeline/ because stages/ holds one file per stage.  It runs
** after the built-in evaluation (so its metrics stay comparable) through
** /bin/sh, with the newest complete export run's JSONL manifest in
** CURATE_MANIFEST and for {manifest}, the database in CURATE_DB and the run
** in CURATE_RUN_ID.  Its exit status and the end of its output are recorded
** as the run's command_exit and command_output metrics in one transaction
** (replacing a resumed run's), and a non-zero status fails the stage.
*/
#include "train_job.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "curate.h"
#include "store_export.h"
#include "store_metrics.h"
#include "subprocess.h"

/* How much of the command's output is kept as the command_output metric:
** the end, where a training job prints its final scores and its errors. */
#define COMMAND_TAIL_MAX (64 * 1024)

/* PATH in single quotes for sh, each ' inside it written as '\''. */
static char *shell_quote(const char *path) {
  /* at most 4 bytes a character, plus the quotes and the NUL */
  char *out = cur_mallocarray(strlen(path) + 1, 4), *o = out;
  if (!out) return NULL;
  *o++ = '\'';
  for (const char *p = path; *p; p++) {
    if (*p == '\'') {
      memcpy(o, "'\\''", 4);
      o += 4;
    } else {
      *o++ = *p;
    }
  }
  *o++ = '\'';
  *o = 0;
  return out;
}

/* COMMAND with each {manifest} replaced by PATH, quoted for sh. */
static char *expand_command(const char *command, const char *path) {
  static const char key[] = "{manifest}";
  char *quoted = shell_quote(path), *out = quoted ? cur_strdup(command) : NULL, *at;
  /* searching on after the inserted path: it may hold the key itself */
  for (size_t from = 0; out && (at = strstr(out + from, key));) {
    int head = (int)(at - out);
    char *next = cur_asprintf("%.*s%s%s", head, out, quoted, at + strlen(key));
    cur_free(out);
    out = next;
    from = (size_t)head + strlen(quoted);
  }
  cur_free(quoted);
  return out;
}

/* Records the command's exit status and output as metrics of the run. */
static int record_command(cur_run *run, int status, const char *output, size_t cut) {
  cur_store *st = cur_run_store(run);
  int64_t id = cur_run_id(run);
  char *text = cut ? cur_asprintf("[... %zu bytes of output before this ...]\n%s", cut, output)
                   : cur_strdup(output);
  int rc = text ? cur_store_begin(st) : CUR_ENOMEM;
  if (rc) {
    cur_free(text);
    return rc;
  }
  rc = cur_store_metric_put(st, id, "command_exit", status, NULL);
  if (rc == CUR_OK) rc = cur_store_metric_put(st, id, "command_output", NAN, text);
  cur_free(text);
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

/* Runs LINE with the manifest's path, the database and the run id in the
** environment, its output shown as it comes, and records the outcome. */
static int run_command_line(cur_run *run, const char *line, const char *manifest) {
  char *env[3] = {cur_asprintf("CURATE_MANIFEST=%s", manifest),
                  cur_asprintf("CURATE_DB=%s", cur_store_file(cur_run_store(run))),
                  cur_asprintf("CURATE_RUN_ID=%lld", (long long)cur_run_id(run))};
  const char *const vars[] = {env[0], env[1], env[2], NULL};
  char *output = NULL;
  size_t cut = 0;
  int status = 0, rc = env[0] && env[1] && env[2] ? CUR_OK : CUR_ENOMEM;
  cur_info("train: running train.command: %s", line);
  if (rc == CUR_OK)
    rc = cur_subprocess_run(line, vars, cur_log_quiet() ? NULL : stderr, COMMAND_TAIL_MAX, &status,
                            &output, &cut);
  /* Ctrl-C stopped the job: nothing to record, the resumed run starts it again */
  if (rc == CUR_OK && cur_interrupted()) rc = CUR_EINTR;
  if (rc == CUR_OK) rc = record_command(run, status, output, cut);
  if (rc == CUR_OK && status != 0)
    rc = cur_errorf("train.command exited with status %d; its output is the command_output "
                    "metric of run %lld", status, (long long)cur_run_id(run));
  if (rc == CUR_OK) cur_info("train: train.command exited with status 0");
  for (size_t i = 0; i < CUR_ARRAY_LEN(env); i++) cur_free(env[i]);
  cur_free(output);
  return rc;
}

int cur_train_job_manifest(cur_run *run, char **path) {
  int found, rc = cur_store_manifest_last(cur_run_store(run), "jsonl", path, &found);
  if (rc == CUR_OK && !found)
    rc = cur_errorc(CUR_ESTATE, "train.command needs a manifest: run the export stage first "
                    "(with jsonl among export.formats)");
  if (rc == CUR_OK && access(*path, R_OK) != 0)
    rc = cur_errorc(CUR_EIO, "train.command: manifest %s: %s (run the export stage again)", *path,
                    strerror(errno));
  return rc;
}

int cur_train_job_run(cur_run *run, const char *manifest) {
  char *line = expand_command(cur_opt_str(cur_run_options(run), "command"), manifest);
  int rc = line ? run_command_line(run, line, manifest) : CUR_ENOMEM;
  cur_free(line);
  return rc;
}
