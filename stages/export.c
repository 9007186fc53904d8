/* export.c -- the export stage: the cleaned manifest of the training, val and
** test rows with their current labels, in JSONL, CSV and WebDataset shards.
**
** Output folder layout (docs/stages/export.md):
**   images/<2 hex>/<sha256>.<ext>   each image once, named by content hash
**   manifest.jsonl, manifest.csv    one row per image, image id order
**   shards/shard-NNNNNN.tar         WebDataset samples
**   metadata.json                   counts, config hash, upstream runs, file hashes
** Every file is written as NAME.tmp and renamed into place, metadata.json
** last, so a killed export leaves whole files (and the old metadata) behind.
** Nothing written depends on the time or the export's own run id, so
** exporting unchanged data again gives byte-identical files.
*/
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "curate.h"
#include "manifest.h"
#include "sha256.h"
#include "stages.h"
#include "store_embed.h"
#include "store_export.h"
#include "store_labels.h"
#include "store_runs.h"
#include "text.h"

static const char *const format_names[] = {"jsonl", "csv", "webdataset"};

static int check_formats(const cJSON *v, const char *name) {
  const cJSON *f;
  if (cJSON_GetArraySize(v) == 0) return cur_errorc(CUR_ECONFIG, "%s: name at least one format", name);
  cJSON_ArrayForEach(f, v) {
    size_t i = 0;
    while (i < CUR_ARRAY_LEN(format_names) && strcmp(f->valuestring, format_names[i]) != 0) i++;
    if (i == CUR_ARRAY_LEN(format_names))
      return cur_errorc(CUR_ECONFIG, "%s: \"%s\" is not jsonl, csv or webdataset", name, f->valuestring);
  }
  return CUR_OK;
}

static int check_out(const cJSON *v, const char *name) {
  return v->valuestring[0] ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must not be empty", name);
}

static const cur_option export_options[] = {
    {"out", CUR_OPT_STR, "\"export\"", "folder the manifest and images are written to", check_out},
    {"formats", CUR_OPT_STRS, "[\"jsonl\"]", "any of jsonl, csv, webdataset", check_formats},
    {"shard_size", CUR_OPT_INT, "10000", "images per WebDataset tar shard", cur_option_check_positive},
    {"tasks", CUR_OPT_STRS, "[]", "tasks whose labels are exported; [] = every task", NULL},
    {NULL, 0, NULL, NULL, NULL}};

/* One export in progress. */
typedef struct exporter {
  cur_run *run;
  char dir[PATH_MAX];        /* the output folder, absolute */
  cur_export_row *rows;
  size_t n;
  cJSON *files;              /* [{path, format, sha256, rows}] for metadata.json */
} exporter;

static int make_dir(const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) return CUR_OK;
  return cur_errorc(CUR_EIO, "export: %s: cannot create: %s", path, strerror(errno));
}

/* Records a written file for metadata.json and the manifests table. */
static int file_done(exporter *x, const char *format, const char *rel, const char *sha256,
                     int64_t rows) {
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddItemToArray(x->files, o) || !cJSON_AddStringToObject(o, "path", rel) ||
      !cJSON_AddStringToObject(o, "format", format) || !cJSON_AddStringToObject(o, "sha256", sha256) ||
      !cJSON_AddNumberToObject(o, "rows", (double)rows))
    return cur_errorc(CUR_ENOMEM, "export: out of memory");
  return CUR_OK;
}

static int shard_done(void *ctx, const char *rel, const char *sha256, int64_t samples) {
  return file_done(ctx, "webdataset", rel, sha256, samples);
}

/* Store callback: writes one image's bytes after checking them against the
** hash its file is named by (CTX: the path), so a wrong file never lands. */
static int write_image(void *ctx, int64_t id, const void *bytes, size_t len) {
  const char *path = ctx;
  cur_outfile *f;
  char hex[65];
  cur_sha256_buf_hex(bytes, len, hex);
  if (strncmp(strrchr(path, '/') + 1, hex, 64) != 0)
    return cur_errorf("export: image %lld: its bytes no longer match its sha256", (long long)id);
  int rc = cur_outfile_open(path, &f);
  if (rc == CUR_OK && (rc = cur_outfile_write(f, bytes, len)) != CUR_OK) cur_outfile_abort(f);
  else if (rc == CUR_OK) rc = cur_outfile_commit(f, hex);
  return rc;
}

/* 1 when PATH holds the bytes its name (<sha256>.<ext>) promises.  A file
** left by an earlier export is kept only then: anything else there (a
** truncated copy, a file edited by hand) is written again. */
static int image_file_sound(const char *path) {
  char *bytes, hex[65];
  size_t len;
  if (cur_file_read(path, &bytes, &len) != CUR_OK) return 0;
  cur_sha256_buf_hex(bytes, len, hex);
  cur_free(bytes);
  return strncmp(strrchr(path, '/') + 1, hex, 64) == 0;
}

/* images/<2 hex>/<sha256>.<ext> for every row, each checked against its
** name; a sound file already there stays. */
static int write_images(exporter *x) {
  char *dir = cur_asprintf("%s/images", x->dir);
  int rc = dir ? make_dir(dir) : CUR_ENOMEM;
  cur_free(dir);
  cur_run_progress_start(x->run, "export images", (int64_t)x->n);
  for (size_t i = 0; rc == CUR_OK && i < x->n; i++) {
    char *rel = cur_manifest_image_path(&x->rows[i]);
    char *path = rel ? cur_asprintf("%s/%s", x->dir, rel) : NULL;
    struct stat sb;
    rc = path ? CUR_OK : CUR_ENOMEM;
    int present = rc == CUR_OK && stat(path, &sb) == 0;
    if (present && !image_file_sound(path)) {
      cur_warn("export: %s does not hold the bytes its name promises; written again", path);
      present = 0;
    }
    if (rc == CUR_OK && !present) {
      *strrchr(path, '/') = 0;
      rc = make_dir(path);
      path[strlen(path)] = '/';
      if (rc == CUR_OK) rc = cur_store_image_bytes(cur_run_store(x->run), x->rows[i].image_id,
                                                   write_image, path);
    }
    cur_free(rel);
    cur_free(path);
    cur_run_progress_add(x->run, 1);
    if (rc == CUR_OK && cur_interrupted()) rc = CUR_EINTR;
  }
  return rc;
}

/* Each configured format in turn. */
static int write_formats(exporter *x) {
  const cJSON *f;
  char hex[65];
  int rc = CUR_OK;
  cJSON_ArrayForEach(f, cur_opt_json(cur_run_options(x->run), "formats")) {
    if (strcmp(f->valuestring, "jsonl") == 0) {
      if ((rc = cur_manifest_write_jsonl(x->dir, x->rows, x->n, hex)) == CUR_OK)
        rc = file_done(x, "jsonl", "manifest.jsonl", hex, (int64_t)x->n);
    } else if (strcmp(f->valuestring, "csv") == 0) {
      if ((rc = cur_manifest_write_csv(x->dir, x->rows, x->n, hex)) == CUR_OK)
        rc = file_done(x, "csv", "manifest.csv", hex, (int64_t)x->n);
    } else {
      rc = cur_manifest_write_shards(x->dir, cur_run_store(x->run), x->rows, x->n,
                                     cur_opt_int(cur_run_options(x->run), "shard_size"),
                                     cur_run_seed(x->run), shard_done, x);
    }
    if (rc) return rc;
  }
  return CUR_OK;
}

/* OBJ[KEY], created as an empty object when absent. */
static cJSON *child(cJSON *obj, const char *key) {
  cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
  return c ? c : cJSON_AddObjectToObject(obj, key);
}

static int bump(cJSON *obj, const char *key) {
  cJSON *c = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (c) return cJSON_SetNumberValue(c, c->valuedouble + 1), CUR_OK;
  return obj && cJSON_AddNumberToObject(obj, key, 1) ? CUR_OK : CUR_ENOMEM;
}

/* T's "class_names": every class of task TASK_ID in index order (a row's
** label index points into it), added the first time the task is seen. */
static int add_class_names(const exporter *x, cJSON *t, int64_t task_id) {
  if (!t || cJSON_GetObjectItemCaseSensitive(t, "class_names")) return t ? CUR_OK : CUR_ENOMEM;
  char **names = NULL;
  int n = 0, rc = cur_store_class_names(cur_run_store(x->run), task_id, &names, &n);
  cJSON *arr = rc == CUR_OK ? cJSON_AddArrayToObject(t, "class_names") : NULL;
  for (int i = 0; arr && i < n; i++)
    if (!cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]))) arr = NULL;
  cur_store_names_free(names, n);
  return rc ? rc : arr ? CUR_OK : CUR_ENOMEM;
}

/* Rows per split, and per task: its class list, rows per split and class,
** and per label source. */
static int add_counts(const exporter *x, cJSON *meta) {
  cJSON *splits = child(meta, "splits"), *tasks = child(meta, "tasks");
  int rc = splits && tasks ? CUR_OK : CUR_ENOMEM;
  for (size_t i = 0; rc == CUR_OK && i < x->n; i++) {
    const cur_export_row *r = &x->rows[i];
    rc = bump(splits, r->split);
    for (int j = 0; rc == CUR_OK && j < r->n_labels; j++) {
      cJSON *t = child(tasks, r->labels[j].task);
      rc = add_class_names(x, t, r->labels[j].task_id);
      cJSON *classes = t && rc == CUR_OK ? child(child(t, "classes"), r->split) : NULL;
      if (rc == CUR_OK) rc = bump(classes, r->labels[j].class_name);
      if (rc == CUR_OK) rc = bump(t ? child(t, "sources") : NULL, r->labels[j].source);
    }
  }
  return rc == CUR_ENOMEM ? cur_errorc(CUR_ENOMEM, "export: out of memory counting rows") : rc;
}

/* The newest complete run of every stage before export. */
static int add_runs(cur_run *run, cJSON *meta) {
  int n, found, rc;
  cur_stage_list registry = cur_stage_registry();
  const cur_stage *const *stages = registry.at;
  n = registry.n;
  cJSON *runs = cJSON_AddObjectToObject(meta, "runs");
  for (int i = 0; runs && i < n && strcmp(stages[i]->name, cur_run_stage(run)) != 0; i++) {
    cur_run_info info;
    if ((rc = cur_store_run_last(cur_run_store(run), stages[i]->name, 1, &info, &found))) return rc;
    if (!(found ? cJSON_AddNumberToObject(runs, stages[i]->name, (double)info.id)
                : cJSON_AddNullToObject(runs, stages[i]->name)))
      runs = NULL;
  }
  return runs ? CUR_OK : cur_errorc(CUR_ENOMEM, "export: out of memory");
}

/* metadata.json's content: no times and not the export's own run id, so
** that it is byte-identical when the data is unchanged (times are in the
** database).  manifest_sha256 is the first file's: the first listed format. */
static int build_metadata(exporter *x, cJSON *meta) {
  const char *hash = cur_run_config_hash(x->run);
  const cJSON *first = cJSON_GetArrayItem(x->files, 0);
  cJSON *files = cJSON_Duplicate(x->files, 1);
  if (!files || !cJSON_AddNumberToObject(meta, "manifest_version", 1) ||
      !cJSON_AddStringToObject(meta, "config_hash", hash) ||
      !cJSON_AddNumberToObject(meta, "rows", (double)x->n) ||
      !cJSON_AddStringToObject(meta, "manifest_sha256",
                               cJSON_GetObjectItemCaseSensitive(first, "sha256")->valuestring)) {
    cJSON_Delete(files);
    return cur_errorc(CUR_ENOMEM, "export: out of memory");
  }
  cJSON_AddItemToObject(meta, "files", files);
  int rc = add_runs(x->run, meta);
  return rc ? rc : add_counts(x, meta);
}

static int write_metadata(exporter *x) {
  char hex[65];
  cur_outfile *f = NULL;
  cJSON *meta = cJSON_CreateObject();
  char *text = NULL, *path = cur_asprintf("%s/metadata.json", x->dir);
  int rc = meta && path ? build_metadata(x, meta) : CUR_ENOMEM;
  if (rc == CUR_OK && !(text = cur_json_print(meta, 1))) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur_outfile_open(path, &f);
  if (rc == CUR_OK && (rc = cur_outfile_write(f, text, strlen(text))) == CUR_OK)
    rc = cur_outfile_write(f, "\n", 1);
  if (rc == CUR_OK) rc = cur_outfile_commit(f, hex);
  else cur_outfile_abort(f);
  cur_free(text);
  cur_free(path);
  cJSON_Delete(meta);
  return rc;
}

/* The manifests rows of this run, one per file, with absolute paths. */
static int record(exporter *x) {
  cur_store *st = cur_run_store(x->run);
  const cJSON *f;
  int rc = cur_store_begin(st);
  if (rc) return rc;
  rc = cur_store_manifest_clear(st, cur_run_id(x->run));
  cJSON_ArrayForEach(f, x->files) {
    char *path = cur_asprintf("%s/%s", x->dir, cJSON_GetObjectItemCaseSensitive(f, "path")->valuestring);
    if (rc == CUR_OK && !path) rc = CUR_ENOMEM;
    if (rc == CUR_OK)
      rc = cur_store_manifest_add(st, cur_run_id(x->run),
                                  cJSON_GetObjectItemCaseSensitive(f, "format")->valuestring, path,
                                  cJSON_GetObjectItemCaseSensitive(f, "sha256")->valuestring,
                                  (int64_t)cJSON_GetObjectItemCaseSensitive(f, "rows")->valuedouble);
    cur_free(path);
  }
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

/* The export.tasks filter as a JSON array, NULL for every task; each
** listed task must exist. */
static int task_filter(cur_run *run, char **json) {
  const cJSON *tasks = cur_opt_json(cur_run_options(run), "tasks"), *t;
  *json = NULL;
  if (cJSON_GetArraySize(tasks) == 0) return CUR_OK;
  cJSON_ArrayForEach(t, tasks) {
    int64_t id;
    int found, rc = cur_store_task_find(cur_run_store(run), t->valuestring, &id, &found);
    if (rc) return rc;
    if (!found) return cur_errorc(CUR_ECONFIG, "export.tasks: no task named \"%s\"", t->valuestring);
  }
  char *text = cJSON_PrintUnformatted(tasks);
  *json = text ? cur_strdup(text) : NULL;
  cJSON_free(text);
  return *json ? CUR_OK : cur_errorc(CUR_ENOMEM, "export: out of memory");
}

/* Creates the output folder and keeps its absolute path. */
static int open_dir(exporter *x) {
  const char *out = cur_opt_str(cur_run_options(x->run), "out");
  int rc = make_dir(out);
  if (rc == CUR_OK && !realpath(out, x->dir))
    rc = cur_errorc(CUR_EIO, "export: %s: %s", out, strerror(errno));
  return rc;
}

static int export_run(cur_run *run) {
  exporter x = {.run = run, .files = cJSON_CreateArray()};
  char *tasks = NULL;
  int rc = x.files ? task_filter(run, &tasks) : CUR_ENOMEM;
  if (rc == CUR_OK) rc = open_dir(&x);
  if (rc == CUR_OK) rc = cur_store_export_rows(cur_run_store(run), tasks, &x.rows, &x.n);
  if (rc == CUR_OK) rc = write_images(&x);
  if (rc == CUR_OK) rc = write_formats(&x);
  if (rc == CUR_OK) rc = write_metadata(&x);
  if (rc == CUR_OK) rc = record(&x);
  if (rc == CUR_OK) {
    cur_info("export: %zu rows in %s", x.n, x.dir);
    cur_run_count_set(run, "rows", (int64_t)x.n);
    cur_run_count_set(run, "files", cJSON_GetArraySize(x.files));
  }
  cur_export_rows_free(x.rows, x.n);
  cJSON_Delete(x.files);
  cur_free(tasks);
  return rc;
}

static const char *const export_needs[] = {"split", NULL};

const cur_stage stage_export = {
    .name = "export",
    .fresh_inputs = 1,
    .summary = "write the cleaned manifest (JSONL, CSV, WebDataset shards) and its images",
    .needs = export_needs,
    .options = export_options,
    .fingerprint = NULL,
    .run = export_run,
};
