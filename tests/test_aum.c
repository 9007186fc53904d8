/* test_aum.c -- mislabel ranking (models/head_noise.c), the aum stage and the review surface.
**
** aum-1.*: threshold-sample arithmetic: two disjoint subsets of n/(k+1) rows,
**          every row gets a real AUM; the same seed gives the same scores.
** aum-2.*: on separable data with every 10th label flipped, AUM and
**          confident learning flag mostly the flipped rows (in memory, and
**          through `curate run` on images whose colour is their class); with
**          30% flipped, AUM at its default percentile still finds most flips.
**          Every flag suggests a class other than the label, and no method
**          flags more rows than its own noise estimate, also where a head
**          that memorises its rows puts most of them below the threshold.
**          A run cut off between two tasks' transactions and resumed ends
**          with the same database as the uninterrupted run.
** aum-3.*: `curate flagged` lists the worst first; `curate review` accept,
**          drop and relabel change current_labels, flagged and
**          training_labels; bad ids and classes record nothing.
** aum-4.*: a multi-task head (Caruana 1997): margins are taken within each
**          task's block of logits (a hand computation); on two tasks, one
**          labelled on three rows in four, each task's flipped rows are
**          flagged by AUM and confident learning, and a row without a label
**          for a task gets no score for it (NaN, no suggestion, no flag);
**          through the stage (aum.multitask), likewise, with one head over
**          both tasks, and a run cut off between the tasks resumes to the
**          same database.
*/
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "fixtures.h"
#include "head_noise.h"
#include "rng.h"
#include "testlib.h"

#define N_IMAGES 300
#define N_CLASSES 3

static char *db;

static long long q_int(const char *sql) {
  char *r = fx_sql(db, sql);
  long long v = r ? atoll(r) : -1;
  cur_free(r);
  return v;
}

/* Three Gaussian blobs in 8 dimensions, 4 standard deviations apart; every
** 10th row's label is moved to the next class. */
static void blobs(int n, float *X, int *y, int *truth) {
  cur_rng r;
  cur_rng_seed(&r, 7);
  for (int i = 0; i < n; i++) {
    truth[i] = i % N_CLASSES;
    y[i] = i % 10 == 7 ? (truth[i] + 1) % N_CLASSES : truth[i];
    for (int j = 0; j < 8; j++) X[i * 8 + j] = (float)cur_rng_normal(&r) + (j == truth[i] ? 4.0f : 0.0f);
  }
}

static void small_head(head_config *c) {
  head_config_default(c);
  c->epochs = 15;
  c->batch_size = 32;
  c->lr = 0.05f;
  c->seed = 3;
}

TEST(threshold_subsets_are_disjoint_with_n_over_k_plus_1_rows_each) {
  signed char sub[100];
  int m, count[2] = {0, 0};
  REQUIRE_OK(head_aum_subsets(100, 3, 11, sub, &m));
  CHECK_INT(m, 25);  /* floor(100 / (3 + 1)) */
  for (int i = 0; i < 100; i++)
    if (sub[i] >= 0) count[sub[i]]++;
  CHECK_INT(count[0], 25);
  CHECK_INT(count[1], 25);
  CHECK_INT(head_aum_subsets(3, 3, 11, sub, &m), CUR_EINPUT);  /* fewer rows than k + 1 */
}

TEST(aum_flags_flipped_rows_and_repeats_itself) {
  enum { N = 600 };
  static float X[N * 8];
  static int y[N], truth[N], pred[2][N];
  static float score[2][N];
  static unsigned char flag[2][N];
  head_config c;
  float thr[2];
  small_head(&c);
  blobs(N, X, y, truth);
  for (int run = 0; run < 2; run++) {
    head_noise_out out = {.score = score[run], .suggest = pred[run], .flag = flag[run]};
    /* the median, not the paper's 99th percentile: a linear head cannot
    ** memorise the fake class, which wins only where real classes overlap,
    ** so the top percentiles of the threshold AUMs sit in those tails */
    head_rows rows = head_rows_float(X, N, 8);
    REQUIRE_OK(head_aum(&c, &rows, y, N_CLASSES, 50, &out, &thr[run]));
    FX_CHECK_FLAGS(&out, y, N);
  }
  int tp = 0, fp = 0, flipped = 0;
  for (int i = 0; i < N; i++) {
    CHECK(isfinite(score[0][i]));  /* every row has a real AUM */
    flipped += y[i] != truth[i];
    tp += flag[0][i] && y[i] != truth[i];
    fp += flag[0][i] && y[i] == truth[i];
    if (flag[0][i]) CHECK_INT(pred[0][i], truth[i]);
  }
  /* blobs 4 sd apart overlap little: a handful of clean rows may sit in
  ** another blob's tail, so demand 90% precision and recall, not 100% */
  CHECK(tp >= 0.9 * flipped);
  CHECK(tp >= 0.9 * (tp + fp));
  CHECK(memcmp(score[0], score[1], sizeof score[0]) == 0);  /* same seed, same AUMs */
  CHECK(thr[0] == thr[1]);
}

TEST(confident_learning_flags_flipped_rows) {
  enum { N = 600 };
  static float X[N * 8], score[N];
  static int y[N], truth[N], suggest[N];
  static unsigned char flag[N];
  head_config c;
  small_head(&c);
  blobs(N, X, y, truth);
  head_noise_out out = {.score = score, .suggest = suggest, .flag = flag};
  head_rows rows = head_rows_float(X, N, 8);
  REQUIRE_OK(head_confident(&c, &rows, y, N_CLASSES, 5, &out));
  FX_CHECK_FLAGS(&out, y, N);
  int tp = 0, fp = 0, flipped = 0;
  for (int i = 0; i < N; i++) {
    flipped += y[i] != truth[i];
    tp += flag[i] && y[i] != truth[i];
    fp += flag[i] && y[i] == truth[i];
    CHECK(score[i] >= 0 && score[i] <= 1);
  }
  /* a row counts only where another class's out-of-sample probability
  ** reaches that class's mean self-confidence, which flipped rows in a
  ** blob's tail miss: recall 80%; precision as for AUM */
  CHECK(tp >= 0.8 * flipped);
  CHECK(tp >= 0.9 * (tp + fp));
  CHECK_INT(head_confident(&c, &rows, y, N_CLASSES, 1, &out), CUR_ECONFIG);
}

TEST(aum_finds_most_of_30_percent_flipped_labels_at_its_default_percentile) {
  enum { N = 600 };
  static float X[N * 8], score[N];
  static int y[N], truth[N], suggest[N];
  static unsigned char flag[N];
  head_config c;
  float thr;
  small_head(&c);
  blobs(N, X, y, truth);
  /* rows 1, 4 and 7 of every 10 (30%) carry one of the two other classes */
  for (int i = 0; i < N; i++) y[i] = i % 10 == 1 || i % 10 == 4 || i % 10 == 7
                                         ? (truth[i] + 1 + i % 2) % N_CLASSES : truth[i];
  head_noise_out out = {.score = score, .suggest = suggest, .flag = flag};
  head_rows rows = head_rows_float(X, N, 8);
  REQUIRE_OK(head_aum(&c, &rows, y, N_CLASSES, 99, &out, &thr));
  FX_CHECK_FLAGS(&out, y, N);
  int tp = 0, fp = 0, flipped = 0;
  for (int i = 0; i < N; i++) {
    flipped += y[i] != truth[i];
    tp += flag[i] && y[i] != truth[i];
    fp += flag[i] && y[i] == truth[i];
  }
  printf("  noise estimate %.3f (true %.3f): %d flagged, recall %.3f, precision %.3f\n",
         out.noise, (double)flipped / N, tp + fp, (double)tp / flipped, (double)tp / (tp + fp));
  /* Measured: estimate 0.350, 182 flagged, recall 0.956, precision 0.945.
  ** The cap is the estimate, which may come out under the true 30% (flipped
  ** rows in a blob's tail score like clean ones) and then costs recall:
  ** demand 80%.  The blobs barely overlap, so what is flagged is nearly all
  ** flipped: demand 90%, as for 10% noise above. */
  CHECK(tp >= 0.8 * flipped);
  CHECK(tp >= 0.9 * (tp + fp));
  CHECK(out.noise >= 0.2 && out.noise <= 0.4);
}

/* 300 rows in 400 dimensions, 3 classes 1 sd apart, labels all right: a
** linear head with more dimensions than rows learns even the fake class, so
** the threshold rows' AUMs rise above most real rows' (the clothing photos
** of issue 10: 85% flagged, most suggesting their own label). */
TEST(a_head_that_memorises_flags_no_row_for_being_uncertain) {
  enum { N = 300, D = 400 };
  static float X[N * D], score[N];
  static int y[N], suggest[N];
  static unsigned char flag[N];
  cur_rng r;
  cur_rng_seed(&r, 13);
  for (int i = 0; i < N; i++) {
    y[i] = i % N_CLASSES;
    for (int j = 0; j < D; j++) X[i * D + j] = (float)cur_rng_normal(&r) + (j == y[i] ? 1.0f : 0.0f);
  }
  head_config c;
  float thr;
  small_head(&c);
  head_noise_out out = {.score = score, .suggest = suggest, .flag = flag};
  head_rows rows = head_rows_float(X, N, D);
  REQUIRE_OK(head_aum(&c, &rows, y, N_CLASSES, 99, &out, &thr));
  FX_CHECK_FLAGS(&out, y, N);
  int below = 0, flagged = 0;
  for (int i = 0; i < N; i++) {
    below += score[i] < thr;
    flagged += flag[i];
  }
  printf("  %d of %d below the threshold, %d uncertain, %d candidates, noise %.3f, %d flagged\n",
         below, N, out.uncertain, out.candidates, out.noise, flagged);
  CHECK(below > N / 2);                            /* the situation this test is about */
  CHECK_INT(out.uncertain + out.candidates, below);
  CHECK(out.uncertain > 0);
  CHECK(flagged < N / 10);                         /* every label is right */
  head_noise_out conf = {.score = score, .suggest = suggest, .flag = flag};
  REQUIRE_OK(head_confident(&c, &rows, y, N_CLASSES, 5, &conf));
  FX_CHECK_FLAGS(&conf, y, N);
}

/* Two rows, tasks of 3 and 2 logits.  Each margin is the label's logit
** minus the largest OTHER logit OF ITS BLOCK: the numbers are chosen so that
** the largest other logit of the whole row would give another answer. */
TEST(aum_margins_are_taken_within_each_tasks_block) {
  static const float z[2 * 5] = {2, 5, 1, 0.5f, -1,   /* row 0 */
                                 1, 0, 3, 4, 2};      /* row 1 */
  static const int task_k[2] = {3, 2}, label[2 * 2] = {0, 1, -1, 0};
  double m[4] = {7, 7, 7, 7};  /* added to: 7 stands for the earlier epochs' sum */
  head_aum_margins_add(z, 2, task_k, 2, label, m);
  CHECK_NEAR(m[0], 7 + (2.0 - 5.0), 1e-12);    /* row 0, task 0: the block's 5, not 0.5 */
  CHECK_NEAR(m[1], 7 + (-1.0 - 0.5), 1e-12);   /* row 0, task 1: 0.5, not the row's 5 */
  CHECK_NEAR(m[2], 7, 0);                      /* row 1 has no label for task 0: no margin */
  CHECK_NEAR(m[3], 7 + (4.0 - 2.0), 1e-12);    /* row 1, task 1: 2, not the row's 3 */
  head_aum_margins_add(z, 2, task_k, 2, label, m);  /* a second epoch adds as much again */
  CHECK_NEAR(m[1], 7 + 2 * (-1.0 - 0.5), 1e-12);
  CHECK_NEAR(m[2], 7, 0);
}

/* Task A: the three blobs of blobs(); task B: a second attribute, two
** classes 4 sd apart along dimension 6, with every 10th row (3 of 10)
** flipped, and no label on every 4th row. */
static void two_tasks(int n, float *X, int *y2, int *yA, int *yB, int *truthA, int *truthB) {
  blobs(n, X, yA, truthA);
  for (int i = 0; i < n; i++) {
    truthB[i] = (i / 3) % 2;
    X[i * 8 + 6] += truthB[i] ? 4.0f : 0.0f;
    X[i * 8 + 7] += truthB[i] ? 4.0f : 0.0f;
    yB[i] = i % 4 == 1 ? -1 : i % 10 == 3 ? 1 - truthB[i] : truthB[i];
    y2[2 * i] = yA[i];
    y2[2 * i + 1] = yB[i];
  }
}

/* Flags of O that are right (Y != TRUTH) and wrong, and how many rows are flipped. */
static void tally(const head_noise_out *o, const int *y, const int *truth, int n, int *tp, int *fp,
                  int *flipped) {
  *tp = *fp = *flipped = 0;
  for (int i = 0; i < n; i++) {
    *flipped += y[i] >= 0 && y[i] != truth[i];
    *tp += o->flag[i] && y[i] != truth[i];
    *fp += o->flag[i] && y[i] == truth[i];
  }
}

/* Right flags of METHOD (0 AUM, 1 confident) with a head of task Y alone
** (K classes), on the rows labelled for it. */
static int one_task_right(int method, const float *X, const int *y, const int *truth, int n, int k) {
  enum { N = 600 };
  static float Xt[N * 8], score[N];
  static int yt[N], tt[N], suggest[N];
  static unsigned char flag[N];
  head_config c;
  float thr;
  int m = 0, tp = 0, fp, flipped;
  small_head(&c);
  for (int i = 0; i < n && i < N; i++)
    if (y[i] >= 0) {
      memcpy(Xt + m * 8, X + i * 8, 8 * sizeof *X);
      yt[m] = y[i], tt[m++] = truth[i];
    }
  head_noise_out o = {.score = score, .suggest = suggest, .flag = flag};
  head_rows rows = head_rows_float(Xt, m, 8);
  int rc = method ? head_confident(&c, &rows, yt, k, 5, &o) : head_aum(&c, &rows, yt, k, 50, &o, &thr);
  if (rc == CUR_OK) tally(&o, yt, tt, m, &tp, &fp, &flipped);
  return rc == CUR_OK ? tp : -1;
}

TEST(a_multitask_head_scores_each_task_on_the_rows_labelled_for_it) {
  enum { N = 600 };
  static float X[N * 8], score[2][N];
  static int y2[2 * N], yA[N], yB[N], truthA[N], truthB[N], suggest[2][N];
  static unsigned char flag[2][N];
  static const int task_k[2] = {N_CLASSES, 2};
  const int *ys[2] = {yA, yB}, *truths[2] = {truthA, truthB};
  head_config c;
  float thr[2];
  small_head(&c);
  c.n_tasks = 2;
  c.task_classes = task_k;
  two_tasks(N, X, y2, yA, yB, truthA, truthB);
  head_rows rows = head_rows_float(X, N, 8);
  head_noise_out out[2] = {{.score = score[0], .suggest = suggest[0], .flag = flag[0]},
                           {.score = score[1], .suggest = suggest[1], .flag = flag[1]}};
  for (int method = 0; method < 2; method++) {
    if (method == 0) REQUIRE_OK(head_aum(&c, &rows, y2, N_CLASSES + 2, 50, out, thr));
    else REQUIRE_OK(head_confident(&c, &rows, y2, N_CLASSES + 2, 5, out));
    for (int t = 0; t < 2; t++) {
      int tp, fp, flipped, labelled = 0, flags = 0;
      int alone = one_task_right(method, X, ys[t], truths[t], N, task_k[t]);
      tally(&out[t], ys[t], truths[t], N, &tp, &fp, &flipped);
      for (int i = 0; i < N; i++) {
        labelled += ys[t][i] >= 0;
        flags += flag[t][i];
        if (ys[t][i] >= 0) CHECK(isfinite(score[t][i]));
        else CHECK_MSG(isnan(score[t][i]) && suggest[t][i] == -1 && !flag[t][i],
                       "method %d task %d row %d: no label, yet score %g, suggestion %d, flag %d",
                       method, t, i, score[t][i], suggest[t][i], flag[t][i]);
      }
      printf("  %s, task %d: %d labelled, %d flipped, %d flagged (%d right; a head of the task "
             "alone: %d right), noise %.3f\n", method ? "confident learning" : "AUM", t, labelled,
             flipped, tp + fp, tp, alone, out[t].noise);
      CHECK_INT(labelled, t == 0 ? N : N - N / 4);
      /* the cap counts the task's own rows */
      CHECK(flags <= (int)floor(out[t].noise * labelled + 1e-9));
      FX_CHECK_FLAGS(&out[t], ys[t], N);
      /* Measured: AUM 52 of 60 and 28 of 30 right, 3 and 6 wrong;
      ** confident learning 39 of 60 and 13 of 30, 1 wrong each (its
      ** calibrated joint finds little noise after 15 epochs at lr 0.05;
      ** a head of the task alone finds as few).  A logreg head shares no
      ** weight between tasks, so a task's flags should come out near those
      ** of a head of that task alone (not equal: another seed stream);
      ** blocks or rows mixed up between tasks would wreck both bounds. */
      CHECK(tp >= (method ? 0.4 : 0.8) * flipped);
      CHECK(tp >= 0.8 * (tp + fp));
      CHECK(alone >= 0 && abs(tp - alone) <= flipped / 10);
    }
    if (method == 0) CHECK(thr[0] != thr[1]);  /* a threshold per task */
  }
  /* the tasks' classes must add up to the k given */
  CHECK_INT(head_aum(&c, &rows, y2, N_CLASSES + 3, 50, out, thr), CUR_ECONFIG);
}

/* Every clean_gap-th image (from the third) has no label of task clean; 0: all have one. */
static int clean_gap;

/* N_IMAGES 4x4 PPM images whose dominant channel is their class, a label
** file with every 10th label moved to the next class (task label) and the
** true classes (task clean), and a database with pixels embeddings. */
static int colour_corpus(const char *config) {
  static const char names[] = "rgb";
  char *csv = cur_strdup("path,label,clean\n");
  cur_rng r;
  int rc = test_sh("cd '%s' && rm -rf img a.db* && mkdir -p img", T.scratch);
  cur_rng_seed(&r, 5);
  for (int i = 0; rc == 0 && csv && i < N_IMAGES; i++) {
    unsigned char ppm[64] = "P6\n4 4\n255\n";
    size_t head = strlen((char *)ppm);
    for (int p = 0; p < 48; p++)
      ppm[head + p] = (unsigned char)((p % 3 == i % N_CLASSES ? 160 : 90) + cur_rng_below(&r, 60));
    char rel[32], *path;
    snprintf(rel, sizeof rel, "img/%03d.ppm", i);
    rc = (path = test_scratch_path(rel)) ? test_write_file(path, ppm, head + 48) : -1;
    cur_free(path);
    int given = i % 10 == 7 ? (i + 1) % N_CLASSES : i % N_CLASSES;
    int no_clean = clean_gap && i % clean_gap == 2;  /* even: never a flipped row */
    char *grown = cur_asprintf("%s%03d.ppm,%c,%.*s\n", csv, i, names[given], no_clean ? 0 : 1,
                               names + i % N_CLASSES);
    cur_free(csv);
    csv = grown;
  }
  char *csv_path = test_scratch_path("labels.csv"), *cfg = test_scratch_path("aum.json");
  if (rc == 0 && csv && csv_path && cfg) {
    rc = test_write_file(csv_path, csv, strlen(csv)) || test_write_file(cfg, config, strlen(config));
    rc = rc || fx_curate("init.log", "--db a.db --config aum.json init") ||
         fx_curate("ingest.log", "--db a.db --config aum.json ingest img --labels labels.csv "
                   "--task label=label --task clean=clean --split train") ||
         fx_curate("run.log", "--db a.db --config aum.json run");
  }
  cur_free(csv);
  cur_free(csv_path);
  cur_free(cfg);
  cur_free(db);
  db = test_scratch_path("a.db");
  return rc;
}

static const char both_config[] =
    "{\"embed\": {\"features\": \"pixels\", \"size\": 4}, "
    "\"aum\": {\"mode\": \"both\", \"combine\": \"both\", \"tasks\": [\"label\"]}}";

/* The mislabel flags: `flagged` also lists the audit stage's (near-duplicate,
** quality), which hold no row back. */
#define MISLABEL_FLAGS "SELECT count(*) FROM flagged WHERE reason IN ('aum', 'confident')"

/* Flagged rows of the newest aum run whose label differs from the clean one. */
#define FLAGGED_WRONG                                                                    \
  "SELECT count(*) FROM flagged f JOIN current_labels c ON c.image_id = f.image_id "   \
  "AND c.task = 'clean' WHERE f.label <> c.class AND f.reason IN ('aum', 'confident')"

TEST(the_stage_flags_the_flipped_labels_through_curate_run) {
  REQUIRE(colour_corpus(both_config) == 0);
  long long flagged = q_int(MISLABEL_FLAGS), wrong = q_int(FLAGGED_WRONG);
  /* 30 labels are flipped; the colours overlap a little (noise 0..59 on
  ** 90 vs 160), so allow a few misses and false alarms */
  CHECK(wrong >= 26);
  CHECK(flagged <= wrong + 4);
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'aum'"), N_IMAGES);
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'confident'"), N_IMAGES);
  CHECK_INT(q_int("SELECT count(*) FROM metrics WHERE name = 'label.aum_threshold'"), 1);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'label.flagged'"), flagged);
  /* a forced re-run with the same seed computes the same scores */
  CHECK_INT(fx_curate("again.log", "--db a.db --config aum.json run --stage aum --force"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM scores a JOIN scores b ON b.image_id = a.image_id "
                  "AND b.kind = a.kind AND b.run_id > a.run_id WHERE a.value = b.value "
                  "AND a.suggested_class_id IS b.suggested_class_id"), 2 * N_IMAGES);
  CHECK_INT(q_int(MISLABEL_FLAGS), flagged);  /* the newest run's only */
}

/* Runs CONFIG (aum checks both tasks), cuts the aum run off after task
** label's transaction and resumes it: the database must end as after the
** uninterrupted run. */
static void cut_off_and_resume(const char *config) {
  REQUIRE(colour_corpus(config) == 0);
  char *whole = fx_dump(db);
  /* what a kill after the first task's commit leaves: the second task
  ** (clean) unwritten and the run not complete */
  REQUIRE(test_sh("sqlite3 '%s' \"CREATE TEMP TABLE r AS SELECT id FROM runs WHERE stage = 'aum'; "
                  "DELETE FROM scores WHERE task_id = 2 AND run_id IN r; DELETE FROM flags WHERE "
                  "task_id = 2 AND run_id IN r; DELETE FROM metrics WHERE name LIKE 'clean.%%' "
                  "AND run_id IN r; UPDATE runs SET status = 'interrupted' WHERE id IN r\"",
                  db) == 0);
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind IN ('aum', 'confident')"),
            2 * N_IMAGES);  /* task label's only */
  CHECK_INT(q_int("SELECT count(*) FROM metrics WHERE name = 'clean.rows'"), 0);
  /* the rows task label's transaction wrote, by rowid: a resume that did the
  ** task again would write them anew (or fail on their keys) */
  static const char written[] =
      "SELECT (SELECT group_concat(rowid) FROM (SELECT rowid FROM scores WHERE task_id = 1 ORDER BY rowid)) "
      "|| '/' || (SELECT group_concat(id) FROM (SELECT id FROM flags WHERE task_id = 1 ORDER BY id)) "
      "|| '/' || (SELECT group_concat(rowid) FROM (SELECT rowid FROM metrics WHERE name LIKE 'label.%' "
      "ORDER BY rowid))";
  char *before = fx_sql(db, written);
  CHECK_INT(fx_curate("resume.log", "--db a.db --config aum.json run"), 0);
  char *resumed = fx_dump(db), *after = fx_sql(db, written);
  CHECK(before && strlen(before) > 10);
  CHECK_STR(after, before);
  CHECK_INT(q_int("SELECT count(*) FROM runs WHERE stage = 'aum'"), 1);  /* resumed under its id */
  CHECK(whole && resumed && strcmp(whole, resumed) == 0);
  cur_free(before);
  cur_free(after);
  cur_free(whole);
  cur_free(resumed);
}

TEST(a_run_cut_off_between_tasks_resumes_to_the_same_database) {
  cut_off_and_resume("{\"embed\": {\"features\": \"pixels\", \"size\": 4}, "
                     "\"aum\": {\"mode\": \"both\"}}");
}

/* The joint heads learn from both tasks, the one written before the cut included. */
TEST(a_multitask_run_cut_off_between_tasks_resumes_to_the_same_database) {
  cut_off_and_resume("{\"embed\": {\"features\": \"pixels\", \"size\": 4}, "
                     "\"aum\": {\"mode\": \"both\", \"multitask\": true}}");
}

/* Task clean lacks a label on every 4th image: aum.multitask checks both
** tasks with one head; each is scored on its own labelled rows only. */
TEST(the_stage_checks_the_tasks_together_with_aum_multitask) {
  clean_gap = 4;
  int built = colour_corpus("{\"embed\": {\"features\": \"pixels\", \"size\": 4}, "
                            "\"aum\": {\"mode\": \"both\", \"multitask\": true}}");
  clean_gap = 0;
  REQUIRE(built == 0);
  /* (pseudolabel, which runs after aum, gives the others teacher labels) */
  CHECK_INT(q_int("SELECT count(*) FROM current_labels WHERE task = 'clean' AND source = 'human'"),
            N_IMAGES - N_IMAGES / 4);
  CHECK_INT(q_int("SELECT count(*) FROM scores s JOIN tasks t ON t.id = s.task_id "
                  "WHERE t.name = 'label' AND s.kind = 'aum'"), N_IMAGES);
  CHECK_INT(q_int("SELECT count(*) FROM scores s JOIN tasks t ON t.id = s.task_id "
                  "WHERE t.name = 'clean' AND s.kind = 'aum'"), N_IMAGES - N_IMAGES / 4);
  /* no score of task clean for an image without a label of it, by either method */
  CHECK_INT(q_int("SELECT count(*) FROM scores s JOIN tasks t ON t.id = s.task_id "
                  "WHERE t.name = 'clean' AND s.kind IN ('aum', 'confident') AND s.image_id NOT IN "
                  "(SELECT image_id FROM current_labels WHERE task = 'clean' AND source = 'human')"), 0);
  CHECK_INT(q_int("SELECT count(*) FROM metrics WHERE name IN ('label.head_tasks', "
                  "'clean.head_tasks') AND value = 2"), 2);
  CHECK_INT(q_int("SELECT value FROM metrics WHERE name = 'clean.rows'"), N_IMAGES - N_IMAGES / 4);
  /* the bounds of the one-task run above; task clean's labels are all right */
  long long wrong = q_int(FLAGGED_WRONG);
  CHECK(wrong >= 26);
  CHECK(q_int(MISLABEL_FLAGS) <= wrong + 4);
  char *log = fx_read("run.log");
  CHECK(log && strstr(log, "aum: tasks label, clean together: one multi-task head over 300 rows, "
                           "6 classes in all"));
  cur_free(log);
}

TEST(review_decisions_change_what_later_stages_see) {
  REQUIRE(colour_corpus(both_config) == 0);
  REQUIRE(q_int(MISLABEL_FLAGS) > 3);
  long long base = q_int("SELECT count(*) FROM training_labels WHERE task = 'label'");
  CHECK_INT(base, N_IMAGES - q_int(MISLABEL_FLAGS));
  CHECK_INT(fx_curate("f.log", "--db a.db flagged --task label --reason aum --limit 3 --json"), 0);
  char *json = fx_read("f.log");
  cJSON *arr = json ? cJSON_Parse(strchr(json, '[')) : NULL;
  REQUIRE(cJSON_GetArraySize(arr) == 3);
  int64_t id[3];
  for (int i = 0; i < 3; i++) id[i] = (int64_t)JSON_NUM(JSON_AT(arr, i), "image_id");
  CHECK(JSON_NUM(JSON_AT(arr, 0), "score") <=
        JSON_NUM(JSON_AT(arr, 1), "score"));  /* worst first */
  cJSON_Delete(arr);
  cur_free(json);
  /* errors name the culprit and record nothing */
  CHECK_INT(fx_curate("e1.log", "--db a.db review accept %lld 99999 --task label", (long long)id[0]), 1);
  CHECK_INT(fx_curate("e2.log", "--db a.db review relabel %lld purple --task label", (long long)id[0]), 1);
  CHECK_INT(fx_curate("e3.log", "--db a.db review accept %lld", (long long)id[0]), 1);  /* two tasks */
  CHECK_INT(fx_curate("e4.log", "--db a.db review frobnicate 1"), 2);
  char *log = fx_read("e1.log");
  CHECK(log && strstr(log, "image 99999: no such image"));
  cur_free(log);
  CHECK_INT(q_int("SELECT count(*) FROM labels WHERE source = 'review'"), 0);
  CHECK_INT(fx_curate("r1.log", "--db a.db review accept %lld --task label", (long long)id[0]), 0);
  CHECK_INT(fx_curate("r2.log", "--db a.db review drop %lld --task label", (long long)id[1]), 0);
  CHECK_INT(fx_curate("r3.log", "--db a.db review relabel %lld b --task label", (long long)id[2]), 0);
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM flagged WHERE image_id IN (%lld, %lld, %lld) "
           "AND review_status <> 'pending' AND reason IN ('aum', 'confident')",
           (long long)id[0], (long long)id[1], (long long)id[2]);
  CHECK_INT(q_int(sql), 3);
  snprintf(sql, sizeof sql, "SELECT class FROM current_labels WHERE task = 'label' AND image_id = %lld",
           (long long)id[2]);
  char *cls = fx_sql(db, sql);
  CHECK(cls && strncmp(cls, "b", 1) == 0);
  cur_free(cls);
  /* accepted and relabelled rows come back, the dropped one stays out */
  CHECK_INT(q_int("SELECT count(*) FROM training_labels WHERE task = 'label'"), base + 2);
  CHECK_INT(fx_curate("f2.log", "--db a.db flagged --reason aum"), 0);
  log = fx_read("f2.log");
  CHECK(log && strstr(log, "suggested") && strstr(log, "pending"));
  cur_free(log);
}

TEST(confident_mode_flags_with_reason_confident) {
  REQUIRE(colour_corpus("{\"embed\": {\"features\": \"pixels\", \"size\": 4}, "
                        "\"aum\": {\"mode\": \"confident\", \"tasks\": [\"label\"]}}") == 0);
  long long flagged = q_int("SELECT count(*) FROM flagged WHERE reason = 'confident'");
  CHECK(q_int(FLAGGED_WRONG) >= 26);  /* bounds as for AUM */
  CHECK(flagged <= q_int(FLAGGED_WRONG) + 4);
  CHECK_INT(q_int("SELECT count(*) FROM scores WHERE kind = 'aum'"), 0);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(threshold_subsets_are_disjoint_with_n_over_k_plus_1_rows_each);
  RUN(aum_flags_flipped_rows_and_repeats_itself);
  RUN(confident_learning_flags_flipped_rows);
  RUN(aum_finds_most_of_30_percent_flipped_labels_at_its_default_percentile);
  RUN(a_head_that_memorises_flags_no_row_for_being_uncertain);
  RUN(aum_margins_are_taken_within_each_tasks_block);
  RUN(a_multitask_head_scores_each_task_on_the_rows_labelled_for_it);
  RUN(the_stage_flags_the_flipped_labels_through_curate_run);
  RUN(review_decisions_change_what_later_stages_see);
  RUN(a_run_cut_off_between_tasks_resumes_to_the_same_database);
  RUN(a_multitask_run_cut_off_between_tasks_resumes_to_the_same_database);
  RUN(the_stage_checks_the_tasks_together_with_aum_multitask);
  RUN(confident_mode_flags_with_reason_confident);
  cur_free(db);
  return test_finish();
}
