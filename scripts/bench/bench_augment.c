/* bench_augment.c -- variants per second of the augment engine over a tar of images.
**
** Usage: bench_augment TAR [--variants N] [--threads N] [--seed S]
**                          [--fill edge|black|mean] [--params FILE]
**
** Reads every regular file of TAR into memory (libarchive), then makes N
** variants of each on T threads: a thread takes an image, decodes it once
** (cur_augment_source_new) and makes its N variants (cur_augment_sample +
** cur_augment_make), which is how the stage works.  libvips (PNG input,
** photometric ops) runs on one thread (vips_concurrency_set(1)).  Only
** the variant loop is timed.  --params writes each job's geometry, one line
** per job ("angle_deg tx_frac ty_frac scale hflip"), so that the Pillow
** benchmark (augment_pillow.py) can make exactly the same transforms.
*/
#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vips/vips.h>

#include "augment_transform.h"
#include "curate.h"

typedef struct blob {
  unsigned char *data;
  size_t len;
} blob;

typedef struct bench {
  blob *images;                /* the archive's files, in archive order */
  size_t nimages;
  int variants;                /* variants per image */
  uint64_t seed;
  cur_augment_options opts;
  atomic_size_t next_image;    /* the next image a thread takes */
  atomic_size_t out_bytes;     /* total encoded output, a sanity figure */
  atomic_int failed;           /* set by the first failing job */
} bench;

static void images_free(blob *images, size_t n) {
  for (size_t i = 0; images && i < n; i++) cur_free(images[i].data);
  cur_free(images);
}

/* Appends the current entry's bytes to *images (capacity *cap). */
static int read_entry(struct archive *a, struct archive_entry *e, blob **images, size_t *n,
                      size_t *cap) {
  la_int64_t size = archive_entry_size(e);
  if (size <= 0) return CUR_OK;
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 256;
    blob *grown = cur_reallocarray(*images, ncap, sizeof **images);
    if (!grown) return CUR_ENOMEM;
    *images = grown;
    *cap = ncap;
  }
  blob *b = &(*images)[*n];
  if (!(b->data = cur_malloc((size_t)size))) return CUR_ENOMEM;
  b->len = (size_t)size;
  (*n)++;
  if (archive_read_data(a, b->data, b->len) != (la_ssize_t)b->len)
    return cur_errorc(CUR_EIO, "bench: %s: %s", archive_entry_pathname(e), archive_error_string(a));
  return CUR_OK;
}

static int load_archive(const char *path, blob **out, size_t *nout) {
  struct archive *a = archive_read_new();
  struct archive_entry *e = NULL;
  blob *images = NULL;
  size_t n = 0, cap = 0;
  int rc = CUR_OK, ar;
  if (!a) return cur_errorc(CUR_ENOMEM, "bench: %s: cannot create archive reader", path);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
    rc = cur_errorc(CUR_EIO, "bench: %s: %s", path, archive_error_string(a));
    goto cleanup;
  }
  while (rc == CUR_OK && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    if (archive_entry_filetype(e) == AE_IFREG) rc = read_entry(a, e, &images, &n, &cap);
  }
  if (rc == CUR_OK && ar != ARCHIVE_EOF)
    rc = cur_errorc(CUR_EIO, "bench: %s: %s", path, archive_error_string(a));
  if (rc == CUR_OK && n == 0) rc = cur_errorc(CUR_EINPUT, "bench: %s: no files", path);
cleanup:
  archive_read_free(a);
  if (rc != CUR_OK) {
    images_free(images, n);
    return rc;
  }
  *out = images;
  *nout = n;
  return CUR_OK;
}

/* The variants of image i from one decode; CUR_OK or the first failure. */
static int make_variants(bench *b, size_t i) {
  const blob *img = &b->images[i];
  cur_augment_source *src = NULL;
  int rc = cur_augment_source_new(img->data, img->len, &src);
  for (int v = 0; rc == CUR_OK && v < b->variants; v++) {
    cur_augment_params p;
    cur_augment_format fmt;
    unsigned char *out = NULL;
    size_t len = 0;
    rc = cur_augment_sample(&b->opts, b->seed, (int64_t)i, v, &p);
    if (rc == CUR_OK) rc = cur_augment_make(src, &p, &b->opts, &out, &len, &fmt);
    atomic_fetch_add(&b->out_bytes, len);
    cur_free(out);
  }
  cur_augment_source_free(src);
  return rc;
}

static void *worker(void *arg) {
  bench *b = arg;
  for (size_t i; (i = atomic_fetch_add(&b->next_image, 1)) < b->nimages && !atomic_load(&b->failed);) {
    if (make_variants(b, i) != CUR_OK) {
      fprintf(stderr, "bench: image %zu: %s\n", i, cur_error());
      atomic_store(&b->failed, 1);
    }
  }
  return NULL;
}

/* Writes the geometry of every job, in job order, for the Pillow side. */
static int write_params(const bench *b, const char *path) {
  FILE *f = fopen(path, "w");
  int rc = CUR_OK;
  if (!f) return cur_errorc(CUR_EIO, "bench: --params %s: cannot create", path);
  for (size_t j = 0; rc == CUR_OK && j < b->nimages * (size_t)b->variants; j++) {
    cur_augment_params p;
    rc = cur_augment_sample(&b->opts, b->seed, (int64_t)(j / (size_t)b->variants),
                            (int)(j % (size_t)b->variants), &p);
    if (rc == CUR_OK && fprintf(f, "%.6f %.6f %.6f %.6f %d\n", p.angle_deg, p.tx_frac,
                                p.ty_frac, p.scale, p.hflip) < 0)
      rc = cur_errorc(CUR_EIO, "bench: --params %s: write failed", path);
  }
  if (fclose(f) != 0 && rc == CUR_OK) rc = cur_errorc(CUR_EIO, "bench: --params %s: write failed", path);
  return rc;
}

/* Runs the jobs on nthreads threads; *seconds is the wall time. */
static int run(bench *b, int nthreads, double *seconds) {
  pthread_t tids[64];
  struct timespec t0, t1;
  int started = 0, rc = CUR_OK;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (; started < nthreads; started++) {
    if (pthread_create(&tids[started], NULL, worker, b) != 0) {
      rc = cur_errorc(CUR_ERR, "bench: cannot start thread %d", started);
      atomic_store(&b->failed, 1);
      break;
    }
  }
  for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  if (rc == CUR_OK && atomic_load(&b->failed)) rc = cur_errorc(CUR_ERR, "bench: a variant failed");
  return rc;
}

typedef struct args {
  const char *tar, *params_path;
  int threads;
} args;

static int parse_args(int argc, char **argv, args *a, bench *b) {
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = CUR_OK;
    if (opt[0] != '-') {
      a->tar = opt;
      continue;
    }
    if (!val) return cur_errorc(CUR_ECONFIG, "bench: %s needs a value", opt);
    i++;
    if (strcmp(opt, "--variants") == 0) b->variants = atoi(val);
    else if (strcmp(opt, "--threads") == 0) a->threads = atoi(val);
    else if (strcmp(opt, "--seed") == 0) b->seed = strtoull(val, NULL, 10);
    else if (strcmp(opt, "--params") == 0) a->params_path = val;
    else if (strcmp(opt, "--fill") == 0) rc = cur_augment_fill_parse(val, &b->opts.fill);
    else rc = cur_errorc(CUR_ECONFIG, "bench: unknown option %s", opt);
    if (rc != CUR_OK) return rc;
  }
  if (!a->tar) return cur_errorc(CUR_ECONFIG, "bench: usage: bench_augment TAR [options]");
  if (b->variants < 1 || a->threads < 1 || a->threads > 64)
    return cur_errorc(CUR_ECONFIG, "bench: --variants must be >= 1 and --threads in 1..64");
  return CUR_OK;
}

int main(int argc, char **argv) {
  static bench b;  /* static: zeroed atomics without an init call each */
  args a = {NULL, NULL, 2};
  double secs = 0.0;
  b.variants = 2;
  b.seed = 1;
  cur_augment_options_default(&b.opts);
  if (VIPS_INIT(argv[0])) {
    fprintf(stderr, "bench: libvips init failed: %s\n", vips_error_buffer());
    return 1;
  }
  vips_concurrency_set(1);
  int rc = parse_args(argc, argv, &a, &b);
  if (rc == CUR_OK) rc = load_archive(a.tar, &b.images, &b.nimages);
  if (rc == CUR_OK && a.params_path) rc = write_params(&b, a.params_path);
  if (rc == CUR_OK) rc = run(&b, a.threads, &secs);
  if (rc == CUR_OK) {
    size_t n = b.nimages * (size_t)b.variants;
    printf("curate: %zu variants of %zu images in %.3f s on %d threads = %.1f variants/s"
           " (fill %s, %.1f KiB per variant)\n", n, b.nimages, secs, a.threads, n / secs,
           cur_augment_fill_name(b.opts.fill), atomic_load(&b.out_bytes) / 1024.0 / n);
  } else {
    fprintf(stderr, "%s\n", cur_error());
  }
  images_free(b.images, b.nimages);
  return rc == CUR_OK ? 0 : 1;
}
