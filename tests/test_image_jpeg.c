/* test_image_jpeg.c -- the JPEG probe and decoder (pipeline/codec/image_jpeg.c) on files the
** test writes with libjpeg itself, including the shapes a hostile file can declare.
**
** jpeg-1.*: colour layouts curate reads (grey, YCbCr, CMYK) are sound, with their bands.
** jpeg-2.*: components of unknown meaning (2, 5 to 10) are refused with the reason,
**           however wide: a 60,000-wide 10-component file once overran the probe's
**           fixed row buffer on the stack.
** jpeg-3.*: such a file in a folder is quarantined by ingest, and embed goes on.
** jpeg-4.*: cur_image_decode_pixels, which reads grey and colour JPEGs with
**           libjpeg itself, gives libvips' loader's pixels for every layout
**           (CMYK through libvips' conversion to sRGB); truncated and
**           oversized files are refused with the reason.
*/
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>  /* after stdio.h, which it needs */
#include <vips/vips.h>

#include "fixtures.h"
#include "image.h"
#include "testlib.h"

/* Encodes a W x H JPEG of NC components in colour space CS with a seeded
** pattern, into *out (malloc'd by libjpeg; the caller frees with free). */
static int write_jpeg(int w, int h, int nc, J_COLOR_SPACE cs, unsigned seed, unsigned char **out,
                      unsigned long *len) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  unsigned char *row = malloc((size_t)w * (size_t)nc);
  if (!row) return -1;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  *out = NULL;
  *len = 0;
  jpeg_mem_dest(&c, out, len);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = nc;
  c.in_color_space = cs;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, cs);  /* no conversion: the file declares CS itself */
  jpeg_set_quality(&c, 90, TRUE);
  /* A scan holds at most four components: more go in one sequential scan
  ** each, which is how a legal file carries 5 to 10. */
  jpeg_scan_info scans[MAX_COMPONENTS];
  if (nc > MAX_COMPS_IN_SCAN) {
    for (int k = 0; k < nc; k++)
      scans[k] = (jpeg_scan_info){.comps_in_scan = 1, .component_index = {k}, .Ss = 0, .Se = 63};
    c.scan_info = scans;
    c.num_scans = nc;
  }
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    for (size_t i = 0; i < (size_t)w * (size_t)nc; i++)
      row[i] = (unsigned char)((i * 7 + c.next_scanline * 13 + seed) & 0xFF);
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  free(row);
  /* libjpeg-turbo's decoder looks scan components up among the first four
  ** only, so a file it decodes with more components scans just those four
  ** (the rest decode as zeros): keep the first four scans, then end the
  ** file.  That is the shape of the file that overran the probe. */
  if (nc > MAX_COMPS_IN_SCAN) {
    unsigned long at = 0;
    for (int sos = 0; at + 1 < *len; at++)
      if ((*out)[at] == 0xFF && (*out)[at + 1] == 0xDA && ++sos == MAX_COMPS_IN_SCAN + 1) break;
    if (at + 1 >= *len) return -1;
    (*out)[at + 1] = 0xD9;  /* EOI in place of the fifth scan's SOS */
    *len = at + 2;
  }
  return 0;
}

/* Probes a file of that shape: the return code, with INFO and REASON filled. */
static int probe(int w, int h, int nc, J_COLOR_SPACE cs, cur_image_info *info, char *reason,
                 size_t cap) {
  unsigned char *buf;
  unsigned long len;
  if (write_jpeg(w, h, nc, cs, 1, &buf, &len)) return CUR_ENOMEM;
  reason[0] = 0;
  int rc = cur_image_probe(buf, len, (int64_t)1 << 40, info, reason, cap);
  free(buf);
  return rc;
}

TEST(grey_ycbcr_and_cmyk_are_sound_with_their_bands) {
  static const struct { int nc; J_COLOR_SPACE cs; } ok[] = {
      {1, JCS_GRAYSCALE}, {3, JCS_YCbCr}, {3, JCS_RGB}, {4, JCS_CMYK}};
  for (size_t i = 0; i < CUR_ARRAY_LEN(ok); i++) {
    cur_image_info info = {0};
    char reason[256];
    CHECK_INT(probe(37, 19, ok[i].nc, ok[i].cs, &info, reason, sizeof reason), CUR_OK);
    CHECK_INT(info.width, 37);
    CHECK_INT(info.height, 19);
    CHECK_INT(info.bands, ok[i].nc);
    CHECK_STR(info.format, "jpeg");
  }
  /* the widest file libjpeg writes: 65,500 columns, decoded at 1/8 scale row by row */
  cur_image_info info = {0};
  char reason[256];
  CHECK_INT(probe(65500, 8, 3, JCS_YCbCr, &info, reason, sizeof reason), CUR_OK);
  CHECK_INT(info.width, 65500);
}

TEST(unknown_components_are_refused_however_wide) {
  static const struct { int w, nc; } bad[] = {{60000, 10}, {65500, 5}, {52425, 5}, {32, 5},
                                              {32, 2}, {32, 7}};
  for (size_t i = 0; i < CUR_ARRAY_LEN(bad); i++) {
    cur_image_info info = {0};
    char reason[256], want[64];
    CHECK_INT(probe(bad[i].w, 8, bad[i].nc, JCS_UNKNOWN, &info, reason, sizeof reason), CUR_EINPUT);
    snprintf(want, sizeof want, "unsupported JPEG colour: %d components", bad[i].nc);
    if (!strstr(reason, want)) test_fail(__FILE__, __LINE__, "reason '%s' lacks '%s'", reason, want);
  }
}

TEST(decoder_refuses_unknown_components_too) {
  unsigned char *buf;
  unsigned long len;
  REQUIRE(write_jpeg(32, 32, 5, JCS_UNKNOWN, 2, &buf, &len) == 0);
  cur_image_pixels px = {0};
  char reason[256] = "";
  CHECK_INT(cur_image_jpeg_decode(buf, len, 1 << 20, &px, reason, sizeof reason), CUR_EINPUT);
  CHECK(px.data == NULL);
  CHECK(strstr(reason, "5 components") != NULL);
  free(buf);
}

/* The oracle: libvips' own loader, then what cur_image_decode_pixels
** promises (8-bit, CMYK converted to sRGB), written to memory. */
static unsigned char *vips_pixels(const unsigned char *buf, size_t len, int *w, int *h, int *bands) {
  VipsImage *in = vips_image_new_from_buffer(buf, len, "", NULL), *rgb = NULL;
  if (!in) return NULL;
  if (vips_image_get_interpretation(in) == VIPS_INTERPRETATION_CMYK) {
    if (vips_colourspace(in, &rgb, VIPS_INTERPRETATION_sRGB, NULL)) rgb = NULL;
  } else {
    rgb = in;
    g_object_ref(rgb);
  }
  size_t size = 0;
  unsigned char *mem = rgb ? vips_image_write_to_memory(rgb, &size) : NULL;
  if (mem) {
    *w = rgb->Xsize;
    *h = rgb->Ysize;
    *bands = rgb->Bands;
  }
  if (rgb) g_object_unref(rgb);
  g_object_unref(in);
  return mem;
}

TEST(decoded_pixels_are_libvips_pixels_in_every_layout) {
  static const struct { int nc; J_COLOR_SPACE cs; int bands; } kinds[] = {
      {1, JCS_GRAYSCALE, 1}, {3, JCS_YCbCr, 3}, {3, JCS_RGB, 3}, {4, JCS_CMYK, 3}};
  REQUIRE(cur_image_init() == CUR_OK);
  for (size_t i = 0; i < CUR_ARRAY_LEN(kinds); i++) {
    unsigned char *buf;
    unsigned long len;
    REQUIRE(write_jpeg(53, 29, kinds[i].nc, kinds[i].cs, 3, &buf, &len) == 0);
    cur_image_pixels px = {0};
    char reason[256] = "";
    int w = 0, h = 0, bands = 0;
    unsigned char *want = vips_pixels(buf, len, &w, &h, &bands);
    REQUIRE(want != NULL);
    CHECK_INT(cur_image_decode_pixels(buf, len, 1 << 20, &px, reason, sizeof reason), CUR_OK);
    CHECK_INT(px.width, 53);
    CHECK_INT(px.height, 29);
    CHECK_INT(px.bands, kinds[i].bands);
    CHECK_INT(bands, kinds[i].bands);
    if (px.data && w == 53 && h == 29 && bands == px.bands)
      CHECK(memcmp(px.data, want, (size_t)53 * 29 * (size_t)bands) == 0);
    g_free(want);
    cur_free(px.data);
    /* cut in the middle of the entropy-coded data */
    px.data = NULL;
    CHECK_INT(cur_image_decode_pixels(buf, len / 2, 1 << 20, &px, reason, sizeof reason), CUR_EINPUT);
    CHECK(px.data == NULL && reason[0] != 0);
    /* over the pixel limit, refused from the header */
    CHECK_INT(cur_image_decode_pixels(buf, len, 53 * 29 - 1, &px, reason, sizeof reason), CUR_EINPUT);
    CHECK(px.data == NULL && strstr(reason, "53 x 29") != NULL);
    free(buf);
  }
}

TEST(ingest_quarantines_such_a_file_and_embed_goes_on) {
  REQUIRE(test_sh("cd '%s' && rm -rf img j.db* && mkdir -p img/a img/b", T.scratch) == 0);
  for (int i = 0; i < 6; i++) {
    char rel[32];
    snprintf(rel, sizeof rel, "img/%c/%d.jpg", i % 2 ? 'b' : 'a', i);
    char *p = test_scratch_path(rel);
    CHECK_INT(fx_image_file(p, 24, 24, 40 + (unsigned)i, "jpeg"), 0);
    cur_free(p);
  }
  unsigned char *buf;
  unsigned long len;
  REQUIRE(write_jpeg(32, 32, 5, JCS_UNKNOWN, 3, &buf, &len) == 0);
  char *odd = test_scratch_path("img/a/five.jpg");
  CHECK_INT(test_write_file(odd, buf, len), 0);
  cur_free(odd);
  free(buf);
  const char *cfg = "{\"embed\": {\"features\": \"pixels\", \"size\": 8}}";
  char *cfg_path = test_scratch_path("j.json");
  REQUIRE(test_write_file(cfg_path, cfg, strlen(cfg)) == 0);
  cur_free(cfg_path);
  REQUIRE(fx_curate("j-init.log", "--db j.db --config j.json init") == 0);
  CHECK_INT(fx_curate("j-ingest.log", "--db j.db --config j.json ingest img"), 3);
  char *db = test_scratch_path("j.db");
  char *why = fx_sql(db, "SELECT source_path || ': ' || status_reason FROM images WHERE status = 'quarantined'");
  CHECK(why && strstr(why, "a/five.jpg: unsupported JPEG colour: 5 components") != NULL);
  cur_free(why);
  CHECK_INT(fx_curate("j-run.log", "--db j.db --config j.json run --until embed"), 0);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM embeddings"), 6);
  cur_free(db);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(grey_ycbcr_and_cmyk_are_sound_with_their_bands);
  RUN(unknown_components_are_refused_however_wide);
  RUN(decoder_refuses_unknown_components_too);
  RUN(decoded_pixels_are_libvips_pixels_in_every_layout);
  RUN(ingest_quarantines_such_a_file_and_embed_goes_on);
  return test_finish();
}
