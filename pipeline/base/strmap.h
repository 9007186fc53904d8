/* strmap.h -- a string -> index hash map (open addressing, keys copied). */
#ifndef CURATE_STRMAP_H
#define CURATE_STRMAP_H

#include <stddef.h>

typedef struct cur_strmap cur_strmap;

cur_strmap *cur_strmap_new(void);
void cur_strmap_free(cur_strmap *m);
/* Adds KEY -> VALUE.  Returns 1 when added, 0 when KEY was already there
** (its value is left as it was), or CUR_ENOMEM. */
int cur_strmap_put(cur_strmap *m, const char *key, size_t value);
/* Returns 1 and sets *value when KEY is present, else 0. */
int cur_strmap_get(const cur_strmap *m, const char *key, size_t *value);
size_t cur_strmap_count(const cur_strmap *m);

#endif
