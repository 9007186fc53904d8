/* gen_scale.c -- a seeded set of N distinct small images for the scale benchmark.
**
** Writes into OUT (a folder that must exist):
**   images.tar  N images, half JPEG and half PNG (chosen by the seed), SIZE x SIZE
**               RGB, as img/DDDDDDD.jpg|png in one uncompressed ustar archive
**               (one file, so that a million images cost one inode);
**   labels.csv  path,label,group: the given label (empty for the unlabelled
**               share), and a group key shared by GROUP consecutive images;
**   truth.csv   path,truth,given: the class the image was drawn from, and the
**               label given, so the noise is known.
** An image of class c is a smooth pattern fixed by c (a mean colour and a
** stripe direction) plus seeded per-pixel noise: the classes are learnable
** from pixels, and the noise makes every image's bytes distinct (image i's
** noise comes from the keys {seed, i}, so an image never depends on N).
** Class c is drawn with weight 1 / (1 + c / 2), so the classes are
** unbalanced (class 9 of 10 is a third as common as class 0) and balance
** and augment have work; a NOISE share of the labelled images get another
** class, drawn uniformly.
**
** Usage: gen_scale --n N --out DIR [--seed S] [--classes C] [--noise R]
**                  [--unlabelled R] [--group G] [--size PX]
*/
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "image.h"
#include "rng.h"

typedef struct gen_opts {
  long n;            /* images */
  uint64_t seed;
  int classes;
  double noise;      /* share of labelled images given a wrong label */
  double unlabelled; /* share of images with no label */
  int group;         /* images per group key */
  int size;          /* side in pixels */
  const char *out;
} gen_opts;

/* ustar header of a regular file NAME of LEN bytes; the checksum is the
** byte sum of the header with its own field read as spaces. */
static void tar_header(unsigned char h[512], const char *name, size_t len) {
  memset(h, 0, 512);
  snprintf((char *)h, 100, "%s", name);
  snprintf((char *)h + 100, 8, "%07o", 0644);
  snprintf((char *)h + 108, 8, "%07o", 0);
  snprintf((char *)h + 116, 8, "%07o", 0);
  snprintf((char *)h + 124, 12, "%011zo", len);
  snprintf((char *)h + 136, 12, "%011o", 0);
  h[156] = '0';
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
}

static int tar_add(FILE *f, const char *name, const unsigned char *data, size_t len) {
  unsigned char h[512], pad[512] = {0};
  tar_header(h, name, len);
  size_t rest = (512 - len % 512) % 512;
  if (fwrite(h, 1, 512, f) != 512 || fwrite(data, 1, len, f) != len ||
      fwrite(pad, 1, rest, f) != rest)
    return cur_errorf("gen_scale: cannot write the archive");
  return CUR_OK;
}

/* Image I of class C into PX (size x size x 3). */
static void draw(const gen_opts *o, long i, int c, unsigned char *px) {
  cur_rng r;
  uint64_t keys[2] = {o->seed, (uint64_t)i};
  cur_rng_seed_keys(&r, keys, 2);
  /* the class fixes the stripes' direction and the colour; each image has
  ** its own phase, period and brightness, so that pictures of one class
  ** differ in structure (pHash), not only in noise */
  double angle = 3.14159265 * c / o->classes;
  double phase = 6.28 * cur_rng_uniform(&r), period = 4 + 6 * cur_rng_uniform(&r);
  double shift = 40 * (cur_rng_uniform(&r) - 0.5);
  double base[3] = {60 + 140.0 * ((c * 37) % o->classes) / o->classes,
                    60 + 140.0 * ((c * 53 + 3) % o->classes) / o->classes,
                    60 + 140.0 * ((c * 71 + 7) % o->classes) / o->classes};
  for (int y = 0; y < o->size; y++)
    for (int x = 0; x < o->size; x++) {
      double stripe = shift + 40 * sin((x * cos(angle) + y * sin(angle)) * 6.28 / period + phase);
      for (int b = 0; b < 3; b++) {
        double v = base[b] + stripe + 20 * cur_rng_normal(&r);
        px[((size_t)y * o->size + x) * 3 + b] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}

static int encode(const gen_opts *o, long i, const unsigned char *px, int png,
                  unsigned char **buf, size_t *len) {
  cur_image_pixels img = {(unsigned char *)px, o->size, o->size, 3};
  (void)i;
  return png ? cur_image_png_encode(&img, buf, len) : cur_image_jpeg_encode(&img, 90, buf, len);
}

/* A class drawn with weight 1 / (1 + c / 2) (see the header). */
static int draw_class(const gen_opts *o, cur_rng *r) {
  double total = 0, u;
  for (int c = 0; c < o->classes; c++) total += 1 / (1 + c / 2.0);
  u = cur_rng_uniform(r) * total;
  for (int c = 0; c < o->classes; c++) {
    u -= 1 / (1 + c / 2.0);
    if (u < 0) return c;
  }
  return o->classes - 1;
}

static int generate(const gen_opts *o, FILE *tar, FILE *labels, FILE *truth) {
  unsigned char *px = cur_mallocarray((size_t)o->size * o->size, 3);
  if (!px) return CUR_ENOMEM;
  cur_rng r;
  cur_rng_seed(&r, o->seed);
  fprintf(labels, "path,label,group\n");
  fprintf(truth, "path,truth,given\n");
  int rc = CUR_OK;
  for (long i = 0; i < o->n && rc == CUR_OK; i++) {
    int c = draw_class(o, &r);
    int png = (int)cur_rng_below(&r, 2);
    double u = cur_rng_uniform(&r), v = cur_rng_uniform(&r);
    int given = c;
    if (v < o->noise) given = (c + 1 + (int)cur_rng_below(&r, (uint64_t)o->classes - 1)) % o->classes;
    char name[64], label[16] = "";
    snprintf(name, sizeof name, "img/%07ld.%s", i, png ? "png" : "jpg");
    if (u >= o->unlabelled) snprintf(label, sizeof label, "c%d", given);
    draw(o, i, c, px);
    unsigned char *buf = NULL;
    size_t len = 0;
    rc = encode(o, i, px, png, &buf, &len);
    if (rc == CUR_OK) rc = tar_add(tar, name, buf, len);
    cur_free(buf);
    fprintf(labels, "%s,%s,g%ld\n", name, label, i / o->group);
    fprintf(truth, "%s,c%d,%s\n", name, c, label);
  }
  unsigned char end[1024] = {0};
  if (rc == CUR_OK && fwrite(end, 1, sizeof end, tar) != sizeof end)
    rc = cur_errorf("gen_scale: cannot write the archive");
  cur_free(px);
  return rc;
}

static int parse(int argc, char **argv, gen_opts *o) {
  static const struct option longs[] = {
      {"n", 1, 0, 'n'},      {"out", 1, 0, 'o'},        {"seed", 1, 0, 's'},
      {"classes", 1, 0, 'c'}, {"noise", 1, 0, 'r'},     {"unlabelled", 1, 0, 'u'},
      {"group", 1, 0, 'g'},  {"size", 1, 0, 'p'},       {0, 0, 0, 0}};
  *o = (gen_opts){0, 1, 10, 0.1, 0.2, 4, 16, NULL};
  int ch;
  while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (ch) {
    case 'n': o->n = atol(optarg); break;
    case 'o': o->out = optarg; break;
    case 's': o->seed = strtoull(optarg, NULL, 10); break;
    case 'c': o->classes = atoi(optarg); break;
    case 'r': o->noise = atof(optarg); break;
    case 'u': o->unlabelled = atof(optarg); break;
    case 'g': o->group = atoi(optarg); break;
    case 'p': o->size = atoi(optarg); break;
    default: return CUR_EINPUT;
    }
  }
  if (o->n < 1 || o->n > 9999999 || !o->out || o->classes < 2 || o->classes > 1000 ||
      o->noise < 0 || o->noise >= 1 || o->unlabelled < 0 || o->unlabelled >= 1 ||
      o->group < 1 || o->size < 8 || o->size > 256) {
    fprintf(stderr, "usage: gen_scale --n N (1..9999999) --out DIR [--seed S] [--classes C (2..1000)]\n"
                    "       [--noise R (0..1)] [--unlabelled R (0..1)] [--group G] [--size PX (8..256)]\n");
    return CUR_EINPUT;
  }
  return CUR_OK;
}

int main(int argc, char **argv) {
  gen_opts o;
  if (parse(argc, argv, &o) != CUR_OK) return 2;
  char *paths[3] = {cur_asprintf("%s/images.tar", o.out), cur_asprintf("%s/labels.csv", o.out),
                    cur_asprintf("%s/truth.csv", o.out)};
  FILE *f[3] = {NULL, NULL, NULL};
  int rc = CUR_OK;
  for (int i = 0; i < 3 && rc == CUR_OK; i++) {
    if (!paths[i]) rc = CUR_ENOMEM;
    else if (!(f[i] = fopen(paths[i], "wb"))) rc = cur_errorf("gen_scale: cannot write %s", paths[i]);
  }
  if (rc == CUR_OK) rc = generate(&o, f[0], f[1], f[2]);
  for (int i = 0; i < 3; i++) {
    if (f[i] && fclose(f[i]) != 0 && rc == CUR_OK) rc = cur_errorf("gen_scale: cannot write %s", paths[i]);
    cur_free(paths[i]);
  }
  if (rc != CUR_OK) fprintf(stderr, "%s\n", cur_error());
  return rc == CUR_OK ? 0 : 1;
}
