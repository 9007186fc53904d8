/* task_union.h -- the labelled rows of several tasks as one multi-task training set.
**
** aum and pseudolabel read a task's rows at a time (image ids ascending,
** a class each, an embedding each, as the half floats it is stored as).  A
** multi-task head (models/head.h, docs/stages/train.md) learns from the
** rows of every task at once: each image once, with its label of each task
** or -1 where it has none.  The union's features are an index view
** (head_rows) of one matrix: the first task's own, grown by the rows of the
** images it lacks, so that the union copies only those rows, and no float.
*/
#ifndef CURATE_TASK_UNION_H
#define CURATE_TASK_UNION_H

#include <stddef.h>
#include <stdint.h>

#include "head.h"

/* One task's rows, as a stage read them; caller-owned. */
typedef struct cur_task_part {
  const int64_t *ids;          /* n image ids, strictly ascending */
  const int *y;                /* n class indices */
  const uint16_t *X;           /* n x dim features, half floats (not read for part 0: *X0) */
  int n;
} cur_task_part;

/* The union of T parts: every image that is in any part, ascending. */
typedef struct cur_task_union {
  int n, T, dim;
  int64_t *ids;                /* n image ids */
  int *y;                      /* n x T: each part's class, -1 where it lacks the image */
  uint16_t *X;                 /* rows x dim: part 0's rows, then those of the images it lacks */
  size_t rows;
  uint32_t *row;               /* n: each image's row of X (the first part holding it gave it) */
  int *at[HEAD_MAX_TASKS];     /* per part, for each of its rows, its row in the union */
} cur_task_union;

/* Builds the union of T (2..HEAD_MAX_TASKS) parts of DIM features into OUT,
** which the caller frees with cur_task_union_free (also after a failure).
** Part 0's matrix is *X0 (its n rows, allocated by cur_malloc or
** cur_reallocarray): the union takes it over (*X0 becomes NULL, also on a
** failure) and grows it by the rows part 0 lacks. */
int cur_task_union_build(const cur_task_part *parts, int T, int dim, uint16_t **X0,
                         cur_task_union *out);
/* The union's n rows as the heads read them: an index view of its matrix,
** unstandardised. */
head_rows cur_task_union_rows(const cur_task_union *u);
void cur_task_union_free(cur_task_union *u);

#endif
