/* augment_transform.c -- sampling, validation and application of augment variants.
**
** Invariants:
**   1. cur_augment_sample always makes the same draws in the same order,
**      whatever options are on, so turning on (say) blur never changes the
**      geometry drawn for a variant.
**   2. Every sampled double is rounded to 6 decimals, the precision of the
**      JSON form, so params read back from JSON reproduce the same bytes.
**   3. A variant is made on 8-bit pixels in memory: decoded (JPEG by
**      libjpeg, PNG by libvips), moved by a single bilinear warp of the
**      input's size (augment_warp.c), then the photometric operations, when
**      on, through libvips on the colour bands only (alpha is carried
**      through untouched), and encoded (JPEG by libjpeg, PNG by libvips).
**   4. Each decode (cur_augment_source_new) and each variant
**      (cur_augment_make) owns its libvips images through one VipsObject
**      (ctx) and its local arrays, so one g_object_unref frees them all, and
**      its pixel buffer (picture), freed after ctx.  A source's pixels are
**      only read after the decode, so threads may share a source.
*/
#include "augment_transform.h"

#include "augment_warp.h"
#include "image.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <vips/vips.h>

#include "curate.h"
#include "rng.h"

#define AUG_MAX_BANDS 4      /* RGBA / CMYK; colour jitter needs no more */
#define AUG_DECIMALS 1e6     /* params are rounded to 6 decimals (invariant 2) */
/* Limits of options and params.  They keep variants recognisable and the
** arithmetic sane: beyond a half turn angles repeat, a shift of a whole frame
** leaves only fill, and a tiny scale would make the edge fill's border
** (extend_edges) enormous. */
#define AUG_MAX_ANGLE 180.0
#define AUG_MIN_SCALE 0.1
#define AUG_MAX_SCALE 10.0
#define AUG_MAX_NOISE 255.0
#define AUG_MAX_BLUR 50.0

/* ---- options ---------------------------------------------------------- */

static const char *const fill_names[] = {"edge", "black", "mean"};

void cur_augment_options_default(cur_augment_options *o) {
  assert(o);
  memset(o, 0, sizeof *o);
  o->rotate_deg = (cur_augment_range){-15.0, 15.0};
  o->translate_frac = (cur_augment_range){-0.1, 0.1};
  o->scale = (cur_augment_range){0.9, 1.1};
  o->hflip_prob = 0.5;
  o->fill = CUR_AUGMENT_FILL_EDGE;
}

int cur_augment_fill_parse(const char *name, cur_augment_fill *out) {
  assert(out);
  for (size_t i = 0; name && i < CUR_ARRAY_LEN(fill_names); i++) {
    if (strcmp(name, fill_names[i]) == 0) {
      *out = (cur_augment_fill)i;
      return CUR_OK;
    }
  }
  return cur_errorc(CUR_ECONFIG, "augment.fill: unknown mode \"%s\" (expected edge, black or mean)",
                    name ? name : "(null)");
}

const char *cur_augment_fill_name(cur_augment_fill fill) {
  if ((unsigned)fill >= CUR_ARRAY_LEN(fill_names)) return "unknown";
  return fill_names[fill];
}

/* Checks that v is a number in [lo, hi]; code is CUR_ECONFIG for options,
** CUR_EINPUT for params.  what is "min ", "max " or "". */
static int check_value(int code, const char *name, const char *what, double v, double lo,
                       double hi) {
  if (!isfinite(v)) return cur_errorc(code, "%s: %s%g is not a finite number", name, what, v);
  if (v < lo || v > hi)
    return cur_errorc(code, "%s: %s%g is outside [%g, %g]", name, what, v, lo, hi);
  return CUR_OK;
}

static int check_range(const char *name, cur_augment_range r, double lo, double hi) {
  int rc = check_value(CUR_ECONFIG, name, "min ", r.min, lo, hi);
  if (rc == CUR_OK) rc = check_value(CUR_ECONFIG, name, "max ", r.max, lo, hi);
  if (rc == CUR_OK && r.min > r.max)
    rc = cur_errorc(CUR_ECONFIG, "%s: min %g > max %g", name, r.min, r.max);
  return rc;
}

int cur_augment_options_validate(const cur_augment_options *o) {
  assert(o);
  int rc = check_range("augment.rotate_deg", o->rotate_deg, -AUG_MAX_ANGLE, AUG_MAX_ANGLE);
  if (rc == CUR_OK) rc = check_range("augment.translate_frac", o->translate_frac, -1.0, 1.0);
  if (rc == CUR_OK) rc = check_range("augment.scale", o->scale, AUG_MIN_SCALE, AUG_MAX_SCALE);
  if (rc == CUR_OK) rc = check_value(CUR_ECONFIG, "augment.hflip_prob", "", o->hflip_prob, 0.0, 1.0);
  if (rc == CUR_OK && (unsigned)o->fill >= CUR_ARRAY_LEN(fill_names))
    rc = cur_errorc(CUR_ECONFIG, "augment.fill: unknown mode %d", (int)o->fill);
  if (rc == CUR_OK)
    rc = check_value(CUR_ECONFIG, "augment.noise_sigma", "", o->noise_sigma, 0.0, AUG_MAX_NOISE);
  if (rc == CUR_OK)
    rc = check_value(CUR_ECONFIG, "augment.blur_sigma", "", o->blur_sigma, 0.0, AUG_MAX_BLUR);
  if (rc == CUR_OK) rc = check_value(CUR_ECONFIG, "augment.color_jitter", "", o->color_jitter, 0.0, 1.0);
  return rc;
}

/* ---- sampling --------------------------------------------------------- */

/* A uniform draw from [min, max], rounded to 6 decimals (invariant 2) and
** kept inside the range, which rounding could otherwise leave by 5e-7. */
static double draw(cur_rng *r, double min, double max) {
  double v = min + (max - min) * cur_rng_uniform(r);
  v = round(v * AUG_DECIMALS) / AUG_DECIMALS + 0.0;  /* + 0.0 turns -0 into 0 */
  if (v < min) v = min;
  if (v > max) v = max;
  return v;
}

int cur_augment_sample(const cur_augment_options *o, uint64_t seed, int64_t parent_id,
                       int variant_index, cur_augment_params *out) {
  assert(o && out);
  int rc = cur_augment_options_validate(o);
  if (rc != CUR_OK) return rc;
  const uint64_t keys[3] = {seed, (uint64_t)parent_id, (uint64_t)(int64_t)variant_index};
  cur_rng r;
  cur_rng_seed_keys(&r, keys, CUR_ARRAY_LEN(keys));

  /* Invariant 1: the order below is part of the on-disk format. */
  cur_augment_params p;
  memset(&p, 0, sizeof p);  /* padding too, so equal draws compare equal bytewise */
  double j = o->color_jitter;
  p.angle_deg = draw(&r, o->rotate_deg.min, o->rotate_deg.max);
  p.tx_frac = draw(&r, o->translate_frac.min, o->translate_frac.max);
  p.ty_frac = draw(&r, o->translate_frac.min, o->translate_frac.max);
  p.scale = draw(&r, o->scale.min, o->scale.max);
  p.hflip = cur_rng_uniform(&r) < o->hflip_prob;
  p.noise_sigma = draw(&r, 0.0, o->noise_sigma);
  /* 31 bits: vips_gaussnoise takes its seed as a signed int. */
  p.noise_seed = (uint32_t)(cur_rng_next(&r) >> 33);
  if (p.noise_sigma == 0.0) p.noise_seed = 0;
  p.blur_sigma = draw(&r, 0.0, o->blur_sigma);
  p.brightness = draw(&r, 1.0 - j, 1.0 + j);
  p.contrast = draw(&r, 1.0 - j, 1.0 + j);
  p.saturation = draw(&r, 1.0 - j, 1.0 + j);
  *out = p;
  return CUR_OK;
}

/* ---- geometry --------------------------------------------------------- */

/* Coordinates: libvips samples pixel (i, j) at the point (i, j), so the
** image centre is c = ((W-1)/2, (H-1)/2) and a mirror maps column i to
** W-1-i exactly.  With u = p - c the offset from the centre, the variant is
**
**   flip:      u1 = F u,         F = [-1 0; 0 1] when hflip, else identity
**   rotate:    u2 = R u1,        R = [cos t  sin t; -sin t  cos t]
**   translate: u3 = u2 + d,      d = (tx W, ty H)
**   scale:     u4 = s u3
**
** (y points down, so this R turns counter-clockwise on screen).  Hence
**
**   P = c + A (p - c) + s d,     A = s R F,
**
** and m = [A00 A01 e; A10 A11 f] with (e, f) = c + s d - A c. */
void cur_augment_matrix(const cur_augment_params *p, int width, int height, double m[6]) {
  assert(p && m && width > 0 && height > 0);
  double t = p->angle_deg * (M_PI / 180.0);
  double cs = cos(t), sn = sin(t), s = p->scale, fx = p->hflip ? -1.0 : 1.0;
  double cx = (width - 1) / 2.0, cy = (height - 1) / 2.0;
  double a00 = s * cs * fx, a01 = s * sn;
  double a10 = -s * sn * fx, a11 = s * cs;
  m[0] = a00;
  m[1] = a01;
  m[2] = cx + s * p->tx_frac * width - (a00 * cx + a01 * cy);
  m[3] = a10;
  m[4] = a11;
  m[5] = cy + s * p->ty_frac * height - (a10 * cx + a11 * cy);
}

/* ---- pixels ------------------------------------------------------------- */

/* A decoded image: 8-bit pixels and the format to encode them in again. */
typedef struct picture {
  cur_image_pixels px;
  cur_augment_format fmt;
} picture;

/* Moves libvips' error text into ours, naming the step that failed. */
static int vips_failure(int code, const char *step) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", vips_error_buffer());
  size_t n = strlen(msg);
  while (n > 0 && msg[n - 1] == '\n') msg[--n] = 0;
  vips_error_clear();
  return cur_errorc(code, "augment: %s: %s", step, n ? msg : "libvips failed");
}

/* The mean of each of the first n bands of in. */
static int band_means(VipsObject *ctx, VipsImage *in, double *mean, int n) {
  VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 1);
  assert(n <= in->Bands);
  if (vips_stats(in, &t[0], NULL) || vips_image_wio_input(t[0]))
    return vips_failure(CUR_EINPUT, "mean colour");
  /* Row 0 of the stats matrix covers all bands; row k+1 is band k, and
  ** column 4 holds the mean. */
  for (int k = 0; k < n; k++) mean[k] = *VIPS_MATRIX(t[0], 4, k + 1);
  return CUR_OK;
}

/* pic's pixels as a libvips image (sharing the buffer, which must outlive
** ctx), for the photometric operations and the PNG encoder. */
static int as_vips(VipsObject *ctx, const picture *pic, VipsImage **out) {
  const cur_image_pixels *px = &pic->px;
  VipsInterpretation type = pic->fmt == CUR_AUGMENT_FORMAT_JPEG && px->bands == 4
                                ? VIPS_INTERPRETATION_CMYK
                            : px->bands <= 2 ? VIPS_INTERPRETATION_B_W
                                             : VIPS_INTERPRETATION_sRGB;
  size_t size = (size_t)px->width * (size_t)px->height * (size_t)px->bands;
  VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 2);
  if (!(t[0] = vips_image_new_from_memory(px->data, size, px->width, px->height, px->bands,
                                          VIPS_FORMAT_UCHAR)) ||
      vips_copy(t[0], &t[1], "interpretation", type, NULL))
    return vips_failure(CUR_ERR, "pixels");
  *out = t[1];
  return CUR_OK;
}

/* A PNG through libvips into 8-bit pixels; 16-bit samples keep their high
** byte (the warp works on 8 bits). */
static int decode_png(VipsObject *ctx, const unsigned char *encoded, size_t len, picture *pic) {
  VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 2);
  if (!(t[0] = vips_image_new_from_buffer(encoded, len, "", NULL)))
    return vips_failure(CUR_EINPUT, "decode");
  if (t[0]->Bands > AUG_MAX_BANDS)
    return cur_errorc(CUR_EINPUT, "augment: input: %d bands (at most %d)", t[0]->Bands, AUG_MAX_BANDS);
  if (vips_cast(t[0], &t[1], VIPS_FORMAT_UCHAR, "shift", TRUE, NULL))
    return vips_failure(CUR_EINPUT, "decode");
  size_t size = 0;
  void *mem = vips_image_write_to_memory(t[1], &size);
  if (!mem) return vips_failure(CUR_EINPUT, "decode");
  unsigned char *copy = cur_malloc(size);
  if (copy) memcpy(copy, mem, size);
  g_free(mem);
  if (!copy) return CUR_ENOMEM;
  pic->px = (cur_image_pixels){copy, t[1]->Xsize, t[1]->Ysize, t[1]->Bands};
  pic->fmt = CUR_AUGMENT_FORMAT_PNG;
  return CUR_OK;
}

/* JPEG through libjpeg directly (image_jpeg.c), PNG through libvips. */
static int decode(VipsObject *ctx, const unsigned char *encoded, size_t len, picture *pic) {
  if (cur_image_is_jpeg(encoded, len)) {
    char why[256];
    /* the parent passed ingest's pixel limit; only memory bounds it here */
    int rc = cur_image_jpeg_decode(encoded, len, INT64_MAX, &pic->px, why, sizeof why);
    if (rc != CUR_OK) return cur_errorc(rc, "augment: decode: %s", why);
    pic->fmt = CUR_AUGMENT_FORMAT_JPEG;
    return CUR_OK;
  }
  const char *loader = vips_foreign_find_load_buffer(encoded, len);
  if (!loader) {
    vips_error_clear();
    return cur_errorc(CUR_EINPUT, "augment: input: not a known image format");
  }
  /* loader is a class name such as VipsForeignLoadPngBuffer
  ** (VipsForeignLoadSpngBuffer with libspng). */
  if (!strcasestr(loader, "png"))
    return cur_errorc(CUR_EINPUT, "augment: input: %s images are not supported (JPEG or PNG)", loader);
  return decode_png(ctx, encoded, len, pic);
}

/* The flip, rotation, translation and scale of src in one bilinear warp
** (augment_warp.c), into *dst's new buffer. */
static int geometric(const cur_augment_params *p, cur_augment_fill fill, const picture *src,
                     picture *dst) {
  const cur_image_pixels *px = &src->px;
  double m[6], mean[AUG_MAX_BANDS] = {0};
  unsigned char *out = cur_mallocarray((size_t)px->height, (size_t)px->width * (size_t)px->bands);
  if (!out) return CUR_ENOMEM;
  cur_augment_matrix(p, px->width, px->height, m);
  if (fill == CUR_AUGMENT_FILL_MEAN)
    cur_augment_band_means(px->data, px->width, px->height, px->bands, mean);
  cur_augment_warp(px->data, px->width, px->height, px->bands, m, fill, mean, out);
  *dst = (picture){{out, px->width, px->height, px->bands}, src->fmt};
  return CUR_OK;
}

/* ---- photometric ------------------------------------------------------ */

/* Brightness b, contrast c and saturation s as one linear map of the colour
** bands: saturation blends with grey (s I + (1-s) 1 w^T, w the luma
** weights), brightness scales by b, and contrast scales by c about the
** brightened image's mean grey.  The grey of a saturation blend is the
** grey of its input (w sums to 1), so that mean is b mu, mu = w . mean:
**
**   out = c b (s I + (1-s) 1 w^T) x + (1-c) b mu. */
static int color_jitter(VipsObject *ctx, VipsImage *in, const cur_augment_params *p,
                        VipsImage **out) {
  static const double rec601[3] = {0.299, 0.587, 0.114};
  int nb = in->Bands, rc;
  double mean[AUG_MAX_BANDS], w[AUG_MAX_BANDS], ones[AUG_MAX_BANDS], offset[AUG_MAX_BANDS];
  double coeff[AUG_MAX_BANDS * AUG_MAX_BANDS], mu = 0.0;
  double b = p->brightness, c = p->contrast, s = p->saturation;
  assert(nb >= 1 && nb <= AUG_MAX_BANDS);
  if ((rc = band_means(ctx, in, mean, nb)) != CUR_OK) return rc;
  for (int k = 0; k < nb; k++) {
    w[k] = nb == 3 ? rec601[k] : 1.0 / nb;
    mu += w[k] * mean[k];
  }
  for (int i = 0; i < nb; i++) {
    for (int j = 0; j < nb; j++) coeff[i * nb + j] = c * b * ((i == j ? s : 0.0) + (1.0 - s) * w[j]);
    ones[i] = 1.0;
    offset[i] = (1.0 - c) * b * mu;
  }
  VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 3);
  if (!(t[0] = vips_image_new_matrix_from_array(nb, nb, coeff, nb * nb)) ||
      vips_recomb(in, &t[1], t[0], NULL) || vips_linear(t[1], &t[2], ones, offset, nb, NULL))
    return vips_failure(CUR_ERR, "color jitter");
  *out = t[2];
  return CUR_OK;
}

/* Rounds and casts the processed colour bands back to orig's pixel format
** (vips_cast clips to the format's range) and re-attaches orig's alpha. */
static int restore_format(VipsObject *ctx, VipsImage *orig, VipsImage *img, int ncol,
                          VipsImage **out) {
  VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 4);
  if (vips_band_format_isfloat(img->BandFmt) && !vips_band_format_isfloat(orig->BandFmt)) {
    if (vips_round(img, &t[0], VIPS_OPERATION_ROUND_RINT, NULL)) return vips_failure(CUR_ERR, "round");
    img = t[0];
  }
  if (img->BandFmt != orig->BandFmt) {
    if (vips_cast(img, &t[1], orig->BandFmt, NULL)) return vips_failure(CUR_ERR, "cast");
    img = t[1];
  }
  if (ncol < orig->Bands) {
    if (vips_extract_band(orig, &t[2], ncol, "n", orig->Bands - ncol, NULL) ||
        vips_bandjoin2(img, t[2], &t[3], NULL))
      return vips_failure(CUR_ERR, "alpha");
    img = t[3];
  }
  *out = img;
  return CUR_OK;
}

/* Colour jitter, then blur, then noise (one Gaussian value per pixel, added
** to every colour band), on the colour bands only. */
static int photometric_ops(VipsObject *ctx, VipsImage *in, const cur_augment_params *p,
                           VipsImage **out) {
  int jitter = p->brightness != 1.0 || p->contrast != 1.0 || p->saturation != 1.0;
  int ncol = in->Bands - (vips_image_hasalpha(in) ? 1 : 0), rc;
  VipsImage **t = (VipsImage **)vips_object_local_array(ctx, 4);
  VipsImage *img = in;
  if (ncol < in->Bands) {
    if (vips_extract_band(in, &t[0], 0, "n", ncol, NULL)) return vips_failure(CUR_ERR, "alpha");
    img = t[0];
  }
  if (jitter && (rc = color_jitter(ctx, img, p, &img)) != CUR_OK) return rc;
  if (p->blur_sigma > 0.0) {
    if (vips_gaussblur(img, &t[1], p->blur_sigma, NULL)) return vips_failure(CUR_ERR, "blur");
    img = t[1];
  }
  if (p->noise_sigma > 0.0) {
    if (vips_gaussnoise(&t[2], img->Xsize, img->Ysize, "sigma", p->noise_sigma, "mean", 0.0,
                        "seed", (int)p->noise_seed, NULL) ||
        vips_add(img, t[2], &t[3], NULL))
      return vips_failure(CUR_ERR, "noise");
    img = t[3];
  }
  return restore_format(ctx, in, img, ncol, out);
}

/* The photometric operations, when any is on, through libvips: the result
** (same size, bands and 8-bit format) is written back over pic's pixels. */
static int photometric(VipsObject *ctx, const cur_augment_params *p, picture *pic) {
  if (p->brightness == 1.0 && p->contrast == 1.0 && p->saturation == 1.0 &&
      p->blur_sigma <= 0.0 && p->noise_sigma <= 0.0)
    return CUR_OK;
  VipsImage *img = NULL;
  size_t size = 0;
  int rc = as_vips(ctx, pic, &img);
  if (rc == CUR_OK) rc = photometric_ops(ctx, img, p, &img);
  if (rc != CUR_OK) return rc;
  void *mem = vips_image_write_to_memory(img, &size);
  if (!mem) return vips_failure(CUR_ERR, "photometric");
  assert(size == (size_t)pic->px.width * (size_t)pic->px.height * (size_t)pic->px.bands);
  memcpy(pic->px.data, mem, size);
  g_free(mem);
  return CUR_OK;
}

/* ---- encode and apply ------------------------------------------------- */

/* Encodes pic in its format into a new cur_malloc buffer.  Settings are
** fixed and there is no metadata, so equal pixels always give equal bytes. */
static int encode(VipsObject *ctx, const picture *pic, unsigned char **out, size_t *out_len) {
  if (pic->fmt == CUR_AUGMENT_FORMAT_JPEG)
    return cur_image_jpeg_encode(&pic->px, CUR_AUGMENT_JPEG_QUALITY, out, out_len);
  VipsImage *img = NULL;
  void *buf = NULL;
  size_t n = 0;
  int rc = as_vips(ctx, pic, &img);
  if (rc != CUR_OK) return rc;
  if (vips_pngsave_buffer(img, &buf, &n, "strip", TRUE, NULL)) return vips_failure(CUR_ERR, "encode");
  unsigned char *copy = cur_malloc(n);
  if (copy) memcpy(copy, buf, n);
  g_free(buf);
  if (!copy) return CUR_ENOMEM;
  *out = copy;
  *out_len = n;
  return CUR_OK;
}

/* Params may come from stored JSON rather than cur_augment_sample, so they
** get the same limits as the options (colour factors 1 +- 1). */
static int params_check(const cur_augment_params *p) {
  const struct { const char *name; double v, lo, hi; } f[] = {
      {"angle_deg", p->angle_deg, -AUG_MAX_ANGLE, AUG_MAX_ANGLE},
      {"tx_frac", p->tx_frac, -1.0, 1.0},
      {"ty_frac", p->ty_frac, -1.0, 1.0},
      {"scale", p->scale, AUG_MIN_SCALE, AUG_MAX_SCALE},
      {"noise_sigma", p->noise_sigma, 0.0, AUG_MAX_NOISE},
      {"blur_sigma", p->blur_sigma, 0.0, AUG_MAX_BLUR},
      {"brightness", p->brightness, 0.0, 2.0},
      {"contrast", p->contrast, 0.0, 2.0},
      {"saturation", p->saturation, 0.0, 2.0}};
  char name[64];
  for (size_t i = 0; i < CUR_ARRAY_LEN(f); i++) {
    snprintf(name, sizeof name, "augment: params: %s", f[i].name);
    int rc = check_value(CUR_EINPUT, name, "", f[i].v, f[i].lo, f[i].hi);
    if (rc != CUR_OK) return rc;
  }
  return CUR_OK;
}

/* A decoded parent: the pixels every variant of it is warped from. */
struct cur_augment_source {
  picture pic;
};

int cur_augment_source_new(const unsigned char *encoded, size_t len, cur_augment_source **out) {
  assert((encoded || len == 0) && out);
  if (len == 0) return cur_errorc(CUR_EINPUT, "augment: input: empty image");
  if (cur_image_init() != CUR_OK) return CUR_ERR;
  cur_augment_source *src = cur_calloc(1, sizeof *src);
  if (!src) return CUR_ENOMEM;
  VipsObject *ctx = VIPS_OBJECT(vips_image_new());  /* the PNG decoder's images */
  int rc = decode(ctx, encoded, len, &src->pic);     /* pixels in our own buffer: ctx may go */
  g_object_unref(ctx);
  if (rc != CUR_OK) {
    cur_free(src);
    return rc;
  }
  *out = src;
  return CUR_OK;
}

void cur_augment_source_free(cur_augment_source *src) {
  if (!src) return;
  cur_free(src->pic.px.data);
  cur_free(src);
}

int cur_augment_make(const cur_augment_source *src, const cur_augment_params *p,
                     const cur_augment_options *o, unsigned char **out, size_t *out_len,
                     cur_augment_format *out_format) {
  assert(src && p && o && out && out_len && out_format);
  int rc = cur_augment_options_validate(o);
  if (rc == CUR_OK) rc = params_check(p);
  if (rc != CUR_OK) return rc;
  VipsObject *ctx = VIPS_OBJECT(vips_image_new());  /* owns every image (invariant 4) */
  picture pic = {{NULL, 0, 0, 0}, src->pic.fmt};
  rc = geometric(p, o->fill, &src->pic, &pic);
  if (rc == CUR_OK) rc = photometric(ctx, p, &pic);
  if (rc == CUR_OK) rc = encode(ctx, &pic, out, out_len);
  if (rc == CUR_OK) *out_format = pic.fmt;
  g_object_unref(ctx);  /* before the pixels: libvips images may point into them */
  cur_free(pic.px.data);
  return rc;
}

int cur_augment_apply(const unsigned char *encoded, size_t len, const cur_augment_params *p,
                      const cur_augment_options *o, unsigned char **out, size_t *out_len,
                      cur_augment_format *out_format) {
  cur_augment_source *src = NULL;
  int rc = cur_augment_source_new(encoded, len, &src);
  if (rc == CUR_OK) rc = cur_augment_make(src, p, o, out, out_len, out_format);
  cur_augment_source_free(src);
  return rc;
}

/* ---- JSON --------------------------------------------------------------- */

typedef struct json_number {
  const char *key;
  double v;
} json_number;

static int json_oom(void) {
  return cur_errorc(CUR_ENOMEM, "augment: params JSON: out of memory");
}

/* Adds each number as raw "%.6f" text: cJSON's own formatting picks the
** shortest round-trip form, which is not fixed-width. */
static int json_add_numbers(cJSON *obj, const json_number *nums, size_t n) {
  char buf[64];
  for (size_t i = 0; i < n; i++) {
    snprintf(buf, sizeof buf, "%.6f", nums[i].v + 0.0);  /* + 0.0: never "-0.000000" */
    if (!cJSON_AddRawToObject(obj, nums[i].key, buf)) return json_oom();
  }
  return CUR_OK;
}

int cur_augment_params_json(const cur_augment_params *p, const cur_augment_options *o,
                            char **json) {
  assert(p && o && json);
  int rc = params_check(p);
  if (rc != CUR_OK) return rc;
  const json_number geometry[] = {{"angle_deg", p->angle_deg}, {"tx_frac", p->tx_frac},
                                  {"ty_frac", p->ty_frac}, {"scale", p->scale}};
  const json_number photo[] = {{"noise_sigma", p->noise_sigma}, {"blur_sigma", p->blur_sigma},
                               {"brightness", p->brightness}, {"contrast", p->contrast},
                               {"saturation", p->saturation}};
  char seed[16];
  snprintf(seed, sizeof seed, "%u", (unsigned)p->noise_seed);
  char *text = NULL;
  cJSON *obj = cJSON_CreateObject();
  rc = obj ? json_add_numbers(obj, geometry, CUR_ARRAY_LEN(geometry)) : json_oom();
  if (rc == CUR_OK && (!cJSON_AddBoolToObject(obj, "hflip", p->hflip) ||
                       !cJSON_AddStringToObject(obj, "fill", cur_augment_fill_name(o->fill))))
    rc = json_oom();
  if (rc == CUR_OK) rc = json_add_numbers(obj, photo, CUR_ARRAY_LEN(photo));
  if (rc == CUR_OK && !cJSON_AddRawToObject(obj, "noise_seed", seed)) rc = json_oom();
  if (rc == CUR_OK && !(text = cJSON_PrintUnformatted(obj))) rc = json_oom();
  if (rc == CUR_OK && !(*json = cur_strdup(text))) rc = CUR_ENOMEM;
  cJSON_free(text);
  cJSON_Delete(obj);
  return rc;
}
