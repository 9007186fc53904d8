/* test_augment_transform.c -- augment variants: geometry, determinism, options (stages/augment/augment_transform.c).
**
** augment-1.*: geometry: a 3x3 blob in a black PNG lands where the transform
**              says, for flip, rotate, translate, scale and their composition.
** augment-2.*: determinism: same seed, same bytes; another seed, other bytes;
**              variants made from one decoded source are those of single calls.
** augment-3.*: sampling stays inside the configured ranges.
** augment-4.*: invalid options are rejected with a message naming the option.
** augment-5.*: fill modes: the corner exposed by a rotation is edge/black/mean.
** augment-6.*: output format, size and bands equal the input's.
** augment-7.*: canonical parameter JSON.
** augment-8.*: photometric operations change pixels by amounts computed by
**              hand from docs/stages/augment.md (brightness, contrast,
**              saturation on a two-colour image; noise's spread; blur).
**
** Synthetic images are built in memory with libvips; geometry uses PNG so
** the only error is the transform's own interpolation.
*/
#include "testlib.h"

#include <pthread.h>
#include <vips/vips.h>

#include "augment_transform.h"

/* Images are deliberately not square, so a swapped width and height shows. */
#define IMG_W 61
#define IMG_H 41

/* ---- fixtures ------------------------------------------------------------ */

/* Encodes img as PNG or JPEG into a cur_malloc buffer; NULL on failure. */
static unsigned char *encode_image(VipsImage *img, int jpeg, size_t *len) {
  void *buf = NULL;
  int bad = jpeg ? vips_jpegsave_buffer(img, &buf, len, "Q", 95, NULL)
                 : vips_pngsave_buffer(img, &buf, len, NULL);
  if (bad) return NULL;
  unsigned char *copy = cur_malloc(*len);
  if (copy) memcpy(copy, buf, *len);
  g_free(buf);
  return copy;
}

/* A black one-band PNG with a 3x3 white blob centred on (bx, by). */
static unsigned char *blob_png(int bx, int by, size_t *len) {
  VipsImage *img = NULL;
  unsigned char *png = NULL;
  if (vips_black(&img, IMG_W, IMG_H, NULL) == 0 &&
      vips_draw_rect1(img, 255.0, bx - 1, by - 1, 3, 3, "fill", TRUE, NULL) == 0)
    png = encode_image(img, 0, len);
  if (img) g_object_unref(img);
  return png;
}

/* A textured colour image (so that resampling changes bytes): smooth
** gradients plus a checkerboard, with `bands` bands (3 or 4). */
static unsigned char *texture_image(int width, int height, int bands, int jpeg, size_t *len) {
  VipsImage *ctx = vips_image_new();
  VipsImage **t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(ctx), 7);
  unsigned char *out = NULL;
  if (vips_xyz(&t[0], width, height, NULL) == 0 &&
      vips_linear1(t[0], &t[1], 2.0, 10.0, "uchar", TRUE, NULL) == 0 &&
      vips_sines(&t[2], width, height, "hfreq", 3.0, "vfreq", 2.0, NULL) == 0 &&
      vips_linear1(t[2], &t[3], 100.0, 128.0, "uchar", TRUE, NULL) == 0 &&
      vips_bandjoin2(t[1], t[3], &t[4], NULL) == 0 &&
      vips_bandjoin2(t[4], t[3], &t[5], NULL) == 0 &&
      vips_extract_band(t[5], &t[6], 0, "n", bands, NULL) == 0) {
    /* xyz gives two bands (x, y) and sines one; a fourth (alpha) band
    ** repeats the sines, which is fine for a fixture. */
    out = encode_image(t[6], jpeg, len);
  }
  g_object_unref(ctx);
  return out;
}

/* Decodes an encoded image into a new VipsImage held in memory. */
static VipsImage *decode_image(const unsigned char *buf, size_t len) {
  VipsImage *img = vips_image_new_from_buffer(buf, len, "", NULL);
  VipsImage *mem = NULL;
  if (img && !(mem = vips_image_copy_memory(img))) mem = NULL;
  if (img) g_object_unref(img);
  return mem;
}

/* Intensity centroid of a one-band 8-bit image. */
static int centroid(VipsImage *img, double *cx, double *cy) {
  double sx = 0.0, sy = 0.0, sum = 0.0;
  if (img->Bands != 1 || img->BandFmt != VIPS_FORMAT_UCHAR) return -1;
  for (int y = 0; y < img->Ysize; y++) {
    const unsigned char *row = VIPS_IMAGE_ADDR(img, 0, y);
    for (int x = 0; x < img->Xsize; x++) {
      sx += row[x] * (double)x;
      sy += row[x] * (double)y;
      sum += row[x];
    }
  }
  if (sum == 0.0) return -1;
  *cx = sx / sum;
  *cy = sy / sum;
  return 0;
}

/* Params that change nothing photometric, with the given geometry. */
static cur_augment_params geometry(double angle, double tx, double ty, double scale, int hflip) {
  cur_augment_params p;
  memset(&p, 0, sizeof p);
  p.angle_deg = angle;
  p.tx_frac = tx;
  p.ty_frac = ty;
  p.scale = scale;
  p.hflip = hflip;
  p.brightness = p.contrast = p.saturation = 1.0;
  return p;
}

/* ---- augment-1: geometry --------------------------------------------------- */

/* Transforms a blob centred on (bx, by) and checks that its centroid lands
** on (ex, ey), computed by hand from the documented convention: pixel (i, j)
** is the point (i, j), the centre is ((W-1)/2, (H-1)/2) = (30, 20), a
** positive angle turns counter-clockwise on screen.
**
** Tolerance 0.1 px: bilinear interpolation spreads the blob over its
** neighbours and each output pixel is rounded to 8 bits.  A shift keeps the
** centroid (the weights of each sample sum to 1) up to that rounding;
** rotation or scaling resamples the blob's tent-shaped interpolant on a
** tilted or stretched grid, which moves the centroid a little more (measured
** worst case 0.015 px over these cases).  A half-pixel mistake in the
** centre convention would be 0.5 px, far outside the tolerance. */
static void check_blob(int bx, int by, cur_augment_params p, double ex, double ey) {
  size_t len = 0, out_len = 0;
  unsigned char *png = blob_png(bx, by, &len), *out = NULL;
  cur_augment_options o;
  cur_augment_format fmt;
  double cx = -1, cy = -1, m[6];
  REQUIRE(png != NULL);
  cur_augment_options_default(&o);
  o.fill = CUR_AUGMENT_FILL_BLACK;
  /* The matrix itself maps the blob centre exactly (floating point only). */
  cur_augment_matrix(&p, IMG_W, IMG_H, m);
  CHECK_NEAR(m[0] * bx + m[1] * by + m[2], ex, 1e-9);
  CHECK_NEAR(m[3] * bx + m[4] * by + m[5], ey, 1e-9);
  int rc = cur_augment_apply(png, len, &p, &o, &out, &out_len, &fmt);
  CHECK_OK(rc);
  if (rc == CUR_OK) {
    VipsImage *img = decode_image(out, out_len);
    CHECK(img != NULL);
    if (img) {
      CHECK(centroid(img, &cx, &cy) == 0);
      CHECK_NEAR(cx, ex, 0.1);
      CHECK_NEAR(cy, ey, 0.1);
      g_object_unref(img);
    }
  }
  cur_free(out);
  cur_free(png);
}

TEST(identity_leaves_blob_in_place) {
  check_blob(40, 20, geometry(0, 0, 0, 1, 0), 40, 20);
}

TEST(hflip_mirrors_about_centre_column) {
  check_blob(40, 13, geometry(0, 0, 0, 1, 1), 20, 13);  /* x -> 60 - x */
}

TEST(rotate_90_turns_counter_clockwise_about_centre) {
  check_blob(40, 20, geometry(90, 0, 0, 1, 0), 30, 10);  /* right of centre -> above */
  check_blob(30, 30, geometry(90, 0, 0, 1, 0), 40, 20);  /* below centre -> right */
}

TEST(rotate_30_matches_rotation_formula) {
  /* u = (10, 6) from the centre; CCW on screen with y down is
  ** (u.x cos t + u.y sin t, -u.x sin t + u.y cos t). */
  double t = 30.0 * M_PI / 180.0;
  check_blob(40, 26, geometry(30, 0, 0, 1, 0), 30 + 10 * cos(t) + 6 * sin(t),
             20 - 10 * sin(t) + 6 * cos(t));
}

TEST(translate_moves_by_fraction_of_width_and_height) {
  check_blob(30, 20, geometry(0, 0.1, -0.1, 1, 0), 36.1, 15.9);  /* 0.1*61, -0.1*41 */
}

TEST(scale_enlarges_and_shrinks_about_centre) {
  check_blob(40, 26, geometry(0, 0, 0, 1.5, 0), 45, 29);
  check_blob(40, 26, geometry(0, 0, 0, 0.8, 0), 38, 24.8);
}

TEST(composition_is_rotate_then_translate_then_scale) {
  /* (40,20): u=(10,0) -> rotate 90 -> (0,-10) -> + (6.1, 0) -> * 1.5 = (9.15,-15). */
  check_blob(40, 20, geometry(90, 0.1, 0, 1.5, 0), 39.15, 5);
  /* With the flip first: u=(-10,0) -> (0,10) -> (6.1,10) -> (9.15,15). */
  check_blob(40, 20, geometry(90, 0.1, 0, 1.5, 1), 39.15, 35);
  /* A general case: 20 degrees, shift (-0.05, 0.08), scale 1.2. */
  double t = 20.0 * M_PI / 180.0, ux = 8, uy = -4;
  double rx = ux * cos(t) + uy * sin(t) - 0.05 * IMG_W, ry = -ux * sin(t) + uy * cos(t) + 0.08 * IMG_H;
  check_blob(38, 16, geometry(20, -0.05, 0.08, 1.2, 0), 30 + 1.2 * rx, 20 + 1.2 * ry);
}

/* ---- augment-2: determinism ------------------------------------------------ */

/* Makes the variant (seed, parent 7, index) of buf into *out. */
static int variant(const unsigned char *buf, size_t len, const cur_augment_options *o,
                   uint64_t seed, int index, unsigned char **out, size_t *out_len) {
  cur_augment_params p;
  cur_augment_format fmt;
  int rc = cur_augment_sample(o, seed, 7, index, &p);
  return rc == CUR_OK ? cur_augment_apply(buf, len, &p, o, out, out_len, &fmt) : rc;
}

static void check_deterministic(int jpeg, int photometric) {
  size_t len = 0, n1 = 0, n2 = 0, n3 = 0;
  unsigned char *in = texture_image(96, 64, 3, jpeg, &len), *a = NULL, *b = NULL, *c = NULL;
  cur_augment_options o;
  REQUIRE(in != NULL);
  cur_augment_options_default(&o);
  if (photometric) {
    o.noise_sigma = 8;
    o.blur_sigma = 1.5;
    o.color_jitter = 0.3;
  }
  CHECK_OK(variant(in, len, &o, 42, 0, &a, &n1));
  CHECK_OK(variant(in, len, &o, 42, 0, &b, &n2));
  CHECK_OK(variant(in, len, &o, 43, 0, &c, &n3));
  CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0);
  CHECK(a && c && (n1 != n3 || memcmp(a, c, n1) != 0));
  cur_free(a);
  cur_free(b);
  cur_free(c);
  cur_free(in);
}

/* Variants 0..3 of one decoded source against cur_augment_apply of each,
** with photometric params on one of them (that variant needs its own pixels
** worked on, the others must not see them). */
static void check_source_equals_apply(int jpeg) {
  size_t len = 0;
  unsigned char *in = texture_image(96, 64, 3, jpeg, &len);
  cur_augment_source *src = NULL;
  cur_augment_options o;
  REQUIRE(in != NULL);
  cur_augment_options_default(&o);
  o.fill = CUR_AUGMENT_FILL_MEAN;
  REQUIRE_OK(cur_augment_source_new(in, len, &src));
  for (int v = 0; v < 4; v++) {
    cur_augment_params p;
    cur_augment_format f1, f2;
    unsigned char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(cur_augment_sample(&o, 42, 7, v, &p));
    if (v == 2) p.brightness = 1.2, p.blur_sigma = 1.0;
    CHECK_OK(cur_augment_make(src, &p, &o, &a, &na, &f1));
    CHECK_OK(cur_augment_apply(in, len, &p, &o, &b, &nb, &f2));
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0 && f1 == f2);
    cur_free(a);
    cur_free(b);
  }
  cur_augment_source_free(src);
  cur_free(in);
}

TEST(variants_of_one_decoded_jpeg_equal_single_calls) { check_source_equals_apply(1); }
TEST(variants_of_one_decoded_png_equal_single_calls) { check_source_equals_apply(0); }

TEST(same_seed_gives_identical_png_bytes) { check_deterministic(0, 0); }
TEST(same_seed_gives_identical_jpeg_bytes) { check_deterministic(1, 0); }
TEST(same_seed_gives_identical_bytes_with_noise_blur_and_jitter) { check_deterministic(1, 1); }

typedef struct thread_job {
  const unsigned char *in;
  size_t len, out_len;
  const cur_augment_options *o;
  unsigned char *out;
  int rc;
} thread_job;

static void *thread_variant(void *arg) {
  thread_job *j = arg;
  for (int round = 0; round < 5; round++) {  /* several rounds so the calls overlap */
    cur_free(j->out);
    j->out = NULL;
    j->rc = variant(j->in, j->len, j->o, 42, 1, &j->out, &j->out_len);
    if (j->rc != CUR_OK) break;
  }
  return NULL;
}

TEST(concurrent_calls_give_the_same_bytes_as_one_call) {
  size_t len = 0, n = 0;
  unsigned char *in = texture_image(128, 96, 3, 1, &len), *ref = NULL;
  cur_augment_options o;
  pthread_t tid[2];
  thread_job jobs[2];
  REQUIRE(in != NULL);
  cur_augment_options_default(&o);
  o.fill = CUR_AUGMENT_FILL_MEAN;
  o.noise_sigma = 6;
  CHECK_OK(variant(in, len, &o, 42, 1, &ref, &n));
  for (int i = 0; i < 2; i++) {
    jobs[i] = (thread_job){in, len, 0, &o, NULL, CUR_ERR};
    CHECK(pthread_create(&tid[i], NULL, thread_variant, &jobs[i]) == 0);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(tid[i], NULL);
    CHECK_INT(jobs[i].rc, CUR_OK);
    CHECK(ref && jobs[i].out && jobs[i].out_len == n && memcmp(ref, jobs[i].out, n) == 0);
    cur_free(jobs[i].out);
  }
  cur_free(ref);
  cur_free(in);
}

TEST(variant_index_and_parent_change_the_draw) {
  cur_augment_options o;
  cur_augment_params p0, p1, p2, q;
  cur_augment_options_default(&o);
  REQUIRE_OK(cur_augment_sample(&o, 1, 10, 0, &p0));
  REQUIRE_OK(cur_augment_sample(&o, 1, 10, 1, &p1));
  REQUIRE_OK(cur_augment_sample(&o, 1, 11, 0, &p2));
  REQUIRE_OK(cur_augment_sample(&o, 1, 10, 0, &q));
  CHECK(memcmp(&p0, &q, sizeof p0) == 0);
  CHECK(p0.angle_deg != p1.angle_deg);
  CHECK(p0.angle_deg != p2.angle_deg);
}

/* ---- augment-3: sampling ----------------------------------------------------- */

TEST(defaults_sample_inside_ranges_with_photometric_off) {
  cur_augment_options o;
  cur_augment_options_default(&o);
  int flips = 0, n = 2000;
  double amin = 1e9, amax = -1e9;
  for (int i = 0; i < n; i++) {
    cur_augment_params p;
    REQUIRE_OK(cur_augment_sample(&o, 99, i / 4, i % 4, &p));
    CHECK(p.angle_deg >= -15 && p.angle_deg <= 15);
    CHECK(p.tx_frac >= -0.1 && p.tx_frac <= 0.1 && p.ty_frac >= -0.1 && p.ty_frac <= 0.1);
    CHECK(p.scale >= 0.9 && p.scale <= 1.1);
    CHECK(p.noise_sigma == 0 && p.blur_sigma == 0 && p.noise_seed == 0);
    CHECK(p.brightness == 1 && p.contrast == 1 && p.saturation == 1);
    flips += p.hflip;
    amin = fmin(amin, p.angle_deg);
    amax = fmax(amax, p.angle_deg);
  }
  /* Seeded, so not flaky: 2000 fair coins land within 0.05 of half with
  ** 4.5 standard deviations to spare. */
  CHECK_NEAR(flips / (double)n, 0.5, 0.05);
  CHECK(amin < -14.5 && amax > 14.5);
}

TEST(photometric_ranges_and_fixed_ranges_are_respected) {
  cur_augment_options o;
  cur_augment_options_default(&o);
  o.rotate_deg = (cur_augment_range){5, 5};
  o.hflip_prob = 1;
  o.noise_sigma = 4;
  o.blur_sigma = 2;
  o.color_jitter = 0.2;
  for (int i = 0; i < 500; i++) {
    cur_augment_params p;
    REQUIRE_OK(cur_augment_sample(&o, 5, i, 0, &p));
    CHECK(p.angle_deg == 5 && p.hflip == 1);
    CHECK(p.noise_sigma >= 0 && p.noise_sigma <= 4 && p.blur_sigma >= 0 && p.blur_sigma <= 2);
    CHECK(p.brightness >= 0.8 && p.brightness <= 1.2 && p.contrast >= 0.8 && p.contrast <= 1.2);
    CHECK(p.saturation >= 0.8 && p.saturation <= 1.2);
  }
}

/* ---- augment-4: validation --------------------------------------------------- */

/* Sets one option to a bad value and expects CUR_ECONFIG with `message`
** somewhere in the error text. */
static void check_rejected(cur_augment_options o, const char *message) {
  cur_augment_params p, before;
  memset(&p, 0x5a, sizeof p);
  before = p;
  CHECK_INT(cur_augment_options_validate(&o), CUR_ECONFIG);
  if (!strstr(cur_error(), message)) test_fail(__FILE__, __LINE__, "error \"%s\" lacks \"%s\"", cur_error(), message);
  CHECK_INT(cur_augment_sample(&o, 1, 1, 0, &p), CUR_ECONFIG);
  CHECK(memcmp(&p, &before, sizeof p) == 0);
}

TEST(bad_option_values_are_rejected_naming_the_option) {
  cur_augment_options d, o;
  cur_augment_options_default(&d);
  CHECK_OK(cur_augment_options_validate(&d));
  o = d; o.scale = (cur_augment_range){1.2, 0.9};
  check_rejected(o, "augment.scale: min 1.2 > max 0.9");
  o = d; o.scale.min = -0.5;
  check_rejected(o, "augment.scale: min -0.5 is outside [0.1, 10]");
  o = d; o.scale.min = 0;
  check_rejected(o, "augment.scale: min 0");
  o = d; o.rotate_deg.max = NAN;
  check_rejected(o, "augment.rotate_deg: max nan is not a finite number");
  o = d; o.rotate_deg = (cur_augment_range){10, -10};
  check_rejected(o, "augment.rotate_deg: min 10 > max -10");
  o = d; o.translate_frac.min = -INFINITY;
  check_rejected(o, "augment.translate_frac: min -inf");
  o = d; o.hflip_prob = 1.5;
  check_rejected(o, "augment.hflip_prob: 1.5 is outside [0, 1]");
  o = d; o.hflip_prob = -0.1;
  check_rejected(o, "augment.hflip_prob");
  o = d; o.fill = (cur_augment_fill)7;
  check_rejected(o, "augment.fill: unknown mode 7");
  o = d; o.noise_sigma = -1;
  check_rejected(o, "augment.noise_sigma");
  o = d; o.blur_sigma = NAN;
  check_rejected(o, "augment.blur_sigma");
  o = d; o.color_jitter = 1.5;
  check_rejected(o, "augment.color_jitter: 1.5 is outside [0, 1]");
}

TEST(fill_names_parse_and_unknown_names_are_rejected) {
  cur_augment_fill f = CUR_AUGMENT_FILL_EDGE;
  CHECK_OK(cur_augment_fill_parse("mean", &f));
  CHECK_INT(f, CUR_AUGMENT_FILL_MEAN);
  CHECK_OK(cur_augment_fill_parse("black", &f));
  CHECK_INT(f, CUR_AUGMENT_FILL_BLACK);
  CHECK_STR(cur_augment_fill_name(CUR_AUGMENT_FILL_EDGE), "edge");
  CHECK_INT(cur_augment_fill_parse("purple", &f), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "augment.fill: unknown mode \"purple\"") != NULL);
  CHECK_INT(f, CUR_AUGMENT_FILL_BLACK);
}

TEST(apply_rejects_bad_options_params_and_input) {
  size_t len = 0, out_len = 0;
  unsigned char *png = blob_png(30, 20, &len), *out = NULL;
  cur_augment_options o;
  cur_augment_params p = geometry(0, 0, 0, 1, 0);
  cur_augment_format fmt;
  static const unsigned char junk[] = "this is not an image at all";
  REQUIRE(png != NULL);
  cur_augment_options_default(&o);
  o.hflip_prob = 2;
  CHECK_INT(cur_augment_apply(png, len, &p, &o, &out, &out_len, &fmt), CUR_ECONFIG);
  cur_augment_options_default(&o);
  p.scale = -1;
  CHECK_INT(cur_augment_apply(png, len, &p, &o, &out, &out_len, &fmt), CUR_EINPUT);
  CHECK(strstr(cur_error(), "scale") != NULL);
  p.scale = 1;
  CHECK_INT(cur_augment_apply(junk, sizeof junk, &p, &o, &out, &out_len, &fmt), CUR_EINPUT);
  CHECK_INT(cur_augment_apply(png, 0, &p, &o, &out, &out_len, &fmt), CUR_EINPUT);
  CHECK_INT(cur_augment_apply(png, len / 2, &p, &o, &out, &out_len, &fmt), CUR_EINPUT);
  CHECK(out == NULL);
  /* the same failures when the parent is decoded on its own */
  cur_augment_source *src = NULL;
  CHECK_INT(cur_augment_source_new(junk, sizeof junk, &src), CUR_EINPUT);
  CHECK(strstr(cur_error(), "not a known image format") != NULL);
  CHECK_INT(cur_augment_source_new(png, len / 2, &src), CUR_EINPUT);
  CHECK_INT(cur_augment_source_new(png, 0, &src), CUR_EINPUT);
  CHECK(src == NULL);
  cur_augment_source_free(NULL);
  cur_free(png);
}

/* ---- augment-5: fill modes ----------------------------------------------------- */

/* 60x40 PNG: an 8-pixel frame of colour A around an interior of colour B. */
static const double fill_a[3] = {200, 100, 50}, fill_b[3] = {20, 220, 120};

static unsigned char *framed_png(size_t *len) {
  VipsImage *ctx = vips_image_new();
  VipsImage **t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(ctx), 3);
  unsigned char *out = NULL;
  if (vips_black(&t[0], 60, 40, "bands", 3, NULL) == 0 &&
      vips_linear(t[0], &t[1], (double[]){1, 1, 1}, (double *)fill_a, 3, "uchar", TRUE, NULL) == 0 &&
      (t[2] = vips_image_copy_memory(t[1])) != NULL &&
      vips_draw_rect(t[2], (double *)fill_b, 3, 8, 8, 44, 24, "fill", TRUE, NULL) == 0)
    out = encode_image(t[2], 0, len);
  g_object_unref(ctx);
  return out;
}

/* Rotates the framed image by 45 degrees with the given fill and checks the
** top-left output pixel, which maps far outside the input.  Tolerance 1:
** the mean is a double that libvips rounds to 8 bits. */
static void check_corner(cur_augment_fill fill, const double expect[3]) {
  size_t len = 0, out_len = 0;
  unsigned char *png = framed_png(&len), *out = NULL;
  cur_augment_options o;
  cur_augment_params p = geometry(45, 0, 0, 1, 0);
  cur_augment_format fmt;
  REQUIRE(png != NULL);
  cur_augment_options_default(&o);
  o.fill = fill;
  CHECK_OK(cur_augment_apply(png, len, &p, &o, &out, &out_len, &fmt));
  VipsImage *img = out ? decode_image(out, out_len) : NULL;
  CHECK(img != NULL);
  if (img) {
    CHECK_INT(img->Bands, 3);
    const unsigned char *px = VIPS_IMAGE_ADDR(img, 0, 0);
    for (int k = 0; k < 3 && img->Bands == 3; k++) CHECK_NEAR(px[k], expect[k], 1.0);
    g_object_unref(img);
  }
  cur_free(out);
  cur_free(png);
}

TEST(edge_fill_copies_the_nearest_edge_colour) { check_corner(CUR_AUGMENT_FILL_EDGE, fill_a); }

TEST(black_fill_is_zero) { check_corner(CUR_AUGMENT_FILL_BLACK, (const double[3]){0, 0, 0}); }

TEST(mean_fill_is_the_mean_colour) {
  /* Frame 2400 - 44*24 = 1344 pixels of A, interior 1056 of B. */
  double mean[3];
  for (int k = 0; k < 3; k++) mean[k] = (1344 * fill_a[k] + 1056 * fill_b[k]) / 2400.0;
  check_corner(CUR_AUGMENT_FILL_MEAN, mean);
}

/* ---- augment-6: format and size ------------------------------------------------ */

static void check_format(int jpeg, int bands, int photometric) {
  size_t len = 0, out_len = 0;
  unsigned char *in = texture_image(96, 64, bands, jpeg, &len), *out = NULL;
  cur_augment_options o;
  cur_augment_params p;
  cur_augment_format fmt = jpeg ? CUR_AUGMENT_FORMAT_PNG : CUR_AUGMENT_FORMAT_JPEG;
  REQUIRE(in != NULL);
  cur_augment_options_default(&o);
  o.color_jitter = photometric ? 0.4 : 0.0;
  o.noise_sigma = photometric ? 5.0 : 0.0;
  REQUIRE_OK(cur_augment_sample(&o, 3, 4, 5, &p));
  REQUIRE_OK(cur_augment_apply(in, len, &p, &o, &out, &out_len, &fmt));
  CHECK_INT(fmt, jpeg ? CUR_AUGMENT_FORMAT_JPEG : CUR_AUGMENT_FORMAT_PNG);
  CHECK(out_len > 8);
  if (jpeg) CHECK(out[0] == 0xff && out[1] == 0xd8 && out[2] == 0xff);
  else CHECK(memcmp(out, "\x89PNG", 4) == 0);
  VipsImage *img = decode_image(out, out_len);
  CHECK(img != NULL);
  if (img) {
    CHECK_INT(img->Xsize, 96);
    CHECK_INT(img->Ysize, 64);
    CHECK_INT(img->Bands, bands);
    CHECK_INT(img->BandFmt, VIPS_FORMAT_UCHAR);
    g_object_unref(img);
  }
  cur_free(out);
  cur_free(in);
}

TEST(jpeg_in_gives_jpeg_out_of_the_same_size) { check_format(1, 3, 0); }
TEST(png_in_gives_png_out_of_the_same_size) { check_format(0, 3, 0); }
TEST(rgba_png_keeps_its_alpha_band_through_photometric_ops) { check_format(0, 4, 1); }

/* ---- augment-7: parameter JSON --------------------------------------------------- */

TEST(params_json_is_canonical) {
  cur_augment_options o;
  cur_augment_params p = geometry(12.5, -0.03, 0.1, 1.05, 1);
  char *json = NULL;
  cur_augment_options_default(&o);
  o.fill = CUR_AUGMENT_FILL_MEAN;
  p.ty_frac = -0.0;  /* printed as 0, not -0 */
  REQUIRE_OK(cur_augment_params_json(&p, &o, &json));
  CHECK_STR(json, "{\"angle_deg\":12.500000,\"tx_frac\":-0.030000,\"ty_frac\":0.000000,"
                  "\"scale\":1.050000,\"hflip\":true,\"fill\":\"mean\",\"noise_sigma\":0.000000,"
                  "\"blur_sigma\":0.000000,\"brightness\":1.000000,\"contrast\":1.000000,"
                  "\"saturation\":1.000000,\"noise_seed\":0}");
  cur_free(json);
  p.angle_deg = NAN;
  CHECK_INT(cur_augment_params_json(&p, &o, &json), CUR_EINPUT);
  CHECK(strstr(cur_error(), "angle_deg") != NULL);
}

TEST(sampled_params_round_trip_through_json_text) {
  /* Sampling rounds to 6 decimals, so reading the printed numbers back
  ** gives the same doubles and hence the same image. */
  cur_augment_options o;
  cur_augment_params p;
  char *json = NULL;
  cur_augment_options_default(&o);
  o.color_jitter = 0.25;
  o.noise_sigma = 3;
  for (int i = 0; i < 50; i++) {
    REQUIRE_OK(cur_augment_sample(&o, 2024, 1000 + i, i % 3, &p));
    REQUIRE_OK(cur_augment_params_json(&p, &o, &json));
    const double fields[] = {p.angle_deg, p.tx_frac, p.ty_frac, p.scale, p.noise_sigma,
                             p.blur_sigma, p.brightness, p.contrast, p.saturation};
    const char *keys[] = {"\"angle_deg\":", "\"tx_frac\":", "\"ty_frac\":", "\"scale\":",
                          "\"noise_sigma\":", "\"blur_sigma\":", "\"brightness\":",
                          "\"contrast\":", "\"saturation\":"};
    for (size_t k = 0; k < CUR_ARRAY_LEN(keys); k++) {
      const char *at = strstr(json, keys[k]);
      CHECK(at != NULL);
      if (at) CHECK(strtod(at + strlen(keys[k]), NULL) == fields[k]);
    }
    cur_free(json);
    json = NULL;
  }
}

/* ---- augment-8: photometric operations change pixels by the documented amount ---- */

/* A 60 x 40 RGB PNG: the left 30 columns colour A = (100, 50, 200), the
** right 30 colour B = (60, 160, 40).  Band means (80, 105, 120); mean grey
** (Rec. 601) 0.299 x 80 + 0.587 x 105 + 0.114 x 120 = 99.235. */
#define PH_W 60
#define PH_H 40
static const double colour_a[3] = {100, 50, 200}, colour_b[3] = {60, 160, 40};

static unsigned char *two_colour_png(size_t *len) {
  VipsImage *img = NULL;
  unsigned char *png = NULL;
  if (vips_black(&img, PH_W, PH_H, "bands", 3, NULL) == 0 &&
      vips_draw_rect(img, (double *)colour_a, 3, 0, 0, PH_W / 2, PH_H, "fill", TRUE, NULL) == 0 &&
      vips_draw_rect(img, (double *)colour_b, 3, PH_W / 2, 0, PH_W / 2, PH_H, "fill", TRUE, NULL) == 0)
    png = encode_image(img, 0, len);
  if (img) g_object_unref(img);
  return png;
}

/* Applies P (identity geometry plus photometric factors) to the two-colour
** image and returns the decoded result, or NULL after failing the case. */
static VipsImage *apply_two_colour(cur_augment_params p) {
  size_t len = 0, out_len = 0;
  unsigned char *png = two_colour_png(&len), *out = NULL;
  cur_augment_options o;
  cur_augment_format fmt;
  VipsImage *img = NULL;
  cur_augment_options_default(&o);
  CHECK(png != NULL);
  if (png) CHECK_OK(cur_augment_apply(png, len, &p, &o, &out, &out_len, &fmt));
  if (out) img = decode_image(out, out_len);
  CHECK(img && img->Bands == 3 && img->Xsize == PH_W && img->BandFmt == VIPS_FORMAT_UCHAR);
  cur_free(out);
  cur_free(png);
  if (img && (img->Bands != 3 || img->BandFmt != VIPS_FORMAT_UCHAR)) {
    g_object_unref(img);
    img = NULL;
  }
  return img;
}

/* Checks that every pixel of the left half is WANT_A and of the right half
** WANT_B, within 0.5 + 1e-9 (the result is rounded to 8 bits). */
static void check_halves(VipsImage *img, const double want_a[3], const double want_b[3], int line) {
  double worst = 0;
  for (int y = 0; img && y < PH_H; y++)
    for (int x = 0; x < PH_W; x++) {
      const unsigned char *px = VIPS_IMAGE_ADDR(img, x, y);
      const double *want = x < PH_W / 2 ? want_a : want_b;
      for (int b = 0; b < 3; b++) worst = fmax(worst, fabs(px[b] - want[b]));
    }
  test_checks++;
  if (!img || worst > 0.5 + 1e-9) test_fail(__FILE__, line, "worst pixel off by %g", img ? worst : -1.0);
}

TEST(brightness_contrast_and_saturation_move_pixels_by_hand_computed_amounts) {
  cur_augment_params p = geometry(0, 0, 0, 1, 0);
  VipsImage *img = apply_two_colour(p);  /* identity: the input comes back */
  check_halves(img, colour_a, colour_b, __LINE__);
  if (img) g_object_unref(img);
  /* brightness 1.2: every value times 1.2 */
  p.brightness = 1.2;
  img = apply_two_colour(p);
  check_halves(img, (const double[3]){120, 60, 240}, (const double[3]){72, 192, 48}, __LINE__);
  if (img) g_object_unref(img);
  /* contrast 0.5: halfway to the mean grey, 0.5 x + 49.6175 */
  p.brightness = 1, p.contrast = 0.5;
  img = apply_two_colour(p);
  check_halves(img, (const double[3]){99.6175, 74.6175, 149.6175},
               (const double[3]){79.6175, 129.6175, 69.6175}, __LINE__);
  if (img) g_object_unref(img);
  /* saturation 0: each pixel its grey, A 82.05 and B 116.42 in every band */
  p.contrast = 1, p.saturation = 0;
  img = apply_two_colour(p);
  check_halves(img, (const double[3]){82.05, 82.05, 82.05}, (const double[3]){116.42, 116.42, 116.42},
               __LINE__);
  if (img) g_object_unref(img);
}

TEST(noise_adds_one_value_per_pixel_of_the_drawn_sigma_and_blur_mixes_only_the_edge) {
  cur_augment_params p = geometry(0, 0, 0, 1, 0);
  p.noise_sigma = 5.0;
  p.noise_seed = 12345;
  VipsImage *img = apply_two_colour(p);
  REQUIRE(img);
  double sum = 0, sum2 = 0;
  int unequal = 0, n = PH_W * PH_H;
  for (int y = 0; y < PH_H; y++)
    for (int x = 0; x < PH_W; x++) {
      const unsigned char *px = VIPS_IMAGE_ADDR(img, x, y);
      const double *in = x < PH_W / 2 ? colour_a : colour_b;
      double d = px[0] - in[0];
      sum += d;
      sum2 += d * d;
      /* luminance noise: the same value on every band, up to rounding */
      unequal += fabs((px[1] - in[1]) - d) > 1 || fabs((px[2] - in[2]) - d) > 1;
    }
  g_object_unref(img);
  double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
  /* 2400 draws: the sample sd is within 5% of 5 with room to spare (its
  ** standard error is 5 / sqrt(4800) = 0.07), the mean within 0.4 (8 SE);
  ** rounding to integers adds 1/12 to the variance */
  CHECK_NEAR(sd, 5.0, 0.4);
  CHECK_NEAR(mean, 0.0, 0.4);
  CHECK_INT(unequal, 0);
  /* blur sigma 1: far from the edge nothing changes; the two columns at the
  ** edge end strictly between A and B, symmetric about their midpoint */
  p = geometry(0, 0, 0, 1, 0);
  p.blur_sigma = 1.0;
  img = apply_two_colour(p);
  REQUIRE(img);
  const unsigned char *far_a = VIPS_IMAGE_ADDR(img, 10, 20), *far_b = VIPS_IMAGE_ADDR(img, 50, 20);
  const unsigned char *edge_a = VIPS_IMAGE_ADDR(img, 29, 20), *edge_b = VIPS_IMAGE_ADDR(img, 30, 20);
  for (int b = 0; b < 3; b++) {
    CHECK_NEAR(far_a[b], colour_a[b], 0);
    CHECK_NEAR(far_b[b], colour_b[b], 0);
    double lo = fmin(colour_a[b], colour_b[b]), hi = fmax(colour_a[b], colour_b[b]);
    CHECK(edge_a[b] > lo && edge_a[b] < hi && edge_b[b] > lo && edge_b[b] < hi);
    /* a Gaussian is symmetric: the two edge columns sum to A + B (+-1 rounding) */
    CHECK_NEAR(edge_a[b] + edge_b[b], colour_a[b] + colour_b[b], 1);
  }
  g_object_unref(img);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  if (VIPS_INIT(argv[0])) {
    fprintf(stderr, "libvips init failed: %s\n", vips_error_buffer());
    return 1;
  }
  RUN(identity_leaves_blob_in_place);
  RUN(hflip_mirrors_about_centre_column);
  RUN(rotate_90_turns_counter_clockwise_about_centre);
  RUN(rotate_30_matches_rotation_formula);
  RUN(translate_moves_by_fraction_of_width_and_height);
  RUN(scale_enlarges_and_shrinks_about_centre);
  RUN(composition_is_rotate_then_translate_then_scale);
  RUN(variants_of_one_decoded_jpeg_equal_single_calls);
  RUN(variants_of_one_decoded_png_equal_single_calls);
  RUN(same_seed_gives_identical_png_bytes);
  RUN(same_seed_gives_identical_jpeg_bytes);
  RUN(same_seed_gives_identical_bytes_with_noise_blur_and_jitter);
  RUN(concurrent_calls_give_the_same_bytes_as_one_call);
  RUN(variant_index_and_parent_change_the_draw);
  RUN(defaults_sample_inside_ranges_with_photometric_off);
  RUN(photometric_ranges_and_fixed_ranges_are_respected);
  RUN(bad_option_values_are_rejected_naming_the_option);
  RUN(fill_names_parse_and_unknown_names_are_rejected);
  RUN(apply_rejects_bad_options_params_and_input);
  RUN(edge_fill_copies_the_nearest_edge_colour);
  RUN(black_fill_is_zero);
  RUN(mean_fill_is_the_mean_colour);
  RUN(jpeg_in_gives_jpeg_out_of_the_same_size);
  RUN(png_in_gives_png_out_of_the_same_size);
  RUN(rgba_png_keeps_its_alpha_band_through_photometric_ops);
  RUN(params_json_is_canonical);
  RUN(sampled_params_round_trip_through_json_text);
  RUN(brightness_contrast_and_saturation_move_pixels_by_hand_computed_amounts);
  RUN(noise_adds_one_value_per_pixel_of_the_drawn_sigma_and_blur_mixes_only_the_edge);
  return test_finish();
}
