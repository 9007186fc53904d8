/* fuzz_boxes.c -- box-file bytes through cur_boxfile_load in every format.
**
** The same bytes are read as a COCO file, a CSV and a JSONL table, a YOLO
** label file (beside a fixed classes.txt: cat, dog) and a Pascal VOC XML
** file.  Every box a parser accepts must keep the loader's promise: a safe,
** valid UTF-8 image path and label, finite coordinates, positive width and
** height, and a crop rectangle (when cur_box_rect accepts it) inside the
** image.
*/
#include "fuzz_targets.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "boxfile.h"
#include "curate.h"
#include "pathutil.h"
#include "text.h"

static void check_box(const cur_box *b) {
  if (!b->image || cur_path_unsafe(b->image) || cur_utf8_invalid(b->image)) abort();
  if (!b->label || !b->label[0] || cur_utf8_invalid(b->label) || !b->where) abort();
  if (!isfinite(b->x) || !isfinite(b->y) || !(b->w > 0) || !(b->h > 0) || !isfinite(b->w) ||
      !isfinite(b->h) || isinf(b->score))
    abort();
  static const int sizes[][2] = {{100, 80}, {1, 1}, {65535, 3}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    int r[4];
    char why[256];
    if (cur_box_rect(b, sizes[i][0], sizes[i][1], 0.1, r, why, sizeof why) != CUR_OK) continue;
    if (r[0] < 0 || r[1] < 0 || r[2] < 1 || r[3] < 1 || r[0] + r[2] > sizes[i][0] ||
        r[1] + r[3] > sizes[i][1])
      abort();
  }
}

/* Loads PATH as FORMAT and checks each box; returns the load's status. */
static int load_and_check(const char *path, const char *format) {
  cur_boxfile *bf = NULL;
  int rc = cur_boxfile_load(path, format, fuzz_report_ignore, NULL, &bf);
  if (rc != CUR_OK) return rc;
  for (size_t i = 0; i < cur_boxfile_count(bf); i++) check_box(cur_boxfile_box(bf, i));
  cur_boxfile_free(bf);
  return CUR_OK;
}

/* Makes scratch folder NAME; its path into PATH. */
static int scratch_folder(const char *name, char *path, size_t cap) {
  const char *dir = fuzz_scratch_dir();
  if (!dir) return CUR_EIO;
  snprintf(path, cap, "%s/%s", dir, name);
  if (mkdir(path, 0700) != 0 && errno != EEXIST) return cur_errorc(CUR_EIO, "fuzz: cannot make %s", path);
  return CUR_OK;
}

int fuzz_boxes(const uint8_t *data, size_t size) {
  static const struct { const char *file, *format; } flat[] = {
      {"boxes.json", "coco"}, {"boxes.csv", "csv"}, {"boxes.jsonl", "jsonl"}};
  char path[4200];
  int first = CUR_OK, rc;
  for (size_t i = 0; i < sizeof flat / sizeof flat[0]; i++) {
    rc = fuzz_scratch_file(flat[i].file, data, size, path, sizeof path);
    if (rc == CUR_OK) rc = load_and_check(path, flat[i].format);
    if (first == CUR_OK) first = rc;
  }
  rc = scratch_folder("yolo", path, sizeof path);
  if (rc == CUR_OK) rc = fuzz_scratch_file("yolo/classes.txt", (const uint8_t *)"cat\ndog\n", 8, path, sizeof path);
  if (rc == CUR_OK) rc = fuzz_scratch_file("yolo/a.txt", data, size, path, sizeof path);
  if (rc == CUR_OK) rc = scratch_folder("yolo", path, sizeof path);
  if (rc == CUR_OK) rc = load_and_check(path, "yolo");
  if (first == CUR_OK) first = rc;
  rc = scratch_folder("voc", path, sizeof path);
  if (rc == CUR_OK) rc = fuzz_scratch_file("voc/a.xml", data, size, path, sizeof path);
  if (rc == CUR_OK) rc = scratch_folder("voc", path, sizeof path);
  if (rc == CUR_OK) rc = load_and_check(path, "voc");
  return first != CUR_OK ? first : rc;
}
