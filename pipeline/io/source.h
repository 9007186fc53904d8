/* source.h -- reading images out of an ingest source: a folder, an archive
** (tar, tar.gz, tar.xz, zip ... through libarchive, never extracted to disk)
** or IDX files (the MNIST format).
**
** A reader yields entries in a fixed order (sorted folder walk, archive
** order, IDX index order), so that an ingest killed and resumed sees them
** in the same order.  Entries that must not be read (absolute paths, "..",
** links leaving the source) come back with a reject reason and no data.
*/
#ifndef CURATE_SOURCE_H
#define CURATE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

typedef struct cur_entry {
  char *path;            /* inside the source, '/'-separated, display form (pathutil.h) */
  unsigned char *data;   /* the file's bytes; NULL when not read */
  size_t len;
  int64_t size;          /* the file's size, also when not read */
  const char *reject;    /* static reason when the entry is rejected, else NULL */
  int retry;             /* the reject depends on the file system around the entry
                         ** (permissions, a link), not on its bytes: read it again
                         ** on re-ingest */
  char *label;           /* class name the source itself gives (IDX), or NULL */
  const char *split;     /* split the source itself gives (IDX), or NULL */
} cur_entry;

typedef struct cur_source cur_source;

/* Decides what URI is: "folder", "archive" or "idx" (a folder holding
** *-images-idx3-ubyte[.gz] files, or one such file). */
int cur_source_kind(const char *uri, const char **kind);
/* Opens URI of KIND.  Entries over MAX_BYTES are yielded without data.
** CLASS_NAMES (may be NULL) names IDX classes by index. */
int cur_source_open(const char *uri, const char *kind, int64_t max_bytes,
                    char *const *class_names, int n_class_names, cur_source **out);
/* Yields the next entry into E (cleared first).  WANT(ctx, path) says
** whether to read the entry's bytes.  Returns 1 with an entry, 0 at the end,
** or a negative code when the source itself cannot be read further (E is
** then left empty). */
int cur_source_next(cur_source *src, cur_entry *e,
                    int (*want)(void *ctx, const char *path), void *ctx);
/* The number of entries when known without reading them (folders), else -1. */
int64_t cur_source_count(const cur_source *src);
void cur_source_close(cur_source *src);
void cur_entry_clear(cur_entry *e);
/* Adds what ingest would read of the source URI to H (for fingerprints): a
** file's size and time; a folder's image and folder names, down the tree,
** not its times (a database kept in it writes there).  A path that cannot
** be read adds its error instead: a moved source changes the fingerprint
** rather than failing it. */
int cur_source_stamp(const char *uri, cur_sha256 *h);
/* The same for a label or box file or folder: every file's name, size and
** time. */
int cur_file_stamp(const char *path, cur_sha256 *h);

#endif
