/* runner.c -- runs stages in pipeline order, skipping those that are up to date.
**
** Invariants:
**   1. A stage is up to date when its newest complete run has the same config
**      hash (its options and the seed) and the same input fingerprint (the
**      versions of what it reads: inputs.c), and no stage it reads is
**      pending.  So a config change makes a stage pending, and a change to
**      what it reads makes it and the stages that read it pending, not the
**      stages that read neither (a review leaves ingest and embed alone).
**   2. An unfinished run (killed, interrupted, failed) with the same hashes
**      is resumed under its own id rather than replaced: the rows it already
**      committed keep their run id, and the finished database is the same as
**      one uninterrupted run's.
**   3. A stage runs only when every stage it needs has completed once.
*/
#include "runner.h"
#include "runner_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "curate.h"
#include "inputs.h"
#include "progress.h"
#include "stage.h"
#include "store_runs.h"
#include "text.h"

cur_store *cur_run_store(cur_run *run) { return run->st; }
cur_share cur_run_share(const cur_run *run) { return run->shard ? run->share : CUR_SHARE_ALL; }
cur_shard *cur_run_shard(cur_run *run) { return run->shard; }
int64_t cur_run_id(const cur_run *run) { return run->id; }
uint64_t cur_run_seed(const cur_run *run) { return run->seed; }
int cur_run_threads(const cur_run *run) { return run->threads; }
const cJSON *cur_run_options(const cur_run *run) { return run->options; }
const cJSON *cur_run_options_of(const cur_run *run, const char *stage) {
  return cur_config_section(run->config, stage);
}
const char *cur_run_stage(const cur_run *run) { return run->stage->name; }
int cur_run_fresh(const cur_run *run) { return run->fresh; }
const char *cur_run_config_hash(const cur_run *run) { return run->config_hash; }

/* Counts are set, not added up: stages compute them from the database at
** the end, so that a resumed run reports the same numbers. */
void cur_run_count_set(cur_run *run, const char *name, int64_t n) {
  cJSON *c = cJSON_GetObjectItemCaseSensitive(run->counts, name);
  if (c) cJSON_SetNumberValue(c, (double)n);
  else if (!cJSON_AddNumberToObject(run->counts, name, (double)n))
    cur_warn("%s: out of memory recording count %s", run->stage->name, name);
}

void cur_run_progress_start(cur_run *run, const char *what, int64_t total) {
  cur_progress_end(run->progress);
  run->progress = cur_progress_new(what, total);
}

void cur_run_progress_add(cur_run *run, int64_t n) { cur_progress_add(run->progress, n); }

void cur_run_input_error(cur_run *run, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Errors interrupt a progress bar line; start the message on its own line. */
  if (run->progress && isatty(STDERR_FILENO) && !cur_log_quiet()) fputc('\n', stderr);
  fputs("error: ", stderr);
  cur_text_print(stderr, msg);  /* names and labels come from files */
  fputc('\n', stderr);
  run->input_errors++;
}

/* RUN's inputs (a new JSON object) and its input fingerprint (invariant 1). */
int cur__run_fingerprint(cur_run *run, cJSON **inputs, char out[65]) {
  int rc = cur_inputs_build(run, run->st, run->stage, cur_config_stages(run->config), inputs);
  if (rc == CUR_OK && (rc = cur_inputs_fingerprint(*inputs, out))) {
    cJSON_Delete(*inputs);
    *inputs = NULL;
  }
  return rc;
}

static const cur_stage *const *pipeline_of(const cur_config *cfg, int *n) {
  cur_stage_list list = cur_config_stages(cfg);
  *n = list.n;
  return list.at;
}

int cur__run_check_needs(cur_store *st, const cur_stage *stage) {
  for (const char *const *need = stage->needs; need && *need; need++) {
    cur_run_info info;
    int found, rc = cur_store_run_last(st, *need, 1, &info, &found);
    if (rc) return rc;
    if (!found)
      return cur_errorc(CUR_ESTATE, "%s needs the %s stage, which has never completed: run "
                        "`curate run --stage %s` (or `curate run`) first", stage->name, *need, *need);
  }
  return CUR_OK;
}

/* For a stage with fresh_inputs run alone: every earlier stage that has run
** must be up to date; the first that is not is named. */
static int check_fresh(cur_store *st, const cur_config *cfg, const cur_runner_opts *o, int idx) {
  int n;
  const cur_stage *const *stages = pipeline_of(cfg, &n);
  cur_stage_state *states = cur_mallocarray((size_t)n, sizeof *states);
  int rc = states ? cur_runner_states(st, cfg, o, states) : CUR_ENOMEM;
  for (int i = 0; rc == CUR_OK && i < idx; i++) {
    const cur_stage_state *s = &states[i];
    if (strcmp(s->state, "up to date") != 0 && strcmp(s->state, "never run") != 0)
      rc = cur_errorc(CUR_ESTATE, "%s: the %s stage is %s since its last complete run%s%s%s, "
                      "so its results are stale: run `curate run --until %s` (every stage up "
                      "to it) instead", stages[idx]->name, stages[i]->name, s->state,
                      s->why[0] ? " (" : "", s->why, s->why[0] ? ")" : "", stages[idx]->name);
  }
  cur_free(states);
  return rc;
}

int cur__run_store_counts(cur_run *run, const char *status, const char *message, double secs) {
  char *counts = cJSON_PrintUnformatted(run->counts);
  if (!counts) return cur_errorc(CUR_ENOMEM, "out of memory printing counts");
  int rc = cur_store_run_finish(run->st, run->id, status, message, counts, secs);
  cJSON_free(counts);
  return rc;
}

void cur__run_print_summary(const cur_run *run, double secs) {
  char line[1024];
  size_t len = (size_t)snprintf(line, sizeof line, "%s: complete in %.1f s", run->stage->name, secs);
  const char *sep = ": ";
  for (const cJSON *c = run->counts->child; c && len < sizeof line; c = c->next, sep = ", ")
    len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %.0f", sep, c->string,
                            c->valuedouble);
  cur_info("%s", line);
}

/* Runs one stage under RUN (id already set); records how it ended. */
static int execute(cur_run *run) {
  double t0 = cur_now();
  int rc = run->stage->run(run);
  cur_progress_end(run->progress);
  run->progress = NULL;
  double secs = cur_now() - t0;
  /* A stage commits every batch it finishes.  One that returns OK with a
  ** transaction open forgot its last commit: a bug, stopped here rather than
  ** hidden by a silent rollback.  One that failed mid-batch leaves nothing
  ** half-done. */
  if (rc == CUR_OK && cur_store_in_transaction(run->st))
    rc = cur_errorf("%s: finished with its last batch uncommitted (a bug in the stage); "
                    "the batch was rolled back", run->stage->name);
  cur_store_rollback(run->st);
  if (rc == CUR_OK) {
    int src = cur__run_store_counts(run, "complete", NULL, secs);
    if (src) return src;
    cur__run_print_summary(run, secs);
    return CUR_OK;
  }
  const char *status = rc == CUR_EINTR ? "interrupted" : "failed";
  char message[1024];
  snprintf(message, sizeof message, "%s", rc == CUR_EINTR ? "stopped by the user" : cur_error());
  if (cur__run_store_counts(run, status, message, secs))
    cur_warn("%s: could not record the run's end: %s", run->stage->name, cur_error());
  if (rc == CUR_EINTR)
    cur_errorc(CUR_EINTR, "%s: interrupted; the finished batches are saved. Run the same "
               "command again to resume.", run->stage->name);
  else
    cur_errorc(rc, "%s", message);
  return rc;
}

/* Runs stage IDX unless it is up to date. */
static int run_stage(cur_store *st, const cur_config *cfg, const cur_runner_opts *o, int idx,
                     int64_t *input_errors) {
  int n, found, rc;
  const cur_stage *const *stages = pipeline_of(cfg, &n);
  const cur_stage *stage = stages[idx];
  cur_run run = {.stage = stage, .st = st, .seed = o->seed,
                 .threads = o->threads, .fresh = o->fresh,
                 .options = cur_config_section(cfg, stage->name), .config = cfg};
  char fp[65], *inputs_json = NULL;
  cJSON *inputs = NULL;
  cur_run_info last, done;
  if ((rc = cur__run_check_needs(st, stage))) return rc;
  if (o->only && stage->fresh_inputs && (rc = check_fresh(st, cfg, o, idx))) return rc;
  if (!(run.counts = cJSON_CreateObject())) return cur_errorc(CUR_ENOMEM, "out of memory");
  if ((rc = cur_config_hash(run.options, stage->unhashed, o->seed, run.config_hash)) ||
      (rc = cur__run_fingerprint(&run, &inputs, fp)))
    goto cleanup;
  if (!(inputs_json = cJSON_PrintUnformatted(inputs))) {
    rc = cur_errorc(CUR_ENOMEM, "out of memory");
    goto cleanup;
  }
  if ((rc = cur_store_run_last(st, stage->name, 0, &last, &found))) goto cleanup;
  if (found && strcmp(last.status, "complete") != 0 && strcmp(last.config_hash, run.config_hash) == 0 &&
      strcmp(last.fingerprint, fp) == 0) {
    run.id = last.id;
    cur_info("%s: resuming run %lld", stage->name, (long long)run.id);
    rc = cur_store_run_resume(st, run.id);
  } else {
    if ((rc = cur_store_run_last(st, stage->name, 1, &done, &found))) goto cleanup;
    if (found && !o->force && !o->fresh && strcmp(done.config_hash, run.config_hash) == 0 &&
        strcmp(done.fingerprint, fp) == 0) {
      cur_info("%s: up to date (run %lld)", stage->name, (long long)done.id);
      goto cleanup;
    }
    /* a stage without options stores an empty object */
    char *json = run.options ? cJSON_PrintUnformatted(run.options) : NULL;
    if (run.options && !json) { rc = cur_errorc(CUR_ENOMEM, "out of memory"); goto cleanup; }
    rc = cur_store_run_start(st, stage->name, run.config_hash, fp, inputs_json, (int64_t)o->seed,
                             json ? json : "{}", &run.id);
    cJSON_free(json);
    if (!rc) cur_info("%s: run %lld", stage->name, (long long)run.id);
  }
  if (!rc) rc = execute(&run);
cleanup:
  *input_errors += run.input_errors;
  cJSON_Delete(run.counts);
  cJSON_Delete(inputs);
  cJSON_free(inputs_json);
  return rc;
}

static int stage_arg(const cur_config *cfg, const char *name, const char *what, int *out) {
  *out = cur_stage_list_index(cur_config_stages(cfg), name);
  if (*out < 0) return cur_errorc(CUR_ECONFIG, "%s: no stage named '%s'", what, name);
  return CUR_OK;
}

int cur_runner_run(cur_store *st, const cur_config *cfg, const cur_runner_opts *o,
                   int64_t *input_errors) {
  int n, first = 0, last, rc;
  const cur_stage *const *stages = pipeline_of(cfg, &n);
  last = n - 1;
  *input_errors = 0;
  if (o->only) {
    if ((rc = stage_arg(cfg, o->only, "--stage", &first))) return rc;
    last = first;
  }
  if (o->from && (rc = stage_arg(cfg, o->from, "--from", &first))) return rc;
  if (o->until && (rc = stage_arg(cfg, o->until, "--until", &last))) return rc;
  if (first > last) return cur_errorc(CUR_ECONFIG, "--from %s comes after --until %s", o->from, o->until);
  for (int i = first; i <= last; i++) {
    if (cur_interrupted()) return cur_errorc(CUR_EINTR, "interrupted before %s", stages[i]->name);
    if ((rc = run_stage(st, cfg, o, i, input_errors))) return rc;
  }
  return CUR_OK;
}

/* Does stage IDX read stage J (its reads list, or every earlier stage)? */
static int reads_stage(const cur_stage *stage, const cur_stage *other, int idx, int j) {
  if (!stage->reads) return j < idx;
  for (const char *const *r = stage->reads; *r; r++)
    if (strcmp(*r, other->name) == 0) return 1;
  return 0;
}

/* The state of stage IDX given the states of the stages before it (OUT,
** filled in pipeline order), with the reason when it is pending. */
static int state_of(cur_store *st, const cur_config *cfg, const cur_runner_opts *o, int idx,
                    cur_stage_state *out) {
  int n, found, rc;
  const cur_stage *const *stages = pipeline_of(cfg, &n);
  const cur_stage *stage = stages[idx];
  cur_stage_state *me = &out[idx];
  cur_run run = {.stage = stage, .st = st, .seed = o->seed,
                 .options = cur_config_section(cfg, stage->name), .config = cfg};
  cur_run_info last, done;
  char chash[65], fp[65], *then_json = NULL;
  cJSON *now = NULL, *then = NULL;
  *me = (cur_stage_state){.state = "never run"};
  if ((rc = cur_store_run_last(st, stage->name, 0, &last, &found)) || !found) return rc;
  me->run_id = last.id;
  if (strcmp(last.status, "complete") != 0) {
    me->state = strcmp(last.status, "failed") == 0 ? "failed" : "interrupted";
    return CUR_OK;
  }
  if ((rc = cur_store_run_last(st, stage->name, 1, &done, &found))) return rc;
  if ((rc = cur_config_hash(run.options, stage->unhashed, o->seed, chash)) ||
      (rc = cur__run_fingerprint(&run, &now, fp)))
    return rc;
  me->state = "pending";
  if (strcmp(done.config_hash, chash) != 0) {
    snprintf(me->why, sizeof me->why, "options or seed changed");
  } else if (strcmp(done.fingerprint, fp) != 0) {
    if ((rc = cur_store_run_inputs(st, done.id, &then_json)) == CUR_OK && then_json)
      then = cJSON_Parse(then_json);
    cur_inputs_explain(then, now, stage, me->why, sizeof me->why);
  } else {
    me->state = "up to date";
    /* what it read is unchanged, but a stage it reads will run again first */
    for (int j = 0; j < idx; j++)
      if (reads_stage(stage, stages[j], idx, j) &&
          (strcmp(out[j].state, "pending") == 0 || strcmp(out[j].state, "interrupted") == 0 ||
           strcmp(out[j].state, "failed") == 0)) {
        me->state = "pending";
        snprintf(me->why, sizeof me->why, "waits on %s (%s)", stages[j]->name, out[j].state);
        break;
      }
  }
  cJSON_Delete(now);
  cJSON_Delete(then);
  cur_free(then_json);
  return rc;
}

int cur_runner_states(cur_store *st, const cur_config *cfg, const cur_runner_opts *o,
                      cur_stage_state *out) {
  int n, rc = CUR_OK;
  pipeline_of(cfg, &n);
  for (int i = 0; rc == CUR_OK && i < n; i++) rc = state_of(st, cfg, o, i, out);
  return rc;
}
