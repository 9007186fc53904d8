/* head_options.c -- a head's configuration from the options the stages that train heads share. */
#include <string.h>

#include "config.h"
#include "head.h"

void head_config_from_options(const cJSON *opt, uint64_t seed, head_config *cfg) {
  head_config_default(cfg);
  cfg->kind = strcmp(cur_opt_str(opt, "head"), "mlp") == 0 ? HEAD_MLP : HEAD_LOGREG;
  cfg->hidden = (int)cur_opt_int(opt, "hidden");
  cfg->epochs = (int)cur_opt_int(opt, "epochs");
  cfg->batch_size = (int)cur_opt_int(opt, "batch_size");
  cfg->lr = (float)cur_opt_num(opt, "lr");
  cfg->weight_decay = (float)cur_opt_num(opt, "weight_decay");
  cfg->seed = seed;
}
