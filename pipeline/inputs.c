/* inputs.c -- what a stage reads, as versions: its input fingerprint, and why it is pending.
**
** A stage declares what it reads (cur_stage.reads): earlier stages' outputs
** and the review decisions.  Each has a version that changes exactly when
** the thing read does:
**   - a stage's output: its newest complete run's id (a stage runs again
**     only when what it reads changed, or when asked to: --force, or
**     `curate split`'s fresh placement), or what its output_version hook
**     reads (ingest: counts and newest ids of the rows it added, so a
**     re-ingest that finds nothing new changes nothing downstream);
**   - the review decisions: per task, their count and newest id;
**   - the stage's own fingerprint hook (sources' files, a checkpoint, ...).
** The versions go into a JSON object, kept with the run (runs.inputs); its
** sha256 is the input fingerprint.  Comparing a run's object with today's
** names what changed.
*/
#include "inputs.h"

#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "store_runs.h"

#define REVIEW_KEY "review:"   /* + task name */
#define OWN_KEY "own"

/* Hex of H, shortened: 64 bits tell versions apart well enough. */
static int add_hash(cJSON *obj, const char *key, cur_sha256 *h) {
  char hex[65];
  cur_sha256_hex(h, hex);
  hex[16] = '\0';
  return cJSON_AddStringToObject(obj, key, hex) ? CUR_OK : cur_errorc(CUR_ENOMEM, "out of memory");
}

int cur_inputs_output_version(cur_store *st, const cur_stage *stage, cur_sha256 *h) {
  if (stage->output_version) return stage->output_version(st, h);
  cur_run_info info;
  int found, rc = cur_store_run_last(st, stage->name, 1, &info, &found);
  if (rc) return rc;
  cur_sha256_i64(h, found ? info.id : 0);
  return CUR_OK;
}

static int add_stage(cur_store *st, const cur_stage *stage, cJSON *obj) {
  cur_sha256 h;
  cur_sha256_init(&h);
  int rc = cur_inputs_output_version(st, stage, &h);
  return rc ? rc : add_hash(obj, stage->name, &h);
}

static int add_review(void *ctx, const char *task, int64_t count, int64_t newest) {
  char key[300], value[64];
  snprintf(key, sizeof key, REVIEW_KEY "%s", task);
  snprintf(value, sizeof value, "%lld/%lld", (long long)count, (long long)newest);
  return cJSON_AddStringToObject(ctx, key, value) ? CUR_OK : cur_errorc(CUR_ENOMEM, "out of memory");
}

static int add_read(cur_store *st, cur_stage_list pipeline, const char *name, cJSON *obj) {
  if (strcmp(name, CUR_READS_REVIEWS) == 0) return cur_store_review_versions(st, add_review, obj);
  const cur_stage *read = cur_stage_list_find(pipeline, name);
  /* a stage left out of this pipeline (a test's) has no output to read */
  return read ? add_stage(st, read, obj) : CUR_OK;
}

int cur_inputs_build(cur_run *run, cur_store *st, const cur_stage *stage, cur_stage_list pipeline,
                     cJSON **out) {
  cJSON *obj = cJSON_CreateObject();
  int rc = obj ? CUR_OK : cur_errorc(CUR_ENOMEM, "out of memory");
  if (stage->reads) {
    for (const char *const *r = stage->reads; rc == CUR_OK && *r; r++)
      rc = add_read(st, pipeline, *r, obj);
  } else {
    /* Undeclared: every earlier stage and the reviews, the safe default. */
    for (int i = 0; rc == CUR_OK && i < pipeline.n && pipeline.at[i] != stage; i++)
      rc = add_stage(st, pipeline.at[i], obj);
    if (rc == CUR_OK) rc = cur_store_review_versions(st, add_review, obj);
  }
  if (rc == CUR_OK && stage->fingerprint) {
    cur_sha256 h;
    cur_sha256_init(&h);
    if ((rc = stage->fingerprint(run, &h)) == CUR_OK) rc = add_hash(obj, OWN_KEY, &h);
  }
  if (rc) {
    cJSON_Delete(obj);
    return rc;
  }
  *out = obj;
  return CUR_OK;
}

int cur_inputs_fingerprint(const cJSON *inputs, char out[65]) {
  char *text = cJSON_PrintUnformatted(inputs);
  if (!text) return cur_errorc(CUR_ENOMEM, "out of memory");
  cur_sha256 h;
  cur_sha256_init(&h);
  cur_sha256_str(&h, text);
  cur_sha256_hex(&h, out);
  cJSON_free(text);
  return CUR_OK;
}

/* One changed input KEY in words, appended to WHY (LEN used of CAP). */
static void say(char *why, size_t cap, size_t *len, const cur_stage *stage, const char *key,
                const char *how) {
  char part[400];
  if (strncmp(key, REVIEW_KEY, strlen(REVIEW_KEY)) == 0)
    snprintf(part, sizeof part, "labels of task %s %s by review", key + strlen(REVIEW_KEY), how);
  else if (strcmp(key, OWN_KEY) == 0)
    snprintf(part, sizeof part, "%s changed",
             stage->fingerprint_what ? stage->fingerprint_what : "what it reads from outside");
  else
    snprintf(part, sizeof part, "%s's output %s", key, how);
  if (*len < cap)
    *len += (size_t)snprintf(why + *len, cap - *len, "%s%s", *len ? "; " : "", part);
}

void cur_inputs_explain(const cJSON *then, const cJSON *now, const cur_stage *stage, char *why,
                        size_t cap) {
  size_t len = 0;
  why[0] = '\0';
  if (!then) {
    snprintf(why, cap, "its last run recorded no inputs");
    return;
  }
  for (const cJSON *n = now->child; n; n = n->next) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(then, n->string);
    if (!t || !cJSON_IsString(t) || strcmp(t->valuestring, n->valuestring) != 0)
      say(why, cap, &len, stage, n->string, "changed");
  }
  for (const cJSON *t = then->child; t; t = t->next)
    if (!cJSON_GetObjectItemCaseSensitive(now, t->string))
      say(why, cap, &len, stage, t->string, "removed");
}
