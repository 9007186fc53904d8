/* test_ingest_boxes.c -- `curate ingest --boxes`: detection boxes become crop rows.
**
** The test draws two scenes whose every pixel follows a formula (pixel()),
** and writes one set of boxes in each box format itself.
**
** boxes-1.*: the fixture in COCO, YOLO, VOC, CSV and JSONL gives the same crops.
** boxes-2.*: crop pixels equal the formula over a rectangle worked out by
**            hand; padding is clamped at the image's border.
** boxes-3.*: the minimum-size and score filters.
** boxes-4.*: hostile boxes in each format: each kind reported with its file
**            and line (or JSON path) and skipped, the good boxes kept, exit 3.
** boxes-5.*: the same boxes ingested again add nothing; crops share their
**            scene's split and group; export and embed take crop rows.
** boxes-6.*: an unlabelled scene is not in the unlabelled pile pseudolabel
**            and UDA train on (its crops are the examples), while an
**            unlabelled image without boxes still is.
*/
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "fixtures.h"
#include "image.h"
#include "store_crops.h"
#include "store_labels.h"
#include "store_teacher.h"
#include "store_uda.h"
#include "testlib.h"

/* The fixture's boxes, in pixels from the top-left corner. */
typedef struct fx_box {
  const char *image;
  int w_img, h_img;        /* the scene's size, for YOLO's fractions */
  int x, y, w, h;
  const char *label;
  double score;            /* < 0: none */
} fx_box;

static const fx_box boxes[] = {
    {"scene0.png", 64, 48, 8, 8, 16, 12, "cat", 0.9},
    {"scene0.png", 64, 48, 40, 20, 20, 24, "dog", 0.3},
    {"scene0.png", 64, 48, 0, 0, 10, 10, "cat", -1},   /* at the corner: padding clamps */
    {"sub/scene1.png", 50, 40, 10, 10, 20, 16, "dog", 0.6},
};
#define N_BOXES ((int)CUR_ARRAY_LEN(boxes))

/* Every scene pixel: sample C of (X, Y), no two neighbours alike. */
static unsigned char pixel(int scene, int x, int y, int c) {
  return (unsigned char)((x * 7 + y * 13 + c * 71 + x * y + scene * 101) & 255);
}

static int write_scene(const char *rel, int scene, int w, int h) {
  cur_image_pixels px = {.width = w, .height = h, .bands = 3};
  unsigned char *png = NULL;
  size_t len = 0;
  char *path = test_scratch_path(rel);
  int rc = path && (px.data = cur_malloc((size_t)w * h * 3)) ? CUR_OK : CUR_ENOMEM;
  for (int y = 0; rc == CUR_OK && y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) px.data[(y * w + x) * 3 + c] = pixel(scene, x, y, c);
  if (rc == CUR_OK) rc = cur_image_png_encode(&px, &png, &len);
  if (rc == CUR_OK) rc = test_write_file(path, png, len);
  cur_free(png);
  cur_free(px.data);
  cur_free(path);
  return rc;
}

static int write_text(const char *rel, const char *text) {
  char *path = test_scratch_path(rel);
  int rc = path ? test_write_file(path, text, strlen(text)) : CUR_ENOMEM;
  cur_free(path);
  return rc;
}

/* Appends printf output to the growing string *S. */
static void cat(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cat(char **s, const char *fmt, ...) {
  char piece[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(piece, sizeof piece, fmt, ap);
  va_end(ap);
  char *grown = cur_asprintf("%s%s", *s ? *s : "", piece);
  cur_free(*s);
  *s = grown;
}

static int write_coco(const char *rel) {
  char *s = NULL;
  cat(&s, "{\"images\": [{\"id\": 1, \"file_name\": \"scene0.png\", \"width\": 64, \"height\": 48},"
          " {\"id\": 2, \"file_name\": \"sub/scene1.png\", \"width\": 50, \"height\": 40}],"
          " \"categories\": [{\"id\": 3, \"name\": \"cat\"}, {\"id\": 7, \"name\": \"dog\"}],"
          " \"annotations\": [");
  for (int i = 0; i < N_BOXES; i++)
    cat(&s, "%s{\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"bbox\": [%d, %d, %d, %d]}",
        i ? ", " : "", i + 1, boxes[i].image[0] == 's' && boxes[i].image[1] == 'u' ? 2 : 1,
        strcmp(boxes[i].label, "cat") == 0 ? 3 : 7, boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h);
  cat(&s, "]}\n");
  int rc = s ? write_text(rel, s) : CUR_ENOMEM;
  cur_free(s);
  return rc;
}

/* YOLO: centre and size as fractions of the scene, class ids cat 0, dog 1. */
static int write_yolo(const char *dir) {
  int rc = test_sh("cd '%s' && rm -rf %s && mkdir -p %s/sub", T.scratch, dir, dir);
  char rel[256];
  snprintf(rel, sizeof rel, "%s/classes.txt", dir);
  rc |= write_text(rel, "cat\ndog\n");
  for (int scene = 0; scene < 2; scene++) {
    char *s = cur_strdup("");
    for (int i = 0; i < N_BOXES; i++) {
      const fx_box *b = &boxes[i];
      if ((strchr(b->image, '/') != NULL) != scene) continue;
      cat(&s, "%d %.17g %.17g %.17g %.17g\n", strcmp(b->label, "cat") ? 1 : 0,
          (b->x + b->w / 2.0) / b->w_img, (b->y + b->h / 2.0) / b->h_img, (double)b->w / b->w_img,
          (double)b->h / b->h_img);
    }
    snprintf(rel, sizeof rel, "%s/%s", dir, scene ? "sub/scene1.txt" : "scene0.txt");
    rc |= s ? write_text(rel, s) : CUR_ENOMEM;
    cur_free(s);
  }
  return rc;
}

/* VOC: 1-based inclusive corners. */
static int write_voc(const char *dir) {
  int rc = test_sh("cd '%s' && rm -rf %s && mkdir -p %s/sub", T.scratch, dir, dir);
  for (int scene = 0; scene < 2; scene++) {
    char *s = NULL, rel[256];
    cat(&s, "<?xml version=\"1.0\"?>\n<annotation>\n  <folder>x</folder>\n  <filename>%s</filename>\n"
            "  <size><width>%d</width><height>%d</height><depth>3</depth></size>\n",
        scene ? "scene1.png" : "scene0.png", scene ? 50 : 64, scene ? 40 : 48);
    for (int i = 0; i < N_BOXES; i++) {
      const fx_box *b = &boxes[i];
      if ((strchr(b->image, '/') != NULL) != scene) continue;
      cat(&s, "  <object>\n    <name>%s</name>\n    <difficult>0</difficult>\n    <bndbox>\n"
              "      <xmin>%d</xmin>\n      <ymin>%d</ymin>\n      <xmax>%d</xmax>\n      <ymax>%d</ymax>\n"
              "    </bndbox>\n  </object>\n",
          b->label, b->x + 1, b->y + 1, b->x + b->w, b->y + b->h);
    }
    cat(&s, "</annotation>\n");
    snprintf(rel, sizeof rel, "%s/%s", dir, scene ? "sub/scene1.xml" : "scene0.xml");
    rc |= s ? write_text(rel, s) : CUR_ENOMEM;
    cur_free(s);
  }
  return rc;
}

static int write_table(const char *rel, int jsonl) {
  char *s = jsonl ? cur_strdup("") : cur_strdup("image,x,y,w,h,label,score\n");
  for (int i = 0; i < N_BOXES; i++) {
    const fx_box *b = &boxes[i];
    char score[32] = "";
    if (b->score >= 0) snprintf(score, sizeof score, "%g", b->score);
    if (jsonl)
      cat(&s, "{\"image\": \"%s\", \"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d, \"label\": \"%s\"%s%s}\n",
          b->image, b->x, b->y, b->w, b->h, b->label, score[0] ? ", \"score\": " : "", score);
    else
      cat(&s, "%s,%d,%d,%d,%d,%s,%s\n", b->image, b->x, b->y, b->w, b->h, b->label, score);
  }
  int rc = s ? write_text(rel, s) : CUR_ENOMEM;
  cur_free(s);
  return rc;
}

static int write_scenes(void) {
  int rc = test_sh("cd '%s' && rm -rf scenes && mkdir -p scenes/sub", T.scratch);
  rc |= write_scene("scenes/scene0.png", 0, 64, 48);
  rc |= write_scene("scenes/sub/scene1.png", 1, 50, 40);
  return rc;
}

/* A fresh database DB (scratch-relative) with the scenes ingested with ARGS. */
static int ingest(const char *db, const char *args) {
  test_sh("cd '%s' && rm -f %s %s-wal %s-shm", T.scratch, db, db, db);
  char log[128];
  snprintf(log, sizeof log, "%s.init.log", db);
  if (fx_curate(log, "--db %s --config none.json init", db)) return -1;
  snprintf(log, sizeof log, "%s.log", db);
  return fx_curate(log, "--db %s --config none.json ingest scenes %s", db, args);
}

/* The crops of DB: "source_path sha256 label" a line, in path order. */
static char *crops_of(const char *db) {
  char *path = test_scratch_path(db);
  char *r = fx_sql(path, "SELECT i.source_path || ' ' || i.sha256 || ' ' || cl.class FROM images i "
                         "LEFT JOIN current_labels cl ON cl.image_id = i.id "
                         "WHERE json_extract(i.transform, '$.crop') IS NOT NULL ORDER BY i.source_path");
  cur_free(path);
  return r;
}

static long long q_int(const char *db, const char *sql) {
  char *path = test_scratch_path(db);
  long long v = fx_sql_int(path, sql);
  cur_free(path);
  return v;
}

/* boxes-1.1: each format names the same boxes, so each gives the same rows
** (path and rectangle, content hash, label); the keys are the hand-written
** rectangles of the fixture (no padding). */
TEST(every_format_gives_the_same_crops) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_coco("b.json") == 0);
  REQUIRE(write_yolo("yolo") == 0);
  REQUIRE(write_voc("voc") == 0);
  REQUIRE(write_table("b.csv", 0) == 0);
  REQUIRE(write_table("b.jsonl", 1) == 0);
  CHECK_INT(ingest("coco.db", "--boxes b.json"), 0);
  CHECK_INT(ingest("yolo.db", "--boxes yolo"), 0);
  CHECK_INT(ingest("voc.db", "--boxes voc"), 0);
  CHECK_INT(ingest("csv.db", "--boxes b.csv"), 0);
  CHECK_INT(ingest("jsonl.db", "--boxes b.jsonl"), 0);
  char *coco = crops_of("coco.db");
  REQUIRE(coco != NULL);
  static const char *const keys[] = {"scene0.png#crop=0,0,10,10;cat ", "scene0.png#crop=40,20,20,24;dog ",
                                     "scene0.png#crop=8,8,16,12;cat ", "sub/scene1.png#crop=10,10,20,16;dog "};
  const char *at = coco;
  for (size_t k = 0; k < CUR_ARRAY_LEN(keys); k++) {
    CHECK_MSG(strncmp(at, keys[k], strlen(keys[k])) == 0, "crop %zu: '%.60s', expected '%s'", k, at, keys[k]);
    at = strchr(at, '\n');
    if (!at) break;
    at++;
  }
  static const char *const others[] = {"yolo.db", "voc.db", "csv.db", "jsonl.db"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(others); i++) {
    char *got = crops_of(others[i]);
    CHECK_MSG(got && strcmp(got, coco) == 0, "%s:\n%s\nCOCO:\n%s", others[i], got ? got : "(null)", coco);
    cur_free(got);
  }
  CHECK_INT(q_int("yolo.db", "SELECT count(*) FROM images"), 2 + N_BOXES);
  cur_free(coco);
}

/* Reads crop KEY's stored PNG from DB and compares every sample with the
** formula over RECT of scene SCENE. */
static void check_pixels(const char *db, const char *key, int scene, const int rect[4]) {
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT hex(bytes) FROM images WHERE source_path = '%s'", key);
  char *path = test_scratch_path(db), *hex = fx_sql(path, sql);
  cur_free(path);
  REQUIRE(hex && strlen(hex) > 2);
  size_t len = strlen(hex) / 2;
  unsigned char *png = cur_malloc(len), *got = cur_malloc((size_t)rect[2] * rect[3] * 3);
  REQUIRE(png && got);
  for (size_t i = 0; i < len; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    png[i] = (unsigned char)v;
  }
  /* libpng's exact decode: a decoder of its own, not the crop's libvips path */
  CHECK_MSG(cur_image_png_decode_exact(png, len, rect[2], rect[3], 3, got) == 1,
            "%s is not a %d x %d RGB PNG", key, rect[2], rect[3]);
  int wrong = 0;
  for (int y = 0; y < rect[3]; y++)
    for (int x = 0; x < rect[2]; x++)
      for (int c = 0; c < 3; c++)
        wrong += got[(y * rect[2] + x) * 3 + c] != pixel(scene, rect[0] + x, rect[1] + y, c);
  CHECK_MSG(wrong == 0, "%s: %d samples differ from the scene's", key, wrong);
  cur_free(png);
  cur_free(got);
  cur_free(hex);
}

/* boxes-2.1: padding 0.25 grows each box by a quarter of its width left and
** right (of its height above and below), to whole pixels, clamped:
**   (8,8,16,12):   4 and 3 pixels       -> 4,5,24,18
**   (0,0,10,10):   2.5 -> clamped at 0, right edge ceil(12.5) -> 0,0,13,13
**   (40,20,20,24): 5 and 6, right 65 -> 64, bottom 50 -> 48 -> 35,14,29,34
**   (10,10,20,16): 5 and 4              -> 5,6,30,24 */
TEST(crop_pixels_equal_the_scene_over_the_padded_rectangle) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_table("b.csv", 0) == 0);
  CHECK_INT(ingest("pad.db", "--boxes b.csv --box-padding 0.25"), 0);
  static const struct { const char *key; int scene, rect[4]; } want[] = {
      {"scene0.png#crop=4,5,24,18;cat", 0, {4, 5, 24, 18}},
      {"scene0.png#crop=0,0,13,13;cat", 0, {0, 0, 13, 13}},
      {"scene0.png#crop=35,14,29,34;dog", 0, {35, 14, 29, 34}},
      {"sub/scene1.png#crop=5,6,30,24;dog", 1, {5, 6, 30, 24}}};
  for (size_t i = 0; i < CUR_ARRAY_LEN(want); i++) check_pixels("pad.db", want[i].key, want[i].scene, want[i].rect);
  CHECK_INT(q_int("pad.db", "SELECT count(*) FROM images WHERE json_extract(transform, '$.crop.padding') = 0.25"), 4);
  CHECK_INT(q_int("pad.db", "SELECT count(*) FROM images WHERE json_extract(transform, '$.crop.rect[2]') = 29 "
                            "AND json_extract(transform, '$.crop.box[0]') = 40"), 1);
}

/* boxes-3.1: --box-min-score 0.5 drops the dog scored 0.3 (a box without a
** score stays); --box-min-size 11 drops the 10 x 10 cat.  Filters are not
** errors: exit 0. */
TEST(min_size_and_score_filters_skip_boxes) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_table("b.csv", 0) == 0);
  CHECK_INT(ingest("score.db", "--boxes b.csv --box-min-score 0.5"), 0);
  char *got = crops_of("score.db");
  CHECK(got && !strstr(got, "40,20,20,24") && strstr(got, "0,0,10,10") && strstr(got, "8,8,16,12") &&
        strstr(got, "10,10,20,16"));
  cur_free(got);
  CHECK_INT(ingest("size.db", "--boxes b.csv --box-min-size 11"), 0);
  got = crops_of("size.db");
  CHECK(got && !strstr(got, "0,0,10,10") && strstr(got, "40,20,20,24"));
  cur_free(got);
  CHECK_INT(ingest("both.db", "--boxes b.csv --box-min-size 11 --box-min-score 0.5"), 0);
  CHECK_INT(q_int("both.db", "SELECT count(*) FROM images WHERE transform IS NOT NULL"), 2);
  CHECK_INT(ingest("usage.db", "--box-padding 0.1"), 2);   /* a box option without --boxes */
  CHECK_INT(ingest("usage2.db", "--boxes b.csv --box-padding -1"), 2);
  CHECK_INT(ingest("usage3.db", "--boxes b.csv --box-min-score nan"), 2);
}

/* Fails the case unless LOG holds a line with every one of NEEDLES. */
static void log_has(const char *log, const char *const *needles, int n, int line) {
  char *text = fx_read(log);
  int found = 0;
  for (char *p = text, *nl; p && *p && !found; p = nl ? nl + 1 : p + strlen(p)) {
    nl = strchr(p, '\n');
    if (nl) *nl = 0;
    found = 1;
    for (int i = 0; i < n && found; i++) found = strstr(p, needles[i]) != NULL;
    if (nl) *nl = '\n';
  }
  test_checks++;
  if (!found) test_fail(__FILE__, line, "%s has no line with '%s' ... '%s'", log, needles[0], needles[n - 1]);
  cur_free(text);
}
#define LOG_HAS(log, ...)                                                              \
  do {                                                                                 \
    static const char *const n_[] = {__VA_ARGS__};                                     \
    log_has(log, n_, (int)CUR_ARRAY_LEN(n_), __LINE__);                                \
  } while (0)

/* boxes-4.1: a CSV of every bad kind: each reported at its line, the good box cropped. */
TEST(hostile_csv_boxes_are_reported_by_line_and_skipped) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_text("bad.csv",
                     "image,x,y,w,h,label,score\n"
                     "scene0.png,8,8,16,12,cat,\n"          /* 2: good */
                     "scene0.png,60,40,10,10,cat,\n"        /* 3: outside the image */
                     "scene0.png,8,8,0,12,cat,\n"           /* 4: zero area */
                     "scene0.png,8,8,-5,12,cat,\n"          /* 5: negative */
                     "missing.png,8,8,16,12,cat,\n"         /* 6: unknown image */
                     "scene0.png,nan,8,16,12,cat,\n"        /* 7: NaN */
                     "scene0.png,8,inf,16,12,cat,\n"        /* 8: inf */
                     "scene0.png,8,8,16\n"                  /* 9: malformed */
                     "../scene0.png,8,8,16,12,cat,\n"       /* 10: climbs out */
                     "/etc/passwd,8,8,16,12,cat,\n"         /* 11: absolute */
                     "scene0.png,1e308,8,16,12,cat,\n"      /* 12: far outside */
                     "scene0.png,8,8,16,12,,\n"             /* 13: no label */
                     "scene0.png,8,8,16,12,cat,x\n"         /* 14: score not a number */
                     "scene0.png,1,2,3,4,\"cat\n") == 0);   /* 15: quote left open */
  CHECK_INT(ingest("badcsv.db", "--boxes bad.csv"), 3);
  const char *log = "badcsv.db.log";
  LOG_HAS(log, "bad.csv:3:", "reaches outside the image (64 x 48)", "box skipped");
  LOG_HAS(log, "bad.csv:4:", "zero or negative width or height");
  LOG_HAS(log, "bad.csv:5:", "zero or negative width or height");
  LOG_HAS(log, "bad.csv:6:", "'missing.png' is not an image of", "unknown image");
  LOG_HAS(log, "bad.csv:7:", "x 'nan' is not a finite number");
  LOG_HAS(log, "bad.csv:8:", "y 'inf' is not a finite number");
  LOG_HAS(log, "bad.csv:9:", "4 fields, expected 7");
  LOG_HAS(log, "bad.csv:10:", "path leaves its folder");
  LOG_HAS(log, "bad.csv:11:", "absolute path");
  LOG_HAS(log, "bad.csv:12:", "reaches outside the image");
  LOG_HAS(log, "bad.csv:13:", "no label");
  LOG_HAS(log, "bad.csv:14:", "score 'x' is not a finite number");
  LOG_HAS(log, "bad.csv:15:", "unterminated quote");
  CHECK_INT(q_int("badcsv.db", "SELECT count(*) FROM images WHERE transform IS NOT NULL"), 1);
  CHECK_INT(q_int("badcsv.db", "SELECT count(*) FROM images WHERE source_path = 'scene0.png#crop=8,8,16,12;cat'"), 1);
  CHECK_INT(q_int("badcsv.db", "SELECT count(*) FROM images WHERE transform IS NULL AND status = 'ok'"), 2);
}

/* boxes-4.2: COCO entries that name no image or class, bad bboxes and an
** unsafe file name: each reported by its JSON path. */
TEST(hostile_coco_entries_are_reported_by_json_path) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_text("bad.json",
                     "{\"images\": [{\"id\": 1, \"file_name\": \"scene0.png\"}, {\"id\": 5, \"file_name\": \"../x.png\"},"
                     " {\"id\": 1, \"file_name\": \"again.png\"}, {\"file_name\": \"noid.png\"}],"
                     " \"categories\": [{\"id\": 3, \"name\": \"cat\"}, {\"id\": 4, \"name\": 12}],"
                     " \"annotations\": ["
                     "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [8, 8, 16, 12]},"   /* 0: good */
                     "{\"image_id\": 99, \"category_id\": 3, \"bbox\": [8, 8, 16, 12]},"  /* 1 */
                     "{\"image_id\": 1, \"category_id\": 42, \"bbox\": [8, 8, 16, 12]},"  /* 2 */
                     "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [8, 8, 16]},"       /* 3 */
                     "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [\"a\", 8, 16, 12]}," /* 4 */
                     "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [8, 8, 0, 12]},"    /* 5 */
                     "{\"image_id\": 5, \"category_id\": 3, \"bbox\": [8, 8, 16, 12]},"   /* 6 */
                     "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [8, 8, 1e999, 12]}," /* 7 */
                     "{\"image_id\": 1.5, \"category_id\": 3, \"bbox\": [8, 8, 16, 12]}," /* 8 */
                     "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [8, 8, 16, 12], \"score\": \"hi\"}," /* 9 */
                     "7]}") == 0);
  CHECK_INT(ingest("badcoco.db", "--boxes bad.json"), 3);
  const char *log = "badcoco.db.log";
  LOG_HAS(log, "bad.json: images[2]:", "id 1 listed again");
  LOG_HAS(log, "bad.json: images[3]:", "no integer id");
  LOG_HAS(log, "bad.json: categories[1]:", "'name' is a number");
  LOG_HAS(log, "bad.json: annotations[1]:", "image_id 99 is not an id of images[]");
  LOG_HAS(log, "bad.json: annotations[2]:", "category_id 42", "unknown class");
  LOG_HAS(log, "bad.json: annotations[3]:", "bbox is not an array of 4 numbers");
  LOG_HAS(log, "bad.json: annotations[4]:", "not a finite number");
  LOG_HAS(log, "bad.json: annotations[5]:", "zero or negative");
  LOG_HAS(log, "bad.json: annotations[6]:", "path leaves its folder");
  LOG_HAS(log, "bad.json: annotations[7]:", "not a finite number");
  LOG_HAS(log, "bad.json: annotations[8]:", "image_id is a fraction or out of range, not an integer id");
  LOG_HAS(log, "bad.json: annotations[9]:", "score is a string");
  LOG_HAS(log, "bad.json: annotations[10]:", "not an object");
  CHECK_INT(q_int("badcoco.db", "SELECT count(*) FROM images WHERE transform IS NOT NULL"), 1);
  /* a file that is not JSON fails the source, named, and the command exits 3 */
  REQUIRE(write_text("notjson.json", "{\"images\": [") == 0);
  CHECK_INT(ingest("notjson.db", "--boxes notjson.json"), 3);
  LOG_HAS("notjson.db.log", "notjson.json: not valid JSON");
  CHECK_INT(q_int("notjson.db", "SELECT count(*) FROM sources WHERE state = 'failed'"), 1);
}

/* boxes-4.3: YOLO lines with an unknown class id, too few fields, NaN, zero
** size, a box off the image, a label file for no image, a link. */
TEST(hostile_yolo_lines_are_reported_by_line) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(test_sh("cd '%s' && rm -rf byolo && mkdir byolo && printf 'cat\\ndog\\n' > byolo/classes.txt && "
                  "printf '0 0.25 0.29166666666666669 0.25 0.25\\n5 0.5 0.5 0.1 0.1\\n0 0.5 0.5 0.1\\n"
                  "0 nan 0.5 0.1 0.1\\n0 0.5 0.5 0 0.1\\n0 1.5 0.5 0.2 0.2\\n-1 0.5 0.5 0.1 0.1\\n"
                  "0 0.5 0.5 0.1 0.1 0.2 9\\n' > byolo/scene0.txt && printf '0 0.5 0.5 0.1 0.1\\n' > "
                  "byolo/ghost.txt && printf '0 0.5 0.5 0.1 0.1\\n' > outside.txt && "
                  "ln -s ../outside.txt byolo/link.txt", T.scratch) == 0);
  CHECK_INT(ingest("badyolo.db", "--boxes byolo"), 3);
  const char *log = "badyolo.db.log";
  LOG_HAS(log, "scene0.txt:2:", "class id 5 is not one of classes.txt's 2 classes");
  LOG_HAS(log, "scene0.txt:3:", "4 fields, expected 5");
  LOG_HAS(log, "scene0.txt:4:", "field 2 'nan' is not a finite number");
  LOG_HAS(log, "scene0.txt:5:", "zero or negative");
  LOG_HAS(log, "scene0.txt:6:", "reaches outside the image");
  LOG_HAS(log, "scene0.txt:7:", "class id -1", "unknown class id");
  LOG_HAS(log, "scene0.txt:8:", "7 fields");
  LOG_HAS(log, "ghost.txt:1:", "'ghost.*' is not an image of");
  LOG_HAS(log, "link.txt:", "a link");
  CHECK_INT(q_int("badyolo.db", "SELECT count(*) FROM images WHERE transform IS NOT NULL"), 1);
  /* no class list: the whole folder is refused, the source marked failed */
  REQUIRE(test_sh("cd '%s' && rm -rf noclasses && mkdir noclasses && echo '0 0.5 0.5 0.1 0.1' > "
                  "noclasses/scene0.txt", T.scratch) == 0);
  CHECK_INT(ingest("noclasses.db", "--boxes noclasses"), 3);
  LOG_HAS("noclasses.db.log", "no classes.txt or obj.names");
}

/* boxes-4.4: VOC objects missing a corner or with text for a number, a
** document with an entity declaration (the XML bomb's way in), one that is
** not well-formed. */
TEST(hostile_voc_files_are_reported_and_skipped) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(test_sh("cd '%s' && rm -rf bvoc && mkdir bvoc", T.scratch) == 0);
  REQUIRE(write_text("bvoc/scene0.xml",
                     "<annotation>\n<filename>scene0.png</filename>\n"
                     "<object><name>cat</name><bndbox><xmin>9</xmin><ymin>9</ymin><xmax>24</xmax><ymax>20</ymax></bndbox></object>\n"
                     "<object><name>cat</name><bndbox><xmin>9</xmin><ymin>9</ymin><ymax>20</ymax></bndbox></object>\n"
                     "<object><name>cat</name><bndbox><xmin>abc</xmin><ymin>9</ymin><xmax>24</xmax><ymax>20</ymax></bndbox></object>\n"
                     "<object><name>dog</name><bndbox><xmin>9</xmin><ymin>9</ymin><xmax>200</xmax><ymax>20</ymax></bndbox></object>\n"
                     "</annotation>\n") == 0);
  REQUIRE(write_text("bvoc/bomb.xml",
                     "<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY b \"bbbbbbbb\"><!ENTITY c \"&b;&b;&b;&b;\">]>\n"
                     "<annotation><filename>scene0.png</filename><object><name>&c;</name><bndbox><xmin>1</xmin>"
                     "<ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>\n") == 0);
  REQUIRE(write_text("bvoc/broken.xml", "<annotation><object><name>cat</name>\n<bndbox></object>\n") == 0);
  CHECK_INT(ingest("badvoc.db", "--boxes bvoc"), 3);
  const char *log = "badvoc.db.log";
  LOG_HAS(log, "scene0.xml:4:", "<object> has no <xmax>");
  LOG_HAS(log, "scene0.xml:5:", "<xmin> 'abc' is not a finite number");
  LOG_HAS(log, "scene0.xml:6:", "reaches outside the image");
  LOG_HAS(log, "bomb.xml:", "document type declaration (DTD) is not allowed");
  LOG_HAS(log, "broken.xml:2:", "not well-formed XML");
  CHECK_INT(q_int("badvoc.db", "SELECT count(*) FROM images WHERE transform IS NOT NULL"), 1);
  CHECK_INT(q_int("badvoc.db", "SELECT count(*) FROM images WHERE source_path = 'scene0.png#crop=8,8,16,12;cat'"), 1);
}

/* boxes-5.1: ingesting the same boxes again (forced, so ingest runs) adds no
** row, label or entry; the crops carry their scene's split and group (the
** scene, which had none, takes its content hash); export lists each crop
** with where it was cut from, and embed embeds the crops. */
TEST(same_boxes_again_add_nothing_and_crops_go_through_export_and_embed) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_table("b.csv", 0) == 0);
  REQUIRE(write_text("pixels.json", "{\"embed\": {\"features\": \"pixels\", \"size\": 8, \"channels\": 1}}") == 0);
  test_sh("cd '%s' && rm -rf again.db* out", T.scratch);
  REQUIRE(fx_curate("again-init.log", "--db again.db --config pixels.json init") == 0);
  CHECK_INT(fx_curate("again1.log", "--db again.db --config pixels.json ingest scenes --boxes b.csv"), 0);
  CHECK_INT(fx_curate("again2.log", "--db again.db --config pixels.json ingest --force scenes --boxes b.csv"), 0);
  CHECK_INT(q_int("again.db", "SELECT count(*) FROM images"), 2 + N_BOXES);
  /* one label a crop; sub/scene1.png also has its folder's (ImageFolder layout) */
  CHECK_INT(q_int("again.db", "SELECT count(*) FROM labels"), N_BOXES + 1);
  CHECK_INT(q_int("again.db", "SELECT count(*) FROM source_entries"), 2 + N_BOXES);
  CHECK_INT(q_int("again.db", "SELECT count(*) FROM source_entries WHERE run_id > 1"), 0);
  LOG_HAS("again2.log", "4 boxes: 0 cropped, 4 cropped before");
  CHECK_INT(q_int("again.db", "SELECT count(*) FROM images c JOIN images p ON p.id = "
                              "json_extract(c.transform, '$.crop.parent') WHERE c.split = p.split "
                              "AND c.group_key = p.group_key AND p.group_key = p.sha256"), N_BOXES);
  CHECK_INT(fx_curate("again-exp.log", "--db again.db --config pixels.json export --out out --format jsonl"), 0);
  char *manifest = fx_read("out/manifest.jsonl");
  int crops = 0;
  for (char *p = manifest, *nl; p && *p; p = nl ? nl + 1 : p + strlen(p)) {
    nl = strchr(p, '\n');
    if (nl) *nl = 0;
    cJSON *row = cJSON_Parse(p);
    const cJSON *crop = cJSON_GetObjectItem(row, "crop");
    if (cJSON_IsObject(crop)) {
      crops++;
      CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(crop, "rect")) == 4);
      CHECK(cJSON_IsString(cJSON_GetObjectItem(crop, "parent_sha256")));
    }
    cJSON_Delete(row);
  }
  CHECK_INT(crops, N_BOXES);
  CHECK_INT(fx_curate("again-embed.log", "--db again.db --config pixels.json run --until embed"), 0);
  CHECK_INT(q_int("again.db", "SELECT count(*) FROM embeddings e JOIN images i ON i.id = e.image_id "
                              "WHERE json_extract(i.transform, '$.crop') IS NOT NULL"), N_BOXES);
  cur_free(manifest);
}

/* Teacher-row callback: records each row's (trusted, unlabelled) by path. */
typedef struct seen_rows {
  int scene0_unlabelled, plain_unlabelled, scene0_trusted, rows;
} seen_rows;

static int see_row(void *ctx, const cur_teacher_row *row) {
  seen_rows *s = ctx;
  s->rows++;
  if (strcmp(row->source_path, "scene0.png") == 0) {
    s->scene0_unlabelled = row->unlabelled;
    s->scene0_trusted = row->trusted;
  } else if (strcmp(row->source_path, "plain.png") == 0) {
    s->plain_unlabelled = row->unlabelled;
  }
  return CUR_OK;
}

/* boxes-6.1: scene0.png (no label, three boxes) is a scene; plain.png (no
** label, no box) is an ordinary unlabelled image; all in train. */
TEST(an_unlabelled_scene_is_left_out_of_the_unlabelled_pile) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_scene("scenes/plain.png", 2, 40, 30) == 0);
  REQUIRE(write_table("b.csv", 0) == 0);
  REQUIRE(ingest("pile.db", "--boxes b.csv --split train") == 0);
  char *path = test_scratch_path("pile.db");
  cur_store *st = NULL;
  REQUIRE_OK(cur_store_open(path, &st));
  int64_t task, scene0 = fx_sql_int(path, "SELECT id FROM images WHERE source_path = 'scene0.png'");
  int64_t plain = fx_sql_int(path, "SELECT id FROM images WHERE source_path = 'plain.png'");
  int64_t crop = fx_sql_int(path, "SELECT min(id) FROM images WHERE transform IS NOT NULL");
  int found, scene = -1;
  CHECK_OK(cur_store_task_find(st, "label", &task, &found));
  REQUIRE(found);
  seen_rows seen = {-1, -1, -2, 0};
  CHECK_OK(cur_store_teacher_rows(st, task, "train", "none", see_row, &seen));
  CHECK_INT(seen.rows, 3 + N_BOXES);
  CHECK_INT(seen.scene0_unlabelled, 0);
  CHECK_INT(seen.scene0_trusted, -1);
  CHECK_INT(seen.plain_unlabelled, 1);
  /* UDA's pile: plain.png alone (scene1.png has its folder's label) */
  int64_t pile = -1;
  CHECK_OK(cur_store_uda_plan_size(st, task, 1, &pile));
  CHECK_INT(pile, 1);
  /* prelabel's test, image by image */
  CHECK_OK(cur_store_image_is_scene(st, scene0, &scene));
  CHECK_INT(scene, 1);
  CHECK_OK(cur_store_image_is_scene(st, plain, &scene));
  CHECK_INT(scene, 0);
  CHECK_OK(cur_store_image_is_scene(st, crop, &scene));
  CHECK_INT(scene, 0);
  cur_store_close(st);
  cur_free(path);
}

/* ingest's state in `curate status --json` for DB: 1 pending, 0 not, -1 unknown. */
static int ingest_pending(const char *db) {
  if (test_sh("cd '%s' && '%s' --db %s --config none.json status --json > %s.status", T.scratch,
              T.curate, db, db))
    return -1;
  char rel[128];
  snprintf(rel, sizeof rel, "%s.status", db);
  char *text = fx_read(rel);
  cJSON *root = text ? cJSON_Parse(text) : NULL, *st;
  int pending = -1;
  cJSON_ArrayForEach(st, cJSON_GetObjectItem(root, "stages")) {
    const cJSON *name = cJSON_GetObjectItem(st, "stage"), *state = cJSON_GetObjectItem(st, "state");
    if (cJSON_IsString(name) && !strcmp(name->valuestring, "ingest") && cJSON_IsString(state))
      pending = strcmp(state->valuestring, "pending") == 0;
  }
  cJSON_Delete(root);
  cur_free(text);
  return pending;
}

/* A box folder is read by its files, not by image names as a source
** folder is: an edited box file makes ingest pending. */
TEST(an_edited_box_file_makes_ingest_pending) {
  REQUIRE(write_scenes() == 0);
  REQUIRE(write_yolo("yolo") == 0);
  CHECK_INT(ingest("edit.db", "--boxes yolo"), 0);
  CHECK_INT(ingest_pending("edit.db"), 0);
  REQUIRE(test_sh("cd '%s' && printf '0 0.5 0.5 0.2 0.2\\n' >> yolo/sub/scene1.txt", T.scratch) == 0);
  CHECK_INT(ingest_pending("edit.db"), 1);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  if (cur_image_init() != CUR_OK) return 1;
  RUN(every_format_gives_the_same_crops);
  RUN(crop_pixels_equal_the_scene_over_the_padded_rectangle);
  RUN(min_size_and_score_filters_skip_boxes);
  RUN(hostile_csv_boxes_are_reported_by_line_and_skipped);
  RUN(hostile_coco_entries_are_reported_by_json_path);
  RUN(hostile_yolo_lines_are_reported_by_line);
  RUN(hostile_voc_files_are_reported_and_skipped);
  RUN(same_boxes_again_add_nothing_and_crops_go_through_export_and_embed);
  RUN(an_unlabelled_scene_is_left_out_of_the_unlabelled_pile);
  RUN(an_edited_box_file_makes_ingest_pending);
  return test_finish();
}
