/* store.h -- the SQLite store: opening, schema version, transactions, the writer lock.
**
** The domain verbs (images, labels, runs, status ...) are declared in the
** store_*.h headers beside this one; all SQL of curate lives in store*.c.
*/
#ifndef CURATE_STORE_H
#define CURATE_STORE_H

#include <stdint.h>

#define CUR_SCHEMA_VERSION 7

typedef struct cur_store cur_store;

/* A deterministic share of the images, for sharded work (store_shard.h):
** those whose id modulo COUNT is INDEX.  CUR_SHARE_ALL is every image. */
typedef struct cur_share {
  int64_t count, index;
} cur_share;
#define CUR_SHARE_ALL ((cur_share){1, 0})

/* Creates the schema in PATH (a new or empty database).  An already
** initialised database of this version is opened as it is and *created is 0. */
int cur_store_init(const char *path, cur_store **out, int *created);
/* Opens an initialised database; CUR_ESCHEMA when made by another version,
** CUR_ESTATE when it does not exist or holds no curate schema. */
int cur_store_open(const char *path, cur_store **out);
/* Opens an initialised database read-only (SQLite's mode=ro): nothing is
** written and no lock blocks the writer or other readers.  For shards. */
int cur_store_open_readonly(const char *path, cur_store **out);
void cur_store_close(cur_store *st);
/* The database file's absolute path (for commands curate starts); owned by ST. */
const char *cur_store_file(cur_store *st);

/* Takes the exclusive writer lock (flock on the database file): one curate
** process writes at a time.  Readers such as the sqlite3 shell are not
** affected.  Released by cur_store_close or process exit, even on SIGKILL. */
int cur_store_lock(cur_store *st);
/* Releases the writer lock before close (a long-lived process between writes). */
void cur_store_unlock(cur_store *st);

int cur_store_begin(cur_store *st);
int cur_store_commit(cur_store *st);
void cur_store_rollback(cur_store *st);
/* 1 while a transaction begun with cur_store_begin is open. */
int cur_store_in_transaction(cur_store *st);

#endif
