/* augment_transform.h -- deterministic random variants of one encoded image.
**
** The augment stage makes each variant in three steps:
**
**   1. cur_augment_sample draws the variant's parameters from a generator
**      seeded by (run seed, parent image id, variant index);
**   2. cur_augment_source_new decodes the parent (JPEG with libjpeg, PNG
**      with libvips) to 8-bit pixels, once for all its variants;
**      cur_augment_make applies one bilinear affine warp (flip, rotate,
**      translate, scale; see cur_augment_matrix), the optional photometric
**      operations, and re-encodes in the parent's format (JPEG or PNG)
**      without metadata (cur_augment_apply does both for one variant);
**   3. cur_augment_params_json records the parameters as canonical JSON.
**
** The same options, seed, id and index give byte-identical output.  The
** options and parameters are plain value structs: nothing here allocates
** except the two functions that say so, whose results the caller frees with
** cur_free.  All functions are safe to call from several threads at once.
*/
#ifndef CURATE_AUGMENT_TRANSFORM_H
#define CURATE_AUGMENT_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

/* How pixels exposed at the borders by the transform are filled. */
typedef enum cur_augment_fill {
  CUR_AUGMENT_FILL_EDGE = 0,  /* "edge": copy the nearest edge pixel */
  CUR_AUGMENT_FILL_BLACK,     /* "black": zero in every band */
  CUR_AUGMENT_FILL_MEAN       /* "mean": the source image's mean colour */
} cur_augment_fill;

/* Encodings the variants are read and written in. */
typedef enum cur_augment_format {
  CUR_AUGMENT_FORMAT_JPEG = 0,
  CUR_AUGMENT_FORMAT_PNG
} cur_augment_format;

/* JPEG variants are written at this quality with 4:2:0 chroma, no metadata. */
#define CUR_AUGMENT_JPEG_QUALITY 90

typedef struct cur_augment_range {
  double min, max;  /* inclusive; min == max means the fixed value */
} cur_augment_range;

/* Configuration, one field per option (see docs/stages/augment.md). */
typedef struct cur_augment_options {
  cur_augment_range rotate_deg;      /* augment.rotate_deg, default [-15, 15] */
  cur_augment_range translate_frac;  /* augment.translate_frac, default [-0.1, 0.1];
                                        drawn separately for x and y */
  cur_augment_range scale;           /* augment.scale, default [0.9, 1.1] */
  double hflip_prob;                 /* augment.hflip_prob, default 0.5 */
  cur_augment_fill fill;             /* augment.fill, default edge */
  double noise_sigma;                /* augment.noise_sigma: largest sigma of
                                        Gaussian noise, pixel units; 0 = off */
  double blur_sigma;                 /* augment.blur_sigma: largest Gaussian
                                        blur sigma in pixels; 0 = off */
  double color_jitter;               /* augment.color_jitter: brightness,
                                        contrast and saturation factors are
                                        drawn from [1-j, 1+j]; 0 = off */
} cur_augment_options;

/* One variant's drawn parameters.  Every double is rounded to 6 decimals,
** so the JSON form (printed with 6 decimals) gives back identical params. */
typedef struct cur_augment_params {
  double angle_deg;    /* counter-clockwise as seen on screen */
  double tx_frac;      /* shift right, as a fraction of the width */
  double ty_frac;      /* shift down, as a fraction of the height */
  double scale;        /* > 1 enlarges about the centre */
  int hflip;           /* 1: mirror left-right before rotating */
  double noise_sigma;  /* 0: no noise */
  uint32_t noise_seed; /* seed of the noise pattern */
  double blur_sigma;   /* 0: no blur */
  double brightness;   /* 1: unchanged */
  double contrast;     /* 1: unchanged */
  double saturation;   /* 1: unchanged */
} cur_augment_params;

/* Options: defaults, validation (CUR_ECONFIG with a message naming the
** option, e.g. "augment.scale: min 1.2 > max 0.9"), fill mode names. */
void cur_augment_options_default(cur_augment_options *o);
int cur_augment_options_validate(const cur_augment_options *o);
int cur_augment_fill_parse(const char *name, cur_augment_fill *out);
const char *cur_augment_fill_name(cur_augment_fill fill);

/* Draws *out from (seed, parent_id, variant_index).  Returns CUR_OK, or
** CUR_ECONFIG for invalid options (then *out is untouched). */
int cur_augment_sample(const cur_augment_options *o, uint64_t seed, int64_t parent_id,
                       int variant_index, cur_augment_params *out);

/* The forward affine map of *p on a width x height image, as
** X = m[0]*x + m[1]*y + m[2],  Y = m[3]*x + m[4]*y + m[5],
** with (x, y) an input pixel and (X, Y) where it lands in the output. */
void cur_augment_matrix(const cur_augment_params *p, int width, int height, double m[6]);

/* A parent image decoded once for several variants: opaque, read-only
** after cur_augment_source_new, so several threads may make variants of it
** at once.  cur_augment_source_new returns CUR_EINPUT for an undecodable
** or unsupported image (JPEG and PNG are read), CUR_ERR or CUR_ENOMEM; on
** success *out is the caller's, freed with cur_augment_source_free
** (NULL-safe). */
typedef struct cur_augment_source cur_augment_source;
int cur_augment_source_new(const unsigned char *encoded, size_t len, cur_augment_source **out);
void cur_augment_source_free(cur_augment_source *src);

/* Makes the variant *p of src, with the outputs and failures of
** cur_augment_apply; the same bytes as cur_augment_apply on the encoded
** parent. */
int cur_augment_make(const cur_augment_source *src, const cur_augment_params *p,
                     const cur_augment_options *o, unsigned char **out, size_t *out_len,
                     cur_augment_format *out_format);

/* Makes one variant of the encoded JPEG or PNG image encoded[0..len).
** On success *out (len *out_len) is a new buffer the caller frees with
** cur_free, in format *out_format, which is the input's.  On failure
** returns CUR_EINPUT (undecodable or unsupported input), CUR_ECONFIG (bad
** options) or CUR_ERR/CUR_ENOMEM, and the out-parameters are untouched. */
int cur_augment_apply(const unsigned char *encoded, size_t len, const cur_augment_params *p,
                      const cur_augment_options *o, unsigned char **out, size_t *out_len,
                      cur_augment_format *out_format);

/* Canonical JSON of *p plus the fill mode of *o: fixed key order, no spaces,
** numbers with exactly 6 decimals.  *json is a new string the caller frees
** with cur_free. */
int cur_augment_params_json(const cur_augment_params *p, const cur_augment_options *o,
                            char **json);

#endif
