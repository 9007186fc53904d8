/* test_shard.c -- sharded embed (`curate run --stage embed --shard I/N`) and `curate merge`.
**
** The oracle is always a single-machine `curate run --stage embed` on a copy
** of the same database: the merged database must equal it table by table
** (fx_dump: every column but timings), embeddings byte for byte.
**
** shard-1.*: 4 shards merged equal one run (vectors, dictionary, an image
**            only embed fails on quarantined, the embed run and its counts),
**            embed is up to date, and the stages after it give the same rows.
** shard-2.*: shards read only: the database file is unchanged and no runs
**            row appears, and a shard runs while a writer holds the lock.
** shard-3.*: a shard killed by SIGKILL (once its file exists, again part-way)
**            leaves no shard file; merging the
**            others leaves embed interrupted; the shard run again alone and
**            merged gives the single run's database.
** shard-4.*: a shard made before the database changed (an image ingested)
**            or under other embed options is refused by name with what
**            differs, and nothing of it is imported.
** shard-5.*: merging the same files again (or twice in one command) is a no-op.
** shard-6.*: a truncated, damaged, hand-edited or unfinished shard file, or
**            a file that is no shard, is refused naming it; the others go in.
** shard-7.*: a CLIP checkpoint (../shared/clip/tiny-hf, batches of 7, so
**            other batches than one run's): the same vectors, byte for byte.
** shard-8.*: bad --shard values and stages that cannot be sharded are refused.
** shard-9.*: scripts/slurm/submit-embed refuses a database whose WAL holds
**            writes not yet in the database file (nodes on a network
**            filesystem cannot read them), before submitting anything.
** shard-10.*: augment in 4 shards, merged in any order (a shard whose plan
**            pairs come after unmerged ones waits, or is refused alone and
**            goes in later) equals one augment run; the later stages agree.
** shard-11.*: a shard run removes the temporary files that killed runs of
**            the same shard left (their process is gone), not a live one's.
*/
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "progress.h"
#include "testlib.h"

#define SHARDS 4

/* Patches features: a dictionary learned from train, so the shards must
** agree on it as well as on the vectors. */
static const char config[] =
    "{\"embed\": {\"patches_k\": 16, \"size\": 16, \"patches_samples\": 20000}}";

static int write_config(const char *name, const char *text) {
  char *path = test_scratch_path(name);
  int rc = path ? test_write_file(path, text, strlen(text)) : -1;
  cur_free(path);
  return rc;
}

/* DB (scratch-relative) with N_IMAGES PNGs in two classes and one broken
** file (quarantined by ingest), then one training image's bytes replaced
** by a non-image, as if changed after ingest: embed quarantines it. */
static int corpus(const char *db, int n_images) {
  static const char *const classes[] = {"a", "b"};
  int counts[2] = {n_images / 2, n_images - n_images / 2};
  int rc = write_config("shard.json", config);
  rc |= test_sh("cd '%s' && rm -rf img-%s %s*", T.scratch, db, db);
  char *root = cur_asprintf("img-%s", db);
  rc |= root ? fx_image_tree(root, classes, counts, 2, 16, 16, "png", 900) : -1;
  cur_free(root);
  rc |= test_sh("printf 'not a png' > '%s/img-%s/a/broken.png'", T.scratch, db);
  rc |= fx_curate("init.log", "--db %s --config shard.json init", db);
  if (rc || fx_curate("ingest.log", "--db %s --config shard.json ingest img-%s", db, db) != 3) return -1;
  return test_sh("cd '%s' && sqlite3 %s \"UPDATE images SET bytes = X'00010203' WHERE id = "
                 "(SELECT min(id) FROM images WHERE status = 'ok' AND split = 'train')\"", T.scratch, db);
}

/* Copies database FROM to TO (both scratch-relative; no curate is running). */
static int copy_db(const char *from, const char *to) {
  return test_sh("cd '%s' && rm -f %s %s-wal %s-shm %s.embed-shard-* && cp %s %s", T.scratch, to, to, to,
                 to, from, to);
}

/* Runs shard I of SHARDS on DB under CFG; returns curate's exit code. */
static int shard_with(const char *db, const char *cfg, int i) {
  return fx_curate("shard.log", "--db %s --config %s run --stage embed --shard %d/%d", db, cfg, i, SHARDS);
}

static int shard(const char *db, int i) {
  return shard_with(db, "shard.json", i);
}

static char *shard_file(const char *db, int i) {
  return cur_asprintf("%s.embed-shard-%d-of-%d.sqlite", db, i, SHARDS);
}

static char *embeddings(const char *db) {
  char *path = test_scratch_path(db);
  char *rows = fx_sql(path, "SELECT image_id, model, dim, hex(vector), run_id FROM embeddings "
                            "ORDER BY model, image_id");
  cur_free(path);
  return rows;
}

static char *dump(const char *db) {
  char *path = test_scratch_path(db);
  char *rows = fx_dump(path);
  cur_free(path);
  return rows;
}

static long long count(const char *db, const char *sql) {
  char *path = test_scratch_path(db);
  long long n = fx_sql_int(path, sql);
  cur_free(path);
  return n;
}

/* Fails the case unless the two databases hold the same rows, embeddings
** compared byte for byte (hex) first so that a failure says which part. */
static void check_same(const char *got, const char *want, int line) {
  char *e1 = embeddings(got), *e2 = embeddings(want), *d1 = dump(got), *d2 = dump(want);
  test_checks += 2;
  if (!e1 || !e2 || strlen(e2) < 1000 || strcmp(e1, e2) != 0)
    test_fail(__FILE__, line, "%s's embeddings differ from %s's", got, want);
  else if (!d1 || !d2 || strcmp(d1, d2) != 0)
    test_fail(__FILE__, line, "%s's rows differ from %s's (embeddings equal)", got, want);
  cur_free(e1);
  cur_free(e2);
  cur_free(d1);
  cur_free(d2);
}
#define CHECK_SAME(got, want) check_same(got, want, __LINE__)

/* The log of the last command contains TEXT. */
static int log_has(const char *log, const char *text) {
  char *l = fx_read(log);
  int found = l && strstr(l, text);
  if (!found) fprintf(stderr, "%s does not contain \"%s\":\n%s\n", log, text, l ? l : "(none)");
  cur_free(l);
  return found;
}

/* corpus.db: the corpus; single.db: its single-machine embed run. */
static int prepared;
static int prepare(void) {
  if (prepared) return 0;
  if (corpus("corpus.db", 60) || copy_db("corpus.db", "single.db")) return -1;
  /* 3: the image embed cannot decode is quarantined */
  if (fx_curate("single.log", "--db single.db --config shard.json run --stage embed") != 3) return -1;
  prepared = 1;
  return 0;
}

TEST(four_shards_merged_equal_one_run) {
  REQUIRE(prepare() == 0);
  REQUIRE(copy_db("corpus.db", "sharded.db") == 0);
  long long vectors = 0;
  for (int i = 0; i < SHARDS; i++) {
    /* every shard learns the dictionary from train, so each meets the bad image */
    CHECK_INT(shard("sharded.db", i), 3);
    char *f = shard_file("sharded.db", i), sql[128];
    /* each holds its share only: the images whose id modulo 4 is i */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM vectors WHERE image_id %% %d != %d", SHARDS, i);
    CHECK_INT(count(f, sql), 0);
    vectors += count(f, "SELECT count(*) FROM vectors");
    cur_free(f);
  }
  CHECK_INT(vectors, count("single.db", "SELECT count(*) FROM embeddings"));
  CHECK_INT(fx_curate("merge.log", "--db sharded.db --config shard.json merge sharded.db.embed-shard-*"), 3);
  CHECK(log_has("merge.log", "cannot be decoded"));
  CHECK_SAME("sharded.db", "single.db");
  CHECK_INT(count("sharded.db", "SELECT count(*) FROM images WHERE status_reason LIKE 'embed: cannot decode: %'"), 1);
  CHECK_INT(fx_curate("status.log", "--db sharded.db --config shard.json status"), 0);
  CHECK(log_has("status.log", "embed        up to date"));
  /* the stages after embed run on the merged database as on the single run's */
  REQUIRE(copy_db("single.db", "single-after.db") == 0);
  CHECK_INT(fx_curate("after1.log", "--db sharded.db --config shard.json run --until balance"), 0);
  CHECK_INT(fx_curate("after2.log", "--db single-after.db --config shard.json run --until balance"), 0);
  CHECK(count("sharded.db", "SELECT count(*) FROM runs WHERE stage = 'aum' AND status = 'complete'") == 1);
  CHECK_SAME("sharded.db", "single-after.db");
  /* that run did not embed anything again */
  CHECK(log_has("after1.log", "embed: up to date"));
}

TEST(shards_only_read_the_database) {
  REQUIRE(prepare() == 0);
  REQUIRE(copy_db("corpus.db", "ro.db") == 0);
  REQUIRE(test_sh("cd '%s' && sha256sum ro.db > ro.sum", T.scratch) == 0);
  long long runs = count("ro.db", "SELECT count(*) FROM runs");
  /* a writer holds curate's lock (flock on the database file) meanwhile */
  REQUIRE(test_sh("cd '%s' && (flock -x ro.db sleep 30 & echo $! > flock.pid) && sleep 0.3", T.scratch) == 0);
  for (int i = 0; i < SHARDS; i++) CHECK_INT(shard("ro.db", i), 3);
  CHECK_INT(fx_curate("locked.log", "--db ro.db --config shard.json run --stage embed"), 1);
  CHECK(log_has("locked.log", "another curate process is writing to this database"));
  test_sh("cd '%s' && kill $(cat flock.pid)", T.scratch);
  CHECK_INT(test_sh("cd '%s' && sha256sum -c --quiet ro.sum", T.scratch), 0);
  CHECK_INT(count("ro.db", "SELECT count(*) FROM runs"), runs);
  CHECK_INT(count("ro.db", "SELECT count(*) FROM embeddings"), 0);
}

/* Whether process PID's temporary file of shard I exists yet. */
static int temp_exists(const char *db, int i, int pid) {
  return test_sh("test -e '%s/%s.embed-shard-%d-of-%d.sqlite.tmp-%d'", T.scratch, db, i, SHARDS, pid) == 0;
}

/* A dictionary that takes a while to learn, so that a shard can be killed
** part-way: 400 images, 300,000 patches, 64 centroids. */
static const char heavy_config[] =
    "{\"embed\": {\"patches_k\": 64, \"size\": 16, \"patches_samples\": 300000}}";

TEST(killed_shard_rerun_alone_gives_the_same) {
  REQUIRE(corpus("heavy.db", 400) == 0 && write_config("heavy.json", heavy_config) == 0);
  REQUIRE(copy_db("heavy.db", "killed.db") == 0);
  CHECK_INT(fx_curate("hsingle.log", "--db heavy.db --config heavy.json run --stage embed"), 3);
  double t0 = cur_now();
  CHECK_INT(shard_with("killed.db", "heavy.json", 0), 3);
  double clean = cur_now() - t0;
  for (int i = 2; i < SHARDS; i++) CHECK_INT(shard_with("killed.db", "heavy.json", i), 3);
  /* shard 1, killed twice: as soon as its file exists (always lands: the
  ** dictionary alone takes seconds), then at 60% of the time a whole shard
  ** took (lands unless the machine got faster meanwhile; counted if so) */
  static const char *const args[] = {"--db", "killed.db", "--config", "heavy.json", "run", "--stage",
                                     "embed", "--shard", "1/4", NULL};
  static const double at[] = {0, 0.6};
  int landed = 0;
  for (size_t k = 0; k < CUR_ARRAY_LEN(at); k++) {
    int pid = fx_spawn("killed.log", args);
    for (int w = 0; w < 4000 && !temp_exists("killed.db", 1, pid); w++) usleep(2000);
    CHECK_MSG(temp_exists("killed.db", 1, pid), "shard 1's temporary file never appeared");
    usleep((useconds_t)(clean * at[k] * 1e6));
    kill(pid, SIGKILL);
    int code = fx_wait(pid);
    CHECK_MSG(code == 128 + SIGKILL || (k > 0 && code == 3), "the shard ended %d", code);
    if (code != 128 + SIGKILL) {  /* it finished first: the scenario needs it absent */
      test_sh("rm -f '%s/killed.db.embed-shard-1-of-4.sqlite'", T.scratch);
      continue;
    }
    landed++;
    CHECK_INT(test_sh("test -e '%s/killed.db.embed-shard-1-of-4.sqlite'", T.scratch) == 0, 0);
  }
  CHECK(landed >= 1);
  /* the other three merged: embed waits for the rest */
  CHECK_INT(fx_curate("merge3.log", "--db killed.db --config heavy.json merge killed.db.embed-shard-*"), 3);
  CHECK_INT(fx_curate("status3.log", "--db killed.db --config heavy.json status"), 0);
  CHECK(log_has("status3.log", "embed        interrupted"));
  CHECK_INT(count("killed.db", "SELECT count(*) FROM runs WHERE stage = 'embed' AND status = 'interrupted'"), 1);
  /* rerun alone, merge it: the single run's database.  The merged shards
  ** brought the dictionary and the bad image's quarantine, so it meets
  ** neither now (exit 0) */
  CHECK_INT(shard_with("killed.db", "heavy.json", 1), 0);
  CHECK_INT(fx_curate("merge1.log", "--db killed.db --config heavy.json merge "
                                    "killed.db.embed-shard-1-of-4.sqlite"), 0);
  CHECK_SAME("killed.db", "heavy.db");
}

TEST(shard_from_another_database_state_or_options_is_refused) {
  REQUIRE(prepare() == 0);
  REQUIRE(copy_db("corpus.db", "stale.db") == 0);
  for (int i = 0; i < SHARDS; i++) CHECK_INT(shard("stale.db", i), 3);
  /* another embed option: every shard refused, naming what differs */
  REQUIRE(write_config("other.json", "{\"embed\": {\"patches_k\": 16, \"size\": 12, "
                                     "\"patches_samples\": 20000}}") == 0);
  CHECK_INT(fx_curate("opts.log", "--db stale.db --config other.json merge stale.db.embed-shard-*"), 3);
  CHECK(log_has("opts.log", "error: merge: stale.db.embed-shard-0-of-4.sqlite: made with other embed "
                            "options or seed than the configuration's now (its model: patches-k16-16px"));
  CHECK(log_has("opts.log", "stale.db.embed-shard-3-of-4.sqlite: made with other"));
  CHECK_INT(count("stale.db", "SELECT count(*) FROM embeddings"), 0);
  CHECK_INT(count("stale.db", "SELECT count(*) FROM runs WHERE stage = 'embed'"), 0);
  /* a new image ingested after the shards ran */
  REQUIRE(test_sh("mkdir -p '%s/more/a'", T.scratch) == 0);
  char *img = test_scratch_path("more/a/new.png");
  REQUIRE(fx_image_file(img, 16, 16, 4242, "png") == 0);
  cur_free(img);
  CHECK_INT(fx_curate("more.log", "--db stale.db --config shard.json ingest more"), 0);
  CHECK_INT(fx_curate("stale.log", "--db stale.db --config shard.json merge stale.db.embed-shard-2-of-4.sqlite"), 3);
  CHECK(log_has("stale.log", "error: merge: stale.db.embed-shard-2-of-4.sqlite: made from another database "
                             "state (ingest's output changed; split's output changed since); run that shard again; not merged"));
  CHECK_INT(count("stale.db", "SELECT count(*) FROM embeddings"), 0);
  CHECK_INT(count("stale.db", "SELECT count(*) FROM model_blobs"), 0);
  /* shards made now go in */
  for (int i = 0; i < SHARDS; i++) CHECK_INT(shard("stale.db", i), 3);
  CHECK_INT(fx_curate("fresh.log", "--db stale.db --config shard.json merge stale.db.embed-shard-*"), 3);
  CHECK_INT(count("stale.db", "SELECT count(*) FROM embeddings"), 60);
}

TEST(merging_again_changes_nothing) {
  REQUIRE(prepare() == 0);
  REQUIRE(copy_db("corpus.db", "twice.db") == 0);
  for (int i = 0; i < SHARDS; i++) CHECK_INT(shard("twice.db", i), 3);
  /* shard 0 twice in the first command */
  CHECK_INT(fx_curate("m1.log", "--db twice.db --config shard.json merge twice.db.embed-shard-0-of-4.sqlite "
                                "twice.db.embed-shard-*"), 3);
  CHECK(log_has("m1.log", "twice.db.embed-shard-0-of-4.sqlite: 0 rows added (all of it was in already)"));
  char *before = dump("twice.db");
  CHECK_INT(fx_curate("m2.log", "--db twice.db --config shard.json merge twice.db.embed-shard-*"), 0);
  char *after = dump("twice.db");
  CHECK(before && after && strcmp(before, after) == 0);
  CHECK_INT(count("twice.db", "SELECT count(*) FROM runs WHERE stage = 'embed'"), 1);
  cur_free(before);
  cur_free(after);
  CHECK_SAME("twice.db", "single.db");
}

/* Merges BAD (scratch-relative) with shard 3 into a fresh copy: the bad one
** must be refused with WHY after its name, shard 3 imported. */
static void refused(const char *bad, const char *why, int line) {
  copy_db("corpus.db", "bad.db");
  int code = fx_curate("bad.log", "--db bad.db --config shard.json merge %s sh.db.embed-shard-3-of-4.sqlite", bad);
  char *want = cur_asprintf("error: merge: %s: %s", bad, why);
  test_checks += 3;
  if (code != 3) test_fail(__FILE__, line, "merge of %s exited %d, expected 3", bad, code);
  if (!want || !log_has("bad.log", want)) test_fail(__FILE__, line, "no refusal of %s saying \"%s\"", bad, why);
  long long n = count("bad.db", "SELECT count(*) FROM embeddings");
  if (n != 14) test_fail(__FILE__, line, "%lld embeddings after the merge, expected shard 3's 14", n);
  cur_free(want);
}
#define REFUSED(bad, why) refused(bad, why, __LINE__)

TEST(damaged_or_foreign_shard_files_are_refused_by_name) {
  REQUIRE(prepare() == 0);
  REQUIRE(copy_db("corpus.db", "sh.db") == 0);
  CHECK_INT(shard("sh.db", 0), 3);
  CHECK_INT(shard("sh.db", 3), 3);
  CHECK_INT(count("sh.db.embed-shard-3-of-4.sqlite", "SELECT count(*) FROM vectors"), 14);
  const char *good = "sh.db.embed-shard-0-of-4.sqlite";
  /* cut in half, as a copy that stopped part-way */
  REQUIRE(test_sh("cd '%s' && head -c $(( $(stat -c %%s %s) / 2 )) %s > half.sqlite", T.scratch, good, good) == 0);
  REFUSED("half.sqlite", "");
  /* bytes overwritten in the middle of the file */
  REQUIRE(test_sh("cd '%s' && cp %s flipped.sqlite && printf 'XXXXXXXXXXXXXXXX' | dd of=flipped.sqlite "
                  "bs=1 seek=$(( $(stat -c %%s %s) / 2 )) conv=notrunc 2>/dev/null", T.scratch, good, good) == 0);
  REFUSED("flipped.sqlite", "");
  /* a vector edited through SQLite: intact file, wrong digest */
  REQUIRE(test_sh("cd '%s' && cp %s edited.sqlite && sqlite3 edited.sqlite \"UPDATE vectors SET vector = "
                  "zeroblob(length(vector)) WHERE image_id = (SELECT max(image_id) FROM vectors)\"",
                  T.scratch, good) == 0);
  REFUSED("edited.sqlite", "its contents do not match their digest");
  /* a shard whose writer died before the digest was stored */
  REQUIRE(test_sh("cd '%s' && cp %s unfinished.sqlite && sqlite3 unfinished.sqlite \"DELETE FROM meta "
                  "WHERE key = 'digest'\"", T.scratch, good) == 0);
  REFUSED("unfinished.sqlite", "no digest: the shard was never finished");
  /* files that are no shard */
  REFUSED("shard.json", "not a readable shard file");
  REFUSED("corpus.db", "not a curate shard file");
  REFUSED("absent.sqlite", "No such file or directory");
}

TEST(clip_shards_equal_one_run) {
  char *model = test_shared_path("clip/tiny-hf");
  if (!model) return;
  REQUIRE(prepare() == 0);
  char text[512];
  snprintf(text, sizeof text, "{\"embed\": {\"model\": \"%s\", \"batch_size\": 7}}", model);
  cur_free(model);
  REQUIRE(write_config("clip.json", text) == 0);
  REQUIRE(copy_db("corpus.db", "clip1.db") == 0 && copy_db("corpus.db", "clip4.db") == 0);
  CHECK_INT(fx_curate("clip1.log", "--db clip1.db --config clip.json run --stage embed"), 3);
  /* no dictionary: only the shard whose share holds the bad image meets it */
  int met = 0;
  for (int i = 0; i < SHARDS; i++) {
    int code = fx_curate("clips.log", "--db clip4.db --config clip.json run --stage embed --shard %d/%d", i, SHARDS);
    CHECK(code == 0 || code == 3);
    met += code == 3;
  }
  CHECK_INT(met, 1);
  CHECK_INT(fx_curate("clipm.log", "--db clip4.db --config clip.json merge clip4.db.embed-shard-*"), 3);
  CHECK_SAME("clip4.db", "clip1.db");
}

TEST(shard_command_line_is_checked) {
  REQUIRE(prepare() == 0);
  static const char *const bad[] = {"--stage embed --shard 4/4", "--stage embed --shard 1", "--stage embed --shard -1/4",
                                     "--stage embed --shard 1/0", "--shard 0/4", "--until embed --shard 0/4",
                                     "--stage embed --shard 0/4 --force"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(bad); i++)
    CHECK_MSG(fx_curate("usage.log", "--db corpus.db --config shard.json run %s", bad[i]) == 2,
              "`curate run %s` is not a usage error (2)", bad[i]);
  CHECK_INT(fx_curate("aum.log", "--db corpus.db --config shard.json run --stage aum --shard 0/2"), 1);
  CHECK(log_has("aum.log", "--shard: the aum stage cannot be sharded"));
  CHECK_INT(fx_curate("nofile.log", "--db corpus.db --config shard.json merge"), 2);
  CHECK_INT(count("corpus.db", "SELECT count(*) FROM runs WHERE stage = 'embed'"), 0);
}

TEST(submit_refuses_a_database_with_an_unfolded_wal) {
  REQUIRE(prepare() == 0);
  REQUIRE(copy_db("corpus.db", "wal.db") == 0);
  /* what a killed writer leaves: bytes in DB-wal with no connection open */
  REQUIRE(test_sh("head -c 4096 /dev/urandom > '%s/wal.db-wal'", T.scratch) == 0);
  /* an sbatch of our own, first on PATH, that only records being called */
  REQUIRE(test_sh("cd '%s' && mkdir -p fakebin && rm -f sbatch.called && printf '#!/bin/sh\\ntouch \"%s/sbatch.called\"; "
                  "echo 1\\n' > fakebin/sbatch && chmod +x fakebin/sbatch", T.scratch, T.scratch) == 0);
  CHECK_INT(test_sh("cd '%s' && PATH=\"$PWD/fakebin:$PATH\" '%s/scripts/slurm/submit-embed' --curate '%s' "
                    "--config shard.json wal.db > submit.log 2>&1", T.scratch, CURATE_SOURCE_DIR, T.curate), 1);
  CHECK(log_has("submit.log", "/wal.db-wal holds 4096 bytes not yet in the database file"));
  CHECK_INT(test_sh("test -e '%s/sbatch.called'", T.scratch) == 0, 0);
  /* folded back (what `curate status` does to a real WAL), it submits */
  REQUIRE(test_sh("rm '%s/wal.db-wal'", T.scratch) == 0);
  CHECK_INT(test_sh("cd '%s' && PATH=\"$PWD/fakebin:$PATH\" '%s/scripts/slurm/submit-embed' --curate '%s' "
                    "--config shard.json wal.db > submit.log 2>&1", T.scratch, CURATE_SOURCE_DIR, T.curate), 0);
  CHECK_INT(test_sh("test -e '%s/sbatch.called'", T.scratch), 0);
}

/* Three unbalanced classes (30, 9, 5 PNGs) and balance up to the largest:
** about 23 variants planned for the 4/5 in train, so that each of 4 shards
** makes some. */
static const char augment_config[] =
    "{\"embed\": {\"features\": \"pixels\", \"size\": 8}, \"balance\": {\"target\": \"max\"}}";

static int augment_corpus(void) {
  static const char *const classes[] = {"a", "b", "c"};
  static const int counts[] = {30, 9, 5};
  int rc = write_config("aug.json", augment_config);
  rc |= test_sh("cd '%s' && rm -rf img-aug aug.db*", T.scratch);
  rc |= fx_image_tree("img-aug", classes, counts, 3, 16, 16, "png", 77);
  rc |= fx_curate("aug-init.log", "--db aug.db --config aug.json init");
  rc |= fx_curate("aug-ingest.log", "--db aug.db --config aug.json ingest img-aug");
  return rc ? rc : fx_curate("aug-until.log", "--db aug.db --config aug.json run --until balance");
}

static int augment_shard(const char *db, int i) {
  return fx_curate("aug-shard.log", "--db %s --config aug.json run --stage augment --shard %d/%d", db, i, SHARDS);
}

TEST(augment_shards_merged_in_any_order_equal_one_run) {
  REQUIRE(augment_corpus() == 0);
  REQUIRE(test_sh("cd '%s' && rm -f aug1.db* aug4.db* && cp aug.db aug1.db && cp aug.db aug4.db", T.scratch) == 0);
  long long planned = count("aug.db", "SELECT count(*) FROM (SELECT DISTINCT parent_id, variant FROM augment_plan)");
  REQUIRE(planned >= 20);
  CHECK_INT(fx_curate("aug1.log", "--db aug1.db --config aug.json run --stage augment"), 0);
  CHECK_INT(count("aug1.db", "SELECT count(*) FROM augment_variants WHERE outcome = 'made'"), planned);
  long long images = count("aug.db", "SELECT count(*) FROM images");
  for (int i = SHARDS - 1; i >= 0; i--) CHECK_INT(augment_shard("aug4.db", i), 0);
  /* the shards only read: nothing of augment in the database yet */
  CHECK_INT(count("aug4.db", "SELECT count(*) FROM images"), images);
  long long made = 0;
  for (int i = 0; i < SHARDS; i++) {
    char *f = cur_asprintf("aug4.db.augment-shard-%d-of-%d.sqlite", i, SHARDS);
    long long n = f ? count(f, "SELECT count(*) FROM variants") : 0;
    /* consecutive quarters of the plan */
    CHECK_MSG(n == planned * (i + 1) / SHARDS - planned * i / SHARDS, "shard %d holds %lld of the %lld "
              "variants", i, n, planned);
    made += n;
    cur_free(f);
  }
  CHECK_INT(made, planned);
  /* shard 2 alone must wait for 0 and 1: refused, nothing added */
  CHECK_INT(fx_curate("aug-m2.log", "--db aug4.db --config aug.json merge aug4.db.augment-shard-2-of-4.sqlite"), 3);
  CHECK(log_has("aug-m2.log", "merge the shards before it first"));
  CHECK_INT(count("aug4.db", "SELECT count(*) FROM images"), images);
  /* the others in reverse order, shard 2 again among them: the merge
  ** takes each once the pairs before it are in */
  CHECK_INT(fx_curate("aug-m.log", "--db aug4.db --config aug.json merge aug4.db.augment-shard-3-of-4.sqlite "
                                   "aug4.db.augment-shard-2-of-4.sqlite aug4.db.augment-shard-1-of-4.sqlite "
                                   "aug4.db.augment-shard-0-of-4.sqlite"), 0);
  CHECK_SAME("aug4.db", "aug1.db");
  CHECK_INT(fx_curate("aug-status.log", "--db aug4.db --config aug.json status"), 0);
  CHECK(log_has("aug-status.log", "augment      up to date"));
  /* merging them again adds nothing */
  CHECK_INT(fx_curate("aug-again.log", "--db aug4.db --config aug.json merge aug4.db.augment-shard-*"), 0);
  CHECK_SAME("aug4.db", "aug1.db");
  /* and the stages after augment give the same rows */
  CHECK_INT(fx_curate("aug-after1.log", "--db aug1.db --config aug.json run --until export"), 0);
  CHECK_INT(fx_curate("aug-after4.log", "--db aug4.db --config aug.json run --until export"), 0);
  CHECK_SAME("aug4.db", "aug1.db");
}

/* A pid that ran and is gone: a child that exited and was reaped. */
static int dead_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid, NULL, 0);
  return (int)pid;
}

TEST(rerun_shard_removes_temporary_files_that_killed_runs_left) {
  REQUIRE(prepare() == 0);
  REQUIRE(copy_db("corpus.db", "temps.db") == 0);
  int gone = dead_pid(), live = (int)getpid();
  REQUIRE(gone > 0);
  /* what a SIGKILLed shard 1 leaves (its pid gone), and the temporary file
  ** of a run of it still going (this test's own pid stands in for it) */
  REQUIRE(test_sh("cd '%s' && echo partial > temps.db.embed-shard-1-of-4.sqlite.tmp-%d && "
                  "echo going > temps.db.embed-shard-1-of-4.sqlite.tmp-%d && "
                  "echo other > temps.db.embed-shard-2-of-4.sqlite.tmp-%d", T.scratch, gone, live, gone) == 0);
  CHECK_INT(shard("temps.db", 1), 3);
  CHECK_MSG(!temp_exists("temps.db", 1, gone), "the killed shard's temporary file is still there");
  CHECK_MSG(temp_exists("temps.db", 1, live), "a live shard's temporary file was removed");
  CHECK_MSG(temp_exists("temps.db", 2, gone), "another shard's temporary file was removed");
  CHECK(log_has("shard.log", "left by a shard that was killed"));
  CHECK_INT(test_sh("test -e '%s/temps.db.embed-shard-1-of-4.sqlite'", T.scratch), 0);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(four_shards_merged_equal_one_run);
  RUN(shards_only_read_the_database);
  RUN(killed_shard_rerun_alone_gives_the_same);
  RUN(shard_from_another_database_state_or_options_is_refused);
  RUN(merging_again_changes_nothing);
  RUN(damaged_or_foreign_shard_files_are_refused_by_name);
  RUN(clip_shards_equal_one_run);
  RUN(shard_command_line_is_checked);
  RUN(submit_refuses_a_database_with_an_unfolded_wal);
  RUN(augment_shards_merged_in_any_order_equal_one_run);
  RUN(rerun_shard_removes_temporary_files_that_killed_runs_left);
  return test_finish();
}
