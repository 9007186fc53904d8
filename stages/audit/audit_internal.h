/* audit_internal.h -- what the audit stage's files share: the rows in memory and what was found.
**
** audit.c holds the options, the run and the per-image statistics pass;
** audit_find.c loads the rows and finds pairs, groups and outliers;
** audit_write.c writes pairs, groups, scores, flags and metrics. */
#ifndef CURATE_AUDIT_INTERNAL_H
#define CURATE_AUDIT_INTERNAL_H

#include <stdint.h>

#include "audit_detect.h"
#include "stage.h"
#include "store_audit.h"

/* odd_aspect judges rarity: the share of the images whose log aspect ratio
** is within this of an image's (10%: 4:3 and 3:2 apart, framing variations
** of one format together). */
#define ASPECT_WIDTH 0.1

/* The image-level detectors, in flag order. */
enum { Q_BLURRY, Q_DARK, Q_BRIGHT, Q_LOW_INFORMATION, Q_ODD_ASPECT, Q_ODD_SIZE, Q_GRAYSCALE,
       Q_OUTLIER, Q_COUNT };
extern const char *const audit_reason[Q_COUNT];

typedef struct audit_state {
  cur_run *run;
  const cJSON *opt;
  const char *model;           /* embeddings key in use */
  /* rows, in image id order */
  int64_t n, cap;
  int64_t *ids;
  char (*split)[8];
  char **paths;
  int *width, *height;
  cur_image_stats *stats;
  int dim;
  int64_t *vec_row;            /* row -> its vector's index, -1 without one */
  int64_t n_vec;
  int64_t *vec_of;             /* vector index -> row */
  /* the vectors as stored, n_vec x dim half floats (half the memory of
  ** floats; at 10^6 images the floats and faiss's copy of them did not fit
  ** 2 GB), made into unit floats about their mean row by row when asked
  ** (audit_find.c, audit_vector) */
  unsigned char *half;
  double *mean;                /* dim */
  float *row_a, *row_b;        /* dim each: two vectors made for a cosine */
  /* findings */
  audit_pair *pairs;           /* near-duplicate pairs, sorted by (a, b) */
  int64_t n_pairs, cap_pairs;
  int64_t cosine_pairs;        /* kNN pairs at or above audit.cosine */
  int64_t cosine_distinct;     /* those that passed the ratio test (audit_knn_distinct) */
  int64_t *group;              /* row -> its group's smallest row */
  int k;                       /* kNN neighbours (0: no embeddings) */
  int64_t *nbr;                /* n_vec x k vector indices */
  float *sim;
  double knn_recall;           /* IVF against exact on a sample; NAN when exact */
  int ivf_nprobe;              /* IVF cells probed (0 when exact) */
  int pairs_weak;              /* too many rows paired to trust the pairs (audit_write.c) */
  double *measure[Q_COUNT];    /* per row (Q_OUTLIER: per vector), the value tested */
  double *aspect_share;        /* per row: share of rows with an aspect within ASPECT_WIDTH */
  audit_limits limits[Q_COUNT];
} audit_state;

void audit_state_free(audit_state *a);
/* Loads the rows with their statistics and MODEL's embeddings. */
int audit_load(audit_state *a);
/* Finds the pairs, groups, kNN graph and limits. */
int audit_find(audit_state *a);
/* Writes everything of the run in one transaction, ending with metric "rows". */
int audit_write(audit_state *a);

#endif
