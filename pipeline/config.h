/* config.h -- curate.json: option specs, loading with validation, defaults, hashing.
**
** The file holds a top-level "seed" and one object per stage, named after the
** stage, holding that stage's options.  Every option has a spec (cur_option)
** that gives its type, default and help; loading merges the file over the
** defaults, and an unknown key or a value of the wrong type is an error that
** names it.
*/
#ifndef CURATE_CONFIG_H
#define CURATE_CONFIG_H

#include <cjson/cJSON.h>
#include <stdint.h>

typedef enum cur_opt_type {
  CUR_OPT_BOOL,
  CUR_OPT_INT,    /* an integer that fits a C int (counts, sizes, epochs) */
  CUR_OPT_LONG,   /* an integer up to 2^53 - 1, all a JSON number holds exactly (bytes, pixels) */
  CUR_OPT_NUM,
  CUR_OPT_STR,
  CUR_OPT_STRS,   /* array of strings */
  CUR_OPT_RANGE,  /* [min, max] of numbers, min <= max */
  CUR_OPT_OBJ     /* object; its shape is checked by the option's check */
} cur_opt_type;

typedef struct cur_option {
  const char *key;
  cur_opt_type type;
  const char *def;   /* default, as JSON text */
  const char *help;
  /* Extra validation (may be NULL); NAME is "stage.key" for messages.
  ** Returns CUR_OK or CUR_ECONFIG with the message set. */
  int (*check)(const cJSON *value, const char *name);
} cur_option;

typedef struct cur_config cur_config;

/* The pipeline whose options a configuration holds, in order: the registry
** (stages/registry.c) for the command, a list of their own for tests.  The
** engine is handed it rather than reaching up to the stages for it. */
struct cur_stage;
typedef struct cur_stage_list {
  const struct cur_stage *const *at;
  int n;
} cur_stage_list;

/* Loads PATH merged over the defaults.  A missing file gives the defaults
** (and *missing = 1); a malformed one is an error naming the key: not valid
** UTF-8, not one JSON object (text after it too), a key given twice, an
** unknown key, a value of the wrong type or out of range. */
int cur_config_load(const char *path, cur_stage_list stages, cur_config **out, int *missing);
void cur_config_free(cur_config *cfg);
/* Merges OPTIONS (an object of STAGE's options, e.g. from the command line)
** over the configuration, checking each like the file's; ORIGIN names where
** they came from in messages.  STAGE must be a registered stage. */
int cur_config_merge(cur_config *cfg, const char *stage, const cJSON *options, const char *origin);
/* The stage of LIST named NAME, or NULL; its index, or -1. */
const struct cur_stage *cur_stage_list_find(cur_stage_list list, const char *name);
int cur_stage_list_index(cur_stage_list list, const char *name);
/* The stages CFG was loaded for. */
cur_stage_list cur_config_stages(const cur_config *cfg);
/* Writes every option of STAGES with its default to PATH (fails if PATH exists). */
int cur_config_write_defaults(const char *path, cur_stage_list stages);
/* The effective configuration as indented JSON; the caller frees it. */
char *cur_config_dump(const cur_config *cfg);

int64_t cur_config_seed(const cur_config *cfg);
/* The one check of a seed, for the file's "seed" and for --seed: an integer
** from 0 to CUR_SEED_MAX.  CUR_OK, or CUR_ECONFIG with a message naming NAME. */
#define CUR_SEED_MAX 9007199254740991.0
int cur_config_check_seed(double value, const char *name);
const cJSON *cur_config_section(const cur_config *cfg, const char *stage);
/* sha256 of the section's canonical JSON and the seed, leaving out the
** options named in UNHASHED (NULL-ended, may be NULL): those that tune speed
** but cannot change a result, so changing them does not make a stage pending. */
int cur_config_hash(const cJSON *section, const char *const *unhashed, uint64_t seed, char out[65]);

/* Typed reads of a validated section: the key is known to exist. */
int cur_opt_bool(const cJSON *section, const char *key);
int64_t cur_opt_int(const cJSON *section, const char *key);
double cur_opt_num(const cJSON *section, const char *key);
const char *cur_opt_str(const cJSON *section, const char *key);
const cJSON *cur_opt_json(const cJSON *section, const char *key);

/* Validates VALUE against SPEC; NAME is used in the message. */
int cur_option_validate(const cur_option *spec, const cJSON *value, const char *name);

/* Checks for cur_option.check shared by stages: a number > 0, a number >= 0,
** a share or probability (0 <= value <= 1), and a string that is one of the
** '|'-separated WORDS (called from a stage's own check, which gives the list). */
int cur_option_check_positive(const cJSON *value, const char *name);
int cur_option_check_nonnegative(const cJSON *value, const char *name);
int cur_option_check_fraction(const cJSON *value, const char *name);
int cur_option_check_word(const cJSON *value, const char *name, const char *words);
/* A number of cross-validation folds: at least 2. */
int cur_option_check_folds(const cJSON *value, const char *name);

#endif
