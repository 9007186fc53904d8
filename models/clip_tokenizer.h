/* clip_tokenizer.h -- CLIP's byte-level BPE tokenizer (vocab.json + merges.txt).
**
** Reproduces openai/CLIP simple_tokenizer.py without the ftfy repair step:
** HTML unescape (twice), whitespace collapse, lowercase, the split into
** contractions / letter runs / single digits / symbol runs by Unicode
** category, byte-level BPE, then start and end tokens, zero padding and
** truncation that keeps the end token last.
*/
#ifndef CURATE_CLIP_TOKENIZER_H
#define CURATE_CLIP_TOKENIZER_H

#include <stdint.h>

#define CLIP_CONTEXT_LEN 77

typedef struct clip_tokenizer clip_tokenizer;

/* Loads dir/vocab.json and dir/merges.txt.  The caller frees *out with
** clip_tokenizer_free. */
int clip_tokenizer_open(const char *dir, clip_tokenizer **out);
void clip_tokenizer_free(clip_tokenizer *t);

/* Tokenizes UTF-8 text into exactly `context` ids (caller's array):
** <start> tokens... <end> then 0 padding; an over-long text is cut so that the
** end token stays last.  Invalid UTF-8 bytes read as U+FFFD.  Returns the
** position of the end token through *eot_pos when it is not NULL. */
int clip_tokenizer_encode(const clip_tokenizer *t, const char *text, int context,
                          int32_t *ids, int *eot_pos);

/* Ids of the start and end tokens. */
int32_t clip_tokenizer_sot(const clip_tokenizer *t);
int32_t clip_tokenizer_eot(const clip_tokenizer *t);

#endif
