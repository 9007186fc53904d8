/* image.h -- image I/O shared by the stages: libvips start-up and validation. */
#ifndef CURATE_IMAGE_H
#define CURATE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cur_image_info {
  char format[16];   /* jpeg, png, webp, ... */
  int width, height, bands;
} cur_image_info;

/* Starts libvips once per process (thread-safe), with its operation cache
** off: curate decodes each image once, so caching only costs memory. */
int cur_image_init(void);
/* Decodes BUF fully to prove it is a sound image of at most MAX_PIXELS.
** CUR_OK fills INFO; CUR_EINPUT writes why it is not into REASON (the
** image is to be quarantined).  Safe to call from several threads. */
int cur_image_probe(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                    char *reason, size_t reason_cap);

/* Decodes that must hold a whole frame (a progressive or multi-scan JPEG's
** coefficients, libvips' loaders for GIF, HEIF, ...) take turns once their
** memory estimate passes CUR_IMAGE_BIG_DECODE: one at a time in the
** process, so that ingest's peak memory is bounded by its options (threads
** x small decodes + one large one), not by what the files declare.
** cur_image_big_enter returns 1 when it took the turn, which the caller
** hands back with cur_image_big_leave (0 is a no-op). */
#define CUR_IMAGE_BIG_DECODE ((int64_t)64 << 20)
int cur_image_big_enter(int64_t estimate_bytes);
void cur_image_big_leave(int taken);
/* The bytes a decoder of BUF must hold whatever the output size: a
** progressive or multi-scan JPEG's coefficients (2 bytes a sample), read
** from its header; 0 for anything else or a header libjpeg refuses. */
int64_t cur_image_jpeg_held_bytes(const void *buf, size_t len);

/* 8-bit interleaved pixels, rows without padding; data is cur_malloc'd
** and belongs to whoever holds the struct (cur_free). */
typedef struct cur_image_pixels {
  unsigned char *data;
  int width, height, bands;
} cur_image_pixels;

/* Decodes BUF (the first frame) of at most MAX_PIXELS fully into *OUT as
** 8-bit samples, 1 to 4 bands, in the stored orientation (no EXIF
** rotation).  CUR_EINPUT (not an image, corrupt, truncated, too large)
** writes why into REASON; *OUT is set only on CUR_OK (image_crop.c). */
int cur_image_decode_pixels(const void *buf, size_t len, int64_t max_pixels, cur_image_pixels *out,
                            char *reason, size_t reason_cap);
/* Copies RECT = {left, top, width, height} of IN into a new *OUT (the
** caller frees out->data); CUR_EINPUT when RECT is not inside IN. */
int cur_image_crop(const cur_image_pixels *in, const int rect[4], cur_image_pixels *out);

/* The JPEG fast path of cur_image_probe (image_jpeg.c). */
int cur_image_is_jpeg(const void *buf, size_t len);
int cur_image_probe_jpeg(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                         char *reason, size_t reason_cap);

/* The PNG path of cur_image_probe (image_png.c), and a PNG encoder for
** IN's 1 to 4 bands at libpng's default compression; *OUT is a new buffer
** the caller frees with cur_free. */
int cur_image_is_png(const void *buf, size_t len);
int cur_image_probe_png(const void *buf, size_t len, int64_t max_pixels, cur_image_info *info,
                        char *reason, size_t reason_cap);
int cur_image_png_encode(const cur_image_pixels *in, unsigned char **out, size_t *out_len);
/* Decodes a PNG into OUT (W x H x BANDS, BANDS 1 or 3) when that is a
** straight copy: the PNG is W x H with 8-bit grey (1) or RGB (3) samples, no
** palette, alpha or non-sRGB colour space.  Returns 1 when it did, 0 when
** the caller must convert (or the file is not sound: its decoder says why). */
int cur_image_png_decode_exact(const void *buf, size_t len, int w, int h, int bands,
                               unsigned char *out);

/* Decodes a JPEG of at most MAX_PIXELS fully into *OUT: one band for grey,
** four for CMYK, else RGB.  CUR_EINPUT (corrupt, truncated, too large)
** writes why into REASON; *OUT is set only on CUR_OK. */
int cur_image_jpeg_decode(const void *buf, size_t len, int64_t max_pixels, cur_image_pixels *out,
                          char *reason, size_t reason_cap);
/* Decodes a JPEG into OUT (W x H x BANDS, BANDS 1 or 3) when that is what
** libvips' thumbnail to W x H would give without resizing: the JPEG is
** W x H, grey (1) or YCbCr (3), with no Exif or ICC segment (which libvips
** would honour) and not truncated.  Returns 1 when it did, 0 when the
** caller must go through libvips (OUT may then hold partial rows). */
int cur_image_jpeg_decode_exact(const void *buf, size_t len, int w, int h, int bands,
                                unsigned char *out);
/* Encodes IN (1, 3 or 4 bands) as baseline JPEG at QUALITY with libjpeg's
** defaults (4:2:0 chroma for colour), no metadata but the JFIF header: equal
** pixels give equal bytes.  *OUT is a new buffer the caller frees with
** cur_free. */
int cur_image_jpeg_encode(const cur_image_pixels *in, int quality, unsigned char **out,
                          size_t *out_len);

/* A JPEG (quality 82, no metadata) of BUF at most SIZE pixels on its
** longer side, never enlarged, made by shrinking while loading; ID names
** the image in the message of CUR_EINPUT.  *JPEG is the caller's to free
** with cur_free. */
int cur_image_thumbnail_jpeg(int64_t id, const unsigned char *bytes, size_t n, int size,
                             unsigned char **jpeg, size_t *len);

#endif
