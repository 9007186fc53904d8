/* image_jpeg.c -- JPEG through libjpeg directly, without a libvips pipeline: check, decode, encode.
**
** Ingest must decode every image once to prove it is sound, and JPEG is most
** of what it sees.  Through libvips each small image pays for a pipeline and
** its threads, which cost more than the decode itself (CIFAR-10's 32x32 files
** went at a third of a plain Pillow loop's rate).  Decoding at 1/8 scale
** still entropy-decodes every block of every scan, so truncated or corrupt
** data is caught, while most of the inverse-DCT and colour work is skipped.
**
** Augment decodes and encodes every variant's JPEG here for the same reason
** (libvips' codec pipeline cost twice libjpeg's own time).  Every libjpeg
** error longjmps to the function that started the codec, which frees it.
*/
#include <assert.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>  /* after stdio.h, which it needs */
#include <jerror.h>

#include "curate.h"
#include "image.h"
#include "image_internal.h"

typedef struct check_err {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int truncated;
} check_err;

static void on_error(j_common_ptr cinfo) {
  check_err *err = (check_err *)cinfo->err;
  cinfo->err->format_message(cinfo, err->message);
  longjmp(err->jump, 1);
}

/* Warnings are kept going, as libvips' fail_on=truncated does, except the
** one saying the data ended early. */
static void on_message(j_common_ptr cinfo, int level) {
  check_err *err = (check_err *)cinfo->err;
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    err->truncated = 1;
    cinfo->err->format_message(cinfo, err->message);
  }
}

/* Clears ERR and hooks the handlers above into it, for cinfo.err. */
static struct jpeg_error_mgr *err_init(check_err *err) {
  memset(err, 0, sizeof *err);
  jpeg_std_error(&err->mgr);
  err->mgr.error_exit = on_error;
  err->mgr.emit_message = on_message;
  return &err->mgr;
}

int cur_image_is_jpeg(const void *buf, size_t len) {
  const unsigned char *p = buf;
  return len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

/* The colour spaces curate decodes: grey, YCbCr/RGB and CMYK/YCCK.  A file
** declaring anything else (2 or 5 to 10 components of unknown meaning) is
** refused at the door: no stage could turn it into grey or RGB pixels, and
** accepting it once left embed failing on it at every run. */
static int known_colour(const struct jpeg_decompress_struct *cinfo) {
  switch (cinfo->jpeg_color_space) {
  case JCS_GRAYSCALE: return cinfo->num_components == 1;
  case JCS_RGB:
  case JCS_YCbCr: return cinfo->num_components == 3;
  case JCS_CMYK:
  case JCS_YCCK: return cinfo->num_components == 4;
  default: return 0;
  }
}

/* The bytes a progressive or multi-scan file's decoder holds whatever the
** output scale: every coefficient, 2 bytes a sample, until the last scan. */
static int64_t held_bytes(const struct jpeg_decompress_struct *cinfo) {
  return jpeg_has_multiple_scans((j_decompress_ptr)cinfo)
             ? (int64_t)cinfo->image_width * cinfo->image_height * cinfo->num_components * 2 : 0;
}

int cur_image_probe_jpeg(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                         char *reason, size_t cap) {
  struct jpeg_decompress_struct cinfo;
  check_err err;
  /* One output row at 1/8 scale, sized from what libjpeg will write into
  ** it: never a fixed buffer, since the file chooses width and components
  ** (a fixed stack row once let a wide 10-component file overwrite the
  ** return address).  volatile: freed after a longjmp. */
  JSAMPLE *volatile row = NULL;
  volatile int rc = CUR_OK, big = 0;
  cinfo.err = err_init(&err);
  if (setjmp(err.jump)) {
    snprintf(reason, cap, "cannot decode: %s", err.message);
    jpeg_destroy_decompress(&cinfo);
    cur_free(row);
    cur_image_big_leave(big);
    return CUR_EINPUT;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  snprintf(info->format, sizeof info->format, "jpeg");
  info->width = (int)cinfo.image_width;
  info->height = (int)cinfo.image_height;
  info->bands = cinfo.num_components;
  if ((int64_t)info->width * info->height > max_pixels) {
    snprintf(reason, cap, "image is %d x %d pixels, over ingest.max_pixels (%lld)", info->width,
             info->height, (long long)max_pixels);
    rc = CUR_EINPUT;
  } else if (!known_colour(&cinfo)) {
    snprintf(reason, cap, "unsupported JPEG colour: %d components in colour space %d "
             "(curate reads grey, RGB/YCbCr and CMYK/YCCK)", cinfo.num_components,
             (int)cinfo.jpeg_color_space);
    rc = CUR_EINPUT;
  } else {
    cinfo.scale_num = 1;
    cinfo.scale_denom = 8;
    cinfo.dct_method = JDCT_IFAST;
    cinfo.do_fancy_upsampling = FALSE;
    big = cur_image_big_enter(held_bytes(&cinfo));
    jpeg_start_decompress(&cinfo);
    row = cur_mallocarray(cinfo.output_width, (size_t)cinfo.output_components);
    if (!row) {
      snprintf(reason, cap, "out of memory for a %u-pixel row", cinfo.output_width);
      rc = CUR_ENOMEM;
    }
    while (row && cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW rows[1] = {row};
      jpeg_read_scanlines(&cinfo, rows, 1);
    }
    if (row) jpeg_finish_decompress(&cinfo);
    if (row && err.truncated) {
      snprintf(reason, cap, "cannot decode: %s", err.message);
      rc = CUR_EINPUT;
    }
  }
  jpeg_destroy_decompress(&cinfo);
  cur_free(row);
  cur_image_big_leave(big);
  return rc;
}

/* JPEG colour spaces to bands: grey stays grey and CMYK (and YCCK) comes
** out as CMYK; everything else is decoded to RGB. */
static int out_bands(struct jpeg_decompress_struct *cinfo) {
  switch (cinfo->jpeg_color_space) {
  case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; return 1;
  case JCS_CMYK:
  case JCS_YCCK: cinfo->out_color_space = JCS_CMYK; return 4;
  default: cinfo->out_color_space = JCS_RGB; return 3;
  }
}

/* From BUF's header: the bands cur_image_jpeg_decode gives it (0 when
** libjpeg refuses the header or the colour space), in *HELD what its decoder
** holds whatever the output (held_bytes), in *FRAME its decoded pixels. */
static int header_facts(const void *buf, size_t len, int64_t *held, int64_t *frame) {
  struct jpeg_decompress_struct cinfo;
  check_err err;
  volatile int bands = 0;
  *held = *frame = 0;
  cinfo.err = err_init(&err);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    *held = *frame = 0;
    return 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  *held = held_bytes(&cinfo);
  if (known_colour(&cinfo)) {
    bands = out_bands(&cinfo);
    *frame = (int64_t)cinfo.image_width * cinfo.image_height * bands;
  }
  jpeg_destroy_decompress(&cinfo);
  return bands;
}

int64_t cur_image_jpeg_held_bytes(const void *buf, size_t len) {
  int64_t held = 0, frame;
  if (cur_image_is_jpeg(buf, len)) header_facts(buf, len, &held, &frame);
  return held;
}

int cur__image_jpeg_frame(const void *buf, size_t len, int64_t *bytes) {
  int64_t held, frame;
  int bands = header_facts(buf, len, &held, &frame);
  *bytes = held + frame;
  return bands;
}

int cur_image_jpeg_decode(const void *buf, size_t len, int64_t max_pixels, cur_image_pixels *out,
                          char *reason, size_t cap) {
  struct jpeg_decompress_struct cinfo;
  check_err err;
  unsigned char *volatile pixels = NULL;  /* volatile: read after longjmp */
  cinfo.err = err_init(&err);
  if (setjmp(err.jump)) {
    snprintf(reason, cap, "cannot decode: %s", err.message);
    jpeg_destroy_decompress(&cinfo);
    cur_free(pixels);
    return CUR_EINPUT;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  int bands = out_bands(&cinfo), rc = CUR_OK;
  int64_t npix = (int64_t)cinfo.image_width * cinfo.image_height;
  if (npix > max_pixels || !known_colour(&cinfo)) {
    if (npix > max_pixels)
      snprintf(reason, cap, "image is %u x %u pixels, over %lld", cinfo.image_width,
               cinfo.image_height, (long long)max_pixels);
    else
      snprintf(reason, cap, "unsupported JPEG colour: %d components", cinfo.num_components);
    jpeg_destroy_decompress(&cinfo);
    return CUR_EINPUT;
  }
  size_t stride = (size_t)cinfo.image_width * (size_t)bands;
  if (!(pixels = cur_mallocarray((size_t)cinfo.image_height, stride))) {
    jpeg_destroy_decompress(&cinfo);
    snprintf(reason, cap, "out of memory");
    return CUR_ENOMEM;
  }
  jpeg_start_decompress(&cinfo);
  /* The rows below are sized from the header; libjpeg must agree on the
  ** shape it writes, or each row would run past its slot. */
  if (cinfo.output_width != cinfo.image_width || cinfo.output_components != bands) {
    snprintf(reason, cap, "cannot decode: %u x %d output for a %u-wide, %d-band image",
             cinfo.output_width, cinfo.output_components, cinfo.image_width, bands);
    jpeg_destroy_decompress(&cinfo);
    cur_free(pixels);
    return CUR_EINPUT;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  if (err.truncated) {
    snprintf(reason, cap, "cannot decode: %s", err.message);
    cur_free(pixels);
    rc = CUR_EINPUT;
  } else {
    *out = (cur_image_pixels){pixels, (int)cinfo.image_width, (int)cinfo.image_height, bands};
  }
  jpeg_destroy_decompress(&cinfo);
  return rc;
}

/* 1 when the file carries an Exif (APP1) or ICC (APP2) segment: libvips
** honours both (rotates by the orientation, converts from the profile), so
** the exact path below must leave such files to it. */
static int has_exif_or_icc(const struct jpeg_decompress_struct *cinfo) {
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 || m->marker == JPEG_APP0 + 2) return 1;
  return 0;
}

int cur_image_jpeg_decode_exact(const void *buf, size_t len, int w, int h, int bands,
                                unsigned char *out) {
  struct jpeg_decompress_struct cinfo;
  check_err err;
  if (!cur_image_is_jpeg(buf, len) || (bands != 1 && bands != 3)) return 0;
  cinfo.err = err_init(&err);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 16);  /* 0 would skip them unrecorded */
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 16);
  jpeg_read_header(&cinfo, TRUE);
  /* only a straight decode: the size, grey for 1 band or YCbCr for 3,
  ** nothing libvips would rotate or colour-convert */
  J_COLOR_SPACE want = bands == 1 ? JCS_GRAYSCALE : JCS_YCbCr;
  int exact = cinfo.image_width == (JDIMENSION)w && cinfo.image_height == (JDIMENSION)h &&
              cinfo.jpeg_color_space == want && cinfo.num_components == bands &&
              !has_exif_or_icc(&cinfo);
  if (exact) {
    cinfo.out_color_space = bands == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    exact = cinfo.output_width == (JDIMENSION)w && cinfo.output_components == bands;
    while (exact && cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = out + (size_t)cinfo.output_scanline * (size_t)w * (size_t)bands;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    if (exact) jpeg_finish_decompress(&cinfo);
    exact = exact && !err.truncated;  /* a truncated file: libvips decides */
  }
  jpeg_destroy_decompress(&cinfo);
  return exact;
}

int cur_image_jpeg_encode(const cur_image_pixels *in, int quality, unsigned char **out,
                          size_t *out_len) {
  static const J_COLOR_SPACE spaces[5] = {JCS_UNKNOWN, JCS_GRAYSCALE, JCS_UNKNOWN, JCS_RGB, JCS_CMYK};
  struct jpeg_compress_struct cinfo;
  check_err err;
  unsigned char *volatile mem = NULL;  /* libjpeg's output buffer (malloc) */
  unsigned long mem_len = 0;
  assert(in && in->bands >= 1 && in->bands <= 4);
  if (spaces[in->bands] == JCS_UNKNOWN)
    return cur_errorc(CUR_EINPUT, "JPEG encode: %d bands (1, 3 or 4)", in->bands);
  cinfo.err = err_init(&err);
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    free(mem);
    return cur_errorc(CUR_ERR, "JPEG encode: %s", err.message);
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, (unsigned char **)&mem, &mem_len);
  cinfo.image_width = (JDIMENSION)in->width;
  cinfo.image_height = (JDIMENSION)in->height;
  cinfo.input_components = in->bands;
  cinfo.in_color_space = spaces[in->bands];
  /* the defaults: YCbCr with 4:2:0 chroma for RGB, Huffman tables not optimised */
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  size_t stride = (size_t)in->width * (size_t)in->bands;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = in->data + (size_t)cinfo.next_scanline * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  unsigned char *copy = cur_malloc(mem_len);
  if (copy) memcpy(copy, mem, mem_len);
  free(mem);
  if (!copy) return CUR_ENOMEM;
  *out = copy;
  *out_len = mem_len;
  return CUR_OK;
}
