/* clip_internal.h -- declarations shared by the files of the CLIP engine.
**
** Not part of the public API (models/clip.h); only models/ and the bench
** include it.
*/
#ifndef CURATE_CLIP_INTERNAL_H
#define CURATE_CLIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- clip_textnorm.c: text clean-up before tokenization ----------------- */

/* Decodes UTF-8 (invalid bytes become U+FFFD), unescapes HTML entities twice,
** collapses whitespace runs to one space, strips both ends and lowercases.
** *out is an array of code points the caller frees with cur_free. */
int clip__text_normalize(const char *text, int32_t **out, size_t *n_out);
/* Python's str.isspace() for one code point. */
int clip__is_space(int32_t c);

#endif
