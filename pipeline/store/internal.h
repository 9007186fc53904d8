/* internal.h -- what the store_*.c files share: the store struct and the
** statement helpers.  Nothing outside pipeline/store/ includes it
** (scripts/check-layers refuses it). */
#ifndef CURATE_INTERNAL_H
#define CURATE_INTERNAL_H

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "curate.h"
#include "store.h"

/* One prepared statement of the cache, keyed by its SQL text. */
typedef struct cur__stmt_slot {
  char *sql;                            /* a copy of the text; NULL: empty slot */
  uint64_t hash;
  sqlite3_stmt *stmt;
} cur__stmt_slot;

struct cur_store {
  sqlite3 *db;
  char *path;
  int lock_fd;                          /* -1 until cur_store_lock */
  int locked;                           /* 1 while the flock is held */
  cur__stmt_slot *stmts;                /* open addressing, cap a power of two */
  size_t n_stmts, cap_stmts;
};

/* Opens PATH with sqlite3_open_v2 FLAGS, runs PRAGMAS, and returns a store
** around the connection (no schema check): the database, or a shard file. */
int cur__connect(const char *path, int flags, const char *pragmas, cur_store **out);
/* Returns the connection's prepared statement for SQL's text, reset with its
** bindings cleared, or NULL with the message set.  Statements are kept until
** the store closes (the code holds a fixed set of SQL texts, so the cache
** never needs to evict one a caller may still be stepping).  Asking for a
** statement that a caller is still stepping is an error, not a reset under
** that caller's feet. */
sqlite3_stmt *cur__stmt(cur_store *st, const char *sql);
/* Finalizes every cached statement (cur_store_close). */
void cur__stmt_cache_free(cur_store *st);
/* Binds parameters 1..n from a format: i int64, o int64 bound NULL when <= 0,
** d double, e double bound NULL when NaN, t text (NULL binds NULL),
** b blob (const void *, int64 length). */
int cur__bind(cur_store *st, sqlite3_stmt *s, const char *fmt, ...);
/* Prepares, binds and steps a statement that returns no rows. */
int cur__exec(cur_store *st, const char *sql, const char *fmt, ...);
/* Runs a query whose first column of the first row is an integer; *found
** says whether a row came back (*out untouched when not). */
int cur__query_i64(cur_store *st, const char *sql, int64_t *out, int *found,
                   const char *fmt, ...);
/* Runs SQL, which takes a run id and returns (name, count) rows, and calls
** FN for each row. */
int cur__group_counts(cur_store *st, const char *sql, int64_t run_id,
                      void (*fn)(void *ctx, const char *name, int64_t n), void *ctx);
/* Sets the message from SQLite's and returns CUR_EDB. */
int cur__db_error(cur_store *st, const char *what);
/* Steps S, whose columns are (parent id, variant, bytes, format, source
** path, split, group key, width, height, bands), calling FN with each row
** as a variant job; resets S.  WHAT names the read in an error. */
struct cur_variant_job;
int cur__variant_jobs(cur_store *st, sqlite3_stmt *s, const char *what,
                      int (*fn)(void *ctx, const struct cur_variant_job *job), void *ctx);
/* Steps the bound statement S and appends one object per row to ARR, keyed
** by column name: integers and reals as numbers, NULL as null, the rest as
** text.  Resets S. */
int cur__rows_json(cur_store *st, sqlite3_stmt *s, cJSON *arr);
/* SQL true when image P (an alias of images) is a box crop's scene: some
** original row's transform names it as $.crop.parent (ingest --boxes).
** A scene is where objects were found, not an example of one class, so the
** unlabelled images pseudolabel, prelabel and UDA label or train on leave
** it out.  An IN over the list of scenes, not a correlated EXISTS: SQLite
** builds the list once, from the partial index images_crop_scene alone
** (INDEXED BY: the planner preferred images_parent, which reads every
** top-level image; per image, as the EXISTS ran, that was quadratic:
** pseudolabel took 2,087 s of CPU at 10^5 images). */
#define CUR__CROP_SCENE(p)                                                                  \
  "(" p ".id IN (SELECT json_extract(c.transform, '$.crop.parent') "                          \
  "              FROM images c INDEXED BY images_crop_scene "                                 \
  "              WHERE c.parent_id IS NULL AND c.transform IS NOT NULL "                      \
  "                AND json_extract(c.transform, '$.crop.parent') IS NOT NULL))"

/* Duplicates a column's text (NULL stays NULL); *err set on allocation failure. */
char *cur__column_dup(sqlite3_stmt *s, int col, int *err);

#endif
