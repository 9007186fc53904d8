/* stratify.h -- iterative stratification of whole groups into train, val and test. */
#ifndef CURATE_STRATIFY_H
#define CURATE_STRATIFY_H

#include <stdint.h>

/* Rows of one class in one group. */
typedef struct cur_strat_entry {
  int cls;                  /* 0 .. n_classes-1 */
  int64_t count;            /* > 0 */
} cur_strat_entry;

typedef struct cur_strat_group {
  int split;                /* 0 train, 1 val, 2 test; -1: to be placed */
  double tie;               /* in [0, 1): a seeded hash of the group key, breaks ties */
  int64_t size;             /* rows counted, labelled or not */
  int first, n;             /* its entries: entries[first .. first+n), classes distinct */
} cur_strat_group;

/* Places every group whose split is -1 so that, counting the groups already
** placed, each class (and, for groups without labels, the row count) comes
** as close as it can to FRAC (train, val, test; sums to 1) of its rows.
** Deterministic: the order and the choices depend only on the counts and the
** ties.  Returns CUR_OK or CUR_ENOMEM (nothing placed then). */
int cur_stratify(cur_strat_group *groups, int n_groups, const cur_strat_entry *entries,
                 int n_classes, const double frac[3]);

#endif
