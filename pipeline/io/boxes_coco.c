/* boxes_coco.c -- boxes from a COCO annotation file (JSON, read with cJSON).
**
** images[] maps an id to file_name (a path inside the source), categories[]
** an id to a class name, and each annotations[] entry names both and gives
** bbox = [x, y, width, height] in pixels from the top-left corner, plus an
** optional score (detector results merged into the file).  A bad entry of
** images or categories is reported and the boxes naming it are reported
** as naming an unknown id.
*/
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxfile_impl.h"
#include "curate.h"
#include "strmap.h"
#include "text.h"

/* The integer id V, or 0 when V is not an integral number in range. */
static int json_id(const cJSON *v, long long *id) {
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 9e15 ||
      v->valuedouble != floor(v->valuedouble))
    return 0;
  *id = (long long)v->valuedouble;
  return 1;
}

/* Maps each ARRAY entry's "id" to its index in ARRAY, when NAME_KEY is a
** non-empty string; reports the others. */
static int index_ids(cur_boxfile *bf, const cJSON *array, const char *what, const char *name_key,
                     cur_strmap *map) {
  int i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, array) {
    char where[1200], key[32];
    long long id;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, name_key);
    snprintf(where, sizeof where, "%s: %s[%d]", bf->path, what, i);
    if (!json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id))
      cur__boxes_note(bf, where, "no integer id; entry skipped");
    else if (!cJSON_IsString(name) || !name->valuestring[0])
      cur__boxes_note(bf, where, "'%s' is %s, not a non-empty string; entry skipped", name_key,
                      cur_json_kind(name));
    else {
      snprintf(key, sizeof key, "%lld", id);
      int added = cur_strmap_put(map, key, (size_t)i);
      if (added < 0) return CUR_ENOMEM;
      if (added == 0) cur__boxes_note(bf, where, "id %lld listed again; the first is kept", id);
    }
    i++;
  }
  return CUR_OK;
}

/* The string NAME_KEY of the ARRAY entry whose id is V, or NULL with why
** in WHY (KEY names V there). */
static const char *lookup(const cJSON *array, cur_strmap *map, const cJSON *v, const char *name_key,
                          const char *key_name, const char *what, char *why, size_t cap) {
  char key[32];
  size_t at;
  long long id;
  if (!json_id(v, &id)) {
    snprintf(why, cap, "%s is %s, not an integer id", key_name, cJSON_IsNumber(v) ? "a fraction or out of range" : cur_json_kind(v));
    return NULL;
  }
  snprintf(key, sizeof key, "%lld", id);
  if (!cur_strmap_get(map, key, &at)) {
    snprintf(why, cap, "%s %lld is not an id of %s[]%s", key_name, id, what,
             strcmp(what, "categories") == 0 ? " (unknown class)" : "");
    return NULL;
  }
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(array, (int)at), name_key)->valuestring;
}

/* One annotations[I] entry A. */
static int annotation(cur_boxfile *bf, const cJSON *a, int i, const cJSON *images, cur_strmap *by_image,
                      const cJSON *cats, cur_strmap *by_cat) {
  char where[1200], why[160];
  const cJSON *bbox = cJSON_GetObjectItemCaseSensitive(a, "bbox");
  const cJSON *score = cJSON_GetObjectItemCaseSensitive(a, "score");
  snprintf(where, sizeof where, "%s: annotations[%d]", bf->path, i);
  cur_box b = {.score = NAN};
  if (!cJSON_IsObject(a)) return cur__boxes_skip(bf, where, "%s, not an object", cur_json_kind(a)), CUR_OK;
  if (!(b.image = lookup(images, by_image, cJSON_GetObjectItemCaseSensitive(a, "image_id"),
                         "file_name", "image_id", "images", why, sizeof why)) ||
      !(b.label = lookup(cats, by_cat, cJSON_GetObjectItemCaseSensitive(a, "category_id"), "name",
                         "category_id", "categories", why, sizeof why)))
    cur__boxes_skip(bf, where, "%s", why);
  else if (!cJSON_IsArray(bbox) || cJSON_GetArraySize(bbox) != 4)
    cur__boxes_skip(bf, where, "bbox is not an array of 4 numbers");
  else if (score && !cJSON_IsNumber(score))
    cur__boxes_skip(bf, where, "score is %s, not a number", cur_json_kind(score));
  else {
    double v[4];
    for (int k = 0; k < 4; k++) {
      const cJSON *n = cJSON_GetArrayItem(bbox, k);
      v[k] = cJSON_IsNumber(n) ? n->valuedouble : NAN;
    }
    b.x = v[0], b.y = v[1], b.w = v[2], b.h = v[3];
    if (score) b.score = score->valuedouble;
    return cur__boxes_add(bf, where, &b);
  }
  return CUR_OK;
}

int cur__boxes_coco(cur_boxfile *bf, char *text, size_t len) {
  cJSON *root = cJSON_ParseWithLength(text, len);
  cur_strmap *by_image = cur_strmap_new(), *by_cat = cur_strmap_new();
  int rc = by_image && by_cat ? CUR_OK : CUR_ENOMEM;
  const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
  const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
  const cJSON *anns = cJSON_GetObjectItemCaseSensitive(root, "annotations");
  if (rc == CUR_OK && !cJSON_IsObject(root))
    rc = cur_errorc(CUR_EINPUT, "%s: not valid JSON, or not an object (a COCO file holds images, categories "
                    "and annotations)", bf->path);
  else if (rc == CUR_OK && (!cJSON_IsArray(images) || !cJSON_IsArray(cats) || !cJSON_IsArray(anns)))
    rc = cur_errorc(CUR_EINPUT, "%s: images, categories and annotations must each be an array",
                    bf->path);
  if (rc == CUR_OK) rc = index_ids(bf, images, "images", "file_name", by_image);
  if (rc == CUR_OK) rc = index_ids(bf, cats, "categories", "name", by_cat);
  int i = 0;
  const cJSON *a;
  if (rc == CUR_OK) cJSON_ArrayForEach(a, anns) {
    if ((rc = annotation(bf, a, i++, images, by_image, cats, by_cat))) break;
  }
  cur_strmap_free(by_image);
  cur_strmap_free(by_cat);
  cJSON_Delete(root);
  return rc;
}
