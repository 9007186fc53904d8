/* store_crops.h -- what ingest reads and sets of an image it cuts box crops from, and which images are such scenes. */
#ifndef CURATE_STORE_CROPS_H
#define CURATE_STORE_CROPS_H

#include "store.h"

/* The parts of an image row a crop copies or checks; strings are the
** holder's to free with cur_store_crop_parent_clear. */
typedef struct cur_crop_parent {
  char *sha256;
  int width, height;
  int ok;                  /* status ok (not quarantined) */
  char *split;
  char *split_source;      /* NULL on a derived row */
  char *group_key;         /* NULL when the image has none */
} cur_crop_parent;

/* Reads image ID into *OUT; *FOUND is 0 when there is no such row. */
int cur_store_crop_parent(cur_store *st, int64_t id, cur_crop_parent *out, int *found);
void cur_store_crop_parent_clear(cur_crop_parent *p);
/* Gives image ID the group KEY when it has none, so that its crops and it
** form one group for the split stage. */
int cur_store_crop_group(cur_store *st, int64_t id, const char *key);
/* *SCENE = 1 when box crops were cut from image ID (it is their scene):
** prelabel gives such an image no zero-shot label of its own. */
int cur_store_image_is_scene(cur_store *st, int64_t id, int *scene);

#endif
