/* store_cache.c -- the store's prepared-statement cache, keyed by SQL text.
**
** Every store_*.c function asks for its statement by its SQL text.  The
** cache is an open-addressing hash table (FNV-1a of the text, linear
** probing, at most half full) owning a copy of each text, so the key does
** not depend on where the compiler put a literal, and a text built at run
** time gets its own statement.  Nothing is evicted: the set of texts is the
** code's, and evicting once finalized a statement a caller was stepping.
*/
#include "internal.h"

#include <string.h>

static uint64_t text_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a, 64 bits */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* The slot holding SQL, or the empty slot where it would go. */
static cur__stmt_slot *find(cur__stmt_slot *slots, size_t cap, const char *sql, uint64_t hash) {
  size_t i = (size_t)hash & (cap - 1);
  while (slots[i].sql && (slots[i].hash != hash || strcmp(slots[i].sql, sql) != 0))
    i = (i + 1) & (cap - 1);
  return &slots[i];
}

/* Doubles the table (64 slots at first), rehashing what it holds. */
static int grow(cur_store *st) {
  size_t cap = st->cap_stmts ? st->cap_stmts * 2 : 64;
  cur__stmt_slot *slots = cur_calloc(cap, sizeof *slots);
  if (!slots) return CUR_ENOMEM;
  for (size_t i = 0; i < st->cap_stmts; i++)
    if (st->stmts[i].sql) *find(slots, cap, st->stmts[i].sql, st->stmts[i].hash) = st->stmts[i];
  cur_free(st->stmts);
  st->stmts = slots;
  st->cap_stmts = cap;
  return CUR_OK;
}

sqlite3_stmt *cur__stmt(cur_store *st, const char *sql) {
  uint64_t hash = text_hash(sql);
  cur__stmt_slot *slot = st->cap_stmts ? find(st->stmts, st->cap_stmts, sql, hash) : NULL;
  if (slot && slot->sql) {
    if (sqlite3_stmt_busy(slot->stmt)) {
      cur_errorc(CUR_EDB, "%s: statement still being read by its caller: %s", st->path, sql);
      return NULL;
    }
    sqlite3_reset(slot->stmt);
    sqlite3_clear_bindings(slot->stmt);
    return slot->stmt;
  }
  if (2 * (st->n_stmts + 1) > st->cap_stmts) {
    if (grow(st)) return NULL;
  }
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
    cur__db_error(st, "cannot prepare statement");
    return NULL;
  }
  char *copy = cur_strdup(sql);
  if (!copy) {
    sqlite3_finalize(s);
    return NULL;
  }
  slot = find(st->stmts, st->cap_stmts, sql, hash);
  *slot = (cur__stmt_slot){copy, hash, s};
  st->n_stmts++;
  return s;
}

void cur__stmt_cache_free(cur_store *st) {
  for (size_t i = 0; i < st->cap_stmts; i++) {
    if (!st->stmts[i].sql) continue;
    sqlite3_finalize(st->stmts[i].stmt);
    cur_free(st->stmts[i].sql);
  }
  cur_free(st->stmts);
  st->stmts = NULL;
  st->n_stmts = st->cap_stmts = 0;
}
