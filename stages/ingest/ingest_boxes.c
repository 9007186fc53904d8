/* ingest_boxes.c -- crops from detection boxes: each box of a source's box
** file becomes an image row of its own, cut from an image of the source.
**
** A crop is a classification example in its own right, so its row is an
** original one (parent_id NULL: the split, embed, audit and training stages
** select it like any image), and its transform says where it came from:
** {"crop": {"parent": ID, "parent_sha256", "image", "box", "padding",
** "rect", "label", "score", "format", "from"}}.  Its pixels are stored (a
** lossless PNG of the parent's 8-bit pixels), so embed, export and serve
** read it like any image and never need the parent again.
**
** Invariants:
**   1. a crop shares its parent's split and group: a parent without a group
**      takes its content hash as its group key, which its crops carry too.
**   2. each crop is recorded in source_entries under the key
**      "PATH#crop=LEFT,TOP,WIDTH,HEIGHT;LABEL" in the transaction that adds
**      its row and label, so a resumed run or a second ingest of the same
**      boxes skips it without decoding anything and adds nothing.
**   3. boxes are taken in the order of their image's path, then their order
**      in the file, so each parent is decoded once and ids are the same on
**      every run.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "image.h"
#include "ingest_internal.h"
#include "sha256.h"
#include "store_crops.h"
#include "store_embed.h"
#include "store_images.h"
#include "text.h"

typedef struct crops {
  ingest *g;
  const cur_boxfile *bf;
  double padding, min_size, min_score;
  const char *task;
  /* the source's entries: path -> index into paths and ids (crops included) */
  cur_strmap *entries, *stems;
  cur_strmap *ambiguous;      /* stems two entries share (a.jpg and a.png) */
  char **paths;
  int64_t *ids;               /* image id, 0 for a rejected entry */
  size_t n, cap;
  /* the parent decoded for the boxes of the current image */
  int64_t decoded;            /* its id, 0 when none */
  cur_image_pixels px;
  char decode_why[256];       /* non-empty when it could not be decoded */
  /* what became of the boxes, for the closing line */
  int64_t made, before, small, low, bad;
  size_t written;             /* bytes of the crops in the open transaction */
} crops;

/* Adds an entry of the source (cur_store_entries_of callback). */
static int add_entry(void *ctx, const char *path, int64_t image_id) {
  crops *c = ctx;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    char **paths = cur_reallocarray(c->paths, cap, sizeof *paths);
    if (paths) c->paths = paths;
    int64_t *ids = paths ? cur_reallocarray(c->ids, cap, sizeof *ids) : NULL;
    if (!ids) return CUR_ENOMEM;
    c->ids = ids;
    c->cap = cap;
  }
  if (!(c->paths[c->n] = cur_strdup(path))) return CUR_ENOMEM;
  c->ids[c->n] = image_id;
  if (cur_strmap_put(c->entries, path, c->n++) < 0) return CUR_ENOMEM;
  const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
  if (strstr(path, "#crop=") || !dot || (slash && dot < slash)) return CUR_OK;
  char *stem = cur_strndup(path, (size_t)(dot - path));
  int added = stem ? cur_strmap_put(c->stems, stem, c->n - 1) : -1;
  if (added == 0) added = cur_strmap_put(c->ambiguous, stem, 0) < 0 ? -1 : 0;
  cur_free(stem);
  return added < 0 ? CUR_ENOMEM : CUR_OK;
}

/* The entry of box B's image, or reports why there is none (-1). */
static long find_entry(crops *c, const cur_box *b) {
  size_t at;
  int known = cur_strmap_get(b->stem ? c->stems : c->entries, b->image, &at);
  if (known && b->stem && cur_strmap_get(c->ambiguous, b->image, &(size_t){0})) {
    cur_run_input_error(c->g->run, "ingest: %s: '%s' names more than one image of %s (files with "
                        "the same name and different extensions); box skipped", b->where, b->image,
                        c->g->uri);
  } else if (!known) {
    cur_run_input_error(c->g->run, "ingest: %s: '%s%s' is not an image of %s (unknown image); box "
                        "skipped", b->where, b->image, b->stem ? ".*" : "", c->g->uri);
  } else if (c->ids[at] == 0) {
    cur_run_input_error(c->g->run, "ingest: %s: image '%s' was rejected by ingest; box skipped",
                        b->where, c->paths[at]);
  } else {
    return (long)at;
  }
  c->bad++;
  return -1;
}

static int keep_pixels(void *ctx, int64_t id, const void *bytes, size_t len) {
  crops *c = ctx;
  (void)id;
  int rc = cur_image_decode_pixels(bytes, len, c->g->max_pixels, &c->px, c->decode_why,
                                   sizeof c->decode_why);
  if (rc == CUR_EINPUT && !c->decode_why[0]) snprintf(c->decode_why, sizeof c->decode_why, "cannot decode");
  return rc == CUR_EINPUT ? CUR_OK : rc;
}

/* Decodes image ID unless it is the one decoded last. */
static int decode_parent(crops *c, int64_t id) {
  if (c->decoded == id) return CUR_OK;
  cur_free(c->px.data);
  memset(&c->px, 0, sizeof c->px);
  c->decode_why[0] = 0;
  c->decoded = id;
  int rc = cur_store_image_bytes(c->g->st, id, keep_pixels, c);
  if (rc == CUR_OK && !c->px.data && !c->decode_why[0])
    snprintf(c->decode_why, sizeof c->decode_why, "its bytes are gone");
  return rc;
}

/* The transform of a crop: where it came from, exactly. */
static char *crop_json(const crops *c, const cur_box *b, int64_t parent_id, const char *parent_sha,
                       const char *path, const int rect[4], int w, int h) {
  double sx = b->normalised ? w : 1, sy = b->normalised ? h : 1;
  const double box[4] = {b->x * sx, b->y * sy, b->w * sx, b->h * sy};
  const int r[4] = {rect[0], rect[1], rect[2], rect[3]};
  cJSON *root = cJSON_CreateObject(), *crop = cJSON_AddObjectToObject(root, "crop");
  int ok = crop && cJSON_AddNumberToObject(crop, "parent", (double)parent_id) &&
           cJSON_AddStringToObject(crop, "parent_sha256", parent_sha) &&
           cJSON_AddStringToObject(crop, "image", path) &&
           cJSON_AddItemToObject(crop, "box", cJSON_CreateDoubleArray(box, 4)) &&
           cJSON_AddNumberToObject(crop, "padding", c->padding) &&
           cJSON_AddItemToObject(crop, "rect", cJSON_CreateIntArray(r, 4)) &&
           cJSON_AddStringToObject(crop, "label", b->label) &&
           (isnan(b->score) || cJSON_AddNumberToObject(crop, "score", b->score)) &&
           cJSON_AddStringToObject(crop, "format", cur_boxfile_format(c->bf)) &&
           cJSON_AddStringToObject(crop, "from", b->where);
  char *text = ok ? cur_json_print(root, 0) : NULL;
  cJSON_Delete(root);
  if (!text) cur_errorc(CUR_ENOMEM, "out of memory");
  return text;
}

/* Cuts RECT from the decoded parent and records it under KEY. */
static int add_crop(crops *c, const cur_box *b, long at, const cur_crop_parent *p, const int rect[4],
                    const char *key, int64_t *id_out) {
  ingest *g = c->g;
  cur_image_pixels cut = {0};
  unsigned char *png = NULL;
  size_t len = 0;
  char sha[65], *transform = NULL;
  int64_t id = 0;
  int added, rc = cur_image_crop(&c->px, rect, &cut);
  if (rc == CUR_OK) rc = cur_image_png_encode(&cut, &png, &len);
  if (rc == CUR_OK && !(transform = crop_json(c, b, c->ids[at], p->sha256, c->paths[at], rect,
                                               p->width, p->height)))
    rc = CUR_ENOMEM;
  if (rc) goto cleanup;
  cur_sha256_buf_hex(png, len, sha);
  cur_image_row row = {
      .sha256 = sha, .bytes = png, .bytes_len = (int64_t)len, .byte_size = (int64_t)len,
      .format = "png", .width = cut.width, .height = cut.height, .bands = cut.bands,
      .source_id = g->source_id, .source_path = key, .split = p->split,
      .split_source = p->split_source, .group_key = p->group_key ? p->group_key : p->sha256,
      .transform = transform, .status = "ok", .run_id = cur_run_id(g->run)};
  if (!p->group_key && (rc = cur_store_crop_group(g->st, c->ids[at], p->sha256))) goto cleanup;
  if ((rc = cur_store_image_add(g->st, &row, &id, &added))) goto cleanup;
  c->written += len;
  char reason[64];
  snprintf(reason, sizeof reason, "same content as image %lld", (long long)id);
  rc = cur_store_entry_add(g->st, g->source_id, key, id, added ? "ingested" : "duplicate",
                           added ? NULL : reason, 0, cur_run_id(g->run));
  cur_entry_meta m = {.n = 1, .task = {c->task}, .value = {b->label}};
  if (rc == CUR_OK) rc = cur__ingest_apply_labels(g, &m, b->where, id, added);
  c->made++;
  *id_out = id;
cleanup:
  cur_free(transform);
  cur_free(png);
  cur_free(cut.data);
  return rc;
}

/* One box: found, filtered, checked against its image, and cut unless recorded. */
static int take_box(crops *c, const cur_box *b) {
  ingest *g = c->g;
  cur_crop_parent p;
  char why[256], *key = NULL;
  int rect[4], found, rc;
  int64_t crop_id = 0;
  long at = find_entry(c, b);
  if (at < 0) return CUR_OK;
  if ((rc = cur_store_crop_parent(g->st, c->ids[at], &p, &found))) return rc;
  double w = b->w * (b->normalised ? p.width : 1), h = b->h * (b->normalised ? p.height : 1);
  if (!found || !p.ok) {
    cur_run_input_error(g->run, "ingest: %s: image '%s' is quarantined; box skipped", b->where,
                        c->paths[at]);
    c->bad++;
  } else if (!isnan(b->score) && b->score < c->min_score) {
    c->low++;
  } else if (w < c->min_size || h < c->min_size) {
    c->small++;
  } else if (cur_box_rect(b, p.width, p.height, c->padding, rect, why, sizeof why) != CUR_OK) {
    cur_run_input_error(g->run, "ingest: %s: %s; box skipped", b->where, why);
    c->bad++;
  } else if (!(key = cur_asprintf("%s#crop=%d,%d,%d,%d;%s", c->paths[at], rect[0], rect[1], rect[2],
                                  rect[3], b->label))) {
    rc = CUR_ENOMEM;
  } else if (cur_strmap_get(c->entries, key, &(size_t){0})) {
    c->before++;  /* recorded by an earlier run, or the same box twice in the file */
  } else if ((rc = decode_parent(c, c->ids[at])) == CUR_OK && c->decode_why[0]) {
    cur_run_input_error(g->run, "ingest: %s: image '%s': %s; box skipped", b->where, c->paths[at],
                        c->decode_why);
    c->bad++;
  } else if (rc == CUR_OK && (rc = add_crop(c, b, at, &p, rect, key, &crop_id)) == CUR_OK) {
    rc = add_entry(c, key, crop_id);  /* a second box with the same key is the same crop */
  }
  cur_free(key);
  cur_store_crop_parent_clear(&p);
  return rc;
}

static const crops *sort_ctx;  /* qsort has no context argument; one sort at a time */

static int by_image(const void *a, const void *b) {
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int d = strcmp(cur_boxfile_box(sort_ctx->bf, i)->image, cur_boxfile_box(sort_ctx->bf, j)->image);
  return d ? d : (i > j) - (i < j);
}

/* Takes every box in image order, committing every batch_size boxes or
** INGEST_BATCH_BYTES of crops. */
static int take_boxes(crops *c) {
  size_t n = cur_boxfile_count(c->bf), *order = cur_mallocarray(n ? n : 1, sizeof *order);
  size_t batch = (size_t)c->g->batch_size, pending = 0;  /* boxes taken in the open transaction */
  int rc = order ? CUR_OK : CUR_ENOMEM, open = 0;
  for (size_t i = 0; rc == CUR_OK && i < n; i++) order[i] = i;
  if (rc == CUR_OK) {
    sort_ctx = c;
    qsort(order, n, sizeof *order, by_image);
    sort_ctx = NULL;
  }
  cur_run_progress_start(c->g->run, "crop boxes", (int64_t)n);
  for (size_t i = 0; rc == CUR_OK && i < n; i++) {
    if (!open && (rc = cur_store_begin(c->g->st)) == CUR_OK) open = 1;
    if (rc == CUR_OK && (rc = take_box(c, cur_boxfile_box(c->bf, order[i]))) == CUR_OK) pending++;
    if (rc == CUR_OK && (pending == batch || c->written >= INGEST_BATCH_BYTES || i + 1 == n)) {
      open = 0;
      c->written = 0;
      if ((rc = cur_store_commit(c->g->st)) == CUR_OK) cur_run_progress_add(c->g->run, (int64_t)pending);
      pending = 0;
      if (rc == CUR_OK && cur_interrupted()) rc = CUR_EINTR;
    }
  }
  if (open) cur_store_rollback(c->g->st);
  cur_free(order);
  return rc;
}

static double opt_num(const cJSON *opts, const char *key, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int cur__ingest_boxes(ingest *g, const cur_boxfile *boxes, const cJSON *opts) {
  const cJSON *task = cJSON_GetObjectItemCaseSensitive(opts, "box_task");
  crops c = {.g = g, .bf = boxes, .padding = opt_num(opts, "box_padding", 0),
             .min_size = opt_num(opts, "box_min_size", 0),
             .min_score = opt_num(opts, "box_min_score", -INFINITY),
             .task = cJSON_IsString(task) ? task->valuestring : CUR_DEFAULT_TASK};
  int rc = (c.entries = cur_strmap_new()) && (c.stems = cur_strmap_new()) &&
                   (c.ambiguous = cur_strmap_new()) ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur_store_entries_of(g->st, g->source_id, 0, add_entry, &c);
  if (rc == CUR_OK) rc = cur_store_entries_of(g->st, g->source_id, 1, add_entry, &c);
  if (rc == CUR_OK) rc = take_boxes(&c);
  if (rc == CUR_OK)
    cur_info("ingest: %s: %zu boxes: %lld cropped, %lld cropped before, %lld under box_min_score, "
             "%lld under box_min_size, %lld reported and skipped (and %zu skipped reading the file)",
             g->uri, cur_boxfile_count(boxes), (long long)c.made, (long long)c.before,
             (long long)c.low, (long long)c.small, (long long)c.bad, cur_boxfile_skipped(boxes));
  for (size_t i = 0; i < c.n; i++) cur_free(c.paths[i]);
  cur_free(c.paths);
  cur_free(c.ids);
  cur_free(c.px.data);
  cur_strmap_free(c.entries);
  cur_strmap_free(c.stems);
  cur_strmap_free(c.ambiguous);
  return rc;
}
