/* head_options.h -- a head's configuration from the options the stages that train heads share. */
#ifndef CURATE_HEAD_OPTIONS_H
#define CURATE_HEAD_OPTIONS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "head.h"

/* Fills cfg from a stage's options "head" (logreg or mlp), "hidden",
** "epochs", "batch_size", "lr" and "weight_decay" (the train, aum,
** pseudolabel and policy stages share them), the rest at their defaults, and
** a seed drawn from SEED and STREAM (e.g. a task id, so each task has its own
** stream; 0 keeps SEED as it is). */
void cur_head_options_config(const cJSON *opt, uint64_t seed, int64_t stream, head_config *cfg);
/* The check of a stage's "head" option: logreg or mlp. */
int cur_head_option_check(const cJSON *v, const char *name);
/* Sets EMA and UDA of cfg from the train stage's options "ema_decay",
** "uda_weight", "uda_threshold" and "uda_temperature" (docs/stages/train.md). */
void cur_head_options_techniques(const cJSON *opt, head_config *cfg);
/* The check of "ema_decay": 0 <= decay < 1. */
int cur_head_ema_check(const cJSON *v, const char *name);

#endif
