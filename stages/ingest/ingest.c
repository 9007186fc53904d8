/* ingest.c -- the ingest stage: reads every registered source into the store.
**
** For each source, entries are read in the source's fixed order and handled
** in small batches: the reader thread fills a batch (skipping the bytes of
** entries already recorded), a worker thread hashes and decodes it, and this
** thread records batches in order, committing a transaction every
** ingest.batch_size entries.  A killed run resumes where the last commit
** ended, because an entry recorded in source_entries is never read again,
** and image ids follow the fixed order, so the finished database is the same.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "curate.h"
#include "entry_meta.h"
#include "entry_reader.h"
#include "image.h"
#include "ingest_internal.h"
#include "labelfile.h"
#include "sha256.h"
#include "source.h"
#include "stages.h"
#include "store_images.h"
#include "store_labels.h"
#include "store_runs.h"
#include "strmap.h"

/* What the reader hands over at a time.  Small, so that reading, decoding and
** recording overlap from the first entry to the last; the transaction size
** (batch_size) is separate. */
#define READ_ENTRIES 64
#define READ_BYTES (8u << 20)

static int check_classes(const cJSON *v, const char *name) {
  for (const cJSON *task = v->child; task; task = task->next) {
    const cJSON *c;
    if (!cJSON_IsArray(task))
      return cur_errorc(CUR_ECONFIG, "%s.%s: expected an array of class names", name, task->string);
    cJSON_ArrayForEach(c, task) if (!cJSON_IsString(c) || !c->valuestring[0])
      return cur_errorc(CUR_ECONFIG, "%s.%s: class names must be non-empty strings", name, task->string);
  }
  return CUR_OK;
}

static const cur_option ingest_options[] = {
    {"max_pixels", CUR_OPT_LONG, "100000000",
     "largest width x height decoded; larger images are quarantined (decompression bombs)",
     cur_option_check_positive},
    {"max_file_bytes", CUR_OPT_LONG, "268435456",
     "largest file read; larger entries are rejected unread", cur_option_check_positive},
    {"unlabeled_dir", CUR_OPT_STR, "\"unlabeled\"",
     "folder name whose images carry no label (ImageFolder layout)", NULL},
    {"val_from_train", CUR_OPT_NUM, "0",
     "share of groups the source puts in train that are moved to val (for sources without val)",
     cur_option_check_fraction},
    {"classes", CUR_OPT_OBJ, "{}",
     "class list per task, e.g. {\"label\": [\"cat\", \"dog\"]}: fixes class order; a label "
     "outside a listed task is an error unless add_classes",
     check_classes},
    {"add_classes", CUR_OPT_BOOL, "false",
     "add labels missing from a task's class list instead of reporting them", NULL},
    {"ignore_labels", CUR_OPT_STRS, "[]",
     "label values that mean \"no label\", e.g. [\"Not sure\", \"Skip\"]", NULL},
    {"keep_quarantined_bytes", CUR_OPT_INT, "1048576",
     "bytes of a quarantined file kept in the database (its start); the rest is dropped",
     cur_option_check_nonnegative},
    {"batch_size", CUR_OPT_INT, "16384", "entries committed per transaction", cur_option_check_positive},
    {NULL, 0, NULL, NULL, NULL}};

/* What the workers found out about one entry of a batch. */
typedef struct probe {
  char sha[65];
  cur_image_info info;
  int bad;                 /* decode failed: quarantine */
  int over_limit;          /* bad because over max_pixels: read again on re-ingest */
  char reason[256];
} probe;

/* Worker-thread hook: hashes and decodes a filled batch while this thread
** records earlier ones (it touches no store, so batches may run at once). */
static void probe_batch(void *ctx, cur_batch *b) {
  const ingest *g = ctx;
  for (int i = 0; i < b->n; i++) {
    const cur_entry *e = &b->entries[i];
    probe *p = (probe *)b->extra + i;
    if (b->recorded[i] != CUR_ENTRY_NEW || e->reject || !e->data) continue;
    cur_sha256_buf_hex(e->data, e->len, p->sha);
    p->bad = cur_image_probe(e->data, e->len, g->max_pixels, &p->info, p->reason,
                             sizeof p->reason) != CUR_OK;
    /* the probes fill the size from the header before checking it */
    p->over_limit = p->bad && (int64_t)p->info.width * p->info.height > g->max_pixels;
  }
}

static int ignored_label(const ingest *g, const char *value) {
  const cJSON *v;
  cJSON_ArrayForEach(v, cur_opt_json(g->opt, "ignore_labels"))
    if (strcmp(v->valuestring, value) == 0) return 1;
  return 0;
}

/* The class id for VALUE in TASK, added when allowed; 0 when not a class. */
static int resolve_class(ingest *g, const char *task, int64_t task_id, const char *value,
                         const cur_entry_meta *m, const char *path, int64_t *class_id) {
  size_t cached;
  char *key = cur_asprintf("%lld:%s", (long long)task_id, value);
  if (!key) return CUR_ENOMEM;
  int found, rc = CUR_OK;
  if (cur_strmap_get(g->class_ids, key, &cached)) {
    *class_id = (int64_t)cached;
    goto cleanup;
  }
  if ((rc = cur_store_class_find(g->st, task_id, value, class_id, &found))) goto cleanup;
  const cJSON *listed = cJSON_GetObjectItemCaseSensitive(cur_opt_json(g->opt, "classes"), task);
  if (!found && listed && !cur_opt_bool(g->opt, "add_classes")) {
    *class_id = 0;
    cur_run_input_error(g->run, "ingest: %s%s%d: %s: label '%s' is not a class of task '%s' "
                        "(listed in ingest.classes; set ingest.add_classes to add it)",
                        m->line ? cur_labelfile_path(g->rules.labels) : g->uri, m->line ? ":" : "",
                        m->line, path, value, task);
    goto cleanup;
  }
  if (!found && (rc = cur_store_class_add(g->st, task_id, value, class_id))) goto cleanup;
  if (cur_strmap_put(g->class_ids, key, (size_t)*class_id) < 0) rc = CUR_ENOMEM;
cleanup:
  cur_free(key);
  return rc;
}

static int resolve_task(ingest *g, const char *task, int64_t *task_id) {
  size_t cached;
  if (cur_strmap_get(g->task_ids, task, &cached)) {
    *task_id = (int64_t)cached;
    return CUR_OK;
  }
  int rc = cur_store_task_ensure(g->st, task, task_id);
  if (rc) return rc;
  return cur_strmap_put(g->task_ids, task, (size_t)*task_id) < 0 ? CUR_ENOMEM : CUR_OK;
}

int cur__ingest_apply_labels(ingest *g, const cur_entry_meta *m, const char *path, int64_t image_id,
                        int fresh) {
  for (int t = 0; t < m->n; t++) {
    int64_t task_id, class_id, have;
    int found, rc;
    if (!m->value[t] || ignored_label(g, m->value[t])) continue;
    if ((rc = resolve_task(g, m->task[t], &task_id))) return rc;
    if ((rc = resolve_class(g, m->task[t], task_id, m->value[t], m, path, &class_id))) return rc;
    if (!class_id) continue;
    found = 0;  /* a fresh image has no labels yet: spare the query */
    if (!fresh && (rc = cur_store_label_latest(g->st, image_id, task_id, "human", &have, &found)))
      return rc;
    if (!found) rc = cur_store_label_add(g->st, image_id, task_id, class_id, "human", NAN,
                                         cur_run_id(g->run));
    if (rc || !found || have == class_id) {
      if (rc) return rc;
      continue;
    }
    if ((rc = cur_store_flag_exists(g->st, image_id, task_id, "duplicate_conflict", class_id, &found)))
      return rc;
    if (found) continue;
    char detail[512];
    snprintf(detail, sizeof detail, "%s gives '%s' for task '%s', unlike the image's label", path,
             m->value[t], m->task[t]);
    cur_warn("ingest: %s: %s; flagged for review", g->uri, detail);
    if ((rc = cur_store_flag_add(g->st, cur_run_id(g->run), "duplicate_conflict", image_id, task_id,
                                 NAN, class_id, detail)))
      return rc;
  }
  return CUR_OK;
}

/* Split for a new image: the source's word (pinned), else a placeholder
** that the split stage replaces once it sees every group and label.  A
** source's train rows may lose a share of their groups to val by a hash of
** the group (val_from_train); those count as pinned too. */
static const char *choose_split(const ingest *g, const cur_entry_meta *m, const char *sha,
                                const char **source) {
  const char *key = m->group ? m->group : sha;
  if (!m->split) {
    *source = "provisional";
    return "train";
  }
  *source = "pinned";
  double share = cur_opt_num(g->opt, "val_from_train");
  if (strcmp(m->split, "train") == 0 && share > 0 && cur_hash_unit("val_from_train", key) < share)
    return "val";
  return m->split;
}

/* Stores the entry's content (or finds it stored) and records the entry:
** ingested, quarantined, or a duplicate of the image that has its bytes.  A
** quarantined row keeps only the start of its bytes (keep_quarantined_bytes:
** a 1.28 MB zip of junk once made a 210 MB database).  An entry read again
** (its retry flag) may find its own quarantined row: the row is rewritten
** from this reading, so an image over an old max_pixels becomes ok. */
static int add_image(ingest *g, const cur_entry *e, const probe *p, const cur_entry_meta *m,
                     int64_t *id, int *added) {
  int64_t kept = p->bad && (int64_t)e->len > g->keep_bytes ? g->keep_bytes : (int64_t)e->len;
  size_t before;
  cur_image_row row = {
      .sha256 = p->sha, .bytes = e->data, .bytes_len = kept, .byte_size = (int64_t)e->len,
      .format = p->info.format[0] ? p->info.format : NULL, .width = p->info.width,
      .height = p->info.height, .bands = p->info.bands, .source_id = g->source_id,
      .source_path = e->path, .group_key = m->group,
      .status = p->bad ? "quarantined" : "ok", .status_reason = p->bad ? p->reason : NULL,
      .run_id = cur_run_id(g->run)};
  row.split = choose_split(g, m, p->sha, &row.split_source);
  int rc = cur_store_image_add(g->st, &row, id, added);
  if (rc) return rc;
  int own = !*added && cur_strmap_get(g->retrying, e->path, &before) && (int64_t)before - 1 == *id;
  /* a sound reading revives the stored row whoever reads it; a bad one only
  ** updates the entry's own row (its reason may name a new limit) */
  if (!*added && (own || !p->bad) && (rc = cur_store_image_recheck(g->st, *id, &row))) return rc;
  if (!*added && !own) {
    char reason[64];
    snprintf(reason, sizeof reason, "same content as image %lld", (long long)*id);
    return cur_store_entry_add(g->st, g->source_id, e->path, *id, "duplicate", reason, 0,
                               cur_run_id(g->run));
  }
  if (p->bad) cur_run_input_error(g->run, "ingest: %s: %s: quarantined: %s", g->uri, e->path, p->reason);
  return cur_store_entry_add(g->st, g->source_id, e->path, *id, p->bad ? "quarantined" : "ingested",
                             p->bad ? p->reason : NULL, p->over_limit, cur_run_id(g->run));
}

/* Notes which label-file row entry PATH matched, or that it matched none. */
static int note_row(ingest *g, const cur_entry_meta *m, const char *path) {
  const cur_labelfile *lf = g->rules.labels;
  if (!lf) return CUR_OK;
  if (m->row) {
    g->row_used[m->row - cur_labelfile_row(lf, 0)] = 1;
    return CUR_OK;
  }
  /* labelled by the source itself (an IDX labels file, a folder): not silent */
  if (m->n > 0) return CUR_OK;
  if (g->no_row < (int64_t)CUR_ARRAY_LEN(g->no_row_first) &&
      !(g->no_row_first[g->no_row] = cur_strdup(path)))
    return CUR_ENOMEM;
  g->no_row++;
  return CUR_OK;
}

static int record_item(ingest *g, int i) {
  cur_entry *e = &g->batch->entries[i];
  int64_t recorded = g->batch->recorded[i], image_id;
  cur_entry_meta m;
  int rc;
  cur_entry_meta_get(&g->rules, e, &m);
  if (recorded == CUR_ENTRY_REPEATED) {
    cur_run_input_error(g->run, "ingest: %s: %s: the name appears again in the source; only the "
                        "first is read", g->uri, e->path);
    return CUR_OK;
  }
  if (recorded == 0) return CUR_OK;  /* rejected in an earlier run */
  if (recorded > 0) {
    rc = note_row(g, &m, e->path);
    return rc ? rc : cur__ingest_apply_labels(g, &m, e->path, recorded, 0);
  }
  if (e->reject || !e->data) {
    char over[96];
    snprintf(over, sizeof over, "file is over ingest.max_file_bytes (%lld bytes)",
             (long long)g->max_file_bytes);
    const char *why = e->reject ? e->reject : over;
    cur_run_input_error(g->run, "ingest: %s: %s: rejected: %s", g->uri, e->path, why);
    /* over the limit: read again once the limit is raised */
    return cur_store_entry_add(g->st, g->source_id, e->path, 0, "rejected", why,
                               e->retry || !e->reject, cur_run_id(g->run));
  }
  if (m.bad_split)
    cur_run_input_error(g->run, "ingest: %s:%d: split '%s' is not train, val or test; left to the split stage",
                        cur_labelfile_path(g->rules.labels), m.line, m.bad_split);
  const probe *p = (const probe *)g->batch->extra + i;
  int added;
  if ((rc = note_row(g, &m, e->path)) || (rc = add_image(g, e, p, &m, &image_id, &added))) return rc;
  return cur__ingest_apply_labels(g, &m, e->path, image_id, added);
}

/* Adds PATH -> IMAGE_ID + 1 to the map CTX. */
static int remember_entry(void *ctx, const char *path, int64_t image_id) {
  return cur_strmap_put(ctx, path, (size_t)image_id + 1) < 0 ? CUR_ENOMEM : CUR_OK;
}

/* Records the reader's batches in source order, BATCH_SIZE entries or
** INGEST_BATCH_BYTES (or the rest of the source) per transaction; Ctrl-C stops
** after a commit. */
static int record_batches(ingest *g, cur_entry_reader *reader, int batch_size) {
  int rc = CUR_OK, open = 0, pending = 0;  /* entries recorded in the open transaction */
  size_t bytes = 0;                        /* and their size */
  while (rc == CUR_OK && (g->batch = cur_entry_reader_next(reader))) {
    if (!open && (rc = cur_store_begin(g->st)) == CUR_OK) open = 1;
    for (int i = 0; rc == CUR_OK && i < g->batch->n; i++) {
      rc = record_item(g, i);
      bytes += g->batch->entries[i].len;
    }
    pending += g->batch->n;
    /* a source that fails midway (last is set) keeps what was read before;
    ** the caller marks it failed */
    if (rc == CUR_OK && (pending >= batch_size || bytes >= INGEST_BATCH_BYTES || g->batch->last)) {
      if ((rc = cur_store_commit(g->st)) == CUR_OK) cur_run_progress_add(g->run, pending);
      open = pending = 0;
      bytes = 0;
      if (rc == CUR_OK && g->batch->rc == CUR_ENOMEM) rc = cur_errorc(CUR_ENOMEM, "%s", g->batch->error);
      else if (rc == CUR_OK && g->batch->rc) {
        g->read_rc = g->batch->rc;
        snprintf(g->read_error, sizeof g->read_error, "%s", g->batch->error);
      }
      if (rc == CUR_OK && cur_interrupted()) rc = CUR_EINTR;
    }
    cur_entry_reader_release(reader, g->batch);
  }
  if (open) cur_store_rollback(g->st);
  return rc;
}

/* Reads (on the reader thread), probes (on workers) and records (here) the
** source's entries, in source order.  Entries recorded with the retry flag
** are left out of RECORDED, so the reader reads them again. */
static int ingest_entries(ingest *g, cur_source *src, int batch_size) {
  cur_strmap *recorded = cur_strmap_new();
  cur_entry_reader *reader = NULL;
  int rc = recorded && (g->retrying = cur_strmap_new()) ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur_store_entries_of(g->st, g->source_id, 0, remember_entry, recorded);
  if (rc == CUR_OK) rc = cur_store_entries_of(g->st, g->source_id, 1, remember_entry, g->retrying);
  if (rc == CUR_OK)
    rc = cur_entry_reader_start(src, recorded, READ_ENTRIES, READ_BYTES, sizeof(probe), probe_batch,
                                g, cur_run_threads(g->run), &reader);
  if (rc == CUR_OK) rc = record_batches(g, reader, batch_size);
  cur_entry_reader_stop(reader);
  cur_strmap_free(recorded);
  cur_strmap_free(g->retrying);
  g->retrying = NULL;
  return rc;
}

/* Per-source options, as `curate ingest` stored them. */
typedef struct source_opts {
  cJSON *json;
  cur_labelspec spec;
  const char *task_names[CUR_MAX_TASKS], *task_columns[CUR_MAX_TASKS];
  char **class_names;
  int n_class_names;
} source_opts;

static const char *opt_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse_source_opts(const char *text, source_opts *so) {
  memset(so, 0, sizeof *so);
  if (!(so->json = cJSON_Parse(text)))
    return cur_errorc(CUR_EDB, "ingest: stored source options are not JSON: %s", text);
  so->spec.path_column = opt_str(so->json, "path_column");
  so->spec.split_column = opt_str(so->json, "split_column");
  so->spec.group_column = opt_str(so->json, "group_column");
  const cJSON *t, *names = cJSON_GetObjectItemCaseSensitive(so->json, "class_names");
  const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(so->json, "tasks");
  if (cJSON_GetArraySize(tasks) > CUR_MAX_TASKS)  /* `curate ingest` refuses them too */
    return cur_errorc(CUR_ECONFIG, "ingest: %s: %d tasks given; at most %d are supported",
                      opt_str(so->json, "labels") ? opt_str(so->json, "labels") : "--task",
                      cJSON_GetArraySize(tasks), CUR_MAX_TASKS);
  cJSON_ArrayForEach(t, tasks) {
    if (!cJSON_IsString(t)) continue;
    so->task_names[so->spec.n_tasks] = t->string;
    so->task_columns[so->spec.n_tasks++] = t->valuestring;
  }
  so->spec.task_names = so->task_names;
  so->spec.task_columns = so->task_columns;
  int n = cJSON_GetArraySize(names);
  if (n > 0 && !(so->class_names = cur_calloc((size_t)n, sizeof *so->class_names))) return CUR_ENOMEM;
  for (int i = 0; i < n; i++) {
    const cJSON *c = cJSON_GetArrayItem(names, i);
    if (cJSON_IsString(c)) so->class_names[so->n_class_names++] = c->valuestring;
  }
  return CUR_OK;
}

static void source_opts_free(source_opts *so) {
  cJSON_Delete(so->json);
  cur_free(so->class_names);
}

static void report_label_row(void *ctx, const char *msg) {
  cur_run_input_error(ctx, "ingest: %s", msg);
}

static int never_want(void *ctx, const char *path) {
  (void)ctx;
  (void)path;
  return 0;
}

/* Entries in a source, for the progress bar: known at once for folders,
** else counted by a pass over the names only (-1 when that fails). */
static int64_t count_entries(const cur_source_row *row, const cur_source *opened) {
  int64_t total = cur_source_count(opened);
  cur_source *src;
  cur_entry e = {0};
  int r;
  if (total >= 0) return total;
  if (cur_source_open(row->uri, row->kind, 0, NULL, 0, &src) != CUR_OK) return -1;
  for (total = 0; (r = cur_source_next(src, &e, never_want, NULL)) == 1;) total++;
  cur_entry_clear(&e);
  cur_source_close(src);
  cur_error_clear();
  return r < 0 ? -1 : total;
}

/* True when RC, from opening or reading a source, belongs to that source (a
** CSV given as an archive, a truncated tar, a missing label file) rather
** than to the whole run (memory, the database, Ctrl-C). */
static int source_fault(int rc) {
  return rc != CUR_OK && rc != CUR_ENOMEM && rc != CUR_EDB && rc != CUR_EINTR;
}

/* Records what reading ROW found (STATE, and WHY for a failure, which is
** reported): a failed source is named and the other sources go on. */
static int settle_source(cur_run *run, const cur_source_row *row, const char *state,
                         const char *why) {
  if (why)
    cur_run_input_error(run, "ingest: source %lld %s: %s; what was read before stays (`curate "
                        "sources` lists the sources, `curate sources remove %lld` unregisters it)",
                        (long long)row->id, state, why, (long long)row->id);
  return cur_store_source_state(cur_run_store(run), row->id, state, why);
}

/* Says how the label file and the source met: rows that name no image of
** the source (a mistyped path, another source's file) and images that have
** no row.  Warnings, not errors: a label file may cover more than one
** source, and a source may hold unlabelled images; but never silent. */
static void label_coverage(const ingest *g) {
  const cur_labelfile *lf = g->rules.labels;
  char first[1024] = "";
  size_t unused = 0, n = cur_labelfile_count(lf);
  for (size_t i = 0; i < n; i++) {
    const cur_labelrow *r = cur_labelfile_row(lf, i);
    if (g->row_used[i] || unused++ >= 3) continue;
    size_t len = strlen(first);
    snprintf(first + len, sizeof first - len, "%sline %d '%s'", len ? ", " : "", r->line, r->path);
  }
  if (unused)
    cur_warn("ingest: %s: %zu row%s name%s no image of %s; first: %s%s", cur_labelfile_path(lf), unused,
             unused == 1 ? "" : "s", unused == 1 ? "s" : "", g->uri, first, unused > 3 ? ", ..." : "");
  first[0] = 0;
  for (int64_t i = 0; i < g->no_row && i < (int64_t)CUR_ARRAY_LEN(g->no_row_first); i++) {
    size_t len = strlen(first);
    snprintf(first + len, sizeof first - len, "%s%s", i ? ", " : "", g->no_row_first[i]);
  }
  if (g->no_row)
    cur_warn("ingest: %s: %lld image%s no row in %s (%s); first: %s%s", g->uri, (long long)g->no_row,
             g->no_row == 1 ? " has" : "s have", cur_labelfile_path(lf),
             g->rules.folder_labels ? "labelled by their folder, if at all" : "no label from it", first,
             g->no_row > (int64_t)CUR_ARRAY_LEN(g->no_row_first) ? ", ..." : "");
}

/* Opens ROW's label file and reader and reads its entries into G. */
static int read_source(ingest *g, const cur_source_row *row, int batch_size) {
  source_opts so;
  cur_labelfile *lf = NULL;
  cur_boxfile *bf = NULL;
  cur_source *src = NULL;
  int rc = parse_source_opts(row->options, &so);
  if (rc) goto cleanup;
  if (!(g->task_ids = cur_strmap_new()) || !(g->class_ids = cur_strmap_new())) {
    rc = CUR_ENOMEM;
    goto cleanup;
  }
  const char *labels = opt_str(so.json, "labels");
  if (labels && (rc = cur_labelfile_load(labels, &so.spec, report_label_row, g->run, &lf))) goto cleanup;
  /* a box file that cannot be read fails the source before its images are
  ** read, as a label file does: the images alone are not what was asked */
  const char *boxes = opt_str(so.json, "boxes");
  if (boxes && (rc = cur_boxfile_load(boxes, opt_str(so.json, "boxes_format"), report_label_row,
                                      g->run, &bf)))
    goto cleanup;
  if (lf && !(g->row_used = cur_calloc(cur_labelfile_count(lf) + 1, 1))) {
    rc = CUR_ENOMEM;
    goto cleanup;
  }
  g->rules.labels = lf;
  g->rules.folder_labels = !lf || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so.json, "folder_labels"));
  g->rules.unlabeled_dir = cur_opt_str(g->opt, "unlabeled_dir");
  g->rules.forced_split = cur_split_name(opt_str(so.json, "split"));
  if ((rc = cur_source_open(row->uri, row->kind, g->max_file_bytes, so.class_names,
                            so.n_class_names, &src)))
    goto cleanup;
  const char *base = strrchr(row->uri, '/');
  char what[96];
  snprintf(what, sizeof what, "ingest %s", base ? base + 1 : row->uri);
  cur_run_progress_start(g->run, what, count_entries(row, src));
  rc = ingest_entries(g, src, batch_size);
  if (rc == CUR_OK && bf) rc = cur__ingest_boxes(g, bf, so.json);
  /* a source cut short would make every later row look unmatched */
  if (rc == CUR_OK && lf && !g->read_rc) label_coverage(g);
cleanup:
  cur_strmap_free(g->task_ids);
  cur_strmap_free(g->class_ids);
  cur_free(g->row_used);
  for (size_t i = 0; i < CUR_ARRAY_LEN(g->no_row_first); i++) cur_free(g->no_row_first[i]);
  cur_source_close(src);
  cur_labelfile_free(lf);
  cur_boxfile_free(bf);
  source_opts_free(&so);
  return rc;
}

/* Reads one source.  A source that is gone, cannot be opened or breaks off
** midway is marked (missing or failed, with the reason) and reported, and
** CUR_OK returned so that the other sources are read: only the whole run's
** failures (memory, database, Ctrl-C) come back as errors. */
static int ingest_source(cur_run *run, const cur_source_row *row, int batch_size) {
  const cJSON *opt = cur_run_options(run);
  ingest g = {.run = run, .st = cur_run_store(run), .opt = opt, .source_id = row->id,
              .uri = row->uri, .max_pixels = cur_opt_int(opt, "max_pixels"),
              .max_file_bytes = cur_opt_int(opt, "max_file_bytes"),
              .keep_bytes = cur_opt_int(opt, "keep_quarantined_bytes"), .batch_size = batch_size};
  struct stat sb;
  if (stat(row->uri, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
    char why[600];
    snprintf(why, sizeof why, "%s: %s (moved or deleted?)", row->uri, strerror(errno));
    return settle_source(run, row, "missing", why);
  }
  int rc = read_source(&g, row, batch_size);
  if (source_fault(rc)) return settle_source(run, row, "failed", cur_error());
  if (rc) return rc;
  return settle_source(run, row, g.read_rc ? "failed" : "ok", g.read_rc ? g.read_error : NULL);
}

/* Creates the configured tasks and classes first, so class order follows
** the configuration rather than the order labels happen to appear in. */
static int create_listed_classes(cur_run *run) {
  cur_store *st = cur_run_store(run);
  const cJSON *task, *c;
  int rc = cur_store_begin(st);
  for (task = cur_opt_json(cur_run_options(run), "classes")->child; rc == CUR_OK && task; task = task->next) {
    int64_t task_id, class_id;
    int found;
    if ((rc = cur_store_task_ensure(st, task->string, &task_id))) break;
    cJSON_ArrayForEach(c, task) {
      if ((rc = cur_store_class_find(st, task_id, c->valuestring, &class_id, &found))) break;
      if (!found && (rc = cur_store_class_add(st, task_id, c->valuestring, &class_id))) break;
    }
  }
  if (rc == CUR_OK) rc = cur_store_task_ensure(st, CUR_DEFAULT_TASK, &(int64_t){0});
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

static void set_count(void *ctx, const char *outcome, int64_t n) {
  cur_run_count_set(ctx, outcome, n);
}

static int ingest_run(cur_run *run) {
  cur_source_row *rows = NULL;
  int n = 0, rc;
  const cJSON *opt = cur_run_options(run);
  int batch_size = (int)cur_opt_int(opt, "batch_size");
  if ((rc = cur_image_init()) || (rc = create_listed_classes(run)) ||
      (rc = cur_store_sources(cur_run_store(run), &rows, &n)))
    goto cleanup;
  if (n == 0) cur_info("ingest: no sources yet; add one with `curate ingest SOURCE`");
  for (int i = 0; rc == CUR_OK && i < n; i++) rc = ingest_source(run, &rows[i], batch_size);
  if (rc == CUR_OK || rc == CUR_EINTR) {
    /* counts come from the database, so a resumed run reports the same */
    int crc = cur_store_entry_counts(cur_run_store(run), cur_run_id(run), set_count, run);
    if (rc == CUR_OK) rc = crc;
  }
cleanup:
  cur_store_sources_free(rows, n);
  return rc;
}

/* What ingest reads: every source's images (cur_source_stamp), its options,
** its label file and box file.  Entries to be read again (retry) are not stamped:
** their state before a run differs from the state after it, so the run
** would never be up to date; a changed option makes ingest pending, and a
** fixed permission needs `curate ingest --force`. */
static int ingest_fingerprint(cur_run *run, cur_sha256 *h) {
  cur_source_row *rows;
  int n, rc = cur_store_sources(cur_run_store(run), &rows, &n);
  if (rc) return rc;
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    cur_sha256_str(h, rows[i].options);
    if ((rc = cur_source_stamp(rows[i].uri, h))) break;
    cJSON *o = cJSON_Parse(rows[i].options);
    const char *labels = opt_str(o, "labels"), *boxes = opt_str(o, "boxes");
    if (labels) rc = cur_file_stamp(labels, h);
    if (boxes && rc == CUR_OK) rc = cur_file_stamp(boxes, h);
    cJSON_Delete(o);
  }
  cur_store_sources_free(rows, n);
  return rc;
}

/* What ingest stored, as the stages after it read it: a re-ingest of
** unchanged (only touched) files leaves it as it was. */
static int ingest_output_version(cur_store *st, cur_sha256 *h) {
  int64_t v[CUR_INGEST_VERSION_LEN];
  int rc = cur_store_ingest_version(st, v);
  for (int i = 0; rc == CUR_OK && i < CUR_INGEST_VERSION_LEN; i++) cur_sha256_i64(h, v[i]);
  return rc;
}

/* batches of independent entries: their size cannot change a result */
static const char *const ingest_unhashed[] = {"batch_size", NULL};
/* only its sources, through its fingerprint hook */
static const char *const ingest_reads[] = {NULL};

const cur_stage stage_ingest = {
    .name = "ingest",
    .reads = ingest_reads,
    .summary = "read images and labels from the registered sources into the database",
    .needs = NULL,
    .options = ingest_options,
    .unhashed = ingest_unhashed,
    .fingerprint = ingest_fingerprint,
    .fingerprint_what = "the sources' files, label files or options",
    .output_version = ingest_output_version,
    .run = ingest_run,
};
