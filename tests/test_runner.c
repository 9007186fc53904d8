/* test_runner.c -- the stage runner (pipeline/runner.c) on a pipeline of test stages.
**
** runner-1.*: everything runs once, then everything is up to date.
** runner-2.*: seed change and --force make a stage and all later ones pending.
** runner-3.*: a stage whose needed stage never ran stops with its name.
** runner-4.*: an interrupted or failed run is resumed under its own id.
** runner-5.*: --from / --until choose a slice.
** runner-6.*: a stage that returns OK with its last batch uncommitted fails.
*/
#include "fixtures.h"
#include "runner.h"
#include "store_labels.h"
#include "store_runs.h"
#include "testlib.h"

static int calls[3];
static int64_t last_run_id[3];
static int interrupt_b_once, fail_c_once, forget_commit_c_once;

static int run_a(cur_run *run) { calls[0]++; last_run_id[0] = cur_run_id(run); return CUR_OK; }
static int run_b(cur_run *run) {
  calls[1]++;
  last_run_id[1] = cur_run_id(run);
  if (interrupt_b_once) {
    interrupt_b_once = 0;
    return CUR_EINTR;
  }
  return CUR_OK;
}
static int run_c(cur_run *run) {
  calls[2]++;
  last_run_id[2] = cur_run_id(run);
  if (fail_c_once) {
    fail_c_once = 0;
    return cur_errorf("c: disk on fire");
  }
  if (forget_commit_c_once) {  /* writes a row in a batch it never commits */
    forget_commit_c_once = 0;
    int64_t task;
    int rc = cur_store_begin(cur_run_store(run));
    return rc ? rc : cur_store_task_ensure(cur_run_store(run), "uncommitted", &task);
  }
  return CUR_OK;
}

static const char *const needs_a[] = {"a", NULL};
static const cur_stage stage_a = {.name = "a", .run = run_a};
static const cur_stage stage_b = {.name = "b", .needs = needs_a, .run = run_b};
static const cur_stage stage_c = {.name = "c", .run = run_c};
static const cur_stage *const pipeline[] = {&stage_a, &stage_b, &stage_c};

static cur_store *st;
static cur_config *cfg;

static int run(const char *only, const char *from, const char *until, int force, uint64_t seed) {
  cur_runner_opts o = {.only = only, .from = from, .until = until, .force = force, .seed = seed,
                       .threads = 1};
  int64_t input_errors;
  memset(calls, 0, sizeof calls);
  return cur_runner_run(st, cfg, &o, &input_errors);
}

static const char *state_of(const char *name, uint64_t seed) {
  cur_runner_opts o = {.seed = seed};
  cur_stage_state states[3];
  if (cur_runner_states(st, cfg, &o, states)) return "error";
  for (int i = 0; i < 3; i++)
    if (strcmp(pipeline[i]->name, name) == 0) return states[i].state;
  return "no such stage";
}

static int setup(const char *name) {
  char *path = test_scratch_path(name);
  int created, missing;
  cur_store_close(st);
  cur_config_free(cfg);
  st = NULL;
  cfg = NULL;
  int rc = cur_store_init(path, &st, &created);
  if (rc == CUR_OK) rc = cur_config_load("/nonexistent/curate.json", (cur_stage_list){pipeline, 3}, &cfg, &missing);
  cur_free(path);
  return rc;
}

TEST(everything_runs_once_then_is_up_to_date) {
  REQUIRE_OK(setup("a.db"));
  CHECK_STR(state_of("b", 1), "never run");
  REQUIRE_OK(run(NULL, NULL, NULL, 0, 1));
  CHECK(calls[0] == 1 && calls[1] == 1 && calls[2] == 1);
  CHECK_STR(state_of("c", 1), "up to date");
  REQUIRE_OK(run(NULL, NULL, NULL, 0, 1));
  CHECK(calls[0] == 0 && calls[1] == 0 && calls[2] == 0);
}

TEST(seed_change_and_force_make_later_stages_pending) {
  REQUIRE_OK(setup("b.db"));
  REQUIRE_OK(run(NULL, NULL, NULL, 0, 1));
  CHECK_STR(state_of("a", 2), "pending");
  REQUIRE_OK(run("b", NULL, NULL, 1, 1));  /* --stage b --force */
  CHECK(calls[0] == 0 && calls[1] == 1 && calls[2] == 0);
  CHECK_STR(state_of("a", 1), "up to date");
  CHECK_STR(state_of("c", 1), "pending");  /* b has a newer run than c saw */
  REQUIRE_OK(run(NULL, NULL, NULL, 0, 1));
  CHECK(calls[0] == 0 && calls[1] == 0 && calls[2] == 1);
}

TEST(stage_whose_needed_stage_never_ran_stops_naming_it) {
  REQUIRE_OK(setup("c.db"));
  CHECK_INT(run("b", NULL, NULL, 0, 1), CUR_ESTATE);
  CHECK(strstr(cur_error(), "b needs the a stage, which has never completed") != NULL);
  CHECK_INT(calls[1], 0);
}

TEST(interrupted_and_failed_runs_resume_under_their_own_id) {
  REQUIRE_OK(setup("d.db"));
  interrupt_b_once = 1;
  CHECK_INT(run(NULL, NULL, NULL, 0, 1), CUR_EINTR);
  CHECK(calls[0] == 1 && calls[1] == 1 && calls[2] == 0);
  int64_t interrupted = last_run_id[1];
  CHECK_STR(state_of("b", 1), "interrupted");
  REQUIRE_OK(run(NULL, NULL, NULL, 0, 1));
  CHECK(calls[0] == 0 && calls[1] == 1);
  CHECK_INT(last_run_id[1], interrupted);
}

TEST(failed_run_records_its_message_and_is_resumed) {
  REQUIRE_OK(setup("e.db"));
  fail_c_once = 1;
  CHECK_INT(run(NULL, NULL, NULL, 0, 1), CUR_ERR);
  CHECK(strstr(cur_error(), "disk on fire") != NULL);
  CHECK_STR(state_of("c", 1), "failed");
  int64_t failed = last_run_id[2];
  REQUIRE_OK(run(NULL, NULL, NULL, 0, 1));
  CHECK(calls[0] == 0 && calls[1] == 0 && calls[2] == 1);
  CHECK_INT(last_run_id[2], failed);
}

TEST(from_and_until_choose_a_slice) {
  REQUIRE_OK(setup("f.db"));
  REQUIRE_OK(run(NULL, NULL, "b", 0, 1));
  CHECK(calls[0] == 1 && calls[1] == 1 && calls[2] == 0);
  REQUIRE_OK(run(NULL, "b", NULL, 1, 1));
  CHECK(calls[0] == 0 && calls[1] == 1 && calls[2] == 1);
  CHECK_INT(run(NULL, "c", "a", 0, 1), CUR_ECONFIG);
  CHECK_INT(run("nope", NULL, NULL, 0, 1), CUR_ECONFIG);
  CHECK(strstr(cur_error(), "no stage named 'nope'") != NULL);
}

TEST(stage_returning_ok_with_an_open_transaction_fails) {
  REQUIRE_OK(setup("g.db"));
  forget_commit_c_once = 1;
  CHECK_INT(run("c", NULL, NULL, 0, 1), CUR_ERR);
  CHECK(strstr(cur_error(), "c: finished with its last batch uncommitted") != NULL);
  CHECK(!cur_store_in_transaction(st));
  cur_run_info info;
  int found;
  REQUIRE_OK(cur_store_run_last(st, "c", 0, &info, &found));
  CHECK(found && strcmp(info.status, "failed") == 0);
  char *path = test_scratch_path("g.db");
  CHECK_INT(fx_sql_int(path, "SELECT count(*) FROM tasks WHERE name = 'uncommitted'"), 0);
  cur_free(path);
  CHECK_OK(run("c", NULL, NULL, 0, 1));  /* the resumed run commits and completes */
  CHECK_STR(state_of("c", 1), "up to date");
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  cur_log_set_quiet(1);
  RUN(everything_runs_once_then_is_up_to_date);
  RUN(seed_change_and_force_make_later_stages_pending);
  RUN(stage_whose_needed_stage_never_ran_stops_naming_it);
  RUN(interrupted_and_failed_runs_resume_under_their_own_id);
  RUN(failed_run_records_its_message_and_is_resumed);
  RUN(from_and_until_choose_a_slice);
  RUN(stage_returning_ok_with_an_open_transaction_fails);
  cur_store_close(st);
  cur_config_free(cfg);
  return test_finish();
}
