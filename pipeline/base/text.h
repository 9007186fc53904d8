/* text.h -- text from files and names curate does not control: UTF-8 checks,
** a printable form for terminals and logs, and JSON that stays valid.
**
** Labels, archive names and configuration strings may hold any bytes.  What
** is stored must be valid UTF-8 (checked where it enters), what is printed
** has its control characters escaped (a label must not be able to move the
** cursor or retitle the terminal), and what is written as JSON is valid
** UTF-8 even when the database holds bytes from elsewhere.
*/
#ifndef CURATE_TEXT_H
#define CURATE_TEXT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence at S (1 to 4), or 0 when S does not
** start one (a stray continuation byte, an overlong form, a surrogate, past
** U+10FFFF, or cut short). */
size_t cur_utf8_len(const char *s);
/* NULL when S is valid UTF-8, else its first bad byte. */
const char *cur_utf8_invalid(const char *s);

/* S with every control character (C0, DEL, C1) and every byte of invalid
** UTF-8 written \xNN, into OUT (CAP bytes, truncated, always terminated);
** returns OUT.  What printing to a terminal or a log goes through. */
char *cur_text_printable(const char *s, char *out, size_t cap);
/* Writes S to F in that printable form, without a length limit. */
void cur_text_print(FILE *f, const char *s);

/* Member KEY of object O when it is a number (a string), else DEFAULT:
** for reading back the JSON the store builds for printing. */
double cur_json_num(const cJSON *o, const char *key, double dflt);
const char *cur_json_str(const cJSON *o, const char *key, const char *dflt);

/* What V is, for messages: "a string", "an array", ..., "null". */
const char *cur_json_kind(const cJSON *v);

/* Replaces every string inside V (values, not keys) by its printable form,
** before V is printed as text; CUR_OK or CUR_ENOMEM. */
int cur_json_make_printable(cJSON *v);

/* 1 when an object inside V holds a key twice, with the key's dotted path
** (from V) written into PATH; else 0. */
int cur_json_duplicate_key(const cJSON *v, char *path, size_t cap);
/* V as JSON text (indented when FORMATTED) in which any byte of invalid
** UTF-8 a string brought along is replaced by U+FFFD; the caller frees it
** with cur_free.  NULL (message set) when out of memory. */
char *cur_json_print(const cJSON *v, int formatted);

#endif
