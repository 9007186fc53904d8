/* cmd_clip.c -- `curate clip image|text|zeroshot`: run the CLIP engine on files and texts.
**
** Images go through in chunks of CMD_BATCH so memory stays flat for long
** file lists.  An image that cannot be read is reported on stderr and
** skipped; the command then exits with CUR_EXIT_PARTIAL.  With --json the
** output is one JSON array, valid even when some inputs were skipped.
*/
#include "cmd_clip.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "clip.h"
#include "curate.h"
#include "text.h"

#define CMD_BATCH 16
#define MAX_TEMPLATES 32

typedef struct clip_opts {
  const char *sub, *model, *classes;
  const char *templates[MAX_TEMPLATES];
  int n_templates, json, help, threads;
  clip_precision precision;
  char **inputs;
  int n_inputs;
} clip_opts;

typedef struct emitter {
  int json, count;
} emitter;

static const char *const usage_text[] = {
  "usage: curate clip image --model DIR [--precision auto|fp32|bf16] [--json] FILE...\n"
  "  Prints each image's CLIP embedding (not normalised).\n",
  "usage: curate clip text --model DIR [--precision auto|fp32|bf16] [--json] TEXT...\n"
  "  Prints each text's CLIP embedding (not normalised).\n",
  "usage: curate clip zeroshot --model DIR --classes \"a,b,c\" [--template T]...\n"
  "                            [--precision auto|fp32|bf16] [--json] FILE...\n"
  "  Prints class probabilities softmax(logit_scale x cosine) per image.  Each\n"
  "  template has {} where the class name goes (default \"a photo of a {}.\");\n"
  "  several templates are averaged (prompt ensembling).\n",
};

static const char *const subs[] = {"image", "text", "zeroshot"};

static int sub_index(const char *s) {
  for (int i = 0; i < 3; i++)
    if (s && strcmp(s, subs[i]) == 0) return i;
  return -1;
}

static int usage(const char *sub, const char *why) {
  int i = sub_index(sub);
  if (why) fprintf(stderr, "curate clip: %s\n", why);
  for (int k = 0; k < 3; k++)
    if (i < 0 || i == k) fputs(usage_text[k], stderr);
  return CUR_EXIT_USAGE;
}

/* Option value from "--opt VALUE" or "--opt=VALUE"; NULL when absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != 0 || *i + 1 >= argc) return NULL;
  return argv[++*i];
}

static int parse_option(int argc, char **argv, int *i, clip_opts *o) {
  const char *v;
  if (strcmp(argv[*i], "--json") == 0) o->json = 1;
  else if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) o->help = 1;
  else if ((v = opt_value(argc, argv, i, "--model"))) o->model = v;
  else if ((v = opt_value(argc, argv, i, "--classes"))) o->classes = v;
  else if ((v = opt_value(argc, argv, i, "--precision"))) {
    if (clip_precision_parse(v, &o->precision) != CUR_OK) return usage(o->sub, cur_error());
  } else if ((v = opt_value(argc, argv, i, "--template"))) {
    if (o->n_templates == MAX_TEMPLATES) return usage(o->sub, "too many --template options");
    o->templates[o->n_templates++] = v;
  } else {
    fprintf(stderr, "curate clip: unknown option or missing value: %s\n", argv[*i]);
    return usage(o->sub, NULL);
  }
  return CUR_EXIT_OK;
}

/* Options anywhere; "--" ends them.  Inputs are compacted to the front of
** argv (which the caller owns) in their order. */
static int parse_args(const cur_globals *g, int argc, char **argv, clip_opts *o) {
  memset(o, 0, sizeof *o);
  o->json = g->json;
  o->threads = g->threads;
  o->sub = argc > 1 ? argv[1] : NULL;
  if (!o->sub || strcmp(o->sub, "--help") == 0 || strcmp(o->sub, "-h") == 0) {
    o->help = 1;
    return CUR_EXIT_OK;
  }
  if (sub_index(o->sub) < 0) return usage(NULL, "unknown subcommand");
  o->inputs = argv + 2;
  int rest = 0;
  for (int i = 2; i < argc; i++) {
    if (!rest && strcmp(argv[i], "--") == 0) { rest = 1; continue; }
    if (!rest && strncmp(argv[i], "--", 2) == 0) {
      int rc = parse_option(argc, argv, &i, o);
      if (rc != CUR_EXIT_OK) return rc;
      continue;
    }
    o->inputs[o->n_inputs++] = argv[i];
  }
  if (o->help) return CUR_EXIT_OK;
  if (!o->model) return usage(o->sub, "--model DIR is required");
  if (o->n_inputs == 0) return usage(o->sub, "nothing to encode");
  if (strcmp(o->sub, "zeroshot") == 0 && !o->classes) return usage(o->sub, "--classes is required");
  if (o->n_templates == 0) o->templates[o->n_templates++] = "a photo of a {}.";
  return CUR_EXIT_OK;
}

static void emit_begin(emitter *e) {
  if (e->json) fputs("[", stdout);
}

static void emit_end(emitter *e) {
  if (e->json) fputs(e->count ? "\n]\n" : "]\n", stdout);
}

/* One JSON object per input, or one text line "input<TAB>values". */
static int emit_object(emitter *e, cJSON *obj) {
  char *s = obj ? cur_json_print(obj, 0) : NULL;  /* a file name need not be UTF-8 */
  cJSON_Delete(obj);
  if (!s) return cur_errorc(CUR_ENOMEM, "clip: cannot format JSON output");
  printf("%s\n%s", e->count++ ? "," : "", s);
  cur_free(s);
  return CUR_OK;
}

static int emit_embedding(emitter *e, const char *input, const float *v, int n) {
  if (!e->json) {
    printf("%s\t", input);
    for (int i = 0; i < n; i++) printf(i ? " %.7g" : "%.7g", v[i]);
    printf("\n");
    return CUR_OK;
  }
  cJSON *obj = cJSON_CreateObject();
  if (obj && (!cJSON_AddStringToObject(obj, "input", input) ||
              !cJSON_AddItemToObject(obj, "embedding", cJSON_CreateFloatArray(v, n)))) {
    cJSON_Delete(obj);
    obj = NULL;
  }
  return emit_object(e, obj);
}

static int emit_probs(emitter *e, const char *input, char **classes, const float *p, int n) {
  if (!e->json) {
    printf("%s", input);
    for (int i = 0; i < n; i++) printf("\t%s %.6f", classes[i], p[i]);
    printf("\n");
    return CUR_OK;
  }
  cJSON *obj = cJSON_CreateObject(), *probs = cJSON_CreateObject();
  int ok = obj && probs && cJSON_AddStringToObject(obj, "input", input);
  for (int i = 0; ok && i < n; i++) ok = cJSON_AddNumberToObject(probs, classes[i], p[i]) != NULL;
  if (ok) ok = cJSON_AddItemToObject(obj, "probs", probs);
  if (!ok) {
    cJSON_Delete(probs);
    cJSON_Delete(obj);
    obj = NULL;
  }
  return emit_object(e, obj);
}

/* What to do with a chunk of encoded images: print or classify. */
typedef int (*image_sink)(void *ctx, emitter *e, char **names, const float *feats, int n);

/* Preprocesses and encodes the files in chunks; unreadable files are
** reported and counted in *skipped. */
static int run_images(clip_model *m, char **files, int n, emitter *e, image_sink sink, void *ctx,
                      int *skipped) {
  size_t per = 3 * (size_t)clip_model_image_size(m) * clip_model_image_size(m);
  int dim = clip_model_embed_dim(m), rc = CUR_OK;
  float *pix = cur_mallocarray(CMD_BATCH * per, sizeof *pix);
  float *feats = cur_mallocarray((size_t)CMD_BATCH * dim, sizeof *feats);
  char *names[CMD_BATCH];
  if (!pix || !feats) rc = CUR_ENOMEM;
  for (int i = 0; i < n && rc == CUR_OK;) {
    int k = 0;
    for (; i < n && k < CMD_BATCH; i++) {
      if (clip_model_preprocess_file(m, files[i], pix + (size_t)k * per) != CUR_OK) {
        (void)cli_fail(CUR_ERR);  /* printed; the other files go on */
        (*skipped)++;
        continue;
      }
      names[k++] = files[i];
    }
    if (k > 0 && (rc = clip_encode_images(m, pix, k, feats)) == CUR_OK)
      rc = sink(ctx, e, names, feats, k);
  }
  cur_free(pix);
  cur_free(feats);
  return rc;
}

static int print_embeddings(void *ctx, emitter *e, char **names, const float *feats, int n) {
  int dim = *(const int *)ctx, rc = CUR_OK;
  for (int i = 0; i < n && rc == CUR_OK; i++)
    rc = emit_embedding(e, names[i], feats + (size_t)i * dim, dim);
  return rc;
}

static int cmd_text(clip_model *m, const clip_opts *o, emitter *e) {
  int dim = clip_model_embed_dim(m);
  float *feats = cur_mallocarray((size_t)o->n_inputs * dim, sizeof *feats);
  if (!feats) return CUR_ENOMEM;
  int rc = clip_encode_texts(m, (const char *const *)o->inputs, o->n_inputs, feats);
  for (int i = 0; i < o->n_inputs && rc == CUR_OK; i++)
    rc = emit_embedding(e, o->inputs[i], feats + (size_t)i * dim, dim);
  cur_free(feats);
  return rc;
}

typedef struct zeroshot {
  char *buf;          /* the --classes copy the names point into */
  char **classes;
  int n, dim;
  float *emb;         /* n x dim, unit length */
  float scale;
} zeroshot;

static void zeroshot_free(zeroshot *z) {
  cur_free(z->buf);
  cur_free(z->classes);
  cur_free(z->emb);
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
  return s;
}

/* "a, b,c" -> {"a", "b", "c"}; an empty name is an error. */
static int split_classes(const char *list, zeroshot *z) {
  size_t commas = 0;
  for (const char *p = list; *p; p++) commas += *p == ',';
  if (!(z->buf = cur_strdup(list)) || !(z->classes = cur_mallocarray(commas + 1, sizeof(char *))))
    return CUR_ENOMEM;
  char *tok = z->buf;
  for (size_t i = 0; i <= commas; i++) {
    char *comma = strchr(tok, ',');
    if (comma) *comma = 0;
    z->classes[z->n++] = trim(tok);
    if (!*z->classes[z->n - 1])
      return cur_errorc(CUR_ECONFIG, "clip: --classes \"%s\" has an empty class name", list);
    tok = comma ? comma + 1 : tok + strlen(tok);
  }
  return CUR_OK;
}

/* The classes' ensembled text embeddings for the --template list. */
static int class_embeddings(clip_model *m, const clip_opts *o, zeroshot *z) {
  z->dim = clip_model_embed_dim(m);
  z->scale = clip_model_logit_scale(m);
  if (!(z->emb = cur_mallocarray((size_t)z->n * z->dim, sizeof *z->emb))) return CUR_ENOMEM;
  return clip_zeroshot_classes(m, (const char *const *)z->classes, z->n,
                               (const char *const *)o->templates, o->n_templates, z->emb);
}

static int classify(void *ctx, emitter *e, char **names, const float *feats, int n) {
  zeroshot *z = ctx;
  float *p = cur_mallocarray((size_t)z->n + (size_t)z->dim, sizeof *p), *v = p + z->n;
  int rc = p ? CUR_OK : CUR_ENOMEM;
  for (int i = 0; i < n && rc == CUR_OK; i++) {
    memcpy(v, feats + (size_t)i * z->dim, (size_t)z->dim * sizeof *v);
    clip_zeroshot_probs(z->emb, z->n, z->dim, z->scale, v, p);
    rc = emit_probs(e, names[i], z->classes, p, z->n);
  }
  cur_free(p);
  return rc;
}

static int run_sub(clip_model *m, const clip_opts *o, emitter *e, int *skipped) {
  int dim = clip_model_embed_dim(m);
  if (strcmp(o->sub, "text") == 0) return cmd_text(m, o, e);
  if (strcmp(o->sub, "image") == 0)
    return run_images(m, o->inputs, o->n_inputs, e, print_embeddings, &dim, skipped);
  zeroshot z = {0};
  int rc = split_classes(o->classes, &z);
  if (rc == CUR_OK) rc = class_embeddings(m, o, &z);
  if (rc == CUR_OK) rc = run_images(m, o->inputs, o->n_inputs, e, classify, &z, skipped);
  zeroshot_free(&z);
  return rc;
}

int cur_cmd_clip(const cur_globals *g, int argc, char **argv) {
  clip_opts o;
  int rc = parse_args(g, argc, argv, &o);
  if (rc != CUR_EXIT_OK) return rc;
  if (o.help) {
    int i = sub_index(o.sub);
    for (int k = 0; k < 3; k++)
      if (i < 0 || i == k) fputs(usage_text[k], stdout);
    return CUR_EXIT_OK;
  }
  clip_model *m = NULL;
  emitter e = {o.json, 0};
  int skipped = 0;
  if ((rc = clip_model_open(o.model, o.precision, o.threads, &m)) == CUR_OK) {
    emit_begin(&e);
    rc = run_sub(m, &o, &e, &skipped);
    emit_end(&e);
  }
  clip_model_free(m);
  if (rc != CUR_OK) {
    (void)cli_fail(rc);
    return CUR_EXIT_ERROR;
  }
  return skipped ? CUR_EXIT_PARTIAL : CUR_EXIT_OK;
}
