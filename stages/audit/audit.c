/* audit.c -- the audit stage: near-duplicates, split leaks, outliers and image quality.
**
** Two passes.  First, every ok original image without statistics is decoded
** (at most MAX_SIDE pixels a side, never enlarged) and measured
** (models/imstats.h): batches of batch_size, each one transaction, so a
** killed run resumes at the first image without statistics and the values,
** which depend on the bytes only, come out the same.  Second, all rows are
** read back with their embeddings and judged together (audit_find.c): that
** pass is written in one transaction (audit_write.c) whose last row is the
** metric "rows", so a run killed during it redoes it from the same inputs
** and ends with the same database.  docs/stages/audit.md has the methods.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "audit_internal.h"
#include "curate.h"
#include "feat.h"
#include "imstats.h"
#include "quarantine.h"
#include "stages.h"
#include "store_embed.h"
#include "store_metrics.h"

/* The longest side images are measured at: sharpness is a per-pixel
** measure, so a fixed ceiling keeps large photos comparable and bounds the
** work, while small images (CIFAR's 32 x 32) are measured as they are. */
#define MAX_SIDE 512

static int check_bits(const cJSON *v, const char *name) {
  return v->valuedouble >= 0 && v->valuedouble <= 64
             ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must be between 0 and 64", name);
}

static int check_cosine(const cJSON *v, const char *name) {
  return v->valuedouble > 0 && v->valuedouble <= 1
             ? CUR_OK : cur_errorc(CUR_ECONFIG, "%s: must be above 0 and at most 1", name);
}

static const cur_option audit_options[] = {
    {"model", CUR_OPT_STR, "\"\"",
     "embeddings model key; empty: the newest embed run's (as aum chooses)", NULL},
    {"k", CUR_OPT_INT, "10", "neighbours per image in the kNN graph", cur_option_check_positive},
    {"cosine", CUR_OPT_NUM, "0.95",
     "near-duplicates: embedding cosine similarity at or above this", check_cosine},
    {"cosine_ratio", CUR_OPT_NUM, "0.25",
     "near-duplicates by embedding: the pair's cosine distance at most this times each image's "
     "distance to its k-th nearest neighbour (0.25: half the Euclidean distance)",
     cur_option_check_positive},
    {"phash_distance", CUR_OPT_INT, "9",
     "near-duplicates: whole-image pHashes differing in at most this many of 64 bits", check_bits},
    {"phash_view_distance", CUR_OPT_INT, "6",
     "near-duplicates: one's whole-image pHash at most this many bits from the other's mirror "
     "or centre-crop hash", check_bits},
    {"max_duplicate_share", CUR_OPT_NUM, "0.1",
     "when more of the images than this share sit in near-duplicate groups of more than 10, "
     "the signals chain different pictures: pairs and groups are kept, no near_duplicate or "
     "leak flag is raised", cur_option_check_fraction},
    {"z", CUR_OPT_NUM, "3.5",
     "outlier and quality flags: modified z-score (median/MAD) beyond this", cur_option_check_positive},
    {"aspect_share", CUR_OPT_NUM, "0.01",
     "odd_aspect: flagged when fewer than this share of the images have an aspect ratio "
     "within 10% of the image's", cur_option_check_fraction},
    {"exact_max", CUR_OPT_INT, "100000",
     "images with embeddings up to which the kNN search is exact; above: IVF",
     cur_option_check_positive},
    {"ivf_nprobe", CUR_OPT_INT, "0",
     "IVF cells searched per query; 0: the least that reaches ivf_recall on held-out images",
     cur_option_check_nonnegative},
    {"ivf_recall", CUR_OPT_NUM, "0.95",
     "IVF: the recall@k against exact search that choosing ivf_nprobe aims at",
     cur_option_check_fraction},
    {"ivf_check", CUR_OPT_INT, "1000",
     "IVF: images used to choose nprobe, and as many others whose neighbours are checked "
     "against exact search (recall@k)", cur_option_check_positive},
    {"batch_size", CUR_OPT_INT, "256", "images measured per transaction", cur_option_check_positive},
    {NULL, 0, NULL, NULL, NULL}};

static const char *const audit_unhashed[] = {"batch_size", NULL};

/* One batch of the statistics pass. */
typedef struct scan {
  cur_run *run;
  int n, cap;
  int64_t last_id;
  int64_t *ids;
  cur_image_stats *stats;
  char (*why)[192];            /* the decoder's message for a row that failed */
  uint8_t *pix;                /* MAX_SIDE x MAX_SIDE x 3 */
  int64_t failed;
} scan;

/* The size an image is measured at: its own, scaled down so that its longer
** side is at most MAX_SIDE; a row without a stored size gets MAX_SIDE square. */
static void measure_size(int width, int height, int *w, int *h) {
  if (width < 1 || height < 1) width = height = MAX_SIDE;
  double s = fmin(1.0, (double)MAX_SIDE / (width > height ? width : height));
  *w = (int)fmax(1, lround(width * s));
  *h = (int)fmax(1, lround(height * s));
}

static int measure_one(void *ctx, int64_t id, int width, int height, const void *bytes, size_t len) {
  scan *sc = ctx;
  int w, h;
  imstats st;
  sc->last_id = id;
  measure_size(width, height, &w, &h);
  if (feat_image_decode(bytes, len, w, h, 3, sc->pix) != CUR_OK) {
    sc->ids[sc->n] = -id;      /* quarantined after the read: no write inside the query */
    snprintf(sc->why[sc->n++], sizeof sc->why[0], "%s", cur_error());
    return CUR_OK;
  }
  int rc = imstats_compute(sc->pix, w, h, 3, &st);
  if (rc) return rc;
  _Static_assert(IMSTATS_VIEWS == CUR_PHASH_VIEWS, "the store keeps every view's hash");
  cur_image_stats *out = &sc->stats[sc->n];
  sc->ids[sc->n++] = id;
  *out = (cur_image_stats){.sharpness = st.sharpness, .sharpness_reblur = st.sharpness_reblur,
                           .bright_p01 = st.bright_p01, .bright_p99 = st.bright_p99,
                           .entropy = st.entropy, .colourfulness = st.colourfulness};
  memcpy(out->phash, st.phash, sizeof out->phash);
  return CUR_OK;
}

/* Writes one measured batch; a row that did not decode is quarantined. */
static int write_batch(scan *sc) {
  cur_store *st = cur_run_store(sc->run);
  int rc = cur_store_begin(st);
  for (int i = 0; rc == CUR_OK && i < sc->n; i++) {
    if (sc->ids[i] < 0) {
      rc = cur_stage_quarantine(sc->run, "audit", -sc->ids[i], sc->why[i]);
      sc->failed++;
    } else {
      rc = cur_store_audit_stats_put(st, sc->ids[i], &sc->stats[i], cur_run_id(sc->run));
    }
  }
  if (rc == CUR_OK) return cur_store_commit(st);
  cur_store_rollback(st);
  return rc;
}

/* The statistics pass, resumable batch by batch. */
static int measure_all(cur_run *run) {
  cur_store *st = cur_run_store(run);
  int64_t pending;
  int rc = cur_store_audit_pending(st, &pending);
  if (rc || pending == 0) return rc;
  scan sc = {.run = run, .cap = (int)cur_opt_int(cur_run_options(run), "batch_size")};
  sc.ids = cur_mallocarray((size_t)sc.cap, sizeof *sc.ids);
  sc.stats = cur_mallocarray((size_t)sc.cap, sizeof *sc.stats);
  sc.why = cur_mallocarray((size_t)sc.cap, sizeof *sc.why);
  sc.pix = cur_mallocarray((size_t)MAX_SIDE * MAX_SIDE, 3);
  if (!sc.ids || !sc.stats || !sc.why || !sc.pix) rc = CUR_ENOMEM;
  cur_run_progress_start(run, "measure", pending);
  while (rc == CUR_OK) {
    if (cur_interrupted()) {
      rc = CUR_EINTR;
      break;
    }
    sc.n = 0;
    if ((rc = cur_store_audit_next(st, sc.last_id, sc.cap, measure_one, &sc)) || sc.n == 0) break;
    if ((rc = write_batch(&sc)) == CUR_OK) cur_run_progress_add(run, sc.n);
  }
  cur_free(sc.ids);
  cur_free(sc.stats);
  cur_free(sc.why);
  cur_free(sc.pix);
  return rc;
}

static int audit_run(cur_run *run) {
  cur_store *st = cur_run_store(run);
  const cJSON *opt = cur_run_options(run);
  audit_state a = {.run = run, .opt = opt, .model = cur_opt_str(opt, "model")};
  char *top = NULL;
  int found = 0, rc = measure_all(run);
  if (rc == CUR_OK) rc = cur_store_metric_exists(st, cur_run_id(run), "rows", &found);
  if (rc || found) return rc;  /* the judging pass committed before a kill */
  if (!a.model[0] && (rc = cur_store_embedding_model_default(st, &top, &found)) == CUR_OK) {
    if (!found || !top) cur_warn("audit: no embeddings: near-duplicates by pHash only, no outliers");
    a.model = top ? top : "";
  }
  if (rc == CUR_OK) rc = audit_load(&a);
  if (rc == CUR_OK) rc = audit_find(&a);
  if (rc == CUR_OK) rc = audit_write(&a);
  audit_state_free(&a);
  cur_free(top);
  return rc;
}

static const char *const audit_needs[] = {"embed", NULL};
/* the images, their splits and embeddings, and the labels given them */
static const char *const audit_reads[] = {"ingest", "split", "embed", CUR_READS_REVIEWS, NULL};

const cur_stage stage_audit = {
    .name = "audit",
    .summary = "flag near-duplicates, split leaks, outliers and poor images (blur, dark, ...)",
    .needs = audit_needs,
    .reads = audit_reads,
    .options = audit_options,
    .unhashed = audit_unhashed,
    .run = audit_run,
};
