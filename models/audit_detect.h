/* audit_detect.h -- the audit stage's decisions on plain arrays: limits, groups, pHash pairs, kNN scores.
**
** Thresholds are relative to the dataset's own distribution: a value is an
** outlier when its modified z-score, (x - median) / s with s = 1.4826 x MAD
** (Iglewicz & Hoaglin, "How to Detect and Handle Outliers", 1993), passes
** the limit on the side that matters.  When more than half the values are
** equal (MAD 0), s is 1.2533 x the mean absolute deviation from the median
** (the fallback IBM SPSS documents for the modified z-score); when every
** value is equal, nothing is an outlier (unless a floor is given).
*/
#ifndef CURATE_AUDIT_DETECT_H
#define CURATE_AUDIT_DETECT_H

#include <stdint.h>

typedef enum { AUDIT_LOW = -1, AUDIT_BOTH = 0, AUDIT_HIGH = 1 } audit_side;

/* Centre and scale of N values, and the limits a value must pass on SIDE to
** be an outlier at modified z-score Z (lo = -inf or hi = +inf for the side
** not checked; both infinite when the scale is 0). */
typedef struct audit_limits {
  double median, scale, lo, hi;
} audit_limits;

/* The scale is at least FLOOR (0: none): the caller's least difference that
** matters.  CUR_OK or CUR_ENOMEM. */
int audit_limits_fit(const double *x, int64_t n, audit_side side, double z, double floor,
                     audit_limits *out);
/* Whether X is outside the limits. */
int audit_limits_out(const audit_limits *l, double x);
/* Its modified z-score (0 when the scale is 0). */
double audit_limits_z(const audit_limits *l, double x);

/* Per value, the share of the N values (itself included) within WIDTH of
** it: how common its kind is in the dataset, whatever the dataset's shape
** (several modes, such as portrait and landscape photos, each common).
** CUR_OK or CUR_ENOMEM. */
int audit_share_near(const double *x, int64_t n, double width, double *share);

/* Union-find over N items; each group is named by its smallest member. */
typedef struct audit_groups audit_groups;
audit_groups *audit_groups_new(int64_t n);        /* NULL on ENOMEM */
void audit_groups_free(audit_groups *g);          /* NULL-safe */
void audit_groups_union(audit_groups *g, int64_t a, int64_t b);
/* The smallest member of A's group. */
int64_t audit_groups_find(audit_groups *g, int64_t a);

/* One candidate near-duplicate pair (a < b, row indices). */
typedef struct audit_pair {
  int64_t a, b;
  float cosine;                /* of the two rows' unit vectors; NAN when not compared */
  int hamming;                 /* of their pHashes */
} audit_pair;

/* pHashes come VIEWS to an image (row-major, n x VIEWS): hash 0 of the
** whole image, the others of views of it (models/imstats.h: its mirror,
** centre crops).  A copy made by one of those edits has a whole-image hash
** near its original's hash of that view.  The distance of two images is
** the least Hamming distance between one's whole-image hash and any hash of
** the other (symmetric; with VIEWS 1, the plain Hamming distance). */
int audit_hash_distance(const uint64_t *a, const uint64_t *b, int views);
/* Whether two images pair: whole hashes at most MAX_WHOLE bits apart, or
** one's whole hash at most MAX_VIEW bits from one of the other's views (a
** stricter limit: each view is one more chance for two different pictures
** to meet). */
int audit_hash_is_pair(const uint64_t *a, const uint64_t *b, int views, int max_whole,
                       int max_view);

/* The pairs among N images (above), sorted by (a, b), each once, with
** their distance, appended to *PAIRS (*n_pairs, *cap grow; the caller frees
** *pairs with cur_free).  Multi-index hashing (Norouzi, Punjani & Fleet,
** "Fast search in Hamming space with multi-index hashing", CVPR 2012):
** every hash is filed under each of m bands of its bits; two hashes within
** d bits agree within d/m bits on some band (pigeonhole), so each
** whole-image hash is looked up only under the band values within that
** many bits of its own, not compared with all: the same pairs as a full
** scan.  m is chosen from the hashes (models/audit_hash.c).  The queries
** run on THREADS threads; the result does not depend on their number.
** CUR_OK, CUR_ENOMEM, or CUR_EINPUT for more than 2^32 hashes. */
int audit_hash_pairs(const uint64_t *hash, int64_t n, int views, int max_whole, int max_view,
                     int threads, audit_pair **pairs, int64_t *n_pairs, int64_t *cap);

/* Per row of a kNN graph (n x k neighbour indices, -1 unused, and
** similarities): the mean cosine distance 1 - sim to its neighbours, and
** the share of its neighbours whose label equals its own (LABEL -1: none;
** rows without a label, or without labelled neighbours, get NAN), with the
** most common label among them (ties: the smaller label) in *majority. */
void audit_knn_scores(const int64_t *nbr, const float *sim, int64_t n, int k, const int *label,
                      double *distance, double *consistency, int *majority);

/* The reach of row ROW of a kNN graph: the least similarity among its
** neighbours (its k-th nearest's), NAN when it has none. */
double audit_knn_reach(const int64_t *nbr, const float *sim, int k, int64_t row);

/* Whether a kNN pair of cosine COSINE stands out from both images'
** neighbourhoods: its cosine distance 1 - COSINE is at most RATIO times
** each image's distance to its k-th nearest neighbour (1 - REACH_A,
** 1 - REACH_B; a NAN reach fails).  Features that put whole regions of a
** dataset close together (plain backgrounds to weak features) make a high
** cosine ordinary there: only a pair much closer than the image's other
** close neighbours is singled out as a copy.  The ratio test of Lowe
** ("Distinctive image features from scale-invariant keypoints", IJCV 2004)
** against the k-th neighbour rather than the second. */
int audit_knn_distinct(double cosine, double reach_a, double reach_b, double ratio);

#endif
