/* fixtures.c -- builds test images and archives, and dumps databases for comparison. */
#include "fixtures.h"

#include <archive.h>
#include <cjson/cJSON.h>
#include <archive_entry.h>
#include <math.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>

#include "head_noise.h"
#include "image.h"
#include "testlib.h"

int fx_image(int w, int h, unsigned seed, const char *format, unsigned char **data, size_t *len) {
  size_t n = (size_t)w * h * 3;
  unsigned char *px = cur_malloc(n);
  if (!px || cur_image_init()) return CUR_ERR;
  uint32_t s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 1103515245u + 12345u;
    /* smooth gradient plus a little noise, so JPEG sizes stay realistic */
    px[i] = (unsigned char)((i / 3 % (size_t)w) * 255 / (size_t)w / 2 + (s >> 27) + seed * 7);
  }
  VipsImage *img = vips_image_new_from_memory(px, n, w, h, 3, VIPS_FORMAT_UCHAR);
  void *buf = NULL;
  int bad = !img || (strcmp(format, "png") == 0 ? vips_pngsave_buffer(img, &buf, len, NULL)
                                                : vips_jpegsave_buffer(img, &buf, len, "Q", 90, NULL));
  if (img) g_object_unref(img);
  cur_free(px);
  if (bad) return CUR_ERR;
  *data = cur_malloc(*len);
  if (*data) memcpy(*data, buf, *len);
  g_free(buf);
  return *data ? CUR_OK : CUR_ERR;
}

int fx_image_file(const char *path, int w, int h, unsigned seed, const char *format) {
  unsigned char *data;
  size_t len;
  if (fx_image(w, h, seed, format, &data, &len)) return CUR_ERR;
  int rc = test_write_file(path, data, len);
  cur_free(data);
  return rc;
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

static void be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* Appends a PNG chunk of TYPE and BODY to OUT at *N. */
static void chunk(unsigned char *out, size_t *n, const char *type, const unsigned char *body, uint32_t len) {
  be32(out + *n, len);
  memcpy(out + *n + 4, type, 4);
  if (len) memcpy(out + *n + 8, body, len);
  be32(out + *n + 8 + len, crc32_of(out + *n + 4, len + 4));
  *n += 12 + len;
}

int fx_png_header_only(const char *path, uint32_t w, uint32_t h) {
  unsigned char out[128] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  unsigned char ihdr[13] = {0};
  /* a zlib stream of one empty stored block: valid, but far too short */
  static const unsigned char idat[] = {0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 1};
  size_t n = 8;
  be32(ihdr, w);
  be32(ihdr + 4, h);
  ihdr[8] = 8;  /* bit depth */
  ihdr[9] = 0;  /* greyscale */
  chunk(out, &n, "IHDR", ihdr, 13);
  chunk(out, &n, "IDAT", idat, sizeof idat);
  chunk(out, &n, "IEND", NULL, 0);
  return test_write_file(path, out, n);
}

int fx_archive(const char *path, const char *format, int n, const char *const *names,
               const unsigned char *const *data, const size_t *lens) {
  struct archive *a = archive_write_new();
  int rc = CUR_OK;
  if (!a) return CUR_ERR;
  if (strcmp(format, "zip") == 0) archive_write_set_format_zip(a);
  else archive_write_set_format_pax_restricted(a);
  if (archive_write_open_filename(a, path) != ARCHIVE_OK) rc = CUR_ERR;
  for (int i = 0; rc == CUR_OK && i < n; i++) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, names[i]);
    archive_entry_set_size(e, (la_int64_t)lens[i]);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, data[i], lens[i]) != (la_ssize_t)lens[i])
      rc = CUR_ERR;
    archive_entry_free(e);
  }
  if (archive_write_close(a) != ARCHIVE_OK) rc = CUR_ERR;
  archive_write_free(a);
  return rc;
}

/* Appends S to the growing string *OUT. */
static int append(char **out, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    size_t nc = (*len + n + 1) * 2;
    char *p = cur_reallocarray(*out, nc, 1);
    if (!p) return -1;
    *out = p;
    *cap = nc;
  }
  memcpy(*out + *len, s, n + 1);
  *len += n;
  return 0;
}

/* Runs SQL and appends each row, columns joined by '|', to *OUT. */
static int dump_query(sqlite3 *db, const char *sql, char **out, size_t *len, size_t *cap) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
  int rc = 0;
  while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
    for (int c = 0; rc == 0 && c < sqlite3_column_count(s); c++) {
      const char *t = (const char *)sqlite3_column_text(s, c);
      if (c) rc = append(out, len, cap, "|");
      if (!rc) rc = append(out, len, cap, t ? t : "NULL");
    }
    if (!rc) rc = append(out, len, cap, "\n");
  }
  sqlite3_finalize(s);
  return rc;
}

char *fx_sql(const char *db_path, const char *sql) {
  sqlite3 *db;
  char *out = NULL;
  size_t len = 0, cap = 0;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
      append(&out, &len, &cap, "") || dump_query(db, sql, &out, &len, &cap)) {
    cur_free(out);
    out = NULL;
  }
  sqlite3_close(db);
  return out;
}

long long fx_sql_int(const char *db, const char *sql) {
  char *r = fx_sql(db, sql);
  long long v = r && *r ? atoll(r) : -1;
  cur_free(r);
  return v;
}

int fx_image_tree(const char *root, const char *const *classes, const int *counts, int n_classes,
                  int w, int h, const char *format, unsigned first_seed) {
  int rc = 0;
  for (int k = 0; k < n_classes; k++) {
    rc |= test_sh("mkdir -p '%s/%s/%s'", T.scratch, root, classes[k]);
    for (int i = 0; i < counts[k]; i++) {
      char *rel = cur_asprintf("%s/%s/%02d.%s", root, classes[k], i, strcmp(format, "png") ? "jpg" : "png");
      char *p = rel ? test_scratch_path(rel) : NULL;
      rc |= !p || fx_image_file(p, w, h, first_seed++, format);
      cur_free(rel);
      cur_free(p);
    }
  }
  return rc;
}

char *fx_dump(const char *db_path) {
  sqlite3 *db;
  sqlite3_stmt *tables = NULL;
  char *out = NULL;
  size_t len = 0, cap = 0;
  int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
                   sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                          "ORDER BY name", -1, &tables, NULL) == SQLITE_OK ? 0 : -1;
  while (rc == 0 && sqlite3_step(tables) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(tables, 0);
    /* the columns without timing ones, quoted (blobs as hex), and all of
    ** them as the sort key, since some tables have no rowid */
    char q[512], *cols, *keys, *sel;
    snprintf(q, sizeof q, "SELECT group_concat('quote(\"' || name || '\")', ','), "
             "group_concat('\"' || name || '\"', ',') FROM pragma_table_info('%s') "
             "WHERE name NOT LIKE '%%\\_at' ESCAPE '\\' AND name <> 'seconds'", t);
    char *c = fx_sql(db_path, q);
    if (!c || !(keys = strchr(c, '|'))) { cur_free(c); rc = -1; break; }
    cols = c;
    *keys++ = 0;
    keys[strcspn(keys, "\n")] = 0;
    sel = cur_asprintf("SELECT %s FROM \"%s\" ORDER BY %s", cols, t, keys);
    cur_free(c);
    rc = sel ? append(&out, &len, &cap, t) || append(&out, &len, &cap, ":\n") ||
                   dump_query(db, sel, &out, &len, &cap) : -1;
    cur_free(sel);
  }
  sqlite3_finalize(tables);  /* NULL-safe when the prepare failed */
  sqlite3_close(db);
  if (rc) {
    cur_free(out);
    return NULL;
  }
  return out;
}

int fx_curate(const char *log, const char *fmt, ...) {
  char args[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  return test_sh("cd '%s' && '%s' %s > '%s' 2>&1", T.scratch, T.curate, args, log);
}

char *fx_read(const char *rel) {
  char *path = rel[0] == '/' ? cur_strdup(rel) : cur_asprintf("%s/%s", T.scratch, rel);
  char *text = NULL;
  size_t len;
  if (path && cur_file_read(path, &text, &len) != CUR_OK) text = NULL;
  cur_free(path);
  return text;
}

void fx_check_flags(const head_noise_out *o, const int *y, int n, const char *file, int line) {
  int flagged = 0, same = 0;
  for (int i = 0; i < n; i++) {
    flagged += o->flag[i];
    same += o->flag[i] && o->suggest[i] == y[i];
  }
  if (same) test_fail(file, line, "%d flags suggest the row's own label", same);
  if (flagged > (int)floor(o->noise * n + 1e-9))
    test_fail(file, line, "%d flags, noise estimate %.4f x %d rows", flagged, o->noise, n);
  if (!(o->noise >= 0 && o->noise <= 1)) test_fail(file, line, "noise estimate %g", o->noise);
}

int fx_archive_subset(const char *src, const char *dst, int n, const char *prefix) {
  struct archive *in = archive_read_new(), *out = archive_write_new();
  struct archive_entry *e;
  int rc = in && out ? CUR_OK : CUR_ERR, copied = 0;
  unsigned char buf[65536];
  if (rc == CUR_OK) {
    archive_read_support_filter_all(in);
    archive_read_support_format_all(in);
    archive_write_set_format_pax_restricted(out);
    if (archive_read_open_filename(in, src, 65536) != ARCHIVE_OK ||
        archive_write_open_filename(out, dst) != ARCHIVE_OK)
      rc = CUR_ERR;
  }
  while (rc == CUR_OK && copied < n && archive_read_next_header(in, &e) == ARCHIVE_OK) {
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    if (prefix && strncmp(archive_entry_pathname(e), prefix, strlen(prefix)) != 0) continue;
    if (archive_write_header(out, e) != ARCHIVE_OK) rc = CUR_ERR;
    la_ssize_t got;
    while (rc == CUR_OK && (got = archive_read_data(in, buf, sizeof buf)) > 0)
      if (archive_write_data(out, buf, (size_t)got) != got) rc = CUR_ERR;
    copied++;
  }
  if (out && archive_write_close(out) != ARCHIVE_OK) rc = CUR_ERR;
  archive_write_free(out);
  archive_read_free(in);
  return rc == CUR_OK && copied == n ? CUR_OK : CUR_ERR;
}

int fx_spawn(const char *log, const char *const *args) {
  const char *argv[64] = {"curate"};
  int n = 1;
  for (; args[n - 1] && n < 63; n++) argv[n] = args[n - 1];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(T.scratch) != 0 || !freopen(log, "w", stderr)) _exit(127);
    execv(T.curate, (char *const *)argv);
    _exit(127);
  }
  return (int)pid;
}

int fx_wait(int pid) {
  int st;
  if (pid <= 0 || waitpid((pid_t)pid, &st, 0) != (pid_t)pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int fx_interrupt_once(int pid, const char *db, const char *count_sql) {
  for (int i = 0; i < 3000 && fx_sql_int(db, count_sql) <= 0; i++) usleep(5000);
  kill((pid_t)pid, SIGINT);
  return fx_wait(pid);
}

int fx_wait_rss(int pid, long *peak_kb) {
  int st;
  struct rusage use;
  if (pid <= 0 || wait4((pid_t)pid, &st, 0, &use) != (pid_t)pid) return -1;
  *peak_kb = use.ru_maxrss;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int fx_gradient_image(const char *path, int w, int h, int noisy_rows, double sigma, int seed) {
  if (cur_image_init()) return CUR_ERR;
  VipsObject *scope = VIPS_OBJECT(vips_image_new());
  VipsImage **t = (VipsImage **)vips_object_local_array(scope, 12);
  /* red across, green down, blue along the diagonal */
  double across[3] = {255.0 / w, 0, 127.0 / w}, down[3] = {0, 255.0 / h, 127.0 / h};
  int rc = vips_xyz(&t[0], w, h, NULL) || vips_extract_band(t[0], &t[1], 0, NULL) ||
           vips_extract_band(t[0], &t[2], 1, NULL) ||
           vips_linear(t[1], &t[3], across, (double[]){0, 0, 0}, 3, NULL) ||
           vips_linear(t[2], &t[4], down, (double[]){0, 0, 0}, 3, NULL) ||
           vips_add(t[3], t[4], &t[5], NULL);
  VipsImage *img = t[5];
  if (rc == 0 && noisy_rows > 0) {
    rc = vips_gaussnoise(&t[6], w, noisy_rows, "sigma", sigma, "mean", 0.0, "seed", seed, NULL) ||
         vips_embed(t[6], &t[7], 0, 0, w, h, "extend", VIPS_EXTEND_BLACK, NULL) ||
         vips_add(t[5], t[7], &t[8], NULL);
    img = t[8];
  }
  if (rc == 0) rc = vips_cast_uchar(img, &t[9], NULL) || vips_image_write_to_file(t[9], path, NULL);
  if (rc) fprintf(stderr, "fx_gradient_image %s: %s\n", path, vips_error_buffer());
  vips_error_clear();
  g_object_unref(scope);
  return rc ? CUR_ERR : CUR_OK;
}

int fx_kill_and_resume(const char *const *clean_args, const char *const *killed_args, int kills,
                       double lo, double hi, unsigned seed, int *landed) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int clean = fx_wait(fx_spawn("/dev/null", clean_args));
  clock_gettime(CLOCK_MONOTONIC, &b);
  double full = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
  srand(seed);
  *landed = 0;
  for (int k = 0; k < kills; k++) {
    int pid = fx_spawn("/dev/null", killed_args);
    usleep((useconds_t)(full * 1e6 * (lo + (hi - lo) * rand() / (double)RAND_MAX)));
    kill((pid_t)pid, SIGKILL);
    *landed += fx_wait(pid) == 128 + SIGKILL;
  }
  printf("  full run %.2f s; %d of %d kills landed\n", full, *landed, kills);
  int last = fx_wait(fx_spawn("last-run.log", killed_args));
  if (clean != 0 || last != 0) {
    char *log = fx_read("last-run.log");
    printf("  clean run exit %d, last run exit %d; the last run said:\n%s\n", clean, last, log ? log : "");
    cur_free(log);
  }
  return clean == 0 && last == 0 ? 0 : -1;
}

/* Un-normalises one channel of reference image INDEX (mean M, std SD) into
** every third byte of PIXELS, rounded and clipped to 8 bits. */
static void unnormalise(const float *images, int index, int c, double m, double sd, unsigned char *pixels) {
  enum { S = 64 };
  for (int p = 0; p < S * S; p++) {
    double v = (images[((size_t)index * 3 + c) * S * S + p] * sd + m) * 255.0;
    pixels[p * 3 + c] = (unsigned char)lrint(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

int fx_clip_reference_ppm(const char *model_dir, int index, const char *rel) {
  enum { S = 64, N = 5 };
  static unsigned char ppm[32 + S * S * 3];
  char *img_path = cur_asprintf("%s/reference-images.f32", model_dir);
  char *pre_path = cur_asprintf("%s/preprocessor_config.json", model_dir);
  char *images = NULL, *pre_text = NULL, *out = test_scratch_path(rel);
  size_t len = 0, pre_len;
  cJSON *pre = NULL;
  int rc = -1;
  if (index < 0 || index >= N || !img_path || !pre_path || !out ||
      cur_file_read(img_path, &images, &len) != CUR_OK || len != (size_t)N * 3 * S * S * sizeof(float) ||
      cur_file_read(pre_path, &pre_text, &pre_len) != CUR_OK || !(pre = cJSON_Parse(pre_text)))
    goto cleanup;
  const cJSON *mean = cJSON_GetObjectItem(pre, "image_mean"), *std = cJSON_GetObjectItem(pre, "image_std");
  if (cJSON_GetArraySize(mean) != 3 || cJSON_GetArraySize(std) != 3) goto cleanup;
  int head = snprintf((char *)ppm, 32, "P6\n%d %d\n255\n", S, S);
  for (int c = 0; c < 3; c++)
    unnormalise((const float *)images, index, c, cJSON_GetArrayItem(mean, c)->valuedouble,
                cJSON_GetArrayItem(std, c)->valuedouble, ppm + head);
  rc = test_write_file(out, ppm, (size_t)head + S * S * 3);
cleanup:
  cJSON_Delete(pre);
  cur_free(images);
  cur_free(pre_text);
  cur_free(img_path);
  cur_free(pre_path);
  cur_free(out);
  return rc;
}

cJSON *fx_clip_reference_outputs(const char *model_dir) {
  char *path = cur_asprintf("%s/reference-outputs.json", model_dir), *text = NULL;
  size_t len;
  cJSON *ref = path && cur_file_read(path, &text, &len) == CUR_OK ? cJSON_Parse(text) : NULL;
  cur_free(text);
  cur_free(path);
  return ref;
}
