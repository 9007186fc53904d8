/* head_options.c -- the options the stages that train heads share: their check and the head's configuration. */
#include <string.h>

#include "config.h"
#include "curate.h"
#include "head_options.h"

void cur_head_options_config(const cJSON *opt, uint64_t seed, int64_t stream, head_config *cfg) {
  head_config_default(cfg);
  cfg->kind = strcmp(cur_opt_str(opt, "head"), "mlp") == 0 ? HEAD_MLP : HEAD_LOGREG;
  cfg->hidden = (int)cur_opt_int(opt, "hidden");
  cfg->epochs = (int)cur_opt_int(opt, "epochs");
  cfg->batch_size = (int)cur_opt_int(opt, "batch_size");
  cfg->lr = (float)cur_opt_num(opt, "lr");
  cfg->weight_decay = (float)cur_opt_num(opt, "weight_decay");
  /* the golden-ratio multiple spreads consecutive task ids over the seed's bits */
  cfg->seed = seed ^ ((uint64_t)stream * 0x9e3779b97f4a7c15ull);
}

int cur_head_option_check(const cJSON *v, const char *name) {
  return cur_option_check_word(v, name, "logreg|mlp");
}

void cur_head_options_techniques(const cJSON *opt, head_config *cfg) {
  cfg->ema_decay = (float)cur_opt_num(opt, "ema_decay");
  cfg->uda_weight = (float)cur_opt_num(opt, "uda_weight");
  cfg->uda_threshold = (float)cur_opt_num(opt, "uda_threshold");
  cfg->uda_temperature = (float)cur_opt_num(opt, "uda_temperature");
}

int cur_head_ema_check(const cJSON *v, const char *name) {
  if (!(v->valuedouble >= 0 && v->valuedouble < 1))
    return cur_errorc(CUR_ECONFIG, "%s: must be at least 0 and below 1 (0 = off)", name);
  return CUR_OK;
}
