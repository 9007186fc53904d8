/* store.c -- opening the SQLite store, applying schema.sql, transactions,
** the writer lock and the prepared-statement cache.
**
** Invariants:
**   1. Every connection runs in WAL mode with a busy timeout, so a reviewer's
**      sqlite3 session reads while a stage writes.
**   2. Every statement is prepared once per connection and cached by its
**      SQL text (store_cache.c); values are always bound, never spliced.
**   3. A database whose user_version differs from CUR_SCHEMA_VERSION is
**      never written to, except by a migration from the version before
**      (pipeline/store/migrations/<version>.sql, one transaction: all of it or nothing).
**   4. A cur_store is used by one thread at a time.
*/
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

extern const char cur_schema_sql[];
extern const char cur_migrate_4_sql[], cur_migrate_5_sql[], cur_migrate_6_sql[], cur_migrate_7_sql[];

#define BUSY_TIMEOUT_MS 10000

/* SQLite says "attempt to write a readonly database" when any of the three
** files cannot be written, often a -shm or -wal left behind by another user:
** name the one, so the fix is plain. */
static void readonly_hint(const cur_store *st, char *out, size_t cap) {
  static const char *const suffixes[] = {"", "-wal", "-shm"};
  out[0] = 0;
  for (size_t i = 0; i < CUR_ARRAY_LEN(suffixes); i++) {
    char file[4096];
    snprintf(file, sizeof file, "%s%s", st->path, suffixes[i]);
    if (access(file, F_OK) == 0 && access(file, W_OK) != 0) {
      snprintf(out, cap, " (%s is read-only: fix its permissions, or remove it if no curate or "
               "sqlite3 is using the database)", file);
      return;
    }
  }
}

int cur__db_error(cur_store *st, const char *what) {
  char hint[4200] = "";
  if ((sqlite3_errcode(st->db) & 0xff) == SQLITE_READONLY) readonly_hint(st, hint, sizeof hint);
  return cur_errorc(CUR_EDB, "%s: %s: %s%s", st->path, what, sqlite3_errmsg(st->db), hint);
}

/* The pragmas of a connection to the database (the comment in
** cur__connect says why each). */
static const char db_pragmas[] =
    "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "PRAGMA wal_autocheckpoint=8192; PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768;";

int cur__connect(const char *path, int flags, const char *pragmas, cur_store **out) {
  cur_store *st = cur_calloc(1, sizeof *st);
  if (!st) return CUR_ENOMEM;
  st->lock_fd = -1;
  st->path = cur_strdup(path);
  if (!st->path) {
    cur_free(st);
    return CUR_ENOMEM;
  }
  /* a store belongs to one thread (workers never touch it), so SQLite's
  ** per-call mutexes are pure cost */
  if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    int rc = cur_errorc(CUR_EDB, "%s: cannot open database: %s", path,
                        st->db ? sqlite3_errmsg(st->db) : "out of memory");
    cur_store_close(st);
    return rc;
  }
  sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(st->db, 1);
  /* page_size applies only to a new file: 16 KiB pages suit a table of
  ** image blobs (fewer overflow pages and writes).  WAL: readers never block
  ** the writer and see only committed batches; synchronous=NORMAL is durable
  ** across process crashes in WAL mode.  A checkpoint every 8192 pages
  ** (128 MiB) instead of 1000: each one waits for an fsync, which stalled
  ** ingest's recording thread every few batches. */
  if (sqlite3_exec(st->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    int rc = cur__db_error(st, "cannot set up the connection");
    cur_store_close(st);
    return rc;
  }
  *out = st;
  return CUR_OK;
}

static int schema_version(cur_store *st, int64_t *version, int64_t *tables) {
  int found;
  int rc = cur__query_i64(st, "PRAGMA user_version", version, &found, "");
  if (rc) return rc;
  return cur__query_i64(st, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                        tables, &found, "");
}

static int check_version(cur_store *st, int64_t version, int64_t tables) {
  if (version == CUR_SCHEMA_VERSION) return CUR_OK;
  if (version == 0 && tables == 0)
    return cur_errorc(CUR_ESTATE, "%s: not a curate database yet: run `curate init`", st->path);
  if (version == 0)
    return cur_errorc(CUR_ESCHEMA, "%s: not a curate database (it has tables but no curate "
                      "schema version)", st->path);
  return cur_errorc(CUR_ESCHEMA, "%s: database schema version %lld, this curate uses version %d: "
                    "%s", st->path, (long long)version, CUR_SCHEMA_VERSION,
                    version < CUR_SCHEMA_VERSION
                        ? "it was made by an older curate; start a new database with `curate init`"
                        : "it was made by a newer curate; upgrade curate to use it");
}

int cur_store_init(const char *path, cur_store **out, int *created) {
  cur_store *st;
  int64_t version = 0, tables = 0;
  int rc = cur__connect(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, db_pragmas, &st);
  if (rc) return rc;
  rc = schema_version(st, &version, &tables);
  if (rc) goto cleanup;
  *created = 0;
  if (version == 0 && tables == 0) {
    char *err = NULL;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
      rc = cur__db_error(st, "cannot start the schema transaction");
      goto cleanup;
    }
    if (sqlite3_exec(st->db, cur_schema_sql, NULL, NULL, &err) != SQLITE_OK) {
      rc = cur_errorc(CUR_EDB, "%s: applying schema.sql: %s", path, err ? err : "?");
      sqlite3_free(err);
      sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
      goto cleanup;
    }
    if ((rc = cur_store_commit(st))) goto cleanup;
    *created = 1;
  } else if ((rc = check_version(st, version, tables))) {
    goto cleanup;
  }
  *out = st;
  return CUR_OK;
cleanup:
  cur_store_close(st);
  return rc;
}

/* The migrations, each from the version before it, and what each adds. */
static const struct {
  const char *sql, *what;
} migrations[] = {
    [4] = {cur_migrate_4_sql, "the audit stage's tables"},
    [5] = {cur_migrate_5_sql, "review undo and the train stage's predictions"},
    [6] = {cur_migrate_6_sql, "the audit's pHash views: image statistics are measured again"},
    [7] = {cur_migrate_7_sql, "an index of box crops' scenes"},
};

/* Brings a database of version 3 or later up to CUR_SCHEMA_VERSION, each
** step in one transaction. */
static int migrate(cur_store *st, int64_t *version) {
  _Static_assert(CUR_ARRAY_LEN(migrations) == CUR_SCHEMA_VERSION + 1, "a migration per version");
  while (*version >= 3 && *version < CUR_SCHEMA_VERSION) {
    int64_t to = *version + 1;
    char *err = NULL;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
      return cur__db_error(st, "cannot start a schema migration");
    if (sqlite3_exec(st->db, migrations[to].sql, NULL, NULL, &err) != SQLITE_OK) {
      int rc = cur_errorc(CUR_EDB, "%s: migrating to schema version %lld: %s", st->path,
                          (long long)to, err ? err : "?");
      sqlite3_free(err);
      sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
      return rc;
    }
    int rc = cur_store_commit(st);
    if (rc) return rc;
    cur_info("%s: migrated from schema version %lld to %lld (%s)", st->path, (long long)*version,
             (long long)to, migrations[to].what);
    *version = to;
  }
  return CUR_OK;
}

/* Opens PATH with FLAGS and PRAGMAS and checks its schema version. */
static int open_existing(const char *path, int flags, const char *pragmas, cur_store **out) {
  cur_store *st;
  int64_t version = 0, tables = 0;
  if (access(path, F_OK) != 0)
    return cur_errorc(CUR_ESTATE, "%s: no such database: run `curate init` first", path);
  int rc = cur__connect(path, flags, pragmas, &st);
  if (rc) return rc;
  if ((rc = schema_version(st, &version, &tables)) || (rc = migrate(st, &version)) ||
      (rc = check_version(st, version, tables))) {
    cur_store_close(st);
    return rc;
  }
  *out = st;
  return CUR_OK;
}

int cur_store_open(const char *path, cur_store **out) {
  return open_existing(path, SQLITE_OPEN_READWRITE, db_pragmas, out);
}

int cur_store_open_readonly(const char *path, cur_store **out) {
  /* SQLITE_OPEN_READONLY is the URI's mode=ro: no write, no write lock, so
  ** any number of shard processes read at once.  The journal mode stays the
  ** file's (a read-only connection cannot change it); query_only makes a
  ** write a clear error even where the file itself is writable. */
  return open_existing(path, SQLITE_OPEN_READONLY,
                       "PRAGMA query_only=1; PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768;", out);
}

void cur_store_close(cur_store *st) {
  if (!st) return;
  cur__stmt_cache_free(st);
  if (st->db) sqlite3_close(st->db);
  if (st->lock_fd >= 0) close(st->lock_fd);
  cur_free(st->path);
  cur_free(st);
}

const char *cur_store_file(cur_store *st) {
  const char *file = sqlite3_db_filename(st->db, "main");
  return file && file[0] ? file : st->path;
}

int cur_store_lock(cur_store *st) {
  if (st->locked) return CUR_OK;
  /* the descriptor stays open until cur_store_close: closing any descriptor
  ** of the file drops every POSIX lock the process holds on it, SQLite's
  ** included, which a long-lived process with several connections (curate
  ** serve) cannot afford between decisions */
  int fd = st->lock_fd >= 0 ? st->lock_fd : open(st->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cur_errorc(CUR_EIO, "%s: cannot open for locking: %s", st->path, strerror(errno));
  st->lock_fd = fd;
  /* flock locks are separate from SQLite's POSIX record locks on Linux, so
  ** this only excludes other curate writers. */
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int busy = errno == EWOULDBLOCK;
    return cur_errorc(CUR_ESTATE, "%s: %s", st->path,
                      busy ? "another curate process is writing to this database; wait for it "
                             "to finish" : "cannot lock the database file");
  }
  st->locked = 1;
  return CUR_OK;
}

void cur_store_unlock(cur_store *st) {
  if (!st->locked) return;
  flock(st->lock_fd, LOCK_UN);
  st->locked = 0;
}

int cur_store_begin(cur_store *st) {
  /* IMMEDIATE takes the write lock up front, so a batch never fails halfway
  ** with SQLITE_BUSY after doing its work. */
  if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return cur__db_error(st, "cannot begin a transaction");
  return CUR_OK;
}

int cur_store_commit(cur_store *st) {
  if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    int rc = cur__db_error(st, "cannot commit");
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  return CUR_OK;
}

int cur_store_in_transaction(cur_store *st) {
  return !sqlite3_get_autocommit(st->db);
}

void cur_store_rollback(cur_store *st) {
  if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int bind_va(cur_store *st, sqlite3_stmt *s, const char *fmt, va_list ap) {
  int rc = SQLITE_OK;
  for (int i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
    switch (*fmt) {
    case 'i': rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t)); break;
    case 'o': {
      int64_t v = va_arg(ap, int64_t);
      rc = v > 0 ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
      break;
    }
    case 'd': rc = sqlite3_bind_double(s, i, va_arg(ap, double)); break;
    case 'e': {
      double v = va_arg(ap, double);
      rc = isnan(v) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
      break;
    }
    case 't': {
      const char *v = va_arg(ap, const char *);
      rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
      break;
    }
    case 'b': {
      const void *p = va_arg(ap, const void *);
      int64_t n = va_arg(ap, int64_t);
      rc = p ? sqlite3_bind_blob64(s, i, p, (sqlite3_uint64)n, SQLITE_STATIC)
             : sqlite3_bind_null(s, i);
      break;
    }
    default: return cur_errorf("store: bad bind format '%c'", *fmt);
    }
  }
  return rc == SQLITE_OK ? CUR_OK : cur__db_error(st, "cannot bind a parameter");
}

int cur__bind(cur_store *st, sqlite3_stmt *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = bind_va(st, s, fmt, ap);
  va_end(ap);
  return rc;
}

/* The cached statement for SQL with its parameters bound, or NULL (message set). */
static sqlite3_stmt *bound(cur_store *st, const char *sql, const char *fmt, va_list ap) {
  sqlite3_stmt *s = cur__stmt(st, sql);
  return s && bind_va(st, s, fmt, ap) == CUR_OK ? s : NULL;
}

int cur__exec(cur_store *st, const char *sql, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_stmt *s = bound(st, sql, fmt, ap);
  va_end(ap);
  if (!s) return CUR_EDB;
  int step = sqlite3_step(s);
  int rc = (step == SQLITE_DONE || step == SQLITE_ROW) ? CUR_OK : cur__db_error(st, "statement failed");
  sqlite3_reset(s);
  return rc;
}

int cur__query_i64(cur_store *st, const char *sql, int64_t *out, int *found,
                   const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sqlite3_stmt *s = bound(st, sql, fmt, ap);
  va_end(ap);
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step = sqlite3_step(s);
  *found = step == SQLITE_ROW;
  if (step == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
  else if (step != SQLITE_DONE) rc = cur__db_error(st, "query failed");
  sqlite3_reset(s);
  return rc;
}

int cur__group_counts(cur_store *st, const char *sql, int64_t run_id,
                      void (*fn)(void *ctx, const char *name, int64_t n), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, sql);
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "i", run_id), step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    fn(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "counting");
  sqlite3_reset(s);
  return rc;
}

char *cur__column_dup(sqlite3_stmt *s, int col, int *err) {
  const char *t = (const char *)sqlite3_column_text(s, col);
  if (!t) return NULL;
  char *d = cur_strdup(t);
  if (!d) *err = CUR_ENOMEM;
  return d;
}
