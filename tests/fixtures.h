/* fixtures.h -- images, archives and database dumps the tests build for themselves. */
#ifndef FIXTURES_H
#define FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* A W x H RGB image with a pattern drawn from SEED, encoded as FORMAT
** ("jpeg" or "png").  The caller frees *data with cur_free. */
int fx_image(int w, int h, unsigned seed, const char *format, unsigned char **data, size_t *len);
/* Writes such an image to PATH. */
int fx_image_file(const char *path, int w, int h, unsigned seed, const char *format);
/* A valid PNG signature and IHDR declaring W x H, followed by a tiny IDAT. */
int fx_png_header_only(const char *path, uint32_t w, uint32_t h);
/* Writes an archive (FORMAT "tar" or "zip") at PATH holding N entries
** named NAMES[i] with DATA[i] of LENS[i] bytes. */
int fx_archive(const char *path, const char *format, int n, const char *const *names,
               const unsigned char *const *data, const size_t *lens);
/* Runs SQL (one column per row) on the database and returns all rows joined
** by newlines; the caller frees it.  NULL on error. */
char *fx_sql(const char *db, const char *sql);
/* The first column of SQL's first row as an integer; -1 on error. */
long long fx_sql_int(const char *db, const char *sql);
/* Writes N_CLASSES folders ROOT/<class>/ (ROOT relative to scratch) holding
** COUNTS[k] images NN.jpg or NN.png of W x H, patterns from seeds counted up
** from FIRST_SEED. */
int fx_image_tree(const char *root, const char *const *classes, const int *counts, int n_classes,
                  int w, int h, const char *format, unsigned first_seed);
/* Every table's rows in key order, leaving out timing columns (*_at and
** seconds), which cannot match between two runs.  The caller frees it. */
char *fx_dump(const char *db);
/* Runs `curate` with ARGS (a shell fragment) in the scratch folder,
** output to LOG (relative to scratch); returns the exit status. */
int fx_curate(const char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts `curate ARGS...` (ARGS NULL-ended) in the scratch folder with its
** stderr to LOG (scratch-relative, or "/dev/null"); returns the pid. */
int fx_spawn(const char *log, const char *const *args);
/* Waits for PID: its exit status, or 128 + the signal that ended it. */
int fx_wait(int pid);
/* Ctrl-C drill: presses Ctrl-C (SIGINT) on PID once COUNT_SQL, a count on
** DB, is above 0 (polled every 5 ms, for at most 15 s), and returns
** fx_wait's status: 130 when curate stopped as asked. */
int fx_interrupt_once(int pid, const char *db, const char *count_sql);
/* fx_wait, also giving the peak resident memory of PID (and of the children
** it waited for) in kilobytes. */
int fx_wait_rss(int pid, long *peak_kb);
/* Writes a W x H RGB image to PATH, its format and save options taken from
** the name as libvips reads them (e.g. "a.jpg[Q=85]"): smooth gradients,
** with Gaussian noise of SIGMA on the first NOISY_ROWS rows, drawn from
** SEED.  Made in strips, so even 10000 x 10000 takes little memory; the
** noisy rows set the file size. */
int fx_gradient_image(const char *path, int w, int h, int noisy_rows, double sigma, int seed);
/* Crash-safety drill: runs CLEAN_ARGS to the end (timing it), then starts
** KILLED_ARGS KILLS times and SIGKILLs each attempt after a fraction of the
** clean run's time drawn in [LO, HI) from SEED, then runs KILLED_ARGS to the
** end.  *LANDED counts the attempts that died by the signal.  Returns 0 when
** the clean run and the last run both exit 0. */
int fx_kill_and_resume(const char *const *clean_args, const char *const *killed_args, int kills,
                       double lo, double hi, unsigned seed, int *landed);

/* Reads a file (from the scratch folder when REL is relative) into a string. */
char *fx_read(const char *rel);

/* Fails the case at FILE:LINE unless one method's output (head_noise.h)
** keeps the two promises of a flag for labels Y[n]: every flag suggests a
** class other than the label, and there are at most floor(noise x n). */
struct head_noise_out;
void fx_check_flags(const struct head_noise_out *o, const int *y, int n, const char *file, int line);
#define FX_CHECK_FLAGS(o, y, n) fx_check_flags(o, y, n, __FILE__, __LINE__)

/* Copies the first N regular-file entries of archive SRC (any format
** libarchive reads) into a plain tar DST, optionally skipping every entry
** whose name does not start with PREFIX (NULL: keep all). */
int fx_archive_subset(const char *src, const char *dst, int n, const char *prefix);

/* Writes reference image INDEX (0-4) of a model folder of ../shared/clip (a
** preprocessed 3 x 64 x 64 tensor from PyTorch's CLIP) back to pixels as a
** 64 x 64 PPM at scratch/REL: un-normalised with the folder's
** preprocessor_config.json mean and std, rounded and clipped.  A 64-pixel
** image passes the stage's resize and centre crop unchanged, so its
** features should be the reference's (images 3 and 4 are photos; 0-2 are
** noise, which the clipping changes).  0 on success. */
int fx_clip_reference_ppm(const char *model_dir, int index, const char *rel);
/* The reference outputs of PyTorch's CLIP in a model folder of ../shared/clip
** (reference-outputs.json: texts, image_features, logits_per_image, ...),
** parsed; NULL when the file cannot be read or is not JSON.  The caller
** frees it with cJSON_Delete. */
struct cJSON;
struct cJSON *fx_clip_reference_outputs(const char *model_dir);
#endif
