/* policy_heads.h -- what the policy needs to try the head techniques (EMA, multi-task, UDA) as decisions.
**
** The policy tries each technique of the train section that is configured
** (docs/stages/policy.md): EMA when train.ema_decay is above 0, the
** multi-task head when train.tasks names other tasks (for train.task only),
** UDA when train.uda_weight is above 0 and augment made pairs for the task.
*/
#ifndef CURATE_POLICY_HEADS_H
#define CURATE_POLICY_HEADS_H

#include <cjson/cJSON.h>

#include "feat.h"
#include "head.h"
#include "stage.h"
#include "store_policy.h"

typedef struct policy_heads {
  float ema_decay;             /* train.ema_decay; 0: EMA is no candidate */
  int n_tasks;                 /* the task and train.tasks; 1: multi-task is no candidate */
  int task_k[HEAD_MAX_TASKS];  /* their class counts */
  int k_all;                   /* their sum */
  int *aux;                    /* n x (n_tasks - 1): each row's label of the other tasks, -1 none */
  int64_t aux_labels;          /* labels of the other tasks among the rows */
  uint16_t *Xu, *Xa;           /* UDA's pairs' embeddings (n_pairs x dim half floats), row for row */
  int dim;                     /* their width */
  int n_pairs;                 /* 0: UDA is no candidate */
} policy_heads;

/* The candidates of task TASK_ID (named TASK) whose N ROWS (in image id
** order) the policy weighs, with embeddings of DIM values for MODEL: the
** other tasks' labels of the rows and the UDA pairs' embeddings (embedding
** the variants first when they have none). */
int cur_policy_heads_load(cur_run *run, int64_t task_id, const char *task, const char *model,
                          const cur_policy_row *rows, size_t n, int dim, policy_heads *out);
void cur_policy_heads_free(policy_heads *p);
/* Sets CFG (filled from the train section TRAIN_OPT) and *U for a head that
** uses EMA, the multi-task head and UDA as the three flags say (each only
** when it is a candidate); the rest of them off.  U's rows are standardised
** by SCALER (the policy's) as the head reads them; it must outlive U. */
void cur_policy_heads_config(const policy_heads *p, const cJSON *train_opt, int ema, int multitask,
                             int uda, const feat_scaler *scaler, head_config *cfg,
                             head_unlabelled *u);

#endif
