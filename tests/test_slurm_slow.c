/* test_slurm_slow.c -- the embed stage as a Slurm array job on a real one-node cluster equals a single-machine run.
**
** slurm-1.*: scripts/slurm/one-node-cluster starts munge, slurmctld and
**            slurmd under the scratch folder; scripts/slurm/submit-embed runs
**            the embed of 200 clothing photos as 4 array tasks and a merge
**            job (afterok).  The merged database equals a single-machine
**            `curate run --stage embed` on the same ingest (embeddings byte
**            for byte, every other row but timings), and after `curate run`
**            of every later stage on both, the same rows (flags, labels,
**            metrics) and the same exported manifest bytes.
**
** Skips (77) with the reason when ../shared is absent, when not root (the
** daemons run as root), when the Slurm or munge packages are missing, or
** when the cluster does not start.
*/
#include <stdlib.h>
#include <unistd.h>

#include "fixtures.h"
#include "testlib.h"

static const char config[] =
    "{\"embed\": {\"patches_k\": 32, \"size\": 32, \"patches_samples\": 50000}}";

static char *cluster_dir;

/* Init and ingest of the slice into DB (scratch-relative); ingest's exit code. */
static int ingest(const char *db, const char *labels) {
  if (fx_curate("init.log", "--db %s --config slurm.json init", db) != 0) return -1;
  return fx_curate("ingest.log", "--db %s --config slurm.json ingest slice.tar --labels '%s' "
                   "--group-column sender_id", db, labels);
}

static char *rows(const char *db, const char *sql) {
  char *path = test_scratch_path(db), *out = path ? (sql ? fx_sql(path, sql) : fx_dump(path)) : NULL;
  cur_free(path);
  return out;
}

/* DB's rows (SQL, or every table when NULL) equal REF's. */
static void check_same(const char *db, const char *ref, const char *sql, const char *what, int line) {
  char *a = rows(db, sql), *b = rows(ref, sql);
  test_checks++;
  if (!a || !b || strlen(b) < 100 || strcmp(a, b) != 0)
    test_fail(__FILE__, line, "%s of %s differ from %s's", what, db, ref);
  cur_free(a);
  cur_free(b);
}
#define CHECK_SAME(db, ref, sql, what) check_same(db, ref, sql, what, __LINE__)

static const char embeddings_sql[] =
    "SELECT image_id, model, dim, hex(vector), run_id FROM embeddings ORDER BY model, image_id";

static void array_job(const char *labels) {
  REQUIRE(test_sh("cd '%s' && printf '%%s' '%s' > slurm.json", T.scratch, config) == 0);
  int single_code = ingest("single.db", labels);
  REQUIRE(single_code == 0 || single_code == 3);
  CHECK_INT(ingest("sharded.db", labels), single_code);
  int embed_code = fx_curate("single-embed.log", "--db single.db --config slurm.json run --stage embed");
  CHECK(embed_code == 0 || embed_code == 3);
  /* 4 array tasks and the merge, through the scheduler */
  CHECK_INT(test_sh("cd '%s' && '%s/scripts/slurm/submit-embed' --shards 4 --config slurm.json --curate '%s' "
                    "--wait sharded.db > submit.log 2>&1", T.scratch, CURATE_SOURCE_DIR, T.curate), embed_code);
  char *log = fx_read("submit.log");
  CHECK_MSG(log && strstr(log, "embed array job: ") && strstr(log, "(4 shards)") && strstr(log, "merge job: "),
            "submit-embed said:\n%s", log ? log : "(nothing)");
  cur_free(log);
  for (int i = 0; i < 4; i++)
    CHECK_INT(test_sh("test -s '%s/sharded.db.embed-shard-%d-of-4.sqlite'", T.scratch, i), 0);
  CHECK_INT(test_sh("cd '%s' && ls curate-embed-*_3.out curate-merge-*.out > /dev/null", T.scratch), 0);
  CHECK_SAME("sharded.db", "single.db", embeddings_sql, "the embeddings");
  CHECK_SAME("sharded.db", "single.db", NULL, "the rows");
  /* every later stage on each: same flags and rows, same manifest bytes
  ** (each exports to ./export, moved aside before the other runs) */
  int code = fx_curate("single-run.log", "--db single.db --config slurm.json run");
  REQUIRE(test_sh("cd '%s' && rm -rf export-single && mv export export-single", T.scratch) == 0);
  CHECK_INT(fx_curate("sharded-run.log", "--db sharded.db --config slurm.json run"), code);
  char *run_log = fx_read("sharded-run.log");
  CHECK(run_log && strstr(run_log, "embed: up to date"));
  cur_free(run_log);
  CHECK_SAME("sharded.db", "single.db", "SELECT run_id, reason, image_id, task_id, score, suggested_class_id FROM flags ORDER BY id", "the flags");
  CHECK_SAME("sharded.db", "single.db", NULL, "the rows");
  CHECK_INT(test_sh("cd '%s' && test -s export/manifest.jsonl && diff -r export export-single", T.scratch), 0);
}

TEST(array_job_on_clothing_equals_one_machine) {
  char *tar = test_shared_path("data/clothing/images.tar");
  char *labels = tar ? test_shared_path("data/clothing/labels.csv") : NULL;
  if (!tar || !labels) goto cleanup;
  if (getuid() != 0) {
    test_skip("the Slurm and munge daemons of the one-node cluster run as root; run the test as root");
    goto cleanup;
  }
  if (test_sh("command -v slurmctld && command -v slurmd && command -v munged && command -v sbatch") != 0) {
    test_skip("slurmctld, slurmd, munged or sbatch missing: install slurm-wlm and munge (scripts/setup.sh)");
    goto cleanup;
  }
  char *slice = test_scratch_path("slice.tar");
  int sliced = slice ? fx_archive_subset(tar, slice, 200, "images/") : -1;
  cur_free(slice);
  cluster_dir = test_scratch_path("cluster");
  CHECK(sliced == 0 && cluster_dir);
  if (sliced != 0 || !cluster_dir || test_sh("rm -rf '%s'", cluster_dir) != 0) goto cleanup;
  if (test_sh("'%s/scripts/slurm/one-node-cluster' start '%s' > '%s/cluster.log' 2>&1", CURATE_SOURCE_DIR,
              cluster_dir, T.scratch) != 0) {
    char *why = fx_read("cluster.log");
    fprintf(stderr, "%s", why ? why : "");
    cur_free(why);
    test_skip("the one-node Slurm cluster did not start (its messages are above)");
    goto cleanup;
  }
  char *conf = cur_asprintf("%s/slurm.conf", cluster_dir);
  if (conf && setenv("SLURM_CONF", conf, 1) == 0) array_job(labels);
  else test_fail(__FILE__, __LINE__, "out of memory");
  cur_free(conf);
  test_sh("'%s/scripts/slurm/one-node-cluster' stop '%s'", CURATE_SOURCE_DIR, cluster_dir);
cleanup:
  cur_free(tar);
  cur_free(labels);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(array_job_on_clothing_equals_one_machine);
  cur_free(cluster_dir);
  return test_finish();
}
