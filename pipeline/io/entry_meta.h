/* entry_meta.h -- what an ingest entry says about itself: split, group and
** labels, from the folder layout, a label file and the source's own data. */
#ifndef CURATE_ENTRY_META_H
#define CURATE_ENTRY_META_H

#include "labelfile.h"
#include "source.h"

#define CUR_MAX_TASKS 16  /* label tasks of one source; more are refused (cmd_run.c, ingest.c) */
#define CUR_DEFAULT_TASK "label"

typedef struct cur_meta_rules {
  const cur_labelfile *labels;   /* may be NULL */
  int folder_labels;             /* class from the folder name (ImageFolder layout) */
  const char *unlabeled_dir;     /* folder name meaning "no label" */
  const char *forced_split;      /* the source's --split, or NULL */
} cur_meta_rules;

typedef struct cur_entry_meta {
  const char *split;                   /* train | val | test, or NULL: assign by hash */
  const char *group;                   /* may be NULL */
  int n;                               /* labelled tasks */
  /* the label file's tasks, and the folder's or the source's "label" */
  const char *task[CUR_MAX_TASKS + 1];
  const char *value[CUR_MAX_TASKS + 1];
  const cur_labelrow *row;             /* the label file's row, or NULL */
  int line;                            /* label-file line, 0 when not from one */
  const char *bad_split;               /* a split value that is not one, or NULL */
  char folder_class[256];
} cur_entry_meta;

/* Canonical split name for S (train, val, test and their usual spellings),
** or NULL when S is not a split name. */
const char *cur_split_name(const char *s);
/* Fills META for entry E.  META points into E, the label file and itself. */
void cur_entry_meta_get(const cur_meta_rules *rules, const cur_entry *e, cur_entry_meta *meta);

#endif
