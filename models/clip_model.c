/* clip_model.c -- the CLIP weights: allocation, loading from safetensors
** (HF or OpenCLIP names, shapes checked, F32/F16/BF16 converted to fp32),
** random fill for benchmarks, and packing for the matmul backend.
**
** Every weight array is listed once by list_slots() with its canonical
** shape, [out, in] for matrices; loading and the random fill both walk that
** list.  A failed load leaves arrays the caller releases with
** clip__model_release, which accepts partly built models.
*/
#include "clip_internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "curate.h"
#include "safetensors.h"

typedef struct wslot {
  clip_tower_id tw;
  int layer;            /* -1 for tower slots */
  int slot;             /* clip_lslot or clip_tslot */
  float *dst;
  int ndim;             /* canonical shape; 0 for the scalar logit scale */
  int64_t dims[4];
} wslot;

typedef struct slot_list {
  wslot *v;
  int n, cap;
} slot_list;

static float *falloc(size_t n) { return cur_mallocarray(n, sizeof(float)); }

static int linear_alloc(clip_linear *l, int out, int in, int bias) {
  l->out = out;
  l->in = in;
  l->w = falloc((size_t)out * (size_t)in);
  l->b = bias ? falloc((size_t)out) : NULL;
  return (l->w && (!bias || l->b)) ? CUR_OK : CUR_ENOMEM;
}

static int layer_alloc(clip_layer *L, int W, int F) {
  L->ln1_w = falloc(W), L->ln1_b = falloc(W), L->ln2_w = falloc(W), L->ln2_b = falloc(W);
  if (!L->ln1_w || !L->ln1_b || !L->ln2_w || !L->ln2_b) return CUR_ENOMEM;
  if (linear_alloc(&L->qkv, 3 * W, W, 1) || linear_alloc(&L->out, W, W, 1) ||
      linear_alloc(&L->fc1, F, W, 1) || linear_alloc(&L->fc2, W, F, 1))
    return CUR_ENOMEM;
  return CUR_OK;
}

int clip__model_alloc(clip_model *m) {
  const clip_config *c = &m->cfg;
  for (int tw = 0; tw < 2; tw++) {
    clip_tower *t = &m->tower[tw];
    int W = c->tower[tw].width;
    t->cfg = c->tower[tw];
    if (!(t->layer = cur_calloc((size_t)t->cfg.layers, sizeof *t->layer))) return CUR_ENOMEM;
    for (int i = 0; i < t->cfg.layers; i++)
      if (layer_alloc(&t->layer[i], W, t->cfg.mlp) != CUR_OK) return CUR_ENOMEM;
    t->pos = falloc((size_t)t->cfg.seq * W);
    t->post_w = falloc(W), t->post_b = falloc(W);
    if (!t->pos || !t->post_w || !t->post_b || linear_alloc(&t->proj, c->embed_dim, W, 0))
      return CUR_ENOMEM;
  }
  clip_tower *v = &m->tower[CLIP_VISION];
  int Wv = v->cfg.width;
  v->cls = falloc(Wv), v->pre_w = falloc(Wv), v->pre_b = falloc(Wv);
  m->tower[CLIP_TEXT].tok_emb = falloc((size_t)c->vocab_size * m->tower[CLIP_TEXT].cfg.width);
  if (!v->cls || !v->pre_w || !v->pre_b || !m->tower[CLIP_TEXT].tok_emb ||
      linear_alloc(&v->patch, Wv, 3 * c->patch_size * c->patch_size, 0))
    return CUR_ENOMEM;
  return CUR_OK;
}

static int push(slot_list *s, clip_tower_id tw, int layer, int slot, float *dst, int ndim,
                int64_t d0, int64_t d1) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    wslot *v = cur_reallocarray(s->v, (size_t)cap, sizeof *v);
    if (!v) return CUR_ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = (wslot){tw, layer, slot, dst, ndim, {d0, d1, 0, 0}};
  return CUR_OK;
}

static int list_layer(slot_list *s, clip_tower_id tw, int i, clip_layer *L, int W, int F) {
  int rc = push(s, tw, i, CLIP_L_LN1_W, L->ln1_w, 1, W, 0);
  if (!rc) rc = push(s, tw, i, CLIP_L_LN1_B, L->ln1_b, 1, W, 0);
  if (!rc) rc = push(s, tw, i, CLIP_L_QKV_W, L->qkv.w, 2, 3 * W, W);
  if (!rc) rc = push(s, tw, i, CLIP_L_QKV_B, L->qkv.b, 1, 3 * W, 0);
  if (!rc) rc = push(s, tw, i, CLIP_L_OUT_W, L->out.w, 2, W, W);
  if (!rc) rc = push(s, tw, i, CLIP_L_OUT_B, L->out.b, 1, W, 0);
  if (!rc) rc = push(s, tw, i, CLIP_L_LN2_W, L->ln2_w, 1, W, 0);
  if (!rc) rc = push(s, tw, i, CLIP_L_LN2_B, L->ln2_b, 1, W, 0);
  if (!rc) rc = push(s, tw, i, CLIP_L_FC1_W, L->fc1.w, 2, F, W);
  if (!rc) rc = push(s, tw, i, CLIP_L_FC1_B, L->fc1.b, 1, F, 0);
  if (!rc) rc = push(s, tw, i, CLIP_L_FC2_W, L->fc2.w, 2, W, F);
  if (!rc) rc = push(s, tw, i, CLIP_L_FC2_B, L->fc2.b, 1, W, 0);
  return rc;
}

static int list_tower(slot_list *s, clip_model *m, clip_tower_id tw) {
  clip_tower *t = &m->tower[tw];
  int W = t->cfg.width, rc = CUR_OK;
  for (int i = 0; i < t->cfg.layers && rc == CUR_OK; i++)
    rc = list_layer(s, tw, i, &t->layer[i], W, t->cfg.mlp);
  if (!rc && tw == CLIP_VISION) {
    /* The conv weight [W, 3, P, P] is the [W, 3*P*P] matrix im2col expects. */
    rc = push(s, tw, -1, CLIP_T_EMB, t->patch.w, 2, W, t->patch.in);
    if (!rc) rc = push(s, tw, -1, CLIP_T_CLS, t->cls, 1, W, 0);
    if (!rc) rc = push(s, tw, -1, CLIP_T_PRE_W, t->pre_w, 1, W, 0);
    if (!rc) rc = push(s, tw, -1, CLIP_T_PRE_B, t->pre_b, 1, W, 0);
    if (!rc) rc = push(s, tw, -1, CLIP_T_LOGIT_SCALE, &m->logit_scale, 0, 0, 0);
  } else if (!rc) {
    rc = push(s, tw, -1, CLIP_T_EMB, t->tok_emb, 2, m->cfg.vocab_size, W);
  }
  if (!rc) rc = push(s, tw, -1, CLIP_T_POS, t->pos, 2, t->cfg.seq, W);
  if (!rc) rc = push(s, tw, -1, CLIP_T_POST_W, t->post_w, 1, W, 0);
  if (!rc) rc = push(s, tw, -1, CLIP_T_POST_B, t->post_b, 1, W, 0);
  if (!rc) rc = push(s, tw, -1, CLIP_T_PROJ, t->proj.w, 2, m->cfg.embed_dim, W);
  return rc;
}

static int list_slots(clip_model *m, slot_list *s) {
  int rc = list_tower(s, m, CLIP_VISION);
  return rc ? rc : list_tower(s, m, CLIP_TEXT);
}

/* The shape the checkpoint must store for one part of a slot. */
static int file_shape(const clip_config *c, const wslot *s, int nparts, int transposed,
                      int64_t *dims) {
  int nd = s->ndim;
  memcpy(dims, s->dims, sizeof s->dims);
  if (s->tw == CLIP_VISION && s->layer < 0 && s->slot == CLIP_T_EMB) {
    int64_t d[4] = {s->dims[0], 3, c->patch_size, c->patch_size};
    memcpy(dims, d, sizeof d);
    return 4;
  }
  dims[0] /= nparts;
  if (transposed) {
    int64_t t = dims[0];
    dims[0] = dims[1];
    dims[1] = t;
  }
  return nd;
}

static void shape_str(const int64_t *d, int nd, char *buf, size_t cap) {
  size_t o = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < nd && o < cap; i++)
    o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)d[i]);
  if (o < cap) snprintf(buf + o, cap - o, "]");
}

static int check_shape(const char *path, const cur_st_tensor *t, const int64_t *want, int nd,
                       int scalar) {
  int ok = scalar ? t->numel == 1 : t->ndim == nd;
  for (int i = 0; ok && !scalar && i < nd; i++) ok = t->shape[i] == want[i];
  if (ok) return CUR_OK;
  char a[96], b[96];
  shape_str(t->shape, t->ndim, a, sizeof a);
  shape_str(want, nd, b, sizeof b);
  return cur_errorc(CUR_EINPUT, "clip: %s: tensor '%s' has shape %s, the config needs %s", path,
                    t->name, a, b);
}

/* Converts one checkpoint tensor into dst, transposing [in, out] to [out, in]. */
static int convert(const cur_st_tensor *t, int transposed, float *dst) {
  if (!transposed) return cur_st_to_f32(t, dst);
  float *tmp = falloc(t->numel);
  if (!tmp) return CUR_ENOMEM;
  int rc = cur_st_to_f32(t, tmp);
  size_t r = (size_t)t->shape[0], c = (size_t)t->shape[1];
  for (size_t i = 0; rc == CUR_OK && i < r; i++)
    for (size_t j = 0; j < c; j++) dst[j * r + i] = tmp[i * c + j];
  cur_free(tmp);
  return rc;
}

static int load_slot(const cur_st_file *f, const clip_config *c, const wslot *s) {
  char names[3][160];
  int nparts = 0, tr = 0;
  while (nparts < 3 && clip__tensor_name(c, s->tw, s->layer, s->slot, nparts, names[nparts],
                                         sizeof names[0], &tr))
    nparts++;
  assert(nparts == 1 || nparts == 3);
  int64_t dims[4];
  int nd = file_shape(c, s, nparts, tr, dims);
  size_t part_numel = 1;
  for (int i = 0; i < s->ndim; i++) part_numel *= (size_t)s->dims[i];
  part_numel /= (size_t)nparts;
  for (int p = 0; p < nparts; p++) {
    const cur_st_tensor *t = cur_st_find(f, names[p]);
    if (!t)
      return cur_errorc(CUR_EINPUT, "clip: %s: tensor '%s' is missing", cur_st_path(f), names[p]);
    int rc = check_shape(cur_st_path(f), t, dims, nd, s->ndim == 0);
    if (rc != CUR_OK) return rc;
    if ((rc = convert(t, tr, s->dst + p * part_numel)) == CUR_EINPUT) {
      char msg[256]; /* add the file name to the dtype message */
      snprintf(msg, sizeof msg, "%s", cur_error());
      return cur_errorc(rc, "clip: %s: %s", cur_st_path(f), msg);
    }
    if (rc != CUR_OK) return rc;
  }
  return CUR_OK;
}

int clip__model_load_weights(clip_model *m, const cur_st_file *f) {
  slot_list s = {0};
  int rc = list_slots(m, &s);
  for (int i = 0; rc == CUR_OK && i < s.n; i++) rc = load_slot(f, &m->cfg, &s.v[i]);
  cur_free(s.v);
  if (rc == CUR_OK) m->logit_scale = expf(m->logit_scale);
  return rc;
}

/* xorshift64*; uniform in [-1, 1). */
static float noise(uint64_t *st) {
  *st ^= *st >> 12;
  *st ^= *st << 25;
  *st ^= *st >> 27;
  return (float)((*st * 2685821657736338717ull) >> 40) / (float)(1 << 23) - 1.0f;
}

void clip__model_randomize(clip_model *m, uint64_t seed) {
  slot_list s = {0};
  uint64_t st = seed * 0x9e3779b97f4a7c15ull + 1;
  if (list_slots(m, &s) == CUR_OK) {
    for (int i = 0; i < s.n; i++) {
      const wslot *w = &s.v[i];
      size_t n = 1;
      for (int d = 0; d < w->ndim; d++) n *= (size_t)w->dims[d];
      int gain = (w->layer >= 0 && (w->slot == CLIP_L_LN1_W || w->slot == CLIP_L_LN2_W)) ||
                 (w->layer < 0 && (w->slot == CLIP_T_PRE_W || w->slot == CLIP_T_POST_W));
      for (size_t j = 0; j < n; j++) w->dst[j] = (gain ? 1.0f : 0.0f) + 0.035f * noise(&st);
    }
  }
  cur_free(s.v);
  m->logit_scale = 100.0f;
}

/* Moves L's MLP into `parts` slices of its hidden layer: slice p holds
** fc1's rows [p f, p f + f) (f = F / parts) and fc2's columns of the same
** range, fc2's bias in slice 0 only, so that x += fc2(act(fc1(h))) is the
** sum of the slices' products.  On the bf16 path the forward pass runs the
** MLP slice by slice: oneDNN's AMX matmul runs fc2's K = 3072 product at
** about 0.7 of its speed at K = 768 (and on a strided view of the hidden
** layer falls back to a slower kernel), and each slice's hidden rows are
** still in the cache when fc2 reads them. */
static int mlp_split(clip_layer *L, int parts) {
  if (L->mlp_parts) return CUR_OK; /* split already */
  int F = L->fc1.out, W = L->fc1.in, f = F / parts;
  L->fc1_part = cur_calloc((size_t)parts, sizeof *L->fc1_part);
  L->fc2_part = cur_calloc((size_t)parts, sizeof *L->fc2_part);
  if (!L->fc1_part || !L->fc2_part) return CUR_ENOMEM;
  L->mlp_parts = parts;
  if (parts == 1) {
    L->fc1_part[0] = L->fc1, L->fc2_part[0] = L->fc2;
    memset(&L->fc1, 0, sizeof L->fc1), memset(&L->fc2, 0, sizeof L->fc2);
    return CUR_OK;
  }
  for (int p = 0; p < parts; p++) {
    clip_linear *a = &L->fc1_part[p], *b = &L->fc2_part[p];
    if (linear_alloc(a, f, W, 1) || linear_alloc(b, W, f, p == 0)) return CUR_ENOMEM;
    memcpy(a->w, L->fc1.w + (size_t)p * f * W, (size_t)f * W * sizeof *a->w);
    memcpy(a->b, L->fc1.b + (size_t)p * f, (size_t)f * sizeof *a->b);
    for (int r = 0; r < W; r++)
      memcpy(b->w + (size_t)r * f, L->fc2.w + (size_t)r * F + (size_t)p * f, (size_t)f * sizeof *b->w);
    if (p == 0) memcpy(b->b, L->fc2.b, (size_t)W * sizeof *b->b);
  }
  clip__linear_free(&L->fc1);
  clip__linear_free(&L->fc2);
  return CUR_OK;
}

static int prepare_tower(clip_mm *mm, clip_tower *t, int vision) {
  int rc = clip__mm_prepare(mm, &t->proj);
  if (rc == CUR_OK && vision) rc = clip__mm_prepare(mm, &t->patch);
  /* slices as wide as the model (F = 4 W in CLIP): bf16 only, where measured */
  int W = t->cfg.width, F = t->cfg.mlp;
  int parts = clip__mm_act_bf16(mm) && F > W && F % W == 0 ? F / W : 1;
  for (int i = 0; rc == CUR_OK && i < t->cfg.layers; i++) {
    clip_layer *L = &t->layer[i];
    if ((rc = clip__mm_prepare(mm, &L->qkv)) == CUR_OK && (rc = clip__mm_prepare(mm, &L->out)) == CUR_OK)
      rc = mlp_split(L, parts);
    for (int p = 0; rc == CUR_OK && p < L->mlp_parts; p++)
      if ((rc = clip__mm_prepare(mm, &L->fc1_part[p])) == CUR_OK)
        rc = clip__mm_prepare(mm, &L->fc2_part[p]);
  }
  return rc;
}

int clip__model_prepare(clip_model *m) {
  int rc = prepare_tower(m->mm, &m->tower[CLIP_VISION], 1);
  return rc ? rc : prepare_tower(m->mm, &m->tower[CLIP_TEXT], 0);
}

static void tower_release(clip_tower *t) {
  for (int i = 0; t->layer && i < t->cfg.layers; i++) {
    clip_layer *L = &t->layer[i];
    cur_free(L->ln1_w), cur_free(L->ln1_b), cur_free(L->ln2_w), cur_free(L->ln2_b);
    clip__linear_free(&L->qkv), clip__linear_free(&L->out);
    clip__linear_free(&L->fc1), clip__linear_free(&L->fc2);
    for (int p = 0; p < L->mlp_parts; p++)
      clip__linear_free(&L->fc1_part[p]), clip__linear_free(&L->fc2_part[p]);
    cur_free(L->fc1_part), cur_free(L->fc2_part);
  }
  cur_free(t->layer);
  clip__linear_free(&t->patch);
  clip__linear_free(&t->proj);
  cur_free(t->tok_emb), cur_free(t->cls), cur_free(t->pos);
  cur_free(t->pre_w), cur_free(t->pre_b), cur_free(t->post_w), cur_free(t->post_b);
  memset(t, 0, sizeof *t);
}

void clip__model_release(clip_model *m) {
  tower_release(&m->tower[CLIP_VISION]);
  tower_release(&m->tower[CLIP_TEXT]);
  cur_free(m->ws.x), cur_free(m->ws.h), cur_free(m->ws.big), cur_free(m->ws.att);
  cur_free(m->ws.cols), cur_free(m->ws.att_scratch);
  memset(&m->ws, 0, sizeof m->ws);
}
