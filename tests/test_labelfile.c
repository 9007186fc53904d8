/* test_labelfile.c -- CSV and JSONL label files and teacher files on hostile input
** (pipeline/io/labelfile.c, pipeline/io/teacherfile.c).
**
** labelfile-1.*: a row that is not valid UTF-8 is reported with file:line and skipped.
** labelfile-2.*: JSONL values of the wrong type (arrays, objects, numbers,
**                booleans, repeated keys) are reported with their line, not dropped
**                or made classes.
** labelfile-3.*: no fixed field limit: 300 columns load (teacher files with
**                300 classes too), and an over-long row is reported with its
**                line while the rows after it still load.
*/
#include "labelfile.h"
#include "teacherfile.h"
#include "testlib.h"

/* Every report, one per line. */
static char reports[16384];

static void collect(void *ctx, const char *msg) {
  (void)ctx;
  size_t used = strlen(reports);
  snprintf(reports + used, sizeof reports - used, "%s\n", msg);
}

/* Writes TEXT (LEN bytes) to scratch/NAME and loads it with SPEC (NULL:
** the default task 'label'); returns the load's code. */
static int load(const char *name, const char *text, size_t len, const cur_labelspec *spec,
                cur_labelfile **lf) {
  static const cur_labelspec plain = {0};
  char *path = test_scratch_path(name);
  reports[0] = 0;
  int rc = !path || test_write_file(path, text, len) ? CUR_EIO
                                                     : cur_labelfile_load(path, spec ? spec : &plain, collect, NULL, lf);
  cur_free(path);
  return rc;
}

static const char *value_of(const cur_labelfile *lf, const char *path) {
  const cur_labelrow *r = cur_labelfile_find(lf, path);
  return r ? r->values[0] : NULL;
}

TEST(csv_row_with_invalid_utf8_is_reported_with_its_line_and_skipped) {
  const char text[] = "path,label\na.jpg,cat\nb.jpg,d\xff\xfeg\nc.jpg,caf\xc3\xa9\nd.jpg,x\xc0\xafy\n";
  cur_labelfile *lf;
  REQUIRE_OK(load("bad-utf8.csv", text, sizeof text - 1, NULL, &lf));
  CHECK_INT(cur_labelfile_count(lf), 2);
  CHECK_STR(value_of(lf, "a.jpg"), "cat");
  CHECK_STR(value_of(lf, "c.jpg"), "caf\xc3\xa9");  /* valid UTF-8 stays as it is */
  CHECK(cur_labelfile_find(lf, "b.jpg") == NULL);
  CHECK(cur_labelfile_find(lf, "d.jpg") == NULL);   /* an overlong encoding of '/' */
  CHECK(strstr(reports, "bad-utf8.csv:3: not valid UTF-8") != NULL);
  CHECK(strstr(reports, "bad-utf8.csv:5: not valid UTF-8") != NULL);
  CHECK(strchr(reports, '\xff') == NULL);  /* the report itself stays printable */
  cur_labelfile_free(lf);
}

TEST(jsonl_row_with_invalid_utf8_is_reported_with_its_line_and_skipped) {
  const char text[] = "{\"path\": \"a.jpg\", \"label\": \"cat\"}\n"
                      "{\"path\": \"b.jpg\", \"label\": \"\xed\xa0\x80\"}\n"  /* a surrogate */
                      "{\"path\": \"c.jpg\", \"label\": \"dog\"}\n";
  cur_labelfile *lf;
  REQUIRE_OK(load("bad-utf8.jsonl", text, sizeof text - 1, NULL, &lf));
  CHECK_INT(cur_labelfile_count(lf), 2);
  CHECK_STR(value_of(lf, "c.jpg"), "dog");
  CHECK(strstr(reports, "bad-utf8.jsonl:2: not valid UTF-8") != NULL);
  cur_labelfile_free(lf);
}

TEST(jsonl_labels_of_the_wrong_type_are_reported_not_dropped_or_made_classes) {
  const char text[] = "{\"path\": \"a.jpg\", \"label\": \"cat\", \"group\": 17}\n"
                      "{\"path\": \"b.jpg\", \"label\": [\"cat\"]}\n"
                      "{\"path\": \"c.jpg\", \"label\": {\"name\": \"cat\"}}\n"
                      "{\"path\": \"d.jpg\", \"label\": 3}\n"
                      "{\"path\": \"e.jpg\", \"label\": true}\n"
                      "{\"path\": \"f.jpg\", \"label\": null}\n"
                      "{\"path\": 5, \"label\": \"cat\"}\n"
                      "{\"path\": \"g.jpg\", \"label\": \"cat\", \"label\": \"dog\"}\n"
                      "[\"h.jpg\", \"cat\"]\n";
  cur_labelfile *lf;
  REQUIRE_OK(load("types.jsonl", text, sizeof text - 1, NULL, &lf));
  CHECK_STR(value_of(lf, "a.jpg"), "cat");
  CHECK_STR(cur_labelfile_find(lf, "a.jpg")->group, "17");  /* a numeric group id is fine */
  CHECK(cur_labelfile_find(lf, "f.jpg") && value_of(lf, "f.jpg") == NULL);  /* null: no label */
  for (const char *p = "bcdeg"; *p; p++) {
    char name[8] = {*p, '.', 'j', 'p', 'g', 0};
    if (cur_labelfile_find(lf, name)) test_fail(__FILE__, __LINE__, "%s was loaded", name);
  }
  CHECK_INT(cur_labelfile_count(lf), 2);
  CHECK(strstr(reports, "types.jsonl:2: 'label' is an array, not a string; row skipped") != NULL);
  CHECK(strstr(reports, "types.jsonl:3: 'label' is an object, not a string; row skipped") != NULL);
  CHECK(strstr(reports, "types.jsonl:4: 'label' is a number, not a string") != NULL);
  CHECK(strstr(reports, "types.jsonl:5: 'label' is a boolean, not a string") != NULL);
  CHECK(strstr(reports, "types.jsonl:7: 'path' is a number, not a string") != NULL);
  CHECK(strstr(reports, "types.jsonl:8: key 'label' appears twice") != NULL);
  CHECK(strstr(reports, "types.jsonl:9: not a JSON object") != NULL);
  cur_labelfile_free(lf);
}

/* A header "path,c0,...,c{N-2}" and rows whose column c{N-2} holds the label. */
static char *wide_csv(int n_cols, int rows) {
  size_t cap = (size_t)(n_cols * 8 + 16) * (size_t)(rows + 1);
  char *t = cur_malloc(cap);
  size_t o = 0;
  o += (size_t)snprintf(t + o, cap - o, "path");
  for (int c = 0; c < n_cols - 1; c++) o += (size_t)snprintf(t + o, cap - o, ",c%d", c);
  for (int r = 0; r < rows; r++) {
    o += (size_t)snprintf(t + o, cap - o, "\nimg%d.jpg", r);
    for (int c = 0; c < n_cols - 1; c++) o += (size_t)snprintf(t + o, cap - o, ",v%d", r * 1000 + c);
  }
  snprintf(t + o, cap - o, "\n");
  return t;
}

TEST(csv_and_jsonl_with_300_columns_load) {
  char *csv = wide_csv(300, 3);
  REQUIRE(csv);
  const char *task = "last", *col = "c298";
  cur_labelspec spec = {.task_names = &task, .task_columns = &col, .n_tasks = 1};
  cur_labelfile *lf;
  REQUIRE_OK(load("wide.csv", csv, strlen(csv), &spec, &lf));
  CHECK_INT(cur_labelfile_count(lf), 3);
  CHECK_STR(value_of(lf, "img2.jpg"), "v2298");
  CHECK_STR(reports, "");
  cur_labelfile_free(lf);
  cur_free(csv);
  /* the same as JSONL: one object of 300 keys per line */
  char *jsonl = cur_malloc(300 * 24 + 64), *p = jsonl;
  p += sprintf(p, "{\"path\": \"x.jpg\"");
  for (int c = 0; c < 299; c++) p += sprintf(p, ", \"c%d\": \"w%d\"", c, c);
  sprintf(p, "}\n");
  REQUIRE_OK(load("wide.jsonl", jsonl, strlen(jsonl), &spec, &lf));
  CHECK_STR(value_of(lf, "x.jpg"), "w298");
  cur_labelfile_free(lf);
  cur_free(jsonl);
}

TEST(over_long_csv_row_is_reported_with_its_line_and_later_rows_load) {
  /* row 3 has 400 fields; before, the 256-field limit read it as an
  ** unterminated quote and dropped every row after it */
  char text[8192], *p = text;
  p += sprintf(p, "path,label\na.jpg,cat\nb.jpg");
  for (int i = 0; i < 399; i++) p += sprintf(p, ",x");
  sprintf(p, "\nc.jpg,dog\nd.jpg,\"quoted, with comma\"\n");
  cur_labelfile *lf;
  REQUIRE_OK(load("long-row.csv", text, strlen(text), NULL, &lf));
  CHECK(strstr(reports, "long-row.csv:3: 400 fields, expected 2; row skipped") != NULL);
  CHECK(strstr(reports, "unterminated") == NULL);
  CHECK_STR(value_of(lf, "c.jpg"), "dog");
  CHECK_STR(value_of(lf, "d.jpg"), "quoted, with comma");
  CHECK_INT(cur_labelfile_count(lf), 3);
  cur_labelfile_free(lf);
}

TEST(teacher_file_with_300_classes_loads) {
  enum { K = 300 };
  char *classes[K], *text = cur_malloc(K * 40 + 64), *p = text;
  REQUIRE(text);
  p += sprintf(p, "path");
  for (int c = 0; c < K; c++) {
    classes[c] = cur_asprintf("class%d", c);
    p += sprintf(p, ",class%d", c);
  }
  /* one-hot on class 299, and a uniform row */
  p += sprintf(p, "\nhot.jpg");
  for (int c = 0; c < K; c++) p += sprintf(p, ",%d", c == K - 1);
  p += sprintf(p, "\nflat.jpg");
  for (int c = 0; c < K; c++) p += sprintf(p, ",%.9f", 1.0 / K);
  sprintf(p, "\n");
  char *path = test_scratch_path("teacher300.csv");
  REQUIRE(test_write_file(path, text, strlen(text)) == 0);
  cur_teacherfile *tf = NULL;
  reports[0] = 0;
  CHECK_OK(cur_teacherfile_load(path, classes, K, collect, NULL, &tf));
  if (tf) {
    CHECK_INT(cur_teacherfile_valid(tf), 2);
    const float *hot = cur_teacherfile_find(tf, "hot.jpg", "");
    REQUIRE(hot);
    CHECK_NEAR(hot[K - 1], 1.0, 0);  /* exact: 1 / 1 */
    const float *flat = cur_teacherfile_find(tf, "flat.jpg", "");
    REQUIRE(flat);
    CHECK_NEAR(flat[0], 1.0 / K, 1e-7);  /* float rounding of 1/300 */
  }
  cur_teacherfile_free(tf);
  for (int c = 0; c < K; c++) cur_free(classes[c]);
  cur_free(text);
  cur_free(path);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(csv_row_with_invalid_utf8_is_reported_with_its_line_and_skipped);
  RUN(jsonl_row_with_invalid_utf8_is_reported_with_its_line_and_skipped);
  RUN(jsonl_labels_of_the_wrong_type_are_reported_not_dropped_or_made_classes);
  RUN(csv_and_jsonl_with_300_columns_load);
  RUN(over_long_csv_row_is_reported_with_its_line_and_later_rows_load);
  RUN(teacher_file_with_300_classes_loads);
  return test_finish();
}
