/* entry_meta.c -- split, group and labels of an ingest entry.
**
** Precedence, lowest first: the folder layout ([split/]class/file, with
** "unlabeled" meaning no label), what the source itself says (IDX labels and
** split), the label file's row for the path, and the source's forced split.
*/
#include "entry_meta.h"

#include <stdio.h>
#include <string.h>

#include "curate.h"

const char *cur_split_name(const char *s) {
  static const char *const names[][2] = {
      {"train", "train"}, {"training", "train"}, {"val", "val"}, {"valid", "val"},
      {"validation", "val"}, {"dev", "val"}, {"test", "test"}, {"testing", "test"}};
  for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i][0]) == 0) return names[i][1];
  return NULL;
}

static void set_label(cur_entry_meta *m, const char *task, const char *value) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->task[i], task) == 0) {
      m->value[i] = value;
      return;
    }
  if (m->n < (int)CUR_ARRAY_LEN(m->task)) {
    m->task[m->n] = task;
    m->value[m->n++] = value;
  }
}

/* [split/]class/.../file: the split folder, then the class folder. */
static void from_layout(const cur_meta_rules *rules, const char *path, cur_entry_meta *m) {
  char first[256];
  const char *rest = path;
  size_t n = strcspn(rest, "/");
  snprintf(first, sizeof first, "%.*s", (int)n, rest);
  if (rest[n] == '/' && cur_split_name(first) && strchr(rest + n + 1, '/')) {
    m->split = cur_split_name(first);
    rest += n + 1;
    n = strcspn(rest, "/");
  }
  if (!rules->folder_labels || rest[n] != '/' || n >= sizeof m->folder_class) return;
  snprintf(m->folder_class, sizeof m->folder_class, "%.*s", (int)n, rest);
  if (strcmp(m->folder_class, rules->unlabeled_dir) != 0)
    set_label(m, CUR_DEFAULT_TASK, m->folder_class);
}

void cur_entry_meta_get(const cur_meta_rules *rules, const cur_entry *e, cur_entry_meta *m) {
  memset(m, 0, sizeof *m);
  from_layout(rules, e->path, m);
  if (e->label) set_label(m, CUR_DEFAULT_TASK, e->label);
  if (e->split) m->split = e->split;
  const cur_labelrow *row = rules->labels ? cur_labelfile_find(rules->labels, e->path) : NULL;
  if (row) {
    m->row = row;
    m->line = row->line;
    for (int t = 0; t < cur_labelfile_n_tasks(rules->labels); t++)
      set_label(m, cur_labelfile_task(rules->labels, t), row->values[t]);
    if (row->group) m->group = row->group;
    if (row->split && cur_split_name(row->split)) m->split = cur_split_name(row->split);
    else if (row->split) m->bad_split = row->split;
  }
  if (rules->forced_split) m->split = rules->forced_split;
}
