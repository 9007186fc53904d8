/* store_sources.h -- the registered sources as `curate sources` shows them,
** and unregistering one (optionally purging its images). */
#ifndef CURATE_STORE_SOURCES_H
#define CURATE_STORE_SOURCES_H

#include <cjson/cJSON.h>

#include "store.h"

/* Appends one object per source, in id order, to ARR: id, kind, state,
** ingested, duplicate, quarantined, rejected (entry counts), uri, reason. */
int cur_store_source_list(cur_store *st, cJSON *arr);

/* Unregisters source ID in one transaction: its source_entries and its
** sources row go; the images it first produced stay, credited to another
** source that holds the same content (else source_id becomes NULL).  With
** PURGE, the images only this source holds go too, with every row that
** refers to them (labels, flags, scores, embeddings, training and augment
** rows, derived images).  A purge that would delete review decisions is
** refused (CUR_ESTATE) unless FORCE.  *PURGED gets the images deleted.
** CUR_EINPUT when there is no such source; on any error nothing changes. */
int cur_store_source_remove(cur_store *st, int64_t id, int purge, int force, int64_t *purged);

#endif
