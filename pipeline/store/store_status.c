/* store_status.c -- SQL behind `curate status`: counts by split, class and reason. */
#include "internal.h"
#include "store_split.h"
#include "store_status.h"

static cJSON *column_json(sqlite3_stmt *s, int c) {
  switch (sqlite3_column_type(s, c)) {
  case SQLITE_INTEGER: return cJSON_CreateNumber((double)sqlite3_column_int64(s, c));
  case SQLITE_FLOAT: return cJSON_CreateNumber(sqlite3_column_double(s, c));
  case SQLITE_NULL: return cJSON_CreateNull();
  default: return cJSON_CreateString((const char *)sqlite3_column_text(s, c));
  }
}

int cur__rows_json(cur_store *st, sqlite3_stmt *s, cJSON *arr) {
  int rc = CUR_OK, step;
  while (rc == CUR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    cJSON *row = cJSON_CreateObject();
    if (!row || !cJSON_AddItemToArray(arr, row)) {
      cJSON_Delete(row);
      rc = cur_errorc(CUR_ENOMEM, "out of memory");
      break;
    }
    for (int c = 0; rc == CUR_OK && c < sqlite3_column_count(s); c++) {
      cJSON *v = column_json(s, c);
      if (!v || !cJSON_AddItemToObject(row, sqlite3_column_name(s, c), v)) {
        cJSON_Delete(v);
        rc = cur_errorc(CUR_ENOMEM, "out of memory");
      }
    }
  }
  if (rc == CUR_OK && step != SQLITE_DONE) rc = cur__db_error(st, "reading rows");
  sqlite3_reset(s);
  return rc;
}

/* Runs SQL and appends its rows to a new array KEY of OUT. */
static int rows_to_array(cur_store *st, const char *sql, cJSON *out, const char *key) {
  sqlite3_stmt *s = cur__stmt(st, sql);
  if (!s) return CUR_EDB;
  cJSON *arr = cJSON_AddArrayToObject(out, key);
  if (!arr) return cur_errorc(CUR_ENOMEM, "out of memory");
  return cur__rows_json(st, s, arr);
}

int cur_store_status(cur_store *st, cJSON *out) {
  int rc;
  if ((rc = rows_to_array(st,
                          "SELECT split, count(*) AS images, sum(status = 'ok') AS ok, "
                          "sum(status = 'quarantined') AS quarantined, "
                          "sum(parent_id IS NOT NULL) AS derived "
                          "FROM images GROUP BY split ORDER BY "
                          "CASE split WHEN 'train' THEN 0 WHEN 'val' THEN 1 ELSE 2 END",
                          out, "splits")))
    return rc;
  if ((rc = rows_to_array(st,
                          "SELECT t.name AS task, i.split AS split, "
                          "coalesce(cb.class, '(unlabelled)') AS class, count(*) AS images "
                          "FROM images i CROSS JOIN tasks t "
                          "LEFT JOIN current_labels cb ON cb.image_id = i.id AND cb.task_id = t.id "
                          "WHERE i.status = 'ok' AND EXISTS (SELECT 1 FROM labels l WHERE l.task_id = t.id) "
                          "GROUP BY t.name, i.split, cb.class ORDER BY t.name, "
                          "cb.class IS NULL, cb.class, "
                          "CASE i.split WHEN 'train' THEN 0 WHEN 'val' THEN 1 ELSE 2 END",
                          out, "classes")))
    return rc;
  /* original ok rows only: what evaluation can use, before augmentation */
  if ((rc = rows_to_array(st,
                          "SELECT t.name AS task, cl.class AS class, sum(i.split = 'train') AS train, "
                          "sum(i.split = 'val') AS val, sum(i.split = 'test') AS test "
                          "FROM current_labels cl JOIN tasks t ON t.id = cl.task_id "
                          "JOIN images i ON i.id = cl.image_id "
                          "WHERE i.status = 'ok' AND i.parent_id IS NULL AND cl.class_id IS NOT NULL "
                          "GROUP BY t.name, cl.class ORDER BY t.name, cl.class",
                          out, "split_health")))
    return rc;
  int64_t provisional = 0;
  if ((rc = cur_store_split_unplaced(st, &provisional))) return rc;
  if (!cJSON_AddNumberToObject(out, "unplaced", (double)provisional))
    return cur_errorc(CUR_ENOMEM, "out of memory");
  if ((rc = rows_to_array(st,
                          "SELECT status_reason AS reason, count(*) AS images FROM images "
                          "WHERE status = 'quarantined' GROUP BY status_reason ORDER BY 2 DESC, 1",
                          out, "quarantined")))
    return rc;
  if ((rc = rows_to_array(st,
                          "SELECT reason, count(*) AS entries FROM source_entries "
                          "WHERE outcome = 'rejected' GROUP BY reason ORDER BY 2 DESC, 1",
                          out, "rejected")))
    return rc;
  return rows_to_array(st,
                       "SELECT reason, review_status, count(*) AS count FROM flagged "
                       "GROUP BY reason, review_status ORDER BY reason, review_status",
                       out, "flags");
}
