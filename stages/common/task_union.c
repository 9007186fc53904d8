/* task_union.c -- the labelled rows of several tasks as one multi-task training set.
**
** A merge of T lists sorted by image id: each step takes the smallest id at
** the head of any list, so the union comes out ascending and each part's
** rows map to it in order.  An image part 0 has keeps its row of part 0's
** matrix; one it lacks is queued (where its values are) and its row
** appended once the merge knows how many there are: one realloc, no
** second copy of the rows part 0 already holds.
*/
#include "task_union.h"

#include <string.h>

#include "curate.h"

void cur_task_union_free(cur_task_union *u) {
  if (!u) return;
  cur_free(u->ids);
  cur_free(u->y);
  cur_free(u->X);
  cur_free(u->row);
  for (int t = 0; t < HEAD_MAX_TASKS; t++) cur_free(u->at[t]);
  memset(u, 0, sizeof *u);
}

head_rows cur_task_union_rows(const cur_task_union *u) {
  return (head_rows){.half = u->X, .rows = u->rows, .d = u->dim, .idx = u->row, .n = u->n};
}

/* Rows of the union: at most the parts' rows together; *extra (the rows of
** images part 0 lacks, at most the other parts' rows) receives where each
** one's values are. */
static int alloc_union(const cur_task_part *parts, int T, cur_task_union *u, const uint16_t ***extra) {
  size_t cap = 1, others = 1;
  for (int t = 0; t < T; t++) cap += (size_t)parts[t].n, others += t ? (size_t)parts[t].n : 0;
  u->T = T;
  u->ids = cur_mallocarray(cap, sizeof *u->ids);
  u->y = cur_mallocarray(cap, (size_t)T * sizeof *u->y);
  u->row = cur_mallocarray(cap, sizeof *u->row);
  *extra = cur_mallocarray(others, sizeof **extra);
  int ok = u->ids && u->y && u->row && *extra;
  for (int t = 0; ok && t < T; t++)
    ok = (u->at[t] = cur_mallocarray((size_t)parts[t].n + 1, sizeof *u->at[t])) != NULL;
  return ok ? CUR_OK : CUR_ENOMEM;
}

/* Appends the NE rows EXTRA points at to the union's matrix. */
static int append_rows(cur_task_union *u, const uint16_t **extra, size_t ne) {
  if (ne == 0) return CUR_OK;
  size_t d = (size_t)u->dim;
  uint16_t *X = cur_reallocarray(u->X, u->rows + ne, d * sizeof *X);
  if (!X) return CUR_ENOMEM;
  for (size_t e = 0; e < ne; e++) memcpy(X + (u->rows + e) * d, extra[e], d * sizeof *X);
  u->X = X;
  u->rows += ne;
  return CUR_OK;
}

int cur_task_union_build(const cur_task_part *parts, int T, int dim, uint16_t **X0,
                         cur_task_union *out) {
  memset(out, 0, sizeof *out);
  out->X = *X0;  /* taken over first: the union frees it whatever happens */
  *X0 = NULL;
  out->rows = (size_t)parts[0].n;
  out->dim = dim;
  if (T < 2 || T > HEAD_MAX_TASKS)
    return cur_errorc(CUR_EINPUT, "multi-task rows: %d tasks, expected 2 to %d", T, HEAD_MAX_TASKS);
  const uint16_t **extra = NULL;
  size_t ne = 0;
  int next[HEAD_MAX_TASKS] = {0}, rc = alloc_union(parts, T, out, &extra);
  while (rc == CUR_OK) {
    int64_t id = INT64_MAX;
    int any = 0;
    for (int t = 0; t < T; t++)
      if (next[t] < parts[t].n && (!any || parts[t].ids[next[t]] < id))
        id = parts[t].ids[next[t]], any = 1;
    if (!any) break;
    int row = out->n++, placed = 0;
    out->ids[row] = id;
    for (int t = 0; t < T; t++) {
      const cur_task_part *p = &parts[t];
      int j = next[t], has = j < p->n && p->ids[j] == id;
      out->y[(size_t)row * T + t] = has ? p->y[j] : -1;
      if (!has) continue;
      if (!placed) {  /* the first part holding the image gives its values */
        placed = 1;
        out->row[row] = t == 0 ? (uint32_t)j : (uint32_t)(out->rows + ne);
        if (t > 0) extra[ne++] = p->X + (size_t)j * dim;
      }
      out->at[t][j] = row;
      if (++next[t] < p->n && p->ids[next[t]] <= id)
        rc = cur_errorc(CUR_EINPUT, "multi-task rows: task %d's image ids are not ascending at "
                        "image %lld", t, (long long)p->ids[next[t]]);
    }
  }
  if (rc == CUR_OK) rc = append_rows(out, extra, ne);
  cur_free(extra);
  return rc;
}
