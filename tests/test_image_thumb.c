/* test_image_thumb.c -- cur_image_thumbnail_jpeg, the thumbnails of `curate serve`.
**
** Images are made here from pixels whose layout is known (a dark left half,
** a bright right half), encoded by the codec layer's own JPEG and PNG
** encoders.  A 1- or 3-band JPEG takes the fast path (shrink-on-load, resize,
** EXIF rotation); a PNG goes through vips_thumbnail_buffer, so the PNG of
** the same pixels is the oracle for the JPEG's thumbnail.
**
** thumb-1.*: a JPEG fits the box on its longer side, at every shrink-on-load
**            factor, and looks like vips_thumbnail's thumbnail of the same pixels.
** thumb-2.*: an EXIF orientation of 6 turns the thumbnail upright (portrait,
**            dark half at the top); grey JPEGs work; small images are not enlarged.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "testlib.h"

/* W x H x BANDS pixels: left half 40, right half 200, plus a vertical ramp of 30. */
static cur_image_pixels halves(int w, int h, int bands) {
  cur_image_pixels p = {cur_malloc((size_t)w * h * bands), w, h, bands};
  for (int y = 0; p.data && y < h; y++)
    for (int x = 0; x < w; x++)
      for (int b = 0; b < bands; b++)
        p.data[((size_t)y * w + x) * bands + b] = (unsigned char)((x < w / 2 ? 40 : 200) + 30 * y / h);
  return p;
}

/* The thumbnail of BYTES at SIZE, decoded. */
static int thumb(const unsigned char *bytes, size_t n, int size, cur_image_pixels *out) {
  unsigned char *jpeg;
  size_t len;
  char reason[128];
  int rc = cur_image_thumbnail_jpeg(1, bytes, n, size, &jpeg, &len);
  if (rc) return rc;
  rc = cur_image_jpeg_decode(jpeg, len, 1 << 24, out, reason, sizeof reason);
  cur_free(jpeg);
  return rc;
}

/* Mean of band 0 over rows [Y0, Y1) and columns [X0, X1) of P. */
static double mean(const cur_image_pixels *p, int x0, int x1, int y0, int y1) {
  double s = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) s += p->data[((size_t)y * p->width + x) * p->bands];
  return s / ((double)(x1 - x0) * (y1 - y0));
}

TEST(a_jpeg_fits_the_box_and_matches_vips_thumbnail_of_the_same_pixels) {
  static const struct { int w, h, want_w, want_h; } cases[] = {
      {600, 400, 256, 171},    /* shrink 2 on load, then resize */
      {4000, 3000, 256, 192},  /* shrink 8 */
      {300, 900, 85, 256},     /* portrait, shrink 2 */
      {256, 100, 256, 100},    /* exactly the box: unchanged */
  };
  for (size_t i = 0; i < CUR_ARRAY_LEN(cases); i++) {
    cur_image_pixels px = halves(cases[i].w, cases[i].h, 3), a = {0}, b = {0};
    unsigned char *jpeg = NULL, *png = NULL;
    size_t jl, pl;
    REQUIRE(px.data);
    CHECK_OK(cur_image_jpeg_encode(&px, 95, &jpeg, &jl));
    CHECK_OK(cur_image_png_encode(&px, &png, &pl));
    CHECK_OK(thumb(jpeg, jl, 256, &a));
    CHECK_OK(thumb(png, pl, 256, &b));
    CHECK_MSG(a.width == cases[i].want_w && a.height == cases[i].want_h, "%dx%d: thumbnail %dx%d",
              cases[i].w, cases[i].h, a.width, a.height);
    /* vips_thumbnail rounds the shorter side its own way: one pixel of room */
    CHECK_MSG(a.data && b.data && abs(a.width - b.width) <= 1 && abs(a.height - b.height) <= 1,
              "%dx%d: %dx%d against vips_thumbnail's %dx%d", cases[i].w, cases[i].h, a.width,
              a.height, b.width, b.height);
    if (a.data && b.data) {
      /* the halves' means: the JPEG's quantisation and two resamplers differ
      ** by a few levels; a wrong crop, scale or orientation by over 100 */
      int w = a.width < b.width ? a.width : b.width, h = a.height < b.height ? a.height : b.height;
      double dl = fabs(mean(&a, 0, w / 2 - 2, 0, h) - mean(&b, 0, w / 2 - 2, 0, h));
      double dr = fabs(mean(&a, w / 2 + 2, w, 0, h) - mean(&b, w / 2 + 2, w, 0, h));
      CHECK_MSG(dl < 4 && dr < 4, "%dx%d: halves differ by %.1f and %.1f", cases[i].w, cases[i].h,
                dl, dr);
    }
    cur_free(px.data);
    cur_free(a.data);
    cur_free(b.data);
    cur_free(jpeg);
    cur_free(png);
  }
}

/* JPEG with an EXIF APP1 segment carrying ORIENTATION, after its JFIF APP0. */
static unsigned char *with_orientation(const unsigned char *jpeg, size_t n, int orientation,
                                       size_t *out_len) {
  static const unsigned char app1_head[] = {
      0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,  /* APP1, length 34 */
      'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08,      /* big-endian TIFF, IFD at 8 */
      0x00, 0x01,                                        /* one entry */
      0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01};   /* Orientation, SHORT, 1 value */
  size_t app0 = n > 6 && jpeg[3] == 0xE0 ? 4 + ((size_t)jpeg[4] << 8 | jpeg[5]) : 2;
  unsigned char *out = cur_malloc(n + sizeof app1_head + 8);
  if (!out || app0 > n) return cur_free(out), NULL;
  memcpy(out, jpeg, app0);
  memcpy(out + app0, app1_head, sizeof app1_head);
  unsigned char tail[8] = {0x00, (unsigned char)orientation, 0, 0, 0, 0, 0, 0};  /* value, next IFD 0 */
  memcpy(out + app0 + sizeof app1_head, tail, sizeof tail);
  memcpy(out + app0 + sizeof app1_head + 8, jpeg + app0, n - app0);
  *out_len = n + sizeof app1_head + 8;
  return out;
}

TEST(exif_orientation_turns_the_thumbnail_upright_and_small_or_grey_images_work) {
  cur_image_pixels px = halves(600, 300, 3), t = {0};
  unsigned char *jpeg = NULL, *rotated = NULL;
  size_t jl, rl;
  REQUIRE(px.data);
  REQUIRE_OK(cur_image_jpeg_encode(&px, 95, &jpeg, &jl));
  rotated = with_orientation(jpeg, jl, 6, &rl);
  REQUIRE(rotated);
  CHECK_OK(thumb(rotated, rl, 256, &t));
  /* 6: the stored image is turned a quarter clockwise to be upright, so
  ** its left (dark) half becomes the top */
  CHECK_MSG(t.width == 128 && t.height == 256, "orientation 6: %dx%d", t.width, t.height);
  if (t.data && t.height == 256)
    CHECK_MSG(mean(&t, 0, t.width, 0, 100) + 100 < mean(&t, 0, t.width, 156, 256),
              "top %.0f, bottom %.0f", mean(&t, 0, t.width, 0, 100), mean(&t, 0, t.width, 156, 256));
  cur_free(t.data);
  cur_free(rotated);
  cur_free(jpeg);
  cur_free(px.data);
  /* grey, and smaller than the box: kept at its size */
  px = halves(100, 50, 1);
  REQUIRE(px.data);
  REQUIRE_OK(cur_image_jpeg_encode(&px, 95, &jpeg, &jl));
  t = (cur_image_pixels){0};
  CHECK_OK(thumb(jpeg, jl, 256, &t));
  CHECK_MSG(t.width == 100 && t.height == 50 && t.bands == 1, "grey: %dx%dx%d", t.width, t.height,
            t.bands);
  cur_free(t.data);
  cur_free(jpeg);
  cur_free(px.data);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  if (cur_image_init()) {
    test_fail(__FILE__, __LINE__, "libvips did not start");
  } else {
    RUN(a_jpeg_fits_the_box_and_matches_vips_thumbnail_of_the_same_pixels);
    RUN(exif_orientation_turns_the_thumbnail_upright_and_small_or_grey_images_work);
  }
  return test_finish();
}
