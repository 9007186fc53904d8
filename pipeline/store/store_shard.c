/* store_shard.c -- shard files: SQL of the file a shard writes and `curate merge` reads.
**
** Invariants:
**   1. A file at a shard's final path is complete: it is written under
**      PATH.tmp-PID in one transaction, its digest stored last, and renamed
**      only after it is on disk.
**   2. A shard is read only after it passed every check: application id and
**      format version, SQLite's quick_check, one dimension for all vectors,
**      each vector's length against it, and the digest recomputed over
**      every row.  So a truncated,
**      corrupt or hand-edited file is refused by name before anything of it
**      reaches the database.
*/
#include "internal.h"
#include "store_shard.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

#define SHARD_APP_ID 0x43555253  /* "CURS" */
#define SHARD_FORMAT 2          /* 2: the variants table (augment shards) */
#define DIGEST_KEY "digest"
#define MAX_DIM (1 << 20)       /* far above any model's; a bigger one is a broken file */

struct cur_shard {
  cur_store *db;      /* the shard file's connection */
  char *path;         /* its final path */
  char *tmp;          /* while being written: the temporary path; NULL when read */
  cJSON *meta;        /* when read: key -> value */
};

static const char shard_schema[] =
    "PRAGMA application_id = 1129665107; PRAGMA user_version = 2;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE vectors(image_id INTEGER PRIMARY KEY, dim INTEGER NOT NULL, vector BLOB NOT NULL);"
    "CREATE TABLE failed(image_id INTEGER PRIMARY KEY, reason TEXT NOT NULL);"
    "CREATE TABLE blobs(key TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL, "
    "                   data BLOB NOT NULL);"
    "CREATE TABLE variants(parent_id INTEGER NOT NULL, variant INTEGER NOT NULL, "
    "                      error TEXT, format TEXT, sha256 TEXT, transform TEXT, bytes BLOB, "
    "                      PRIMARY KEY (parent_id, variant));";

_Static_assert(SHARD_FORMAT == 2, "the schema text spells the format version");
_Static_assert(SHARD_APP_ID == 1129665107, "the schema text spells the application id");

void cur_shard_close(cur_shard *sh) {
  if (!sh) return;
  cur_store_close(sh->db);
  if (sh->tmp) unlink(sh->tmp);
  cur_free(sh->tmp);
  cur_free(sh->path);
  cJSON_Delete(sh->meta);
  cur_free(sh);
}

/* Removes the temporary files PATH.tmp-PID that shards of PATH killed
** before finishing left behind (a process of that id no longer runs here);
** those of a live process are left to it.  A rerun of the shard cleans up
** after the run that died. */
static int remove_stale_temps(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? cur_asprintf("%.*s", (int)(slash - path + 1), path) : cur_strdup(".");
  char *prefix = cur_asprintf("%s.tmp-", slash ? slash + 1 : path);
  DIR *d = dir && prefix ? opendir(dir) : NULL;
  int rc = !dir || !prefix ? CUR_ENOMEM : CUR_OK;
  for (struct dirent *e; d && rc == CUR_OK && (e = readdir(d));) {
    size_t n = strlen(prefix);
    char *end;
    if (strncmp(e->d_name, prefix, n) != 0 || !e->d_name[n]) continue;
    long pid = strtol(e->d_name + n, &end, 10);
    if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    char *stale = cur_asprintf("%s%s", slash ? dir : "", e->d_name);
    if (!stale) rc = CUR_ENOMEM;
    else if (unlink(stale) == 0) cur_info("removed %s, left by a shard that was killed", stale);
    else if (errno != ENOENT) rc = cur_errorc(CUR_EIO, "%s: cannot remove: %s", stale, strerror(errno));
    cur_free(stale);
  }
  if (d) closedir(d);
  cur_free(dir);
  cur_free(prefix);
  return rc;
}

int cur_shard_create(const char *path, cur_shard **out) {
  cur_shard *sh = cur_calloc(1, sizeof *sh);
  int rc = sh ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK && (!(sh->path = cur_strdup(path)) ||
                       !(sh->tmp = cur_asprintf("%s.tmp-%ld", path, (long)getpid()))))
    rc = CUR_ENOMEM;
  if (rc == CUR_OK && unlink(sh->tmp) != 0 && errno != ENOENT)
    rc = cur_errorc(CUR_EIO, "%s: cannot remove: %s", sh->tmp, strerror(errno));
  if (rc == CUR_OK) rc = remove_stale_temps(path);
  /* no journal: a shard that fails is deleted whole, never rolled back */
  if (rc == CUR_OK)
    rc = cur__connect(sh->tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", &sh->db);
  if (rc == CUR_OK && sqlite3_exec(sh->db->db, shard_schema, NULL, NULL, NULL) != SQLITE_OK)
    rc = cur__db_error(sh->db, "creating the shard file");
  if (rc == CUR_OK) rc = cur_store_begin(sh->db);
  if (rc) {
    cur_shard_close(sh);
    return rc;
  }
  *out = sh;
  return CUR_OK;
}

int cur_shard_meta_put(cur_shard *sh, const char *key, const char *value) {
  return cur__exec(sh->db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)", "tt", key, value);
}

int cur_shard_vector_put(cur_shard *sh, int64_t image_id, int dim, const void *vector, size_t len) {
  return cur__exec(sh->db, "INSERT INTO vectors(image_id, dim, vector) VALUES (?1, ?2, ?3)", "iib",
                   image_id, (int64_t)dim, vector, (int64_t)len);
}

int cur_shard_failed_put(cur_shard *sh, int64_t image_id, const char *reason, int *added) {
  int rc = cur__exec(sh->db, "INSERT INTO failed(image_id, reason) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                     "it", image_id, reason);
  *added = rc == CUR_OK && sqlite3_changes(sh->db->db) > 0;
  return rc;
}

int cur_shard_blob_put(cur_shard *sh, const char *key, const char *kind, const char *config,
                       const void *data, size_t len) {
  return cur__exec(sh->db, "INSERT INTO blobs(key, kind, config, data) VALUES (?1, ?2, ?3, ?4)", "tttb",
                   key, kind, config, data, (int64_t)len);
}

int cur_shard_variant_put(cur_shard *sh, const cur_shard_variant *v) {
  return cur__exec(sh->db,
                   "INSERT INTO variants(parent_id, variant, error, format, sha256, transform, bytes) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                   "iittttb", v->parent_id, (int64_t)v->variant, v->error, v->format, v->sha256,
                   v->transform, v->bytes, (int64_t)v->len);
}

int cur_shard_variants(cur_shard *sh, int (*fn)(void *ctx, const cur_shard_variant *v), void *ctx) {
  sqlite3_stmt *s = cur__stmt(sh->db, "SELECT parent_id, variant, error, format, sha256, transform, bytes "
                                      "FROM variants ORDER BY parent_id, variant");
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    cur_shard_variant v = {
        .parent_id = sqlite3_column_int64(s, 0), .variant = sqlite3_column_int(s, 1),
        .error = (const char *)sqlite3_column_text(s, 2), .format = (const char *)sqlite3_column_text(s, 3),
        .sha256 = (const char *)sqlite3_column_text(s, 4),
        .transform = (const char *)sqlite3_column_text(s, 5), .bytes = sqlite3_column_blob(s, 6),
        .len = (size_t)sqlite3_column_bytes(s, 6)};
    /* a made variant has all of these (the digest vouches for the rest) */
    if (!v.error && (!v.format || !v.sha256 || strlen(v.sha256) != 64 || !v.transform || !v.len))
      rc = cur_errorc(CUR_EINPUT, "%s: variant %d of image %lld: a row missing its bytes or fields",
                      sh->path, v.variant, (long long)v.parent_id);
    else rc = fn(ctx, &v);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(sh->db, "reading the shard's variants");
  sqlite3_reset(s);
  return rc;
}

/* Adds every row of the cached statement SQL to H, column by column
** (integers, and text or blobs with their length), checking vectors'
** lengths on the way when CHECK_VECTORS. */
static int digest_rows(cur_shard *sh, const char *sql, int check_vectors, cur_sha256 *h) {
  sqlite3_stmt *s = cur__stmt(sh->db, sql);
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step, cols = sqlite3_column_count(s);
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    for (int c = 0; c < cols; c++) {
      if (sqlite3_column_type(s, c) == SQLITE_INTEGER) {
        cur_sha256_i64(h, sqlite3_column_int64(s, c));
        continue;
      }
      const void *p = sqlite3_column_blob(s, c);
      int64_t n = sqlite3_column_bytes(s, c);
      cur_sha256_i64(h, n);
      if (n) cur_sha256_update(h, p, (size_t)n);
    }
    int64_t dim = check_vectors ? sqlite3_column_int64(s, 1) : 0;
    if (check_vectors && (dim <= 0 || dim > MAX_DIM || sqlite3_column_bytes(s, 2) != 2 * dim))
      rc = cur_errorc(CUR_EINPUT, "%s: image %lld: a vector of %d bytes for %lld values", sh->path,
                      (long long)sqlite3_column_int64(s, 0), sqlite3_column_bytes(s, 2), (long long)dim);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(sh->db, "reading the shard");
  sqlite3_reset(s);
  return rc;
}

/* The digest of everything in the shard but the digest itself. */
static int digest(cur_shard *sh, char hex[65]) {
  cur_sha256 h;
  cur_sha256_init(&h);
  int rc = digest_rows(sh, "SELECT key, value FROM meta WHERE key != 'digest' ORDER BY key", 0, &h);
  if (rc == CUR_OK)
    rc = digest_rows(sh, "SELECT image_id, dim, vector FROM vectors ORDER BY image_id", 1, &h);
  if (rc == CUR_OK) rc = digest_rows(sh, "SELECT image_id, reason FROM failed ORDER BY image_id", 0, &h);
  if (rc == CUR_OK) rc = digest_rows(sh, "SELECT key, kind, config, data FROM blobs ORDER BY key", 0, &h);
  if (rc == CUR_OK)
    rc = digest_rows(sh, "SELECT parent_id, variant, error, format, sha256, transform, bytes "
                         "FROM variants ORDER BY parent_id, variant", 0, &h);
  if (rc == CUR_OK) cur_sha256_hex(&h, hex);
  return rc;
}

/* fsync of a finished file, so the rename never points at missing pages. */
static int sync_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int rc = fd >= 0 && fsync(fd) == 0 ? CUR_OK : cur_errorc(CUR_EIO, "%s: cannot sync: %s", path, strerror(errno));
  if (fd >= 0) close(fd);
  return rc;
}

int cur_shard_finish(cur_shard *sh) {
  char hex[65];
  assert(sh->tmp);
  int rc = digest(sh, hex);
  if (rc == CUR_OK) rc = cur_shard_meta_put(sh, DIGEST_KEY, hex);
  if (rc == CUR_OK) rc = cur_store_commit(sh->db);
  cur_store_close(sh->db);
  sh->db = NULL;
  if (rc == CUR_OK) rc = sync_file(sh->tmp);
  if (rc == CUR_OK && rename(sh->tmp, sh->path) != 0)
    rc = cur_errorc(CUR_EIO, "%s: cannot rename to %s: %s", sh->tmp, sh->path, strerror(errno));
  if (rc == CUR_OK) {
    cur_free(sh->tmp);
    sh->tmp = NULL;
  }
  return rc;
}

/* Reads the meta table into SH->meta. */
static int load_meta(cur_shard *sh) {
  sqlite3_stmt *s = cur__stmt(sh->db, "SELECT key, value FROM meta");
  if (!s) return CUR_EDB;
  int rc = (sh->meta = cJSON_CreateObject()) ? CUR_OK : CUR_ENOMEM, step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(s, 0);
    const char *value = (const char *)sqlite3_column_text(s, 1);
    if (!key || !value) rc = cur_errorc(CUR_EINPUT, "%s: a meta row without key or value", sh->path);
    else if (!cJSON_AddStringToObject(sh->meta, key, value)) rc = CUR_ENOMEM;
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(sh->db, "reading the shard's meta");
  sqlite3_reset(s);
  return rc;
}

/* The checks of invariant 2. */
static int check_shard(cur_shard *sh) {
  int64_t app = 0, format = 0;
  int found;
  char hex[65];
  int rc = cur__query_i64(sh->db, "PRAGMA application_id", &app, &found, "");
  if (rc == CUR_OK && app != SHARD_APP_ID)
    return cur_errorc(CUR_EINPUT, "%s: not a curate shard file", sh->path);
  if (rc == CUR_OK) rc = cur__query_i64(sh->db, "PRAGMA user_version", &format, &found, "");
  if (rc == CUR_OK && format != SHARD_FORMAT)
    return cur_errorc(CUR_EINPUT, "%s: shard format %lld, this curate reads format %d", sh->path,
                      (long long)format, SHARD_FORMAT);
  sqlite3_stmt *s = rc == CUR_OK ? cur__stmt(sh->db, "PRAGMA quick_check") : NULL;
  if (rc == CUR_OK && !s) rc = CUR_EDB;
  if (rc == CUR_OK) {
    int step = sqlite3_step(s);
    const char *verdict = step == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    if (!verdict || strcmp(verdict, "ok") != 0)
      rc = cur_errorc(CUR_EINPUT, "%s: the shard file is damaged: %s", sh->path,
                      verdict ? verdict : sqlite3_errmsg(sh->db->db));
    sqlite3_reset(s);
  }
  int64_t dims = 0;
  if (rc == CUR_OK) rc = cur__query_i64(sh->db, "SELECT count(DISTINCT dim) FROM vectors", &dims, &found, "");
  if (rc == CUR_OK && dims > 1)
    return cur_errorc(CUR_EINPUT, "%s: vectors of %lld different lengths in one shard", sh->path, (long long)dims);
  if (rc == CUR_OK) rc = load_meta(sh);
  if (rc == CUR_OK) rc = digest(sh, hex);
  const char *stored = rc == CUR_OK ? cur_shard_meta(sh, DIGEST_KEY) : NULL;
  if (rc == CUR_OK && (!stored || strcmp(stored, hex) != 0))
    rc = cur_errorc(CUR_EINPUT, "%s: %s", sh->path,
                    stored ? "its contents do not match their digest (changed or damaged since it was written)"
                           : "no digest: the shard was never finished");
  return rc;
}

int cur_shard_open(const char *path, cur_shard **out) {
  if (access(path, R_OK) != 0) return cur_errorc(CUR_EINPUT, "%s: %s", path, strerror(errno));
  cur_shard *sh = cur_calloc(1, sizeof *sh);
  int rc = sh ? CUR_OK : CUR_ENOMEM;
  if (rc == CUR_OK && !(sh->path = cur_strdup(path))) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = cur__connect(path, SQLITE_OPEN_READONLY, "PRAGMA query_only=1;", &sh->db);
  if (rc == CUR_OK) rc = check_shard(sh);
  if (rc) {
    /* SQLite's "file is not a database" and the like, with the file named */
    if (rc == CUR_EDB) cur_errorc(CUR_EINPUT, "%s: not a readable shard file (%s)", path, cur_error());
    cur_shard_close(sh);
    return rc == CUR_EDB ? CUR_EINPUT : rc;
  }
  *out = sh;
  return CUR_OK;
}

const char *cur_shard_path(const cur_shard *sh) { return sh->path; }

const char *cur_shard_meta(const cur_shard *sh, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sh->meta, key));
}

int cur_shard_blobs(cur_shard *sh, cur_shard_blob_fn fn, void *ctx) {
  sqlite3_stmt *s = cur__stmt(sh->db, "SELECT key, kind, config, data FROM blobs ORDER BY key");
  if (!s) return CUR_EDB;
  int rc = CUR_OK, step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
            (const char *)sqlite3_column_text(s, 2), sqlite3_column_blob(s, 3),
            (size_t)sqlite3_column_bytes(s, 3));
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(sh->db, "reading the shard's blobs");
  sqlite3_reset(s);
  return rc;
}

/* Inserts one vector unless (MODEL, ID) is there or the image is not ok. */
static int import_vector(cur_store *st, sqlite3_stmt *row, const char *model, int64_t run_id,
                         int64_t *added) {
  int rc = cur__exec(st,
                     "INSERT INTO embeddings(image_id, model, dim, vector, run_id) "
                     "SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS "
                     "(SELECT 1 FROM images WHERE id = ?1 AND status = 'ok') ON CONFLICT DO NOTHING",
                     "itibi", sqlite3_column_int64(row, 0), model, sqlite3_column_int64(row, 1),
                     sqlite3_column_blob(row, 2), (int64_t)sqlite3_column_bytes(row, 2), run_id);
  if (rc == CUR_OK) *added += sqlite3_changes(st->db);
  return rc;
}

int cur_shard_import_embeddings(cur_shard *sh, cur_store *st, const char *model, int64_t run_id,
                                int (*failed)(void *ctx, int64_t id, const char *reason),
                                void *ctx, int64_t *added) {
  sqlite3_stmt *s = cur__stmt(sh->db, "SELECT image_id, dim, vector FROM vectors ORDER BY image_id");
  int rc = s ? CUR_OK : CUR_EDB, step = SQLITE_DONE;
  *added = 0;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
    rc = import_vector(st, s, model, run_id, added);
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(sh->db, "reading the shard's vectors");
  if (s) sqlite3_reset(s);
  s = rc == CUR_OK ? cur__stmt(sh->db, "SELECT image_id, reason FROM failed ORDER BY image_id") : NULL;
  if (rc == CUR_OK && !s) rc = CUR_EDB;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(s, 0), ok = 0;
    int found;
    rc = cur__query_i64(st, "SELECT count(*) FROM images WHERE id = ?1 AND status = 'ok'", &ok, &found,
                        "i", id);
    if (rc == CUR_OK && ok) rc = failed(ctx, id, (const char *)sqlite3_column_text(s, 1));
  }
  if (rc == CUR_OK && s && step != SQLITE_DONE) rc = cur__db_error(sh->db, "reading the shard's failures");
  if (s) sqlite3_reset(s);
  return rc;
}
