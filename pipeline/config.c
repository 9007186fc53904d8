/* config.c -- loading, validating, defaulting and hashing curate.json. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curate.h"
#include "sha256.h"
#include "stage.h"
#include "text.h"

struct cur_config {
  cJSON *root;            /* defaults with the file merged over them */
  cur_stage_list stages;  /* whose sections the file holds */
};

int cur_stage_list_index(cur_stage_list list, const char *name) {
  for (int i = 0; i < list.n; i++)
    if (strcmp(list.at[i]->name, name) == 0) return i;
  return -1;
}

const cur_stage *cur_stage_list_find(cur_stage_list list, const char *name) {
  int i = cur_stage_list_index(list, name);
  return i < 0 ? NULL : list.at[i];
}

static int check_seed_option(const cJSON *value, const char *name) {
  if (value->valuedouble < 0 || value->valuedouble > CUR_SEED_MAX)
    return cur_errorc(CUR_ECONFIG, "%s: %.0f is out of range (0 to %.0f)", name, value->valuedouble,
                      CUR_SEED_MAX);
  return CUR_OK;
}

static const cur_option global_options[] = {
    {"seed", CUR_OPT_LONG, "42",
     "seed of every random choice (splits use content hashes, not the seed)", check_seed_option},
    {NULL, 0, NULL, NULL, NULL}};

int cur_config_check_seed(double value, const char *name) {
  cJSON *v = cJSON_CreateNumber(value);
  if (!v) return cur_errorc(CUR_ENOMEM, "out of memory");
  int rc = cur_option_validate(&global_options[0], v, name);
  cJSON_Delete(v);
  return rc;
}

static const char *type_name(cur_opt_type t) {
  switch (t) {
  case CUR_OPT_BOOL: return "true or false";
  case CUR_OPT_INT:
  case CUR_OPT_LONG: return "an integer";
  case CUR_OPT_NUM: return "a number";
  case CUR_OPT_STR: return "a string";
  case CUR_OPT_STRS: return "an array of strings";
  case CUR_OPT_RANGE: return "an array [min, max] of two numbers";
  case CUR_OPT_OBJ: return "an object";
  }
  return "?";
}

static int type_ok(cur_opt_type t, const cJSON *v) {
  switch (t) {
  case CUR_OPT_BOOL: return cJSON_IsBool(v);
  case CUR_OPT_INT:
  case CUR_OPT_LONG:  /* whole numbers; their range is checked apart, to name it */
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
  case CUR_OPT_NUM: return cJSON_IsNumber(v) && isfinite(v->valuedouble);
  case CUR_OPT_STR: return cJSON_IsString(v);
  case CUR_OPT_STRS: {
    if (!cJSON_IsArray(v)) return 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) return 0;
    return 1;
  }
  case CUR_OPT_RANGE:
    return cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 &&
           cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(v, 1));
  case CUR_OPT_OBJ: return cJSON_IsObject(v);
  }
  return 0;
}

/* Messages match those of cur_augment_options_validate, so a range reads
** the same whichever check catches it.  (JSON has no NaN, but 1e999 parses
** as infinity.) */

int cur_option_check_nonnegative(const cJSON *v, const char *name) {
  return v->valuedouble >= 0 ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must not be negative", name);
}

int cur_option_check_folds(const cJSON *v, const char *name) {
  return v->valuedouble >= 2 ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must be at least 2", name);
}

int cur_option_check_word(const cJSON *v, const char *name, const char *words) {
  size_t len = strlen(v->valuestring);
  for (const char *w = words; *w; w += strcspn(w, "|"), w += *w == '|') {
    if (strcspn(w, "|") == len && strncmp(w, v->valuestring, len) == 0) return CUR_OK;
  }
  return cur_errorc(CUR_ECONFIG, "%s: '%s' is not one of %s", name, v->valuestring, words);
}

int cur_option_validate(const cur_option *spec, const cJSON *value, const char *name) {
  if (spec->type == CUR_OPT_NUM && cJSON_IsNumber(value) && !isfinite(value->valuedouble))
    return cur_errorc(CUR_ECONFIG, "%s: %g is not a finite number", name, value->valuedouble);
  if (!type_ok(spec->type, value))
    return cur_errorc(CUR_ECONFIG, "%s: expected %s, got %s", name, type_name(spec->type),
                      cur_json_kind(value));
  if (spec->type == CUR_OPT_RANGE) {
    double lo = cJSON_GetArrayItem(value, 0)->valuedouble;
    double hi = cJSON_GetArrayItem(value, 1)->valuedouble;
    if (!isfinite(lo) || !isfinite(hi))
      return cur_errorc(CUR_ECONFIG, "%s: %s %g is not a finite number", name,
                        isfinite(lo) ? "max" : "min", isfinite(lo) ? hi : lo);
    if (lo > hi) return cur_errorc(CUR_ECONFIG, "%s: min %g > max %g", name, lo, hi);
  }
  int rc = spec->check ? spec->check(value, name) : CUR_OK;
  if (rc) return rc;  /* first: its message may give the option's own range (the seed's) */
  /* Integers are read into an int (or int64_t): 4294967301 epochs wrapped to 5. */
  double min = spec->type == CUR_OPT_INT ? INT_MIN : -CUR_SEED_MAX;
  double max = spec->type == CUR_OPT_INT ? INT_MAX : CUR_SEED_MAX;
  if ((spec->type == CUR_OPT_INT || spec->type == CUR_OPT_LONG) &&
      (value->valuedouble < min || value->valuedouble > max))
    return cur_errorc(CUR_ECONFIG, "%s: %.0f is out of range (at %s %.0f)", name, value->valuedouble,
                      value->valuedouble > max ? "most" : "least", value->valuedouble > max ? max : min);
  return CUR_OK;
}

int cur_option_check_positive(const cJSON *value, const char *name) {
  if (value->valuedouble <= 0) return cur_errorc(CUR_ECONFIG, "%s: must be positive", name);
  return CUR_OK;
}

int cur_option_check_fraction(const cJSON *value, const char *name) {
  if (value->valuedouble < 0 || value->valuedouble > 1)
    return cur_errorc(CUR_ECONFIG, "%s: must be between 0 and 1", name);
  return CUR_OK;
}

/* Builds {"seed": .., "<stage>": {defaults}, ...} in registry order. */
static cJSON *defaults_tree(cur_stage_list stages) {
  cJSON *root = cJSON_CreateObject();
  if (!root) goto oom;
  for (const cur_option *o = global_options; o->key; o++) {
    cJSON *v = cJSON_Parse(o->def);
    if (!v || !cJSON_AddItemToObject(root, o->key, v)) goto oom;
  }
  for (int i = 0; i < stages.n; i++) {
    cJSON *sec = cJSON_AddObjectToObject(root, stages.at[i]->name);
    if (!sec) goto oom;
    for (const cur_option *o = stages.at[i]->options; o && o->key; o++) {
      cJSON *v = cJSON_Parse(o->def);
      if (!v || !cJSON_AddItemToObject(sec, o->key, v)) goto oom;
    }
  }
  return root;
oom:
  cJSON_Delete(root);
  cur_errorc(CUR_ENOMEM, "out of memory building the default configuration");
  return NULL;
}

static const cur_option *find_option(const cur_option *opts, const char *key) {
  for (const cur_option *o = opts; o && o->key; o++)
    if (strcmp(o->key, key) == 0) return o;
  return NULL;
}

/* Checks ITEM against its spec O and puts a copy in INTO, replacing the default. */
static int set_checked(const char *path, const cur_option *o, const cJSON *item, const char *name,
                       cJSON *into) {
  if (!o) return cur_errorc(CUR_ECONFIG, "%s: unknown %s", name, into->string ? "option" :
                            "key (not a stage or a global option)");
  int rc = cur_option_validate(o, item, name);
  if (rc) return rc;
  cJSON *copy = cJSON_Duplicate(item, 1);
  if (!copy || !cJSON_ReplaceItemInObjectCaseSensitive(into, item->string, copy)) {
    cJSON_Delete(copy);
    return cur_errorc(CUR_ENOMEM, "out of memory reading %s", path);
  }
  return CUR_OK;
}

/* Checks one stage's object from the file and merges it over the defaults. */
static int merge_section(const char *path, const cur_stage *stage, const cJSON *user,
                         cJSON *into) {
  char name[256];
  if (!cJSON_IsObject(user))
    return cur_errorc(CUR_ECONFIG, "%s: %s: expected an object of options, got %s", path,
                      stage->name, cur_json_kind(user));
  for (cJSON *item = user->child; item; item = item->next) {
    snprintf(name, sizeof name, "%s: %s.%s", path, stage->name, item->string);
    int rc = set_checked(path, find_option(stage->options, item->string), item, name, into);
    if (rc) return rc;
  }
  return CUR_OK;
}

static int merge_file(const char *path, cur_stage_list stages, cJSON *user, cJSON *root) {
  char name[256];
  if (!cJSON_IsObject(user))
    return cur_errorc(CUR_ECONFIG, "%s: expected a JSON object at the top", path);
  for (cJSON *item = user->child; item; item = item->next) {
    const cur_stage *stage = cur_stage_list_find(stages, item->string);
    int rc;
    if (stage) {
      rc = merge_section(path, stage, item, cJSON_GetObjectItemCaseSensitive(root, stage->name));
    } else {
      snprintf(name, sizeof name, "%s: %s", path, item->string);
      rc = set_checked(path, find_option(global_options, item->string), item, name, root);
    }
    if (rc) return rc;
  }
  return CUR_OK;
}

static int line_at(const char *text, const char *at) {
  int line = 1;
  for (const char *p = text; at && p < at; p++) line += *p == '\n';
  return line;
}

/* Parses the file's TEXT (LEN bytes) into *USER, refusing what cJSON lets
** through: bytes that are not UTF-8, text after the object (a second object
** pasted below the first), and a key given twice (cJSON keeps the first, a
** reader sees the last). */
static int parse_strict(const char *path, const char *text, size_t len, cJSON **user) {
  const char *bad = cur_utf8_invalid(text), *end = NULL;
  char key[256];
  if (strlen(text) != len) bad = text + strlen(text);  /* a NUL byte */
  if (bad) return cur_errorc(CUR_ECONFIG, "%s: not valid UTF-8 (line %d)", path, line_at(text, bad));
  if (!(*user = cJSON_ParseWithOpts(text, &end, 0)))
    return cur_errorc(CUR_ECONFIG, "%s: not valid JSON (near line %d)", path,
                      line_at(text, cJSON_GetErrorPtr()));
  end += strspn(end, " \t\r\n");
  if (*end)
    return cur_errorc(CUR_ECONFIG, "%s: text after the JSON object (line %d)", path, line_at(text, end));
  if (cur_json_duplicate_key(*user, key, sizeof key))
    return cur_errorc(CUR_ECONFIG, "%s: %s appears twice", path, key);
  return CUR_OK;
}

int cur_config_load(const char *path, cur_stage_list stages, cur_config **out, int *missing) {
  cur_config *cfg = cur_calloc(1, sizeof *cfg);
  char *text = NULL;
  cJSON *user = NULL;
  int rc = CUR_OK;
  if (!cfg) return CUR_ENOMEM;
  cfg->stages = stages;
  if (!(cfg->root = defaults_tree(stages))) { rc = CUR_ENOMEM; goto cleanup; }
  *missing = access(path, F_OK) != 0;
  if (*missing) goto cleanup;
  size_t len;
  if ((rc = cur_file_read(path, &text, &len))) goto cleanup;
  if ((rc = parse_strict(path, text, len, &user))) goto cleanup;
  rc = merge_file(path, stages, user, cfg->root);
cleanup:
  cJSON_Delete(user);
  cur_free(text);
  if (rc) {
    cur_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return CUR_OK;
}

int cur_config_merge(cur_config *cfg, const char *stage, const cJSON *options, const char *origin) {
  const cur_stage *spec = cur_stage_list_find(cfg->stages, stage);
  assert(spec);
  return merge_section(origin, spec, options,
                       cJSON_GetObjectItemCaseSensitive(cfg->root, stage));
}

void cur_config_free(cur_config *cfg) {
  if (!cfg) return;
  cJSON_Delete(cfg->root);
  cur_free(cfg);
}

cur_stage_list cur_config_stages(const cur_config *cfg) {
  return cfg->stages;
}

int cur_config_write_defaults(const char *path, cur_stage_list stages) {
  cJSON *root = defaults_tree(stages);
  if (!root) return CUR_ENOMEM;
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return cur_errorc(CUR_ENOMEM, "out of memory printing the configuration");
  int rc = CUR_OK;
  /* O_EXCL semantics: never overwrite a curator's edited file. */
  FILE *f = fopen(path, "wx");
  if (!f) {
    rc = cur_errorc(CUR_EIO, "%s: cannot create: %s", path, strerror(errno));
  } else {
    int bad = fputs(text, f) < 0 || fputc('\n', f) < 0;
    if (fclose(f) != 0 || bad) rc = cur_errorc(CUR_EIO, "%s: write failed", path);
  }
  cJSON_free(text);
  return rc;
}

char *cur_config_dump(const cur_config *cfg) {
  return cur_json_print(cfg->root, 1);
}

int64_t cur_config_seed(const cur_config *cfg) {
  return (int64_t)cJSON_GetObjectItemCaseSensitive(cfg->root, "seed")->valuedouble;
}

const cJSON *cur_config_section(const cur_config *cfg, const char *stage) {
  return cJSON_GetObjectItemCaseSensitive(cfg->root, stage);
}

int cur_config_hash(const cJSON *section, const char *const *unhashed, uint64_t seed, char out[65]) {
  cur_sha256 h;
  cJSON *copy = section ? cJSON_Duplicate(section, 1) : NULL;
  if (section && !copy) return cur_errorc(CUR_ENOMEM, "out of memory hashing the configuration");
  for (const char *const *u = unhashed; u && *u; u++) cJSON_DeleteItemFromObjectCaseSensitive(copy, *u);
  /* Keys keep the registry's order (defaults first, merged in place), so the
  ** unformatted print is canonical for equal settings. */
  char *text = copy ? cJSON_PrintUnformatted(copy) : NULL;
  cJSON_Delete(copy);
  if (copy && !text) return cur_errorc(CUR_ENOMEM, "out of memory hashing the configuration");
  cur_sha256_init(&h);
  cur_sha256_str(&h, text ? text : "{}");
  cur_sha256_i64(&h, (int64_t)seed);
  cJSON_free(text);
  cur_sha256_hex(&h, out);
  return CUR_OK;
}

static const cJSON *get(const cJSON *section, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(section, key);
}

int cur_opt_bool(const cJSON *section, const char *key) {
  return cJSON_IsTrue(get(section, key));
}

int64_t cur_opt_int(const cJSON *section, const char *key) {
  return (int64_t)get(section, key)->valuedouble;
}

double cur_opt_num(const cJSON *section, const char *key) {
  return get(section, key)->valuedouble;
}

const char *cur_opt_str(const cJSON *section, const char *key) {
  return get(section, key)->valuestring;
}

const cJSON *cur_opt_json(const cJSON *section, const char *key) {
  return get(section, key);
}

