/* fuzz_archive.c -- archive bytes (tar, zip, gzip, xz ... whatever libarchive
** reads) through ingest's entry reader.
**
** The input is written to a file, opened as an "archive" source and read to
** the end by cur_entry_reader, as ingest reads it: batches of a few entries,
** names checked, oversized entries left unread.  On top of not crashing, it
** holds the reader to its promise: an entry that is not rejected has a safe
** relative path, and its bytes, when read, stay within the size limit.
*/
#include "fuzz_targets.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "curate.h"
#include "entry_reader.h"
#include "source.h"
#include "strmap.h"

/* Small enough that a decompression bomb costs milliseconds. */
#define FUZZ_MAX_BYTES (1 << 20)

/* True when C starts the \xNN escape cur_path_display writes for a byte
** that is not UTF-8 (a raw "\x" is written "\\x", so its backslash is
** followed by another). */
static int escape_at(const char *c) {
  return c[0] == '\\' && c[1] == 'x' && isxdigit((unsigned char)c[2]) &&
         isxdigit((unsigned char)c[3]);
}

/* True when display path P starts at the root or has a ".." component.  Not
** cur_path_unsafe, which judges raw names: in the display form a backslash
** may start an \xNN escape of a non-UTF-8 byte, part of its component
** ("\x9Cat/a.gif" and "..\xF4/a.jpg" are safe); any other backslash
** separates components, as in raw names. */
static int leaves_source(const char *p) {
  if (p[0] == '/') return 1;
  const char *c = p;
  while (*c) {
    const char *end = c;
    while (*end && *end != '/' && (*end != '\\' || escape_at(end))) end += escape_at(end) ? 4 : 1;
    if (end - c == 2 && c[0] == '.' && c[1] == '.') return 1;
    c = *end ? end + 1 : end;
  }
  return 0;
}

/* Checks one batch's promises; returns the batch's error code. */
static int check_batch(const cur_batch *b) {
  for (int i = 0; i < b->n; i++) {
    const cur_entry *e = &b->entries[i];
    if (!e->path) abort();
    if (!e->reject && leaves_source(e->path)) abort();        /* unsafe name let through */
    if (e->reject && e->data) abort();                        /* rejected yet read */
    if (e->data && e->len > FUZZ_MAX_BYTES) abort();          /* over the limit yet read */
  }
  return b->rc;
}

int fuzz_archive(const uint8_t *data, size_t size) {
  char path[4200];
  cur_source *src = NULL;
  cur_strmap *recorded = cur_strmap_new();
  cur_entry_reader *reader = NULL;
  int rc = recorded ? fuzz_scratch_file("input.archive", data, size, path, sizeof path) : CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur_source_open(path, "archive", FUZZ_MAX_BYTES, NULL, 0, &src);
  if (rc == CUR_OK)
    rc = cur_entry_reader_start(src, recorded, 4, FUZZ_MAX_BYTES, 0, NULL, NULL, 1, &reader);
  for (cur_batch *b; rc == CUR_OK && (b = cur_entry_reader_next(reader));) {
    rc = check_batch(b);
    cur_entry_reader_release(reader, b);
  }
  cur_entry_reader_stop(reader);
  cur_source_close(src);
  cur_strmap_free(recorded);
  return rc;
}
