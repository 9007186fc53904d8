/* manifest.c -- atomic output files and the JSONL and CSV forms of the manifest. */
#include "manifest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "curate.h"
#include "sha256.h"
#include "text.h"

struct cur_outfile {
  FILE *f;
  char *path, *tmp;
  cur_sha256 h;
};

int cur_outfile_open(const char *path, cur_outfile **out) {
  cur_outfile *o = cur_calloc(1, sizeof *o);
  if (!o) return CUR_ENOMEM;
  o->path = cur_strdup(path);
  o->tmp = cur_asprintf("%s.tmp", path);
  if (!o->path || !o->tmp) {
    cur_outfile_abort(o);
    return CUR_ENOMEM;
  }
  if (!(o->f = fopen(o->tmp, "wb"))) {
    int rc = cur_errorc(CUR_EIO, "export: %s: cannot create: %s", o->tmp, strerror(errno));
    cur_outfile_abort(o);
    return rc;
  }
  cur_sha256_init(&o->h);
  *out = o;
  return CUR_OK;
}

int cur_outfile_write(cur_outfile *f, const void *data, size_t len) {
  if (len && fwrite(data, 1, len, f->f) != len)
    return cur_errorc(CUR_EIO, "export: %s: write failed: %s", f->tmp, strerror(errno));
  cur_sha256_update(&f->h, data, len);
  return CUR_OK;
}

static void outfile_free(cur_outfile *f) {
  cur_free(f->path);
  cur_free(f->tmp);
  cur_free(f);
}

int cur_outfile_commit(cur_outfile *f, char hex[65]) {
  int rc = CUR_OK;
  if (fclose(f->f) != 0) rc = cur_errorc(CUR_EIO, "export: %s: write failed: %s", f->tmp, strerror(errno));
  f->f = NULL;
  if (rc == CUR_OK && rename(f->tmp, f->path) != 0)
    rc = cur_errorc(CUR_EIO, "export: %s: cannot rename into place: %s", f->path, strerror(errno));
  if (rc) {
    unlink(f->tmp);
  } else {
    cur_sha256_hex(&f->h, hex);
  }
  outfile_free(f);
  return rc;
}

void cur_outfile_abort(cur_outfile *f) {
  if (!f) return;
  if (f->f) {
    fclose(f->f);
    unlink(f->tmp);
  }
  outfile_free(f);
}

static int put(cur_outfile *f, const char *s) {
  return cur_outfile_write(f, s, strlen(s));
}

const char *cur_manifest_ext(const char *format) {
  if (!format) return "bin";
  if (strcmp(format, "jpeg") == 0) return "jpg";
  if (strcmp(format, "tiff") == 0) return "tif";
  return format;
}

char *cur_manifest_image_path(const cur_export_row *r) {
  return cur_asprintf("images/%.2s/%s.%s", r->sha256, r->sha256, cur_manifest_ext(r->format));
}

/* The labels object: task -> {class, index, source, confidence, weight}. */
static int add_labels(cJSON *obj, const cur_export_row *r) {
  cJSON *labels = cJSON_AddObjectToObject(obj, "labels");
  for (int i = 0; labels && i < r->n_labels; i++) {
    const cur_export_label *l = &r->labels[i];
    cJSON *t = cJSON_AddObjectToObject(labels, l->task);
    if (!t || !cJSON_AddStringToObject(t, "class", l->class_name) ||
        !cJSON_AddNumberToObject(t, "index", l->class_idx) ||
        !cJSON_AddStringToObject(t, "source", l->source) ||
        !(isnan(l->confidence) ? cJSON_AddNullToObject(t, "confidence")
                               : cJSON_AddNumberToObject(t, "confidence", l->confidence)) ||
        !cJSON_AddNumberToObject(t, "weight", l->weight))
      return CUR_ENOMEM;
  }
  return labels ? CUR_OK : CUR_ENOMEM;
}

/* OBJ's "crop": where a box crop was cut from (the image's transform), or null. */
static int add_crop(cJSON *obj, const cur_export_row *r) {
  cJSON *crop = r->crop ? cJSON_Parse(r->crop) : cJSON_CreateNull();
  if (crop && cJSON_AddItemToObject(obj, "crop", crop)) return 1;
  cJSON_Delete(crop);
  return 0;
}

char *cur_manifest_json(const cur_export_row *r) {
  cJSON *obj = cJSON_CreateObject();
  char *path = cur_manifest_image_path(r), *out = NULL;
  int ok = obj && path && cJSON_AddNumberToObject(obj, "id", (double)r->image_id) &&
           cJSON_AddStringToObject(obj, "path", path) &&
           cJSON_AddStringToObject(obj, "split", r->split) &&
           cJSON_AddStringToObject(obj, "sha256", r->sha256) &&
           (r->parent_sha256 ? cJSON_AddStringToObject(obj, "parent", r->parent_sha256)
                             : cJSON_AddNullToObject(obj, "parent")) &&
           cJSON_AddStringToObject(obj, "source_path", r->source_path ? r->source_path : "") &&
           (r->group_key ? cJSON_AddStringToObject(obj, "group", r->group_key)
                         : cJSON_AddNullToObject(obj, "group")) &&
           add_crop(obj, r) && add_labels(obj, r) == CUR_OK;
  /* valid UTF-8 even when the database holds labels from elsewhere */
  if (ok) out = cur_json_print(obj, 0);
  if (!out) cur_errorc(CUR_ENOMEM, "export: out of memory printing image %lld",
                       (long long)r->image_id);
  cJSON_Delete(obj);
  cur_free(path);
  return out;
}

int cur_manifest_write_jsonl(const char *dir, const cur_export_row *rows, size_t n, char hex[65]) {
  cur_outfile *f = NULL;
  char *path = cur_asprintf("%s/manifest.jsonl", dir);
  int rc = path ? cur_outfile_open(path, &f) : CUR_ENOMEM;
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    char *line = cur_manifest_json(&rows[i]);
    rc = line ? put(f, line) : CUR_ENOMEM;
    if (rc == CUR_OK) rc = put(f, "\n");
    cur_free(line);
  }
  if (rc == CUR_OK) rc = cur_outfile_commit(f, hex);
  else cur_outfile_abort(f);
  cur_free(path);
  return rc;
}

/* A CSV field: quoted (quotes doubled) when it holds a comma, quote or newline. */
static int put_field(cur_outfile *f, const char *s, int first) {
  int rc = first ? CUR_OK : put(f, ",");
  if (rc || !strpbrk(s, ",\"\r\n")) return rc ? rc : put(f, s);
  rc = put(f, "\"");
  for (const char *p = s; rc == CUR_OK && *p; p++) {
    rc = cur_outfile_write(f, p, 1);
    if (rc == CUR_OK && *p == '"') rc = put(f, "\"");
  }
  return rc ? rc : put(f, "\"");
}

/* The tasks that occur in ROWS, in task id order (at most CAP). */
static int csv_tasks(const cur_export_row *rows, size_t n, const cur_export_label **tasks, int cap) {
  int k = 0;
  for (size_t i = 0; i < n; i++) {
    for (int j = 0; j < rows[i].n_labels; j++) {
      const cur_export_label *l = &rows[i].labels[j];
      int at = 0;
      while (at < k && tasks[at]->task_id < l->task_id) at++;
      if (at < k && tasks[at]->task_id == l->task_id) continue;
      if (k == cap) return cur_errorc(CUR_EINPUT, "export: more than %d tasks for a CSV manifest", cap);
      memmove(tasks + at + 1, tasks + at, (size_t)(k - at) * sizeof *tasks);
      tasks[at] = l;
      k++;
    }
  }
  return k;
}

static int csv_header(cur_outfile *f, const cur_export_label *const *tasks, int k) {
  static const char *const suffix[] = {"", "_index", "_source", "_confidence", "_weight"};
  int rc = put(f, "id,path,split,sha256,parent,source_path,group");
  for (int t = 0; rc == CUR_OK && t < k; t++) {
    for (size_t s = 0; rc == CUR_OK && s < CUR_ARRAY_LEN(suffix); s++) {
      char *name = cur_asprintf("%s%s", tasks[t]->task, suffix[s]);
      rc = name ? put_field(f, name, 0) : CUR_ENOMEM;
      cur_free(name);
    }
  }
  return rc ? rc : put(f, "\n");
}

/* The five cells of task TASK_ID of R (empty when R has no label for it). */
static int csv_label(cur_outfile *f, const cur_export_row *r, int64_t task_id) {
  const cur_export_label *l = NULL;
  char idx[32] = "", conf[32] = "", weight[32] = "";
  for (int j = 0; j < r->n_labels; j++)
    if (r->labels[j].task_id == task_id) l = &r->labels[j];
  if (l) {
    snprintf(idx, sizeof idx, "%d", l->class_idx);
    if (!isnan(l->confidence)) snprintf(conf, sizeof conf, "%.9g", l->confidence);
    snprintf(weight, sizeof weight, "%.9g", l->weight);
  }
  const char *cells[] = {l ? l->class_name : "", idx, l ? l->source : "", conf, weight};
  int rc = CUR_OK;
  for (size_t c = 0; rc == CUR_OK && c < CUR_ARRAY_LEN(cells); c++) rc = put_field(f, cells[c], 0);
  return rc;
}

static int csv_row(cur_outfile *f, const cur_export_row *r, const cur_export_label *const *tasks,
                   int k) {
  char id[32];
  char *path = cur_manifest_image_path(r);
  snprintf(id, sizeof id, "%lld", (long long)r->image_id);
  int rc = path ? put_field(f, id, 1) : CUR_ENOMEM;
  if (rc == CUR_OK) rc = put_field(f, path, 0);
  if (rc == CUR_OK) rc = put_field(f, r->split, 0);
  if (rc == CUR_OK) rc = put_field(f, r->sha256, 0);
  if (rc == CUR_OK) rc = put_field(f, r->parent_sha256 ? r->parent_sha256 : "", 0);
  if (rc == CUR_OK) rc = put_field(f, r->source_path ? r->source_path : "", 0);
  if (rc == CUR_OK) rc = put_field(f, r->group_key ? r->group_key : "", 0);
  for (int t = 0; rc == CUR_OK && t < k; t++) rc = csv_label(f, r, tasks[t]->task_id);
  cur_free(path);
  return rc ? rc : put(f, "\n");
}

#define CSV_MAX_TASKS 64  /* a manifest with more tasks than this is better read as JSONL */

int cur_manifest_write_csv(const char *dir, const cur_export_row *rows, size_t n, char hex[65]) {
  const cur_export_label *tasks[CSV_MAX_TASKS];
  cur_outfile *f = NULL;
  int k = csv_tasks(rows, n, tasks, CSV_MAX_TASKS);
  if (k < 0) return k;
  char *path = cur_asprintf("%s/manifest.csv", dir);
  int rc = path ? cur_outfile_open(path, &f) : CUR_ENOMEM;
  if (rc == CUR_OK) rc = csv_header(f, tasks, k);
  for (size_t i = 0; rc == CUR_OK && i < n; i++) rc = csv_row(f, &rows[i], tasks, k);
  if (rc == CUR_OK) rc = cur_outfile_commit(f, hex);
  else cur_outfile_abort(f);
  cur_free(path);
  return rc;
}
