/* store_labels.c -- SQL for tasks, classes, labels and flags. */
#include "internal.h"
#include "store_labels.h"

#include <stdio.h>

int cur_store_task_find(cur_store *st, const char *name, int64_t *id, int *found) {
  return cur__query_i64(st, "SELECT id FROM tasks WHERE name = ?1", id, found, "t", name);
}

int cur_store_task_ensure(cur_store *st, const char *name, int64_t *id) {
  int found;
  int rc = cur__exec(st, "INSERT OR IGNORE INTO tasks(name) VALUES (?1)", "t", name);
  if (rc) return rc;
  rc = cur_store_task_find(st, name, id, &found);
  if (rc == CUR_OK && !found) rc = cur_errorc(CUR_EDB, "%s: task %s vanished", st->path, name);
  return rc;
}

int cur_store_class_name(cur_store *st, int64_t class_id, char *buf, size_t cap) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT name FROM classes WHERE id = ?1");
  int rc = s ? cur__bind(st, s, "i", class_id) : CUR_EDB;
  if (rc) return rc;
  int step = sqlite3_step(s);
  if (step == SQLITE_ROW) snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(s, 0));
  else rc = step == SQLITE_DONE ? cur_errorc(CUR_EDB, "%s: no class %lld", st->path,
                                             (long long)class_id)
                                : cur__db_error(st, "reading a class name");
  sqlite3_reset(s);
  return rc;
}

int cur_store_class_find(cur_store *st, int64_t task_id, const char *name, int64_t *id, int *found) {
  return cur__query_i64(st, "SELECT id FROM classes WHERE task_id = ?1 AND name = ?2", id, found,
                        "it", task_id, name);
}

int cur_store_class_count(cur_store *st, int64_t task_id, int64_t *n) {
  int found;
  return cur__query_i64(st, "SELECT count(*) FROM classes WHERE task_id = ?1", n, &found, "i",
                        task_id);
}

int cur_store_class_add(cur_store *st, int64_t task_id, const char *name, int64_t *id) {
  int rc = cur__exec(st,
                     "INSERT INTO classes(task_id, idx, name) VALUES "
                     "(?1, (SELECT count(*) FROM classes WHERE task_id = ?1), ?2)",
                     "it", task_id, name);
  if (rc) return rc;
  *id = sqlite3_last_insert_rowid(st->db);
  return CUR_OK;
}

int cur_store_label_latest(cur_store *st, int64_t image_id, int64_t task_id, const char *source,
                           int64_t *class_id, int *found) {
  *class_id = 0;
  return cur__query_i64(st,
                        "SELECT coalesce(class_id, 0) FROM standing_labels WHERE image_id = ?1 "
                        "AND task_id = ?2 AND source = ?3 ORDER BY id DESC LIMIT 1",
                        class_id, found, "iit", image_id, task_id, source);
}

int cur_store_label_add(cur_store *st, int64_t image_id, int64_t task_id, int64_t class_id,
                        const char *source, double confidence, int64_t run_id) {
  return cur__exec(st,
                   "INSERT INTO labels(image_id, task_id, class_id, source, confidence, run_id) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                   "iioteo", image_id, task_id, class_id, source, confidence, run_id);
}

int cur_store_flag_exists(cur_store *st, int64_t image_id, int64_t task_id, const char *reason,
                          int64_t suggested_class_id, int *found) {
  int64_t one;
  return cur__query_i64(st,
                        "SELECT 1 FROM flags WHERE image_id = ?1 AND task_id = ?2 AND reason = ?3 "
                        "AND suggested_class_id IS ?4",
                        &one, found, "iito", image_id, task_id, reason, suggested_class_id);
}

int cur_store_flag_add(cur_store *st, int64_t run_id, const char *reason, int64_t image_id,
                       int64_t task_id, double score, int64_t suggested_class_id,
                       const char *detail) {
  return cur__exec(st,
                   "INSERT OR IGNORE INTO flags(run_id, reason, image_id, task_id, score, "
                   "suggested_class_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                   "itiieot", run_id, reason, image_id, task_id, score, suggested_class_id, detail);
}

void cur_store_names_free(char **names, int n) {
  for (int i = 0; names && i < n; i++) cur_free(names[i]);
  cur_free(names);
}

int cur_store_tasks_listed(cur_store *st, const cJSON *names, const char *option,
                           int (*fn)(void *ctx, int64_t id, const char *name), void *ctx) {
  const cJSON *t;
  cJSON_ArrayForEach(t, names) {
    int64_t id;
    int found, rc = cur_store_task_find(st, t->valuestring, &id, &found);
    if (rc == CUR_OK && !found)
      rc = cur_errorc(CUR_ECONFIG, "%s: no task named \"%s\"", option, t->valuestring);
    if (rc == CUR_OK) rc = fn(ctx, id, t->valuestring);
    if (rc) return rc;
  }
  return CUR_OK;
}

int cur_store_tasks_each(cur_store *st, int (*fn)(void *ctx, int64_t id, const char *name), void *ctx) {
  sqlite3_stmt *s = cur__stmt(st, "SELECT id, name FROM tasks ORDER BY id");
  if (!s) return CUR_EDB;
  /* the rows are copied out first: FN may run other statements */
  int64_t *ids = NULL;
  char **names = NULL;
  int n = 0, cap = 0, rc = CUR_OK, step = SQLITE_DONE;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      int64_t *gi = cur_reallocarray(ids, (size_t)cap, sizeof *ids);
      if (gi) ids = gi;
      char **gn = gi ? cur_reallocarray(names, (size_t)cap, sizeof *names) : NULL;
      if (!gn) { rc = CUR_ENOMEM; break; }
      names = gn;
    }
    ids[n] = sqlite3_column_int64(s, 0);
    names[n++] = cur__column_dup(s, 1, &rc);
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading tasks");
  sqlite3_reset(s);
  for (int i = 0; i < n; i++)
    if (rc == CUR_OK) rc = fn(ctx, ids[i], names[i]);
  cur_store_names_free(names, n);
  cur_free(ids);
  return rc;
}

int cur_store_class_names(cur_store *st, int64_t task_id, char ***names, int *n) {
  int64_t count;
  int rc = cur_store_class_count(st, task_id, &count), got = 0, step = SQLITE_DONE;
  if (rc) return rc;
  char **out = cur_calloc((size_t)count + 1, sizeof *out);
  sqlite3_stmt *s = out ? cur__stmt(st, "SELECT name FROM classes WHERE task_id = ?1 ORDER BY idx") : NULL;
  if (!s) {
    cur_free(out);
    return out ? CUR_EDB : CUR_ENOMEM;
  }
  rc = cur__bind(st, s, "i", task_id);
  while (rc == CUR_OK && got < count && (step = sqlite3_step(s)) == SQLITE_ROW)
    out[got++] = cur__column_dup(s, 0, &rc);
  if (rc == CUR_OK && got < count) rc = cur__db_error(st, "reading classes");
  sqlite3_reset(s);
  if (rc) {
    cur_store_names_free(out, got);
    return rc;
  }
  *names = out;
  *n = got;
  return CUR_OK;
}

int cur_store_label_given(cur_store *st, int64_t image_id, int64_t task_id, int64_t *class_id,
                          char source[16], int *found) {
  /* current_labels' order without the teacher, on the (image, task) index */
  sqlite3_stmt *s = cur__stmt(st, "SELECT coalesce(class_id, 0), source FROM standing_labels "
                                   "WHERE image_id = ?1 AND task_id = ?2 AND source <> 'teacher' "
                                   "ORDER BY CASE source WHEN 'review' THEN 0 WHEN 'human' THEN 1 "
                                   "ELSE 2 END, id DESC LIMIT 1");
  if (!s) return CUR_EDB;
  int rc = cur__bind(st, s, "ii", image_id, task_id), step = rc ? SQLITE_DONE : sqlite3_step(s);
  *found = step == SQLITE_ROW;
  if (*found) {
    *class_id = sqlite3_column_int64(s, 0);
    snprintf(source, 16, "%s", (const char *)sqlite3_column_text(s, 1));
  } else if (rc == CUR_OK && step != SQLITE_DONE) {
    rc = cur__db_error(st, "reading the current label");
  }
  sqlite3_reset(s);
  return rc;
}

int cur_store_score_add(cur_store *st, int64_t run_id, const char *kind, int64_t image_id,
                        int64_t task_id, double value, int64_t suggested_class_id) {
  return cur__exec(st,
                   "INSERT OR IGNORE INTO scores(run_id, kind, image_id, task_id, value, "
                   "suggested_class_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                   "itiido", run_id, kind, image_id, task_id, value, suggested_class_id);
}

int cur_store_run_rows(cur_store *st, int64_t run_id, const char *label_source,
                       const char *flag_reason, const char *score_kind, int64_t *n) {
  int found;
  if (label_source)
    return cur__query_i64(st, "SELECT count(*) FROM labels WHERE run_id = ?1 AND source = ?2", n,
                          &found, "it", run_id, label_source);
  if (flag_reason)
    return cur__query_i64(st, "SELECT count(*) FROM flags WHERE run_id = ?1 AND reason = ?2", n,
                          &found, "it", run_id, flag_reason);
  return cur__query_i64(st, "SELECT count(*) FROM scores WHERE run_id = ?1 AND kind = ?2", n,
                        &found, "it", run_id, score_kind);
}
