/* imstats.c -- pHash, Laplacian variance, brightness percentiles, entropy and colourfulness. */
#include "imstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"

#define HASH_SIDE 32   /* pHash's working size */

/* 3% apart from 97% to 82%: one view meets crops within about 2% of its
** share (a development run, docs/stages/audit.md), and on a 32-pixel side
** (CIFAR) the six views are the six crop sizes 31 down to 26 pixels, where
** 4% steps skipped one.  A crop smaller than 82% is not looked for. */
const double imstats_crop_share[IMSTATS_CROPS] = {0.97, 0.94, 0.91, 0.88, 0.85, 0.82};
#define HASH_KEEP 8    /* low-frequency coefficients kept per axis */

/* Area average of GREY (w x h) over a 32 x 32 grid: cell (tx, ty) averages
** the pixels whose index falls in its share of the axis; an axis shorter than
** 32 repeats pixels (nearest). */
static void shrink32(const uint8_t *grey, int w, int h, double out[HASH_SIDE][HASH_SIDE]) {
  for (int ty = 0; ty < HASH_SIDE; ty++) {
    int y0 = (int)((int64_t)ty * h / HASH_SIDE), y1 = (int)((int64_t)(ty + 1) * h / HASH_SIDE);
    if (y1 <= y0) y1 = y0 + 1;
    for (int tx = 0; tx < HASH_SIDE; tx++) {
      int x0 = (int)((int64_t)tx * w / HASH_SIDE), x1 = (int)((int64_t)(tx + 1) * w / HASH_SIDE);
      if (x1 <= x0) x1 = x0 + 1;
      double sum = 0;
      for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) sum += grey[(size_t)y * w + x];
      out[ty][tx] = sum / ((double)(y1 - y0) * (x1 - x0));
    }
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

uint64_t imstats_phash(const uint8_t *grey, int w, int h) {
  double img[HASH_SIDE][HASH_SIDE], basis[HASH_KEEP + 1][HASH_SIDE], tmp[HASH_KEEP + 1][HASH_SIDE];
  double coef[HASH_KEEP * HASH_KEEP], sorted[HASH_KEEP * HASH_KEEP];
  shrink32(grey, w, h, img);
  /* DCT-II basis rows u = 0..8 (the scale factors do not change the signs
  ** or the median comparison, so they are left out) */
  for (int u = 0; u <= HASH_KEEP; u++)
    for (int x = 0; x < HASH_SIDE; x++)
      basis[u][x] = cos(M_PI * (2 * x + 1) * u / (2.0 * HASH_SIDE));
  for (int u = 1; u <= HASH_KEEP; u++)        /* rows: tmp[u][x] = sum_y basis[u][y] img[y][x] */
    for (int x = 0; x < HASH_SIDE; x++) {
      double s = 0;
      for (int y = 0; y < HASH_SIDE; y++) s += basis[u][y] * img[y][x];
      tmp[u][x] = s;
    }
  for (int u = 1; u <= HASH_KEEP; u++)
    for (int v = 1; v <= HASH_KEEP; v++) {
      double s = 0;
      for (int x = 0; x < HASH_SIDE; x++) s += tmp[u][x] * basis[v][x];
      coef[(u - 1) * HASH_KEEP + (v - 1)] = s;
    }
  memcpy(sorted, coef, sizeof coef);
  qsort(sorted, HASH_KEEP * HASH_KEEP, sizeof *sorted, cmp_double);
  double median = 0.5 * (sorted[31] + sorted[32]);
  uint64_t hash = 0;
  for (int i = 0; i < HASH_KEEP * HASH_KEEP; i++)
    if (coef[i] > median) hash |= (uint64_t)1 << i;
  return hash;
}

/* The value below which a share Q of the histogram's N samples lie. */
static double hist_percentile(const int64_t hist[256], int64_t n, double q) {
  int64_t want = (int64_t)ceil(q * (double)n), seen = 0;
  if (want < 1) want = 1;
  for (int v = 0; v < 256; v++)
    if ((seen += hist[v]) >= want) return v;
  return 255;
}

/* GREY (w x h) blurred by the binomial kernel [1 4 6 4 1] / 16 along both
** axes (edges clamped) into OUT. */
static void binomial_blur(const uint8_t *grey, int w, int h, uint8_t *out, double *tmp) {
  static const int tap[5] = {1, 4, 6, 4, 1};
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double s = 0;
      for (int t = -2; t <= 2; t++) {
        int xx = x + t < 0 ? 0 : x + t >= w ? w - 1 : x + t;
        s += tap[t + 2] * grey[(size_t)y * w + xx];
      }
      tmp[(size_t)y * w + x] = s / 16;
    }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double s = 0;
      for (int t = -2; t <= 2; t++) {
        int yy = y + t < 0 ? 0 : y + t >= h ? h - 1 : y + t;
        s += tap[t + 2] * tmp[(size_t)yy * w + x];
      }
      out[(size_t)y * w + x] = (uint8_t)lround(s / 16);
    }
}

/* The pHash of the central share CENTRE (each side) of GREY. */
static uint64_t centre_phash(const uint8_t *grey, int w, int h, double centre, uint8_t *buf) {
  int cw = (int)fmax(1, lround(w * centre)), ch = (int)fmax(1, lround(h * centre));
  int x0 = (w - cw) / 2, y0 = (h - ch) / 2;
  for (int y = 0; y < ch; y++)
    memcpy(buf + (size_t)y * cw, grey + (size_t)(y0 + y) * w + x0, (size_t)cw);
  return imstats_phash(buf, cw, ch);
}

/* The pHash of GREY mirrored left to right. */
static uint64_t mirror_phash(const uint8_t *grey, int w, int h, uint8_t *buf) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) buf[(size_t)y * w + x] = grey[(size_t)y * w + (w - 1 - x)];
  return imstats_phash(buf, w, h);
}

/* Variance of the 4-neighbour Laplacian over the interior pixels. */
static double laplacian_variance(const uint8_t *grey, int w, int h) {
  if (w < 3 || h < 3) return 0;
  double sum = 0, sum2 = 0;
  for (int y = 1; y < h - 1; y++)
    for (int x = 1; x < w - 1; x++) {
      const uint8_t *p = grey + (size_t)y * w + x;
      double l = (double)p[-1] + p[1] + p[-w] + p[w] - 4.0 * p[0];
      sum += l;
      sum2 += l * l;
    }
  double n = (double)(w - 2) * (h - 2), mean = sum / n;
  return fmax(0, sum2 / n - mean * mean);
}

/* Colourfulness M: rg = R - G, yb = (R + G) / 2 - B; M = sqrt(sd_rg^2 +
** sd_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2). */
static double colourfulness(const uint8_t *rgb, size_t npix) {
  double s_rg = 0, s_yb = 0, q_rg = 0, q_yb = 0;
  for (size_t i = 0; i < npix; i++) {
    double r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
    double rg = r - g, yb = 0.5 * (r + g) - b;
    s_rg += rg, s_yb += yb, q_rg += rg * rg, q_yb += yb * yb;
  }
  double m_rg = s_rg / npix, m_yb = s_yb / npix;
  double v_rg = fmax(0, q_rg / npix - m_rg * m_rg), v_yb = fmax(0, q_yb / npix - m_yb * m_yb);
  return sqrt(v_rg + v_yb) + 0.3 * sqrt(m_rg * m_rg + m_yb * m_yb);
}

int imstats_compute(const uint8_t *pix, int w, int h, int bands, imstats *out) {
  if (!pix || w < 1 || h < 1 || (bands != 1 && bands != 3))
    return cur_errorc(CUR_EINPUT, "imstats: bad image %dx%dx%d", w, h, bands);
  size_t npix = (size_t)w * (size_t)h;
  uint8_t *grey = cur_malloc(npix), *work = cur_malloc(npix);
  double *tmp = cur_mallocarray(npix, sizeof *tmp);
  if (!grey || !work || !tmp) {
    cur_free(grey), cur_free(work), cur_free(tmp);
    return CUR_ENOMEM;
  }
  int64_t grey_hist[256] = {0}, bright_hist[256] = {0};
  for (size_t i = 0; i < npix; i++) {
    const uint8_t *p = pix + i * bands;
    double r = p[0], g = bands == 3 ? p[1] : p[0], b = bands == 3 ? p[2] : p[0];
    grey[i] = (uint8_t)lround(0.299 * r + 0.587 * g + 0.114 * b);
    grey_hist[grey[i]]++;
    bright_hist[(int)lround(sqrt(0.241 * r * r + 0.691 * g * g + 0.068 * b * b))]++;
  }
  double entropy = 0;
  for (int v = 0; v < 256; v++)
    if (grey_hist[v]) {
      double p = (double)grey_hist[v] / (double)npix;
      entropy -= p * log2(p);
    }
  out->phash[IMSTATS_WHOLE] = imstats_phash(grey, w, h);
  out->phash[IMSTATS_MIRROR] = mirror_phash(grey, w, h, work);
  for (int c = 0; c < IMSTATS_CROPS; c++)
    out->phash[2 + c] = centre_phash(grey, w, h, imstats_crop_share[c], work);
  out->sharpness = laplacian_variance(grey, w, h);
  binomial_blur(grey, w, h, work, tmp);
  out->sharpness_reblur = laplacian_variance(work, w, h);
  out->bright_p01 = hist_percentile(bright_hist, (int64_t)npix, 0.01);
  out->bright_p99 = hist_percentile(bright_hist, (int64_t)npix, 0.99);
  out->entropy = entropy;
  out->colourfulness = bands == 3 ? colourfulness(pix, npix) : 0;
  cur_free(grey), cur_free(work), cur_free(tmp);
  return CUR_OK;
}
