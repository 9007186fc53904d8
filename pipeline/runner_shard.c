/* runner_shard.c -- sharded runs: a share of a stage's work into a shard file, and the merge of shard files.
**
** Invariants:
**   1. A shard reads the database only (the store is opened read-only by
**      the command): many shards run at once, on one machine or several,
**      without a runs row or a lock.
**   2. A shard file records the config hash, input fingerprint and inputs of
**      its stage as the database stood when the shard ran; a merge recomputes
**      them and refuses a shard whose differ, saying what changed.  So every
**      merged row comes from the database state the merge writes into.
**   3. Each shard file is imported in one transaction, and importing it
**      again adds nothing (rows already there are left alone; a merge that
**      added nothing leaves no runs row).  The merge run completes only when
**      the stage's whole work is in, so `curate status` shows the stage up
**      to date exactly when a single-machine run would.
*/
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "inputs.h"
#include "runner_internal.h"
#include "store_runs.h"

static const cur_stage *stage_named(const cur_config *cfg, const char *name) {
  cur_stage_list list = cur_config_stages(cfg);
  for (int i = 0; i < list.n; i++)
    if (strcmp(list.at[i]->name, name) == 0) return list.at[i];
  return NULL;
}

/* RUN's config hash, fingerprint, and inputs as JSON text (the caller frees it). */
static int hashes(cur_run *run, char fp[65], char **inputs_json) {
  cJSON *inputs = NULL;
  int rc = cur_config_hash(run->options, run->stage->unhashed, run->seed, run->config_hash);
  if (rc == CUR_OK) rc = cur__run_fingerprint(run, &inputs, fp);
  if (rc == CUR_OK && !(*inputs_json = cJSON_PrintUnformatted(inputs))) rc = CUR_ENOMEM;
  cJSON_Delete(inputs);
  return rc;
}

static int put_meta(cur_shard *sh, cur_run *run, cur_share share, const char *fp, const char *inputs) {
  char text[64];
  snprintf(text, sizeof text, "%lld/%lld", (long long)share.index, (long long)share.count);
  int rc = cur_shard_meta_put(sh, "stage", run->stage->name);
  if (rc == CUR_OK) rc = cur_shard_meta_put(sh, "share", text);
  if (rc == CUR_OK) rc = cur_shard_meta_put(sh, "config_hash", run->config_hash);
  if (rc == CUR_OK) rc = cur_shard_meta_put(sh, "fingerprint", fp);
  if (rc == CUR_OK) rc = cur_shard_meta_put(sh, "inputs", inputs);
  if (rc == CUR_OK) rc = cur_shard_meta_put(sh, "database", cur_store_file(run->st));
  return rc;
}

int cur_runner_shard(cur_store *st, const cur_config *cfg, const cur_runner_opts *o, cur_share share,
                     const char *path, int64_t *input_errors) {
  const cur_stage *stage = o->only ? stage_named(cfg, o->only) : NULL;
  *input_errors = 0;
  if (!stage) return cur_errorc(CUR_ECONFIG, "--shard: no stage named '%s'", o->only ? o->only : "");
  if (!stage->merge) return cur_errorc(CUR_ECONFIG, "--shard: the %s stage cannot be sharded", stage->name);
  if (share.count < 1 || share.index < 0 || share.index >= share.count)
    return cur_errorc(CUR_ECONFIG, "--shard: %lld/%lld is not a share I/N with 0 <= I < N",
                      (long long)share.index, (long long)share.count);
  cur_run run = {.stage = stage, .st = st, .seed = o->seed, .threads = o->threads,
                 .options = cur_config_section(cfg, stage->name), .config = cfg, .share = share};
  char fp[65], *inputs = NULL;
  int rc = cur__run_check_needs(st, stage);
  if (rc == CUR_OK && !(run.counts = cJSON_CreateObject())) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = hashes(&run, fp, &inputs);
  if (rc == CUR_OK) rc = cur_shard_create(path, &run.shard);
  if (rc == CUR_OK) rc = put_meta(run.shard, &run, share, fp, inputs);
  double t0 = cur_now();
  if (rc == CUR_OK) {
    cur_info("%s: shard %lld/%lld into %s", stage->name, (long long)share.index,
             (long long)share.count, path);
    rc = stage->run(&run);
  }
  cur_progress_end(run.progress);
  if (rc == CUR_OK) rc = cur_shard_finish(run.shard);
  if (rc == CUR_OK) cur_info("%s: shard %lld/%lld written in %.1f s: %s", stage->name,
                             (long long)share.index, (long long)share.count, cur_now() - t0, path);
  else if (rc == CUR_EINTR)
    cur_errorc(rc, "%s: shard interrupted; nothing was kept: run the same command again", stage->name);
  cur_shard_close(run.shard);  /* an unfinished one's temporary file goes */
  *input_errors = run.input_errors;
  cJSON_Delete(run.counts);
  cJSON_free(inputs);
  return rc;
}

/* One stage's run during a merge. */
typedef struct merge_run {
  cur_run run;
  char fp[65];
  char *inputs;      /* JSON text */
  char key[256];     /* the shards' meta "key" (the model) */
  int started;       /* run.id is set: a runs row is ours to finish */
  double t0;
} merge_run;

/* Why shard SH cannot go into MR's database state, into WHY; empty when it can. */
static void compare_state(const merge_run *mr, cur_shard *sh, char *why, size_t cap) {
  const char *chash = cur_shard_meta(sh, "config_hash"), *fp = cur_shard_meta(sh, "fingerprint");
  const char *key = cur_shard_meta(sh, "key");
  why[0] = '\0';
  if (!chash || strcmp(chash, mr->run.config_hash) != 0) {
    snprintf(why, cap, "made with other %s options or seed than the configuration's now (its model: %s)",
             mr->run.stage->name, key ? key : "?");
  } else if (!fp || strcmp(fp, mr->fp) != 0) {
    const char *then_text = cur_shard_meta(sh, "inputs");
    cJSON *then = then_text ? cJSON_Parse(then_text) : NULL, *now = cJSON_Parse(mr->inputs);
    char what[400] = "";
    if (now) cur_inputs_explain(then, now, mr->run.stage, what, sizeof what);
    snprintf(why, cap, "made from another database state (%s since)", what[0] ? what : "its inputs changed");
    cJSON_Delete(then);
    cJSON_Delete(now);
  } else if (mr->key[0] && key && strcmp(key, mr->key) != 0) {
    snprintf(why, cap, "made with model %s, the other shards with %s", key, mr->key);
  }
}

/* The run the shards go under: the stage's unfinished run with the same
** hashes (a merge that had not all shards yet), else a new one. */
static int start_run(merge_run *mr) {
  cur_run_info last;
  int found, rc = cur_store_run_last(mr->run.st, mr->run.stage->name, 0, &last, &found);
  if (rc) return rc;
  if (found && strcmp(last.status, "complete") != 0 &&
      strcmp(last.config_hash, mr->run.config_hash) == 0 && strcmp(last.fingerprint, mr->fp) == 0) {
    mr->run.id = last.id;
    return cur_store_run_resume(mr->run.st, last.id);
  }
  char *json = mr->run.options ? cJSON_PrintUnformatted(mr->run.options) : NULL;
  if (mr->run.options && !json) return CUR_ENOMEM;
  rc = cur_store_run_start(mr->run.st, mr->run.stage->name, mr->run.config_hash, mr->fp, mr->inputs,
                           (int64_t)mr->run.seed, json ? json : "{}", &mr->run.id);
  cJSON_free(json);
  return rc;
}

/* Imports SH in one transaction.  A refusal is CUR_EINPUT with the message. */
static int import(merge_run *mr, cur_shard *sh) {
  cur_store *st = mr->run.st;
  int64_t added = 0;
  int fresh = !mr->started;
  int rc = cur_store_begin(st);
  if (rc) return rc;
  if (fresh) rc = start_run(mr);
  if (rc == CUR_OK) rc = mr->run.stage->merge(&mr->run, sh, &added);
  if (rc == CUR_OK && added == 0 && fresh) {
    cur_store_rollback(st);  /* nothing new: no runs row either (invariant 3) */
    mr->run.id = 0;
  } else if (rc == CUR_OK && (rc = cur_store_commit(st)) == CUR_OK) {
    mr->started = 1;
  } else {
    cur_store_rollback(st);
    if (fresh) mr->run.id = 0;
  }
  if (rc == CUR_OK)
    cur_info("merge: %s: %lld rows added%s", cur_shard_path(sh), (long long)added,
             added ? "" : " (all of it was in already)");
  return rc;
}

/* Checks and imports one file; refusals are counted, other errors returned.
** CUR_ESTATE from the stage's merge means "not yet": the file must wait for
** others (augment's shards go in in the plan's order); the caller retries. */
static int merge_file(cur_store *st, const cur_config *cfg, const cur_runner_opts *o, merge_run *runs,
                      const char *file, int *refused) {
  cur_shard *sh = NULL;
  char why[600] = "";
  int rc = cur_shard_open(file, &sh);
  const char *name = rc == CUR_OK ? cur_shard_meta(sh, "stage") : NULL;
  const cur_stage *stage = name ? stage_named(cfg, name) : NULL;
  cur_stage_list list = cur_config_stages(cfg);
  merge_run *mr = NULL;
  for (int i = 0; stage && i < list.n; i++)
    if (list.at[i] == stage) mr = &runs[i];
  if (rc == CUR_OK && (!mr || !stage->merge))
    rc = cur_errorc(CUR_EINPUT, "%s: made by stage '%s', which curate cannot merge", file, name ? name : "?");
  if (rc == CUR_OK && !mr->run.stage) {
    mr->run = (cur_run){.stage = stage, .st = st, .seed = o->seed, .threads = o->threads,
                        .options = cur_config_section(cfg, stage->name), .config = cfg};
    mr->t0 = cur_now();
    if (!(mr->run.counts = cJSON_CreateObject())) rc = CUR_ENOMEM;
    if (rc == CUR_OK) rc = cur__run_check_needs(st, stage);
    if (rc == CUR_OK) rc = hashes(&mr->run, mr->fp, &mr->inputs);
  }
  if (rc == CUR_OK) compare_state(mr, sh, why, sizeof why);
  if (rc == CUR_OK && why[0]) rc = cur_errorc(CUR_EINPUT, "%s: %s; run that shard again", file, why);
  if (rc == CUR_OK) rc = import(mr, sh);
  if (rc == CUR_OK && !mr->key[0]) snprintf(mr->key, sizeof mr->key, "%s", cur_shard_meta(sh, "key") ? cur_shard_meta(sh, "key") : "");
  cur_shard_close(sh);
  if (rc == CUR_ESTATE) return rc;
  if (rc == CUR_EINPUT) {
    fprintf(stderr, "error: merge: %s; not merged\n", cur_error());
    ++*refused;
    return CUR_OK;
  }
  return rc;
}

/* Ends MR's run: complete when the stage's work is all in, else
** interrupted, to be resumed by the next merge (or `curate run`). */
static int finish(merge_run *mr) {
  int done = 0;
  int rc = mr->run.stage->merge_done(&mr->run, mr->key, &done);
  double secs = cur_now() - mr->t0;
  if (rc == CUR_OK && done) {
    if ((rc = cur__run_store_counts(&mr->run, "complete", NULL, secs)) == CUR_OK)
      cur__run_print_summary(&mr->run, secs);
    return rc;
  }
  char message[300];
  snprintf(message, sizeof message, "merged part of the shards; merge the others (or run `curate run "
           "--stage %s` to do the rest here)", mr->run.stage->name);
  if (cur__run_store_counts(&mr->run, rc ? "failed" : "interrupted", rc ? cur_error() : message, secs))
    cur_warn("%s: could not record the run's end: %s", mr->run.stage->name, cur_error());
  if (rc == CUR_OK)
    cur_info("%s: %s", mr->run.stage->name, message);
  return rc;
}

int cur_runner_merge(cur_store *st, const cur_config *cfg, const cur_runner_opts *o,
                     char *const *files, int n, int64_t *input_errors, int *refused) {
  cur_stage_list list = cur_config_stages(cfg);
  merge_run *runs = cur_calloc((size_t)list.n, sizeof *runs);
  int rc = runs ? CUR_OK : CUR_ENOMEM;
  int *waiting = cur_calloc((size_t)n + 1, sizeof *waiting);
  char (*why)[600] = cur_calloc((size_t)n + 1, sizeof *why);  /* a waiting file's reason */
  if (!waiting || !why) rc = CUR_ENOMEM;
  *input_errors = 0;
  *refused = 0;
  /* passes over the files that must wait for others, while one goes in */
  for (int pass = 0, progress = 1; rc == CUR_OK && progress; pass++) {
    progress = 0;
    for (int i = 0; rc == CUR_OK && i < n; i++) {
      if (pass > 0 && !waiting[i]) continue;
      if (cur_interrupted()) rc = cur_errorc(CUR_EINTR, "merge: interrupted before %s", files[i]);
      else rc = merge_file(st, cfg, o, runs, files[i], refused);
      int waits = rc == CUR_ESTATE;
      if (waits) {
        snprintf(why[i], sizeof why[i], "%s", cur_error());
        rc = CUR_OK;
      }
      progress |= waiting[i] && !waits;
      waiting[i] = waits;
      if (pass == 0 && !waits) progress = 1;
    }
  }
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    if (!waiting[i]) continue;
    fprintf(stderr, "error: merge: %s; not merged\n", why[i]);
    ++*refused;
  }
  cur_free(waiting);
  cur_free(why);
  for (int i = 0; runs && i < list.n; i++) {
    if (runs[i].started) {
      int frc = finish(&runs[i]);
      if (rc == CUR_OK) rc = frc;
    }
    *input_errors += runs[i].run.input_errors;
    cJSON_Delete(runs[i].run.counts);
    cJSON_free(runs[i].inputs);
  }
  cur_free(runs);
  return rc;
}
