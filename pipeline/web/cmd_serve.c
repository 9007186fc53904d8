/* cmd_serve.c -- `curate serve`: the reviewer's workbench over HTTP
** (libmicrohttpd), bound to 127.0.0.1.
**
** Invariants:
**   1. Every request carries the access token (query `token` or the cookie
**      the first page sets) and a Host naming 127.0.0.1/localhost at this
**      port, or is refused before any database access.
**   2. A state-changing request (POST) also carries this server's Origin,
**      and is refused in --read-only mode.
**   3. Only the database and the compiled-in CSS/JS are ever read: no
**      request names a file.  Ids are decimal numbers, parameters bounded.
**   4. Readers use a pool of read connections (WAL: they never wait for a
**      stage); decisions use one writer connection, which takes the writer
**      lock (waiting a while for a running stage) only while it records
**      through cur_review_decide, exactly as `curate review` does.
*/
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "curate.h"
#include "review_decide.h"
#include "serve_guard.h"
#include "web_pages.h"
#include "web_thumb.h"

static const char serve_help[] =
    "Usage: curate serve [--port N] [--read-only]\n"
    "\n"
    "Serves the reviewer's workbench on http://127.0.0.1:N (default 8765; 0\n"
    "picks a free port) and prints its URL, which carries a random access\n"
    "token: the overview, the flagged gallery (filters, sort, keyboard review:\n"
    "arrows, a accept, d drop, r relabel, u undo), each image with its label\n"
    "history, scores, nearest neighbours and variants, the confusion matrices\n"
    "(a cell opens the test images behind it) and score histograms.\n"
    "Decisions are recorded as `curate review` records them (u as `curate\n"
    "review undo`); while a stage runs, a decision waits for the writer lock.\n"
    "Requests without the token, from another Host, or writes from another\n"
    "Origin are refused.  Ctrl-C stops it.\n"
    "\n"
    "  --port N      the port (default 8765; 0: any free port)\n"
    "  --read-only   no decisions: pages only\n";

extern const char cur_web_style_css[];
extern const char cur_web_app_js[];

#define POOL 4                  /* read connections = worker threads */
#define THUMB_SLOTS 8192        /* cached thumbnails (about 15 KB each at 256 px) */
#define MAX_BODY 4096           /* decisions carry their parameters in the URL */
#define LOCK_WAIT_MS 5000       /* a decision waits this long for a running stage */

typedef struct server {
  const char *db_path;
  cur_config *cfg;
  uint64_t seed;
  int port, read_only;
  char token[CUR_SERVE_TOKEN_LEN + 1];
  cur_thumbs *thumbs;
  pthread_mutex_t mu;
  pthread_cond_t freed;
  cur_store *pool[POOL];
  int in_use[POOL];
  pthread_mutex_t write_mu;    /* one decision at a time, on writer */
  cur_store *writer;           /* its own connection, locked only while deciding */
} server;

/* A request's state between libmicrohttpd's calls: the body bytes seen. */
typedef struct request {
  size_t body;
} request;

/* What a handler answers. */
typedef struct reply {
  int status;
  const char *type;
  cur_buf body;
  char etag[96];
  int cacheable;              /* thumbnails: private caching with the ETag */
  int set_cookie;
} reply;

static cur_store *pool_take(server *s) {
  pthread_mutex_lock(&s->mu);
  for (;;) {
    for (int i = 0; i < POOL; i++)
      if (!s->in_use[i]) {
        s->in_use[i] = 1;
        pthread_mutex_unlock(&s->mu);
        return s->pool[i];
      }
    pthread_cond_wait(&s->freed, &s->mu);
  }
}

static void pool_give(server *s, cur_store *st) {
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < POOL; i++)
    if (s->pool[i] == st) s->in_use[i] = 0;
  pthread_cond_signal(&s->freed);
  pthread_mutex_unlock(&s->mu);
}

static void text_reply(reply *r, int status, const char *msg) {
  r->status = status;
  r->type = "text/plain; charset=utf-8";
  cur_buf_free(&r->body);
  cur_buf_puts(&r->body, msg);
  cur_buf_puts(&r->body, "\n");
}

/* A JSON reply {"ok": OK, "error"/"message": MSG} (MSG escaped by cJSON). */
static void json_reply(reply *r, int status, int ok, const char *key, const char *msg, int busy) {
  cJSON *o = cJSON_CreateObject();
  char *text = NULL;
  if (o && cJSON_AddBoolToObject(o, "ok", ok) && cJSON_AddStringToObject(o, key, msg) &&
      cJSON_AddBoolToObject(o, "busy", busy))
    text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  r->status = text ? status : 500;
  r->type = "application/json";
  cur_buf_free(&r->body);
  cur_buf_puts(&r->body, text ? text : "{\"ok\":false,\"error\":\"out of memory\"}");
  cJSON_free(text);
}

static const char *arg(struct MHD_Connection *c, const char *key) {
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* Parameters: NULL when absent or empty; *bad set when one is unacceptable. */
static const char *param(struct MHD_Connection *c, const char *key, int *bad) {
  const char *v = arg(c, key);
  if (v && !cur_serve_param_ok(v)) *bad = 1;
  return v && *v && !*bad ? v : NULL;
}

/* The gallery's filter from the query string; -1 when a value is bad. */
static int gallery_filter(struct MHD_Connection *c, cur_web_filter *f) {
  int bad = 0;
  int64_t n = CUR_WEB_PAGE_ROWS;
  *f = (cur_web_filter){.task = param(c, "task", &bad), .class_name = param(c, "class", &bad),
                        .reason = param(c, "reason", &bad), .split = param(c, "split", &bad),
                        .status = param(c, "status", &bad)};
  const char *sort = param(c, "sort", &bad), *rows = param(c, "n", &bad);
  const char *after = param(c, "after", &bad), *af = param(c, "af", &bad);
  if (sort && strcmp(sort, "asc") && strcmp(sort, "desc")) bad = 1;
  f->descending = sort && strcmp(sort, "desc") == 0;
  if (rows && (cur_serve_parse_id(rows, &n) || n > CUR_WEB_MAX_PAGE_ROWS)) bad = 1;
  f->limit = n;
  if (after || af) {
    char *end;
    f->after_key = after ? strtod(after, &end) : 0;
    if (!after || !af || *end || f->after_key != f->after_key || cur_serve_parse_id(af, &f->after_flag))
      bad = 1;
    f->has_after = 1;
  }
  return bad ? -1 : 0;
}

/* A class index of the confusion matrix (0, 1, ...; at most 100000), or -1. */
static int cell_index(const char *text, int64_t *index) {
  if (text && strcmp(text, "0") == 0) return (*index = 0), 0;
  return !text || cur_serve_parse_id(text, index) || *index > 100000 ? -1 : 0;
}

/* Routes a GET to its page; R's status stays 0 when no route matches. */
static void get_page(server *s, cur_store *st, struct MHD_Connection *c, const char *url, reply *r) {
  cur_web w = {.st = st, .cfg = s->cfg, .seed = s->seed, .read_only = s->read_only};
  int64_t id;
  int rc = CUR_OK, found = 1;
  r->type = "text/html; charset=utf-8";
  r->status = 200;
  if (strcmp(url, "/") == 0) {
    rc = cur_web_overview(&w, &r->body);
  } else if (strcmp(url, "/gallery") == 0) {
    cur_web_filter f;
    if (gallery_filter(c, &f)) return text_reply(r, 400, "bad gallery parameter");
    rc = cur_web_gallery(&w, &f, 1, &r->body);
  } else if (strncmp(url, "/image/", 7) == 0) {
    if (cur_serve_parse_id(url + 7, &id)) return text_reply(r, 400, "bad image id");
    rc = cur_web_image(&w, id, &r->body, &found);
  } else if (strcmp(url, "/confusion") == 0) {
    rc = cur_web_confusion(&w, &r->body);
  } else if (strcmp(url, "/cell") == 0) {
    /* a cell of a head's confusion matrix: true and predicted class indices */
    const char *head = arg(c, "h"), *t = arg(c, "t"), *p = arg(c, "p");
    int64_t ti, pi;
    int n;
    if (!head || cell_index(t, &ti) || cell_index(p, &pi))
      return text_reply(r, 400, "bad cell: h=curated|raw, t and p class indices");
    rc = cur_web_cell(&w, head, (int)ti, (int)pi, &r->body, &n);
  } else if (strcmp(url, "/scores") == 0) {
    rc = cur_web_scores(&w, &r->body);
  } else {
    r->status = 0;
    return;
  }
  if (rc == CUR_EINPUT) return text_reply(r, 404, cur_error());
  if (rc) return text_reply(r, 500, cur_error());
  if (!found) return text_reply(r, 404, "no such image");
}

static void get_thumb(server *s, cur_store *st, struct MHD_Connection *c, const char *url, reply *r) {
  int64_t id, size = CUR_THUMB_SMALL;
  const char *sz = arg(c, "s");
  if (cur_serve_parse_id(url + 7, &id)) return text_reply(r, 400, "bad image id");
  if (sz && (cur_serve_parse_id(sz, &size) || (size != CUR_THUMB_SMALL && size != CUR_THUMB_LARGE)))
    return text_reply(r, 400, "bad thumbnail size: 256 or 768");
  const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
  int found, rc;
  if (inm) {  /* a revalidation costs one indexed lookup, no decode */
    if ((rc = cur_thumb_etag(st, id, (int)size, r->etag, &found))) return text_reply(r, 500, cur_error());
    if (!found) return text_reply(r, 404, "no such image");
    if (strcmp(inm, r->etag) == 0) {
      r->status = 304;
      r->cacheable = 1;
      return;
    }
  }
  unsigned char *jpeg;
  size_t len;
  rc = cur_thumb_get(s->thumbs, st, id, (int)size, &jpeg, &len, r->etag, &found);
  if (rc == CUR_OK && !found) return text_reply(r, 404, "no such image");
  if (rc) return text_reply(r, rc == CUR_EINPUT ? 422 : 500, cur_error());
  r->status = 200;
  r->type = "image/jpeg";
  r->cacheable = 1;
  cur_buf_add(&r->body, jpeg, len);
  cur_free(jpeg);
}

/* Takes the writer lock on ST, waiting up to LOCK_WAIT_MS for a stage. */
static int lock_waiting(cur_store *st) {
  int rc;
  for (int waited = 0; (rc = cur_store_lock(st)) == CUR_ESTATE && waited < LOCK_WAIT_MS; waited += 100) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return rc;
}

static void post_decide(server *s, struct MHD_Connection *c, reply *r) {
  int bad = 0;
  int64_t id;
  const char *action = param(c, "action", &bad), *task = param(c, "task", &bad);
  const char *cls = param(c, "class", &bad), *image = param(c, "image", &bad);
  if (bad || !action || !image || cur_serve_parse_id(image, &id))
    return json_reply(r, 400, 0, "error", "bad decision parameters: image, action, task, class", 0);
  pthread_mutex_lock(&s->write_mu);
  cur_store *st = s->writer;
  int rc = lock_waiting(st);
  if (rc == CUR_ESTATE) {
    pthread_mutex_unlock(&s->write_mu);
    return json_reply(r, 503, 0, "error", "a stage is writing to the database (it holds the writer "
                      "lock); the decision waits and is retried", 1);
  }
  if (rc == CUR_OK && (rc = cur_store_begin(st)) == CUR_OK) {
    rc = cur_review_decide(st, action, task, id, cls);
    if (rc == CUR_OK) rc = cur_store_commit(st);
    else cur_store_rollback(st);
  }
  cur_store_unlock(st);  /* a stage may start between decisions */
  pthread_mutex_unlock(&s->write_mu);
  if (rc) return json_reply(r, rc == CUR_EINPUT ? 400 : 500, 0, "error", cur_error(), 0);
  json_reply(r, 200, 1, "message", "recorded", 0);
}

/* The checks of invariants 1 and 2; 0 when the request may go on. */
static int guard(server *s, struct MHD_Connection *c, const char *method, reply *r) {
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  if (!cur_serve_host_ok(host, s->port))
    return text_reply(r, 403, "refused: the Host header does not name this server"), -1;
  char cookie[CUR_SERVE_TOKEN_LEN + 1];
  const char *given = arg(c, "token");
  if (given) r->set_cookie = cur_serve_token_ok(s->token, given);
  else if (cur_serve_cookie(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie"),
                            "curate_token", cookie, sizeof cookie))
    given = cookie;
  if (!cur_serve_token_ok(s->token, given))
    return text_reply(r, 403, "refused: open the URL `curate serve` printed (it carries the access "
                      "token)"), -1;
  if (strcmp(method, "POST") != 0) return 0;
  if (!cur_serve_origin_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"), s->port))
    return text_reply(r, 403, "refused: a write must come from this server's own pages (Origin)"), -1;
  if (s->read_only) return json_reply(r, 403, 0, "error", "read-only: decisions are off", 0), -1;
  return 0;
}

static void route(server *s, struct MHD_Connection *c, const char *url, const char *method,
                  reply *r) {
  int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  if (!get && strcmp(method, "POST") != 0) return text_reply(r, 405, "method not allowed");
  if (guard(s, c, method, r)) return;
  if (!get) {
    if (strcmp(url, "/api/decide") == 0) return post_decide(s, c, r);
    return text_reply(r, 404, "not found");
  }
  if (strcmp(url, "/static/style.css") == 0 || strcmp(url, "/static/app.js") == 0) {
    int css = url[8] == 's';
    r->status = 200;
    r->type = css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    cur_buf_puts(&r->body, css ? cur_web_style_css : cur_web_app_js);
    return;
  }
  cur_store *st = pool_take(s);
  if (strncmp(url, "/thumb/", 7) == 0) get_thumb(s, st, c, url, r);
  else get_page(s, st, c, url, r);
  pool_give(s, st);
  if (r->status == 0) text_reply(r, 404, "not found");
}

static enum MHD_Result send_reply(server *s, struct MHD_Connection *c, reply *r) {
  if (r->body.failed) text_reply(r, 500, "out of memory");
  struct MHD_Response *resp = MHD_create_response_from_buffer(r->body.len, r->body.data,
                                                              MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  if (r->type) MHD_add_response_header(resp, "Content-Type", r->type);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "Content-Security-Policy",
                          "default-src 'none'; img-src 'self'; style-src 'self'; "
                          "script-src 'self'; connect-src 'self'; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'");
  MHD_add_response_header(resp, "Cache-Control", r->cacheable ? "private, max-age=3600" : "no-store");
  if (r->etag[0]) MHD_add_response_header(resp, "ETag", r->etag);
  if (r->set_cookie) {
    char cookie[160];
    snprintf(cookie, sizeof cookie, "curate_token=%s; Path=/; HttpOnly; SameSite=Strict", s->token);
    MHD_add_response_header(resp, "Set-Cookie", cookie);
  }
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_ctx) {
  server *s = cls;
  (void)version;
  (void)upload;
  request *q = *req_ctx;
  if (!q) {  /* headers only: the body (if any) comes in the next calls */
    if (!(q = cur_calloc(1, sizeof *q))) return MHD_NO;
    *req_ctx = q;
    return MHD_YES;
  }
  if (*upload_size) {
    q->body += *upload_size;
    *upload_size = 0;
    return MHD_YES;
  }
  reply r = {0};
  if (q->body > MAX_BODY) text_reply(&r, 413, "request body too large");
  else route(s, c, url, method, &r);
  enum MHD_Result ret = send_reply(s, c, &r);
  cur_buf_free(&r.body);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_ctx,
                         enum MHD_RequestTerminationCode code) {
  (void)cls, (void)c, (void)code;
  cur_free(*req_ctx);
  *req_ctx = NULL;
}

/* Parses argv; returns an exit code, or -1 to go on. */
static int serve_parse(int argc, char **argv, server *s) {
  const char *port = NULL;
  int r;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      fputs(serve_help, stdout);
      return CUR_EXIT_OK;
    }
    if ((r = cli_value(&i, argc, argv, "--port", &port))) {
      if (r < 0) return CUR_EXIT_USAGE;
    } else if (strcmp(argv[i], "--read-only") == 0) {
      s->read_only = 1;
    } else {
      return cli_usage_error("serve", "unexpected argument '%s'", argv[i]);
    }
  }
  int64_t p = 8765;
  if (port && strcmp(port, "0") == 0) p = 0;
  else if (port && (cur_serve_parse_id(port, &p) || p > 65535))
    return cli_usage_error("serve", "--port takes 0 to 65535, not '%s'", port);
  s->port = (int)p;
  return -1;
}

/* Starts the daemon on 127.0.0.1:S->port (the bound port back in S->port). */
static int serve_start(server *s, struct MHD_Daemon **out) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)s->port, NULL, NULL, on_request, s,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL,
      MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
  if (!d)
    return cur_errorc(CUR_EIO, "serve: cannot listen on 127.0.0.1:%d (in use? try --port 0)", s->port);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (info) s->port = info->port;
  *out = d;
  return CUR_OK;
}

static int serve_run(const cur_globals *g, server *s) {
  cur_store *st = NULL;
  struct MHD_Daemon *d = NULL;
  int rc = cli_open(g, 0, &st, &s->cfg);
  if (rc) return rc;
  s->db_path = cur_store_file(st);
  s->seed = cli_seed(g, s->cfg);
  s->pool[0] = st;
  for (int i = 1; rc == CUR_OK && i < POOL; i++) rc = cur_store_open(s->db_path, &s->pool[i]);
  if (rc == CUR_OK && !s->read_only) rc = cur_store_open(s->db_path, &s->writer);
  if (rc == CUR_OK) rc = cur_thumbs_new(THUMB_SLOTS, &s->thumbs);
  if (rc == CUR_OK) rc = cur_serve_token_new(s->token);
  if (rc == CUR_OK) rc = serve_start(s, &d);
  if (rc == CUR_OK) {
    printf("http://127.0.0.1:%d/?token=%s\n", s->port, s->token);
    fflush(stdout);
    cur_info("serve: %s%s; Ctrl-C stops", s->db_path, s->read_only ? " (read-only)" : "");
    while (!cur_interrupted()) {
      struct timespec ts = {0, 200 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(d);
  }
  cur_thumbs_free(s->thumbs);
  cur_store_close(s->writer);
  for (int i = POOL - 1; i >= 0; i--) cur_store_close(s->pool[i]);  /* [0] owns db_path */
  cur_config_free(s->cfg);
  return rc;
}

int cur_cmd_serve(const cur_globals *g, int argc, char **argv) {
  server s = {0};
  int code = serve_parse(argc, argv, &s);
  if (code >= 0) return code;
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.freed, NULL);
  pthread_mutex_init(&s.write_mu, NULL);
  int rc = serve_run(g, &s);
  pthread_mutex_destroy(&s.write_mu);
  pthread_cond_destroy(&s.freed);
  pthread_mutex_destroy(&s.mu);
  return rc ? cli_fail(rc) : CUR_EXIT_OK;
}
