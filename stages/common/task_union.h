/* task_union.h -- the labelled rows of several tasks as one multi-task training set.
**
** aum and pseudolabel read a task's rows at a time (image ids ascending,
** a class each, an embedding each).  A multi-task head (models/head.h,
** docs/stages/train.md) learns from the rows of every task at once: each
** image once, with its label of each task or -1 where it has none.
*/
#ifndef CURATE_TASK_UNION_H
#define CURATE_TASK_UNION_H

#include <stdint.h>

#include "head.h"

/* One task's rows, as a stage read them; caller-owned. */
typedef struct cur_task_part {
  const int64_t *ids;          /* n image ids, strictly ascending */
  const int *y;                /* n class indices */
  const float *X;              /* n x dim features */
  int n;
} cur_task_part;

/* The union of T parts: every image that is in any part, ascending. */
typedef struct cur_task_union {
  int n, T;
  int64_t *ids;                /* n image ids */
  int *y;                      /* n x T: each part's class, -1 where it lacks the image */
  float *X;                    /* n x dim: the image's features (the first part holding it) */
  int *at[HEAD_MAX_TASKS];     /* per part, for each of its rows, its row in the union */
} cur_task_union;

/* Builds the union of T (2..HEAD_MAX_TASKS) parts of DIM features into OUT,
** which the caller frees with cur_task_union_free (also after a failure). */
int cur_task_union_build(const cur_task_part *parts, int T, int dim, cur_task_union *out);
void cur_task_union_free(cur_task_union *u);

#endif
