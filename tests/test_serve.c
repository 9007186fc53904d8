/* test_serve.c -- `curate serve` over HTTP and `curate report`'s snapshot.
**
** The server runs as a subprocess (`curate serve --port 0`) on a database
** made by `curate run` over generated images whose colour is their class,
** with two labels in ten flipped (so aum flags some); the test speaks HTTP/1.1
** over a socket.
**
** serve-1.*: no token, a wrong token or another Host is refused on every
**            endpoint; the token in the query sets a cookie that works after.
** serve-2.*: writes: no or a foreign Origin is refused and records nothing;
**            a decision from the page writes what `curate review` writes
**            (same labels and flags rows as the command on a twin database);
**            undo retracts the decision (the label before it, with its
**            source, is current again; the flag is pending) as `curate
**            review undo` does; --read-only refuses writes.
** serve-3.*: bad, path-like and huge ids and parameters get 400/404/413/414,
**            never a file and never a crash (the server answers afterwards).
** serve-4.*: thumbnails are JPEGs no larger than asked, with an ETag that
**            revalidates to 304; the gallery pages through every flag in
**            score order with keyset links.
** serve-5.*: a decision while another process holds the writer lock waits,
**            says so (503, busy), and records once the lock is free.
** serve-6.*: the scores page: histograms with the AUM threshold, the surest
**            pseudo-labels per class.
** serve-7.*: a confusion cell opens the test images behind it: the rows of
**            the predictions table for that head and cell, as many as the
**            matrix counts; only cells holding images are links.
** report-1.*: `curate report --out DIR` writes the same pages as files with
**            relative links, every thumbnail they use, and no controls; a
**            file per confusion cell holding images.
*/
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fixtures.h"
#include "image.h"
#include "rng.h"
#include "testlib.h"

#define N_IMAGES 120
#define N_CLASSES 3

static char *db;               /* scratch/a.db, made once */
static int port, server_pid = -1;
static char token[65];

/* Images whose colour is their class (4x4 PPM), two in ten in the folder of
** the next class: `curate run` (pixel features) flags some of those, and
** the flipped test images fill cells off the confusion matrix's diagonal. */
static int make_corpus(void) {
  static const char *const names[] = {"red", "green", "blue"};
  cur_rng r;
  int rc = test_sh("cd '%s' && rm -rf img a.db* twin.db* && mkdir -p img/red img/green img/blue",
                   T.scratch);
  cur_rng_seed(&r, 7);
  for (int i = 0; rc == 0 && i < N_IMAGES; i++) {
    unsigned char ppm[64] = "P6\n4 4\n255\n";
    size_t head = strlen((char *)ppm);
    for (int p = 0; p < 48; p++)
      ppm[head + p] = (unsigned char)((p % 3 == i % N_CLASSES ? 160 : 90) + cur_rng_below(&r, 60));
    char rel[64], *path;
    int given = i % 10 == 7 || i % 10 == 3 ? (i + 1) % N_CLASSES : i % N_CLASSES;
    snprintf(rel, sizeof rel, "img/%s/%03d.ppm", names[given], i);
    rc = (path = test_scratch_path(rel)) ? test_write_file(path, ppm, head + 48) : -1;
    cur_free(path);
  }
  char *cfg = test_scratch_path("c.json");
  const char *config = "{\"embed\": {\"features\": \"pixels\", \"size\": 4}}";
  rc = rc || !cfg || test_write_file(cfg, config, strlen(config)) ||
       fx_curate("init.log", "--db a.db --config c.json init") ||
       fx_curate("ingest.log", "--db a.db --config c.json ingest img") ||
       fx_curate("run.log", "--db a.db --config c.json run") ||
       test_sh("cp '%s/a.db' '%s/twin.db'", T.scratch, T.scratch);
  cur_free(cfg);
  db = test_scratch_path("a.db");
  return rc;
}

/* Starts `curate serve` with EXTRA (NULL or "--read-only") and reads its URL. */
static int start_server(const char *extra) {
  const char *args[] = {"curate", "--db", "a.db", "--config", "c.json", "serve", "--port", "0",
                        extra, NULL};
  char *out = test_scratch_path("serve.out");
  unlink(out);
  int pid = fork();
  if (pid == 0) {
    if (chdir(T.scratch) != 0 || !freopen("serve.out", "w", stdout) ||
        !freopen("serve.log", "w", stderr))
      _exit(127);
    execv(T.curate, (char *const *)args);
    _exit(127);
  }
  server_pid = pid;
  port = 0;
  for (int i = 0; i < 200 && !port; i++) {  /* up to 10 s for the URL line */
    usleep(50000);
    char *text = fx_read("serve.out");
    if (text && sscanf(text, "http://127.0.0.1:%d/?token=%64[0-9a-f]", &port, token) != 2) port = 0;
    cur_free(text);
  }
  cur_free(out);
  return port ? 0 : -1;
}

static void stop_server(void) {
  if (server_pid <= 0) return;
  kill(server_pid, SIGINT);  /* Ctrl-C: the server stops and exits 0 */
  CHECK_INT(fx_wait(server_pid), 0);
  server_pid = -1;
}

/* Sends REQUEST (a whole HTTP request) and returns the status; *response
** (caller frees) holds the whole answer, headers and body. */
static int http_raw(const char *request, size_t len, char **response) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  *response = NULL;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  for (size_t sent = 0; sent < len;) {
    ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  /* the server may close early on a refused upload */
    sent += (size_t)n;
  }
  size_t cap = 1 << 16, got = 0;
  char *buf = cur_malloc(cap + 1);
  for (ssize_t n; buf && (n = recv(fd, buf + got, cap - got, 0)) > 0;) {
    got += (size_t)n;
    if (got == cap) {
      char *grown = cur_reallocarray(buf, cap * 2 + 1, 1);
      if (!grown) break;
      buf = grown;
      cap *= 2;
    }
  }
  close(fd);
  int status = -1;
  if (buf) {
    buf[got] = 0;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) status = -1;
  }
  *response = buf;
  return status;
}

/* METHOD PATH with the Host of this server and EXTRA header lines. */
static int http(const char *method, const char *path, const char *extra, char **response) {
  char *req = cur_asprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n",
                           method, path, port, extra ? extra : "");
  int status = req ? http_raw(req, strlen(req), response) : -1;
  cur_free(req);
  return status;
}

/* GET PATH with the token in the query; the response is freed. */
static int get_status(const char *path) {
  char *resp, *full = cur_asprintf("%s%stoken=%s", path, strchr(path, '?') ? "&" : "?", token);
  int status = full ? http("GET", full, NULL, &resp) : -1;
  cur_free(full);
  if (full) cur_free(resp);
  return status;
}

/* A decision POST with the token cookie and ORIGIN ("" for none). */
static int decide(const char *query, const char *origin, char **resp) {
  char *hdr = cur_asprintf("Cookie: curate_token=%s\r\n%s%s%s", token, *origin ? "Origin: " : "",
                           origin, *origin ? "\r\n" : "");
  char *path = cur_asprintf("/api/decide?%s", query);
  int status = hdr && path ? http("POST", path, hdr, resp) : -1;
  cur_free(hdr);
  cur_free(path);
  return status;
}

static const char *const endpoints[] = {"/", "/gallery", "/image/1", "/thumb/1", "/thumb/1?s=768",
                                        "/confusion", "/cell?h=curated&t=0&p=0", "/scores", "/static/app.js",
                                        "/static/style.css"};

TEST(every_endpoint_refuses_a_request_without_the_token) {
  REQUIRE(server_pid > 0);
  char *resp, path[128];
  for (size_t i = 0; i < CUR_ARRAY_LEN(endpoints); i++) {
    CHECK_MSG(http("GET", endpoints[i], NULL, &resp) == 403, "%s without token", endpoints[i]);
    CHECK(resp && !strstr(resp, "<html") && !strstr(resp, "Set-Cookie"));
    cur_free(resp);
    /* one digit off (a fixed '0' was no change at all for a token ending in 0) */
    snprintf(path, sizeof path, "%s%stoken=%.63s%c", endpoints[i], strchr(endpoints[i], '?') ? "&" : "?",
             token, token[63] == '0' ? '1' : '0');
    CHECK_MSG(http("GET", path, NULL, &resp) == 403, "%s with a wrong token", endpoints[i]);
    cur_free(resp);
  }
  CHECK_INT(decide("image=1&action=accept", "", &resp), 403);
  cur_free(resp);
  CHECK_INT(http("POST", "/api/decide?image=1&action=drop", "Origin: http://127.0.0.1\r\n", &resp), 403);
  cur_free(resp);
}

TEST(another_host_is_refused_even_with_the_token) {
  REQUIRE(server_pid > 0);
  static const char *const hosts[] = {"evil.example", "127.0.0.1", "127.0.0.1:1", "localhost.evil:%d"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(hosts); i++) {
    char host[64], *req, *resp;
    snprintf(host, sizeof host, hosts[i], port);
    req = cur_asprintf("GET /?token=%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", token, host);
    REQUIRE(req);
    CHECK_MSG(http_raw(req, strlen(req), &resp) == 403, "Host %s", host);
    cur_free(req);
    cur_free(resp);
  }
}

TEST(the_token_sets_a_cookie_that_opens_every_page) {
  REQUIRE(server_pid > 0);
  char *resp, *cookie = NULL, *path = cur_asprintf("/?token=%s", token);
  CHECK_INT(http("GET", path, NULL, &resp), 200);
  CHECK(resp && strstr(resp, "Set-Cookie: curate_token=") && strstr(resp, "HttpOnly") &&
        strstr(resp, "SameSite=Strict") && strstr(resp, "Content-Security-Policy"));
  cur_free(resp);
  cur_free(path);
  cookie = cur_asprintf("Cookie: curate_token=%s\r\n", token);
  for (size_t i = 0; cookie && i < CUR_ARRAY_LEN(endpoints); i++) {
    int status = http("GET", endpoints[i], cookie, &resp);
    CHECK_MSG(status == 200, "%s with the cookie: %d", endpoints[i], status);
    cur_free(resp);
  }
  cur_free(cookie);
}

/* SQL's rows (one column) with the trailing newline fx_sql leaves cut. */
static char *sql_lines(const char *sql) {
  char *rows = fx_sql(db, sql);
  size_t n = rows ? strlen(rows) : 0;
  if (n && rows[n - 1] == '\n') rows[n - 1] = 0;
  return rows;
}

/* The labels and flags rows a decision left, for comparing two databases. */
static char *decision_rows(const char *file) {
  return fx_sql(file, "SELECT image_id || '|' || task_id || '|' || ifnull(class_id, 'NULL') || '|' || "
                      "source || '|' || ifnull(run_id, 'NULL') FROM labels WHERE source = 'review' "
                      "UNION ALL SELECT image_id || '|' || review_status FROM flags "
                      "WHERE review_status <> 'pending' ORDER BY 1");
}

TEST(a_decision_needs_this_servers_origin_and_is_written_as_curate_review_writes_it) {
  REQUIRE(server_pid > 0);
  long long img = fx_sql_int(db, "SELECT image_id FROM flagged WHERE review_status = 'pending' "
                                 "ORDER BY score LIMIT 1");
  long long img2 = fx_sql_int(db, "SELECT image_id FROM flagged WHERE review_status = 'pending' "
                                  "ORDER BY score LIMIT 1 OFFSET 1");
  REQUIRE(img > 0 && img2 > 0);
  char q[160], origin[64], *resp;
  snprintf(origin, sizeof origin, "http://127.0.0.1:%d", port);
  snprintf(q, sizeof q, "image=%lld&action=relabel&class=blue&task=label", img);
  CHECK_INT(decide(q, "", &resp), 403);
  cur_free(resp);
  CHECK_INT(decide(q, "http://evil.example", &resp), 403);
  cur_free(resp);
  CHECK_INT(decide(q, "null", &resp), 403);
  cur_free(resp);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM labels WHERE source = 'review'"), 0);
  CHECK_INT(decide(q, origin, &resp), 200);
  CHECK(resp && strstr(resp, "\"ok\":true"));
  cur_free(resp);
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT class FROM current_labels WHERE image_id = %lld", img2);
  char *class_before = fx_sql(db, sql);
  REQUIRE(class_before && strlen(class_before) > 1);
  class_before[strcspn(class_before, "\n")] = 0;
  snprintf(sql, sizeof sql, "SELECT source FROM current_labels WHERE image_id = %lld", img2);
  char *source_before = fx_sql(db, sql);
  snprintf(q, sizeof q, "image=%lld&action=drop", img2);
  CHECK_INT(decide(q, origin, &resp), 200);
  cur_free(resp);
  /* the oracle: the same decisions through the command on the twin */
  CHECK_INT(fx_curate("twin.log", "--db twin.db --config c.json review relabel %lld blue --task label", img), 0);
  CHECK_INT(fx_curate("twin2.log", "--db twin.db --config c.json review drop %lld", img2), 0);
  char *twin_path = test_scratch_path("twin.db");
  char *served = decision_rows(db), *commanded = twin_path ? decision_rows(twin_path) : NULL;
  CHECK(served && commanded && strlen(served) > 10);
  CHECK_STR(served, commanded);
  cur_free(served);
  cur_free(commanded);
  cur_free(twin_path);
  /* undo retracts the drop: the label before it is current again with its
  ** own source, the flag is pending again, and the page's undo writes what
  ** `curate review undo` writes */
  snprintf(q, sizeof q, "image=%lld&action=undo", img2);
  long long before = fx_sql_int(db, "SELECT count(*) FROM labels");
  CHECK_INT(decide(q, origin, &resp), 200);
  cur_free(resp);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM flags WHERE image_id = %lld AND review_status = 'pending'", img2);
  CHECK(fx_sql_int(db, sql) >= 1);
  snprintf(sql, sizeof sql, "SELECT class FROM current_labels WHERE image_id = %lld", img2);
  char *class_after = fx_sql(db, sql);
  CHECK(class_after && strncmp(class_after, class_before, strlen(class_before)) == 0);
  snprintf(sql, sizeof sql, "SELECT source FROM current_labels WHERE image_id = %lld", img2);
  char *source_after = fx_sql(db, sql);
  CHECK(source_before && source_after && strcmp(source_after, source_before) == 0 &&
        strncmp(source_after, "review", 6) != 0);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM labels"), before);  /* a retraction, no label */
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM label_retractions"), 1);
  /* the image's page shows the decision in its history, with when it was undone */
  char *retracted_at = sql_lines("SELECT created_at FROM label_retractions");
  char *cookie = cur_asprintf("Cookie: curate_token=%s\r\n", token), *page_path = cur_asprintf("/image/%lld", img2);
  CHECK(cookie && page_path && http("GET", page_path, cookie, &resp) == 200);
  CHECK(retracted_at && strlen(retracted_at) > 10 && resp && strstr(resp, "retracted_at") &&
        strstr(resp, retracted_at));
  cur_free(resp);
  cur_free(retracted_at);
  cur_free(cookie);
  cur_free(page_path);
  CHECK_INT(fx_curate("twin3.log", "--db twin.db --config c.json review undo %lld", img2), 0);
  twin_path = test_scratch_path("twin.db");
  const char *retracted = "SELECT l.image_id || '|' || ifnull(l.class_id, 'NULL') FROM "
                          "label_retractions r JOIN labels l ON l.id = r.label_id ORDER BY 1";
  served = fx_sql(db, retracted);
  commanded = twin_path ? fx_sql(twin_path, retracted) : NULL;
  CHECK(served && commanded && strlen(served) > 2);
  CHECK_STR(served, commanded);
  cur_free(served);
  cur_free(commanded);
  cur_free(twin_path);
  /* nothing left to undo on that image: refused, nothing written */
  CHECK_INT(decide(q, origin, &resp), 400);
  CHECK(resp && strstr(resp, "no review decision to undo"));
  cur_free(resp);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM label_retractions"), 1);
  cur_free(class_before);
  cur_free(class_after);
  cur_free(source_before);
  cur_free(source_after);
}

TEST(bad_path_like_and_huge_ids_and_parameters_are_refused) {
  REQUIRE(server_pid > 0);
  static const struct { const char *path; int lo, hi; } cases[] = {
      {"/image/0", 400, 400}, {"/image/-1", 400, 400}, {"/image/abc", 400, 400},
      {"/image/1x", 400, 400}, {"/image/99999999999999999999", 400, 400},
      {"/image/999999999", 404, 404}, {"/image/../../etc/passwd", 400, 404},
      {"/image/..%2f..%2fcurate.json", 400, 404}, {"/image/1/2", 400, 404},
      {"/thumb/%2e%2e", 400, 404}, {"/thumb/1?s=100000", 400, 400}, {"/thumb/1?s=-5", 400, 400},
      {"/thumb/99999999", 404, 404}, {"/static/../c.json", 404, 404},
      {"/static/..%2f..%2fschema.sql", 404, 404}, {"/c.json", 404, 404}, {"/a.db", 404, 404},
      {"/gallery?n=0", 400, 400}, {"/gallery?n=1000000", 400, 400}, {"/gallery?sort=sideways", 400, 400},
      {"/gallery?after=nan&af=1", 400, 400}, {"/gallery?after=1&af=x", 400, 400},
      {"/gallery?class=%01", 400, 400}, {"/cell?h=curated&t=-1&p=0", 400, 400}, {"/cell?h=curated&t=0", 400, 400},
      {"/cell?h=curated&t=0&p=1e9", 400, 400}, {"/cell?h=curated&t=99&p=0", 404, 404},
      {"/cell?h=../raw&t=0&p=0", 404, 404}, {"/cell?t=0&p=0", 400, 400}};
  for (size_t i = 0; i < CUR_ARRAY_LEN(cases); i++) {
    int status = get_status(cases[i].path);
    CHECK_MSG(status >= cases[i].lo && status <= cases[i].hi, "%s -> %d", cases[i].path, status);
  }
  /* a 300-byte class name: over the parameter limit */
  char big[600] = "/gallery?class=";
  memset(big + strlen(big), 'A', 300);
  CHECK_INT(get_status(big), 400);
  /* a 200 KB query: libmicrohttpd's request memory limit answers 414 */
  size_t n = 200000;
  char *huge = cur_malloc(n + 64);
  REQUIRE(huge);
  strcpy(huge, "/gallery?class=");
  memset(huge + strlen(huge), 'B', n);
  huge[n] = 0;
  char *resp;
  int status = http("GET", huge, NULL, &resp);
  CHECK_MSG(status == 414 || status == 431 || status == -1, "200 KB URL -> %d", status);
  cur_free(resp);
  cur_free(huge);
  /* a 1 MB body on a decision */
  char *body = cur_malloc(1100000);
  REQUIRE(body);
  int len = snprintf(body, 400, "POST /api/decide?image=1&action=accept HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Cookie: curate_token=%s\r\nOrigin: http://127.0.0.1:%d\r\nContent-Length: 1000000\r\n"
                     "Connection: close\r\n\r\n", port, token, port);
  memset(body + len, 'x', 1000000);
  status = http_raw(body, (size_t)len + 1000000, &resp);
  CHECK_MSG(status == 413 || status == -1, "1 MB body -> %d", status);
  cur_free(resp);
  cur_free(body);
  char q[128], origin[64];
  snprintf(origin, sizeof origin, "http://127.0.0.1:%d", port);
  static const char *const bad_decisions[] = {"image=abc&action=accept", "image=1&action=burn",
                                              "image=999999&action=accept", "action=accept",
                                              "image=1&action=relabel&class=purple&task=label",
                                              "image=1&action=accept&task=nosuchtask"};
  long long labels = fx_sql_int(db, "SELECT count(*) FROM labels");
  for (size_t i = 0; i < CUR_ARRAY_LEN(bad_decisions); i++) {
    snprintf(q, sizeof q, "%s", bad_decisions[i]);
    CHECK_MSG(decide(q, origin, &resp) == 400, "decision %s", q);
    cur_free(resp);
  }
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM labels"), labels);
  CHECK_INT(get_status("/"), 200);  /* still serving */
}

TEST(thumbnails_are_jpegs_with_an_etag_that_revalidates) {
  REQUIRE(server_pid > 0);
  char path[128], *resp, *cookie = cur_asprintf("Cookie: curate_token=%s\r\n", token);
  REQUIRE(cookie);
  long long id = fx_sql_int(db, "SELECT min(id) FROM images");
  snprintf(path, sizeof path, "/thumb/%lld", id);
  CHECK_INT(http("GET", path, cookie, &resp), 200);
  char *etag = resp ? strstr(resp, "ETag: \"") : NULL, *body = resp ? strstr(resp, "\r\n\r\n") : NULL;
  CHECK(resp && strstr(resp, "Content-Type: image/jpeg"));
  REQUIRE(etag && body);
  char tag[100] = "";
  sscanf(etag + 6, "%99s", tag);
  /* the body is a JPEG no larger than the image (4 x 4: never enlarged) */
  cur_image_info info;
  char reason[128];
  size_t len = strlen(body + 4);  /* JPEG bytes hold NULs: use Content-Length instead */
  char *cl = strstr(resp, "Content-Length: ");
  if (cl) len = (size_t)strtoul(cl + 16, NULL, 10);
  CHECK_OK(cur_image_probe(body + 4, len, 1 << 20, &info, reason, sizeof reason));
  CHECK_STR(info.format, "jpeg");
  CHECK(info.width <= 4 && info.height <= 4);
  cur_free(resp);
  char *hdr = cur_asprintf("%sIf-None-Match: %s\r\n", cookie, tag);
  CHECK_INT(http("GET", path, hdr, &resp), 304);
  cur_free(resp);
  cur_free(hdr);
  cur_free(cookie);
}

/* Follows the gallery's next-page links from FIRST: the image ids of every
** card, one per line (caller frees), and the number of pages. */
static char *gallery_walk(const char *first, int *pages) {
  char *cookie = cur_asprintf("Cookie: curate_token=%s\r\n", token), *path = cur_strdup(first);
  char *seen = cur_strdup("");
  *pages = 0;
  while (path && seen && *pages < 100) {
    char *resp;
    int status = http("GET", path, cookie, &resp);
    cur_free(path);
    path = NULL;
    CHECK_INT(status, 200);
    for (char *p = resp; p && (p = strstr(p, "<figure class=\"thumb\" data-image=\"")); p++) {
      char *grown = cur_asprintf("%s%s%lld", seen, *seen ? "\n" : "", strtoll(p + 34, NULL, 10));
      cur_free(seen);
      seen = grown;
    }
    char *next = resp ? strstr(resp, "class=\"next\" href=\"") : NULL;
    if (next) {
      char *end = strchr(next + 19, '"');
      path = end ? cur_strndup(next + 19, (size_t)(end - next - 19)) : NULL;
      for (char *a; path && (a = strstr(path, "&amp;"));) memmove(a + 1, a + 5, strlen(a + 5) + 1);
    }
    cur_free(resp);
    (*pages)++;
  }
  cur_free(cookie);
  return seen;
}

TEST(the_gallery_pages_through_every_flag_in_score_order) {
  REQUIRE(server_pid > 0);
  /* the oracle reads the flags table itself (this corpus has one aum run
  ** and no other flags), not the view the server reads */
  char *asc = sql_lines("SELECT image_id FROM flags ORDER BY ifnull(score, 1e308), id");
  char *desc = sql_lines("SELECT image_id FROM flags ORDER BY ifnull(score, 1e308) DESC, id DESC");
  char *red = sql_lines("SELECT f.image_id FROM flags f JOIN labels l ON l.image_id = f.image_id "
                        "JOIN classes c ON c.id = l.class_id WHERE c.name = 'red' "
                        "AND l.source = 'human' ORDER BY ifnull(f.score, 1e308), f.id");
  REQUIRE(asc && desc && red && strlen(asc) > 0 && strlen(red) > 0);
  int pages;
  char *seen = gallery_walk("/gallery?n=2", &pages);
  CHECK_STR(seen, asc);
  CHECK(pages >= 2);
  cur_free(seen);
  seen = gallery_walk("/gallery?n=3&sort=desc", &pages);
  CHECK_STR(seen, desc);
  cur_free(seen);
  seen = gallery_walk("/gallery?n=1&class=red", &pages);  /* filters ride along the links */
  CHECK_STR(seen, red);
  cur_free(seen);
  cur_free(asc);
  cur_free(desc);
  cur_free(red);
}

/* The image ids (data-image) on PAGE in ascending order, one a line. */
static char *page_ids(const char *page) {
  int64_t ids[1024];
  size_t n = 0;
  for (const char *p = page; p && n < CUR_ARRAY_LEN(ids) && (p = strstr(p, "data-image=\"")); p++)
    ids[n++] = strtoll(p + 12, NULL, 10);
  for (size_t i = 1; i < n; i++)  /* insertion sort: a cell holds a few dozen */
    for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
      int64_t t = ids[j];
      ids[j] = ids[j - 1];
      ids[j - 1] = t;
    }
  char *out = cur_strdup("");
  for (size_t i = 0; out && i < n; i++) {
    char *grown = cur_asprintf("%s%s%lld", out, i ? "\n" : "", (long long)ids[i]);
    cur_free(out);
    out = grown;
  }
  return out;
}

/* The confusion matrix METRIC of the newest complete train run, parsed. */
static cJSON *train_matrix(const char *metric) {
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT text FROM metrics WHERE name = '%s' AND run_id = (SELECT "
                            "max(id) FROM runs WHERE stage = 'train' AND status = 'complete')", metric);
  char *text = sql_lines(sql);
  cJSON *o = text ? cJSON_Parse(text) : NULL;
  cur_free(text);
  return cJSON_GetObjectItem(o, "matrix") ? o : (cJSON_Delete(o), NULL);
}

/* Checks every cell of HEAD's test matrix (metric METRIC): the images its
** page opens (served when SNAP is NULL, else the snapshot's file) are the
** predictions rows of that cell, as many as the matrix counts; an empty
** cell has no link (and no file).  Returns the cells holding images. */
static int check_cells(const char *head, const char *metric, const char *snap) {
  cJSON *o = train_matrix(metric), *row;
  char *cookie = cur_asprintf("Cookie: curate_token=%s\r\n", token);
  int i = 0, filled = 0;
  CHECK_MSG(o != NULL, "%s: no matrix %s", head, metric);
  cJSON_ArrayForEach(row, cJSON_GetObjectItem(o, "matrix")) {
    for (int j = 0; j < cJSON_GetArraySize(row); j++) {
      int count = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(row, j));
      char sql[600], path[96], *page = NULL;
      /* the oracle: the cell's rows by class name, not by index as the server asks */
      snprintf(sql, sizeof sql, "SELECT p.image_id FROM predictions p JOIN classes tc ON "
               "tc.id = p.true_class_id JOIN classes pc ON pc.id = p.predicted_class_id WHERE "
               "p.head = '%s' AND p.split = 'test' AND tc.name = (SELECT name FROM classes "
               "WHERE idx = %d) AND pc.name = (SELECT name FROM classes WHERE idx = %d) AND "
               "p.run_id = (SELECT max(id) FROM runs WHERE stage = 'train' AND status = "
               "'complete') ORDER BY p.image_id", head, i, j);
      char *want = sql_lines(sql);
      if (snap) {
        snprintf(path, sizeof path, "%s/cell-%s-%d-%d.html", snap, head, i, j);
        page = fx_read(path);
        CHECK_MSG((page != NULL) == (count > 0), "%s: a file only for a cell with images", path);
      } else {
        snprintf(path, sizeof path, "/cell?h=%s&t=%d&p=%d", head, i, j);
        CHECK_MSG(http("GET", path, cookie, &page) == 200, "%s", path);
      }
      char *seen = page_ids(page ? strstr(page, "class=\"grid\"") : NULL);
      int n = 0;
      for (const char *p = seen; p && *p; p++) n += *p == '\n';
      n += seen && *seen;
      CHECK_MSG(n == count, "%s: %d images, the matrix counts %d", path, n, count);
      CHECK_MSG(want && seen && strcmp(seen, want) == 0, "%s: images %s, predictions rows %s", path,
                seen ? seen : "?", want ? want : "?");
      filled += count > 0;
      cur_free(want);
      cur_free(seen);
      cur_free(page);
    }
    i++;
  }
  cJSON_Delete(o);
  cur_free(cookie);
  return filled;
}

TEST(a_confusion_cell_opens_the_test_images_behind_it) {
  REQUIRE(server_pid > 0);
  /* the stored true class is the human label the run scored against, and
  ** every labelled test image has one prediction per head */
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM predictions p WHERE p.split = 'test' AND "
                           "p.true_class_id <> (SELECT class_id FROM labels l WHERE l.image_id = "
                           "p.image_id AND l.source = 'human')"), 0);
  long long tests = fx_sql_int(db, "SELECT count(*) FROM images WHERE split = 'test'");
  CHECK(tests > 0);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM predictions WHERE split = 'test' AND head = 'curated'"), tests);
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM predictions WHERE split = 'test' AND head = 'raw'"), tests);
  int curated = check_cells("curated", "confusion", NULL), raw = check_cells("raw", "raw/confusion", NULL);
  CHECK(curated > 3);  /* more than the diagonal: the flipped test labels land off it */
  /* the confusion page links exactly the cells holding images */
  char *cookie = cur_asprintf("Cookie: curate_token=%s\r\n", token), *resp;
  CHECK_INT(http("GET", "/confusion", cookie, &resp), 200);
  int links = 0;
  for (char *p = resp; p && (p = strstr(p, "<a class=\"cell\"")); p++) links++;
  CHECK_INT(links, curated + raw);
  cur_free(resp);
  cur_free(cookie);
}

TEST(the_scores_page_shows_histograms_and_the_surest_pseudo_labels_per_class) {
  REQUIRE(server_pid > 0);
  /* five teacher labels of class red from a complete pseudolabel run: the
  ** page shows the four surest, surest first */
  REQUIRE(test_sh("sqlite3 '%s' \"INSERT INTO runs(id, stage, status, config_hash, input_fingerprint, "
                  "seed, config) VALUES (900, 'pseudolabel', 'complete', 'x', 'x', 0, '{}'); "
                  "INSERT INTO labels(image_id, task_id, class_id, source, confidence, run_id) "
                  "SELECT id, 1, (SELECT id FROM classes WHERE name = 'red'), 'teacher', "
                  "0.5 + id / 1000.0, 900 FROM images ORDER BY id LIMIT 5\"", db) == 0);
  char *want = sql_lines("SELECT image_id FROM labels WHERE run_id = 900 ORDER BY confidence DESC LIMIT 4");
  char *cookie = cur_asprintf("Cookie: curate_token=%s\r\n", token), *resp, *seen = cur_strdup("");
  REQUIRE(want && cookie && seen);
  CHECK_INT(http("GET", "/scores", cookie, &resp), 200);
  char *samples = resp ? strstr(resp, "Pseudo-label samples") : NULL;
  CHECK(resp && strstr(resp, "class=\"chart histogram\"") && strstr(resp, "threshold"));
  for (char *p = samples; p && (p = strstr(p, "data-image=\"")); p++) {
    char *grown = cur_asprintf("%s%s%lld", seen, *seen ? "\n" : "", strtoll(p + 12, NULL, 10));
    cur_free(seen);
    seen = grown;
  }
  CHECK_STR(seen, want);
  cur_free(resp);
  cur_free(seen);
  cur_free(want);
  cur_free(cookie);
}

TEST(a_decision_waits_for_a_running_stage_and_says_so) {
  REQUIRE(server_pid > 0);
  int fd = open(db, O_RDONLY);
  REQUIRE(fd >= 0);
  REQUIRE(flock(fd, LOCK_EX) == 0);  /* what a running stage holds */
  long long img = fx_sql_int(db, "SELECT image_id FROM flagged WHERE review_status = 'pending' "
                                 "ORDER BY score LIMIT 1");
  char q[128], origin[64], *resp;
  snprintf(origin, sizeof origin, "http://127.0.0.1:%d", port);
  snprintf(q, sizeof q, "image=%lld&action=accept", img);
  CHECK_INT(decide(q, origin, &resp), 503);
  CHECK(resp && strstr(resp, "\"busy\":true") && strstr(resp, "writer lock"));
  cur_free(resp);
  CHECK_INT(get_status("/gallery"), 200);  /* readers go on meanwhile */
  flock(fd, LOCK_UN);
  close(fd);
  CHECK_INT(decide(q, origin, &resp), 200);
  cur_free(resp);
}

TEST(read_only_mode_refuses_every_decision_and_shows_no_controls) {
  stop_server();
  REQUIRE(start_server("--read-only") == 0);
  char q[128], origin[64], *resp, *path = cur_asprintf("/gallery?token=%s", token);
  long long labels = fx_sql_int(db, "SELECT count(*) FROM labels");
  long long img = fx_sql_int(db, "SELECT min(image_id) FROM flags");
  snprintf(origin, sizeof origin, "http://127.0.0.1:%d", port);
  static const char *const actions[] = {"accept", "drop", "relabel&class=red", "undo"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(actions); i++) {
    snprintf(q, sizeof q, "image=%lld&action=%s", img, actions[i]);
    CHECK_INT(decide(q, origin, &resp), 403);
    cur_free(resp);
  }
  CHECK_INT(fx_sql_int(db, "SELECT count(*) FROM labels"), labels);
  CHECK_INT(http("GET", path, NULL, &resp), 200);
  CHECK(resp && strstr(resp, "read-only") && !strstr(resp, "data-decide") && !strstr(resp, "id=\"classes\""));
  cur_free(resp);
  cur_free(path);
}

TEST(the_report_is_the_same_pages_as_files_without_controls) {
  REQUIRE(db);
  CHECK_INT(fx_curate("report.log", "--db a.db --config c.json report --out snap --limit 5"), 0);
  char *index = fx_read("snap/index.html"), *gallery = fx_read("snap/gallery-1.html");
  REQUIRE(index && gallery);
  CHECK(strstr(index, "<svg") && strstr(index, "href=\"gallery-1.html\""));
  CHECK(!strstr(gallery, "href=\"/") && !strstr(gallery, "src=\"/") && !strstr(gallery, "data-decide"));
  CHECK(!strstr(gallery, "class=\"next\""));  /* 5 flags: one page, no link past the snapshot */
  int cards = 0;
  for (char *p = gallery; (p = strstr(p, "data-image=\"")); p++) {
    long long id = strtoll(p + 12, NULL, 10);
    char rel[96], *page, *thumb;
    snprintf(rel, sizeof rel, "snap/image-%lld.html", id);
    page = fx_read(rel);
    snprintf(rel, sizeof rel, "snap/thumbs/%lld-256.jpg", id);
    thumb = fx_read(rel);
    CHECK_MSG(page && thumb, "image %lld: page and thumbnail", id);
    CHECK(page && !strstr(page, "data-act"));
    cur_free(page);
    cur_free(thumb);
    cards++;
  }
  CHECK_INT(cards, 5);
  cur_free(index);
  cur_free(gallery);
  /* a page per cell with images, each showing them, thumbnails included */
  check_cells("curated", "confusion", "snap");
  check_cells("raw", "raw/confusion", "snap");
  char *confusion = fx_read("snap/confusion.html");
  CHECK(confusion && strstr(confusion, "href=\"cell-curated-0-0.html\"") && !strstr(confusion, "/cell?"));
  cur_free(confusion);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  cur_image_init();
  if (make_corpus() == 0 && fx_sql_int(db, "SELECT count(*) FROM flagged") >= 3 && start_server(NULL) == 0) {
    RUN(every_endpoint_refuses_a_request_without_the_token);
    RUN(another_host_is_refused_even_with_the_token);
    RUN(the_token_sets_a_cookie_that_opens_every_page);
    RUN(bad_path_like_and_huge_ids_and_parameters_are_refused);
    RUN(thumbnails_are_jpegs_with_an_etag_that_revalidates);
    RUN(the_gallery_pages_through_every_flag_in_score_order);
    RUN(a_confusion_cell_opens_the_test_images_behind_it);
    RUN(a_decision_needs_this_servers_origin_and_is_written_as_curate_review_writes_it);
    RUN(a_decision_waits_for_a_running_stage_and_says_so);
    RUN(the_scores_page_shows_histograms_and_the_surest_pseudo_labels_per_class);
    RUN(read_only_mode_refuses_every_decision_and_shows_no_controls);
    stop_server();
  } else {
    test_fail(__FILE__, __LINE__, "no flagged corpus or no server: see %s/run.log, serve.log", T.scratch);
  }
  RUN(the_report_is_the_same_pages_as_files_without_controls);
  cur_free(db);
  return test_finish();
}
