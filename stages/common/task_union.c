/* task_union.c -- the labelled rows of several tasks as one multi-task training set.
**
** A merge of T lists sorted by image id: each step takes the smallest id at
** the head of any list, so the union comes out ascending and each part's
** rows map to it in order.
*/
#include "task_union.h"

#include <string.h>

#include "curate.h"

void cur_task_union_free(cur_task_union *u) {
  if (!u) return;
  cur_free(u->ids);
  cur_free(u->y);
  cur_free(u->X);
  for (int t = 0; t < HEAD_MAX_TASKS; t++) cur_free(u->at[t]);
  memset(u, 0, sizeof *u);
}

/* Rows of the union: at most the parts' rows together. */
static int alloc_union(const cur_task_part *parts, int T, int dim, cur_task_union *u) {
  size_t cap = 1;
  for (int t = 0; t < T; t++) cap += (size_t)parts[t].n;
  u->T = T;
  u->ids = cur_mallocarray(cap, sizeof *u->ids);
  u->y = cur_mallocarray(cap, (size_t)T * sizeof *u->y);
  u->X = cur_mallocarray(cap, (size_t)dim * sizeof *u->X);
  int ok = u->ids && u->y && u->X;
  for (int t = 0; ok && t < T; t++)
    ok = (u->at[t] = cur_mallocarray((size_t)parts[t].n + 1, sizeof *u->at[t])) != NULL;
  return ok ? CUR_OK : CUR_ENOMEM;
}

int cur_task_union_build(const cur_task_part *parts, int T, int dim, cur_task_union *out) {
  memset(out, 0, sizeof *out);
  if (T < 2 || T > HEAD_MAX_TASKS)
    return cur_errorc(CUR_EINPUT, "multi-task rows: %d tasks, expected 2 to %d", T, HEAD_MAX_TASKS);
  int next[HEAD_MAX_TASKS] = {0}, rc = alloc_union(parts, T, dim, out);
  while (rc == CUR_OK) {
    int64_t id = INT64_MAX;
    int any = 0;
    for (int t = 0; t < T; t++)
      if (next[t] < parts[t].n && (!any || parts[t].ids[next[t]] < id))
        id = parts[t].ids[next[t]], any = 1;
    if (!any) break;
    int row = out->n++, copied = 0;
    out->ids[row] = id;
    for (int t = 0; t < T; t++) {
      const cur_task_part *p = &parts[t];
      int j = next[t], has = j < p->n && p->ids[j] == id;
      out->y[(size_t)row * T + t] = has ? p->y[j] : -1;
      if (!has) continue;
      if (!copied++) memcpy(out->X + (size_t)row * dim, p->X + (size_t)j * dim, (size_t)dim * sizeof *out->X);
      out->at[t][j] = row;
      if (++next[t] < p->n && p->ids[next[t]] <= id)
        rc = cur_errorc(CUR_EINPUT, "multi-task rows: task %d's image ids are not ascending at "
                        "image %lld", t, (long long)p->ids[next[t]]);
    }
  }
  return rc;
}
