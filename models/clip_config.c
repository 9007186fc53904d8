/* clip_config.c -- read Hugging Face and OpenCLIP configs; map tensor names.
**
** Both layouts are the same network (openai/CLIP model.py).  Missing config
** keys take the defaults of each project, which are ViT-B/32's for Hugging
** Face and OpenCLIP's CLIPVisionCfg/CLIPTextCfg defaults otherwise.  Options
** that change the network in ways this engine does not implement (layer
** scale, attention pooling, a Hugging Face text tower) are refused rather
** than silently ignored.  Every shape is checked again against the tensors
** when the weights load.
*/
#include "clip_internal.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "curate.h"

int clip__json_read(const char *path, cJSON **out) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) return cur_errorc(CUR_EIO, "%s: %s", path, strerror(errno));
  int rc = CUR_OK;
  char *buf = NULL;
  long len = (fseek(fp, 0, SEEK_END) == 0) ? ftell(fp) : -1;
  if (len < 0 || fseek(fp, 0, SEEK_SET) != 0) {
    rc = cur_errorc(CUR_EIO, "%s: cannot seek", path);
  } else if (!(buf = cur_malloc((size_t)len))) {
    rc = CUR_ENOMEM;
  } else if (fread(buf, 1, (size_t)len, fp) != (size_t)len) {
    rc = cur_errorc(CUR_EIO, "%s: short read", path);
  } else if (!(*out = cJSON_ParseWithLength(buf, (size_t)len)) || !cJSON_IsObject(*out)) {
    cJSON_Delete(*out);
    *out = NULL;
    rc = cur_errorc(CUR_EINPUT, "%s: not a JSON object", path);
  }
  cur_free(buf);
  fclose(fp);
  return rc;
}

/* A positive integer option, or def when absent; -1 when present but bad. */
static int opt_int(const cJSON *obj, const char *key, int def) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!j) return def;
  if (!cJSON_IsNumber(j) || j->valuedouble < 1 || j->valuedouble > 1e6 ||
      j->valuedouble != (double)j->valueint)
    return -1;
  return j->valueint;
}

static double opt_num(const cJSON *obj, const char *key, double def) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(j) ? j->valuedouble : def;
}

/* Reads a 3-number array (mean or std) when present. */
static int opt_vec3(const cJSON *obj, const char *key, float *v) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!j) return 0;
  if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 3) return -1;
  for (int i = 0; i < 3; i++) {
    const cJSON *e = cJSON_GetArrayItem(j, i);
    if (!cJSON_IsNumber(e)) return -1;
    v[i] = (float)e->valuedouble;
  }
  return 0;
}

/* Fills the derived fields and checks the numbers make a network. */
static int finish_config(const char *path, clip_config *c) {
  clip_tower_cfg *v = &c->tower[CLIP_VISION], *t = &c->tower[CLIP_TEXT];
  int ok = c->embed_dim > 0 && c->image_size > 0 && c->patch_size > 0 && c->vocab_size > 0;
  for (int i = 0; i < 2 && ok; i++) {
    const clip_tower_cfg *w = &c->tower[i];
    ok = w->width > 0 && w->layers > 0 && w->heads > 0 && w->mlp > 0 && w->width % w->heads == 0;
  }
  if (!ok || c->image_size % c->patch_size != 0 || t->seq < 2)
    return cur_errorc(CUR_ECONFIG, "clip: %s: sizes do not describe a ViT CLIP model", path);
  int g = c->image_size / c->patch_size;
  v->seq = 1 + g * g;
  c->prep.size = c->image_size;
  return CUR_OK;
}

static int parse_act(const char *path, const cJSON *tower, clip_act *act) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(tower, "hidden_act");
  if (!a || (cJSON_IsString(a) && strcmp(a->valuestring, "quick_gelu") == 0)) {
    *act = CLIP_ACT_QUICK_GELU;
  } else if (cJSON_IsString(a) && strcmp(a->valuestring, "gelu") == 0) {
    *act = CLIP_ACT_GELU;
  } else {
    return cur_errorc(CUR_ECONFIG, "clip: %s: hidden_act must be quick_gelu or gelu", path);
  }
  return CUR_OK;
}

/* Hugging Face preprocessor_config.json: crop size, mean and std. */
static int parse_hf_preprocessor(const char *dir, clip_config *c) {
  char *path = cur_asprintf("%s/preprocessor_config.json", dir);
  if (!path) return CUR_ENOMEM;
  cJSON *root = NULL;
  int rc = CUR_OK;
  if (access(path, F_OK) != 0) goto cleanup; /* optional: CLIP's defaults stay */
  if ((rc = clip__json_read(path, &root)) != CUR_OK) goto cleanup;
  const cJSON *crop = cJSON_GetObjectItemCaseSensitive(root, "crop_size");
  int size = cJSON_IsObject(crop) ? opt_int(crop, "height", c->image_size)
                                  : opt_int(root, "crop_size", c->image_size);
  if (size != c->image_size || opt_vec3(root, "image_mean", c->prep.mean) ||
      opt_vec3(root, "image_std", c->prep.std))
    rc = cur_errorc(CUR_ECONFIG, "clip: %s: crop size must be %d and mean/std 3 numbers", path,
                    c->image_size);
cleanup:
  cJSON_Delete(root);
  cur_free(path);
  return rc;
}

static int parse_hf(const char *path, const cJSON *root, clip_config *c) {
  const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
  clip_tower_cfg *v = &c->tower[CLIP_VISION], *t = &c->tower[CLIP_TEXT];
  clip_act tact;
  int rc;
  c->layout = CLIP_LAYOUT_HF;
  c->embed_dim = opt_int(root, "projection_dim", 512);
  v->width = opt_int(vc, "hidden_size", 768);
  v->layers = opt_int(vc, "num_hidden_layers", 12);
  v->heads = opt_int(vc, "num_attention_heads", 12);
  v->mlp = opt_int(vc, "intermediate_size", 3072);
  c->image_size = opt_int(vc, "image_size", 224);
  c->patch_size = opt_int(vc, "patch_size", 32);
  t->width = opt_int(tc, "hidden_size", 512);
  t->layers = opt_int(tc, "num_hidden_layers", 12);
  t->heads = opt_int(tc, "num_attention_heads", 8);
  t->mlp = opt_int(tc, "intermediate_size", 2048);
  t->seq = opt_int(tc, "max_position_embeddings", 77);
  c->vocab_size = opt_int(tc, "vocab_size", 49408);
  c->eps = (float)opt_num(vc, "layer_norm_eps", 1e-5);
  if ((rc = parse_act(path, vc, &c->act)) != CUR_OK || (rc = parse_act(path, tc, &tact)) != CUR_OK)
    return rc;
  if (tact != c->act)
    return cur_errorc(CUR_ECONFIG, "clip: %s: vision and text activations differ", path);
  return CUR_OK;
}

/* OpenCLIP options that would change the network; refused by name. */
static int check_unsupported(const char *path, const cJSON *vc, const cJSON *tc) {
  static const char *const keys[] = {"ls_init_value", "attentional_pool", "no_ln_pre",
                                     "final_ln_after_pool", "input_patchnorm",
                                     "global_average_pool", "hf_model_name", "timm_model_name"};
  for (size_t i = 0; i < CUR_ARRAY_LEN(keys); i++) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(vc, keys[i]);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(tc, keys[i]);
    if ((a && !cJSON_IsNull(a) && !cJSON_IsFalse(a)) || (b && !cJSON_IsNull(b) && !cJSON_IsFalse(b)))
      return cur_errorc(CUR_ECONFIG, "clip: %s: option '%s' is not supported", path, keys[i]);
  }
  if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(vc, "layers")))
    return cur_errorc(CUR_ECONFIG, "clip: %s: ResNet vision towers are not supported", path);
  return CUR_OK;
}

static int parse_openclip(const char *path, const cJSON *root, clip_config *c) {
  const cJSON *mc = cJSON_GetObjectItemCaseSensitive(root, "model_cfg");
  const cJSON *vc = cJSON_GetObjectItemCaseSensitive(mc, "vision_cfg");
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(mc, "text_cfg");
  const cJSON *pc = cJSON_GetObjectItemCaseSensitive(root, "preprocess_cfg");
  clip_tower_cfg *v = &c->tower[CLIP_VISION], *t = &c->tower[CLIP_TEXT];
  int rc = check_unsupported(path, vc, tc);
  if (rc != CUR_OK) return rc;
  c->layout = CLIP_LAYOUT_OPENCLIP;
  c->embed_dim = opt_int(mc, "embed_dim", 0);
  c->act = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mc, "quick_gelu")) ? CLIP_ACT_QUICK_GELU
                                                                          : CLIP_ACT_GELU;
  v->width = opt_int(vc, "width", 768);
  v->layers = opt_int(vc, "layers", 12);
  int head_width = opt_int(vc, "head_width", 64);
  v->heads = head_width > 0 ? v->width / head_width : -1;
  v->mlp = (int)(v->width * opt_num(vc, "mlp_ratio", 4.0));
  c->image_size = opt_int(vc, "image_size", 224);
  c->patch_size = opt_int(vc, "patch_size", 16);
  t->width = opt_int(tc, "width", 512);
  t->layers = opt_int(tc, "layers", 12);
  t->heads = opt_int(tc, "heads", 8);
  t->mlp = (int)(t->width * opt_num(tc, "mlp_ratio", 4.0));
  t->seq = opt_int(tc, "context_length", 77);
  c->vocab_size = opt_int(tc, "vocab_size", 49408);
  c->eps = 1e-5f;
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(pc, "resize_mode");
  if (mode && !(cJSON_IsString(mode) && strcmp(mode->valuestring, "shortest") == 0))
    return cur_errorc(CUR_ECONFIG, "clip: %s: only resize_mode \"shortest\" is supported", path);
  if (opt_vec3(pc, "mean", c->prep.mean) || opt_vec3(pc, "std", c->prep.std))
    return cur_errorc(CUR_ECONFIG, "clip: %s: mean and std must be 3 numbers", path);
  return CUR_OK;
}

/* Tries dir/<name>; *found says whether the file exists. */
static int load_layout(const char *dir, const char *name, const char *weights_name,
                       clip_config *cfg, char **weights, int *found) {
  char *path = cur_asprintf("%s/%s", dir, name);
  cJSON *root = NULL;
  int rc = path ? CUR_OK : CUR_ENOMEM;
  *found = path && access(path, F_OK) == 0;
  if (!*found) goto cleanup;
  if ((rc = clip__json_read(path, &root)) != CUR_OK) goto cleanup;
  int hf = strcmp(name, "config.json") == 0;
  rc = hf ? parse_hf(path, root, cfg) : parse_openclip(path, root, cfg);
  if (rc == CUR_OK && hf) rc = parse_hf_preprocessor(dir, cfg);
  if (rc == CUR_OK) rc = finish_config(path, cfg);
  if (rc == CUR_OK && !(*weights = cur_asprintf("%s/%s", dir, weights_name))) rc = CUR_ENOMEM;
cleanup:
  cJSON_Delete(root);
  cur_free(path);
  return rc;
}

int clip__config_load(const char *dir, clip_config *cfg, char **weights) {
  int found = 0, rc;
  memset(cfg, 0, sizeof *cfg);
  clip_prep_default(&cfg->prep, 224);
  *weights = NULL;
  rc = load_layout(dir, "open_clip_config.json", "open_clip_model.safetensors", cfg, weights,
                   &found);
  if (rc != CUR_OK || found) return rc;
  rc = load_layout(dir, "config.json", "model.safetensors", cfg, weights, &found);
  if (rc != CUR_OK || found) return rc;
  return cur_errorc(CUR_ECONFIG, "clip: %s: no config.json or open_clip_config.json", dir);
}

void clip__config_vit_b32(clip_config *c) {
  memset(c, 0, sizeof *c);
  c->layout = CLIP_LAYOUT_OPENCLIP;
  c->act = CLIP_ACT_QUICK_GELU;
  c->eps = 1e-5f;
  c->embed_dim = 512;
  c->image_size = 224;
  c->patch_size = 32;
  c->vocab_size = 49408;
  c->tower[CLIP_VISION] = (clip_tower_cfg){768, 12, 12, 3072, 0};
  c->tower[CLIP_TEXT] = (clip_tower_cfg){512, 12, 8, 2048, 77};
  clip_prep_default(&c->prep, 224);
  (void)finish_config("ViT-B/32", c);
}

/* Hugging Face per-layer names, after "<tower>.encoder.layers.<i>.".  QKV
** comes as three matrices that the loader stacks as [q; k; v]. */
static const char *const hf_layer[CLIP_L_COUNT][3] = {
  [CLIP_L_LN1_W] = {"layer_norm1.weight"},
  [CLIP_L_LN1_B] = {"layer_norm1.bias"},
  [CLIP_L_QKV_W] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"},
  [CLIP_L_QKV_B] = {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"},
  [CLIP_L_OUT_W] = {"self_attn.out_proj.weight"},
  [CLIP_L_OUT_B] = {"self_attn.out_proj.bias"},
  [CLIP_L_LN2_W] = {"layer_norm2.weight"},
  [CLIP_L_LN2_B] = {"layer_norm2.bias"},
  [CLIP_L_FC1_W] = {"mlp.fc1.weight"},
  [CLIP_L_FC1_B] = {"mlp.fc1.bias"},
  [CLIP_L_FC2_W] = {"mlp.fc2.weight"},
  [CLIP_L_FC2_B] = {"mlp.fc2.bias"},
};

/* OpenCLIP per-layer names, after "[visual.]transformer.resblocks.<i>.". */
static const char *const oc_layer[CLIP_L_COUNT] = {
  "ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias",
  "attn.out_proj.weight", "attn.out_proj.bias", "ln_2.weight", "ln_2.bias",
  "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
};

static const char *const hf_tower[2][CLIP_T_COUNT] = {
  [CLIP_VISION] = {"vision_model.embeddings.patch_embedding.weight",
                   "vision_model.embeddings.class_embedding",
                   "vision_model.embeddings.position_embedding.weight",
                   "vision_model.pre_layrnorm.weight", "vision_model.pre_layrnorm.bias",
                   "vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias",
                   "visual_projection.weight", "logit_scale"},
  [CLIP_TEXT] = {"text_model.embeddings.token_embedding.weight", NULL,
                 "text_model.embeddings.position_embedding.weight", NULL, NULL,
                 "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias",
                 "text_projection.weight", "logit_scale"},
};

static const char *const oc_tower[2][CLIP_T_COUNT] = {
  [CLIP_VISION] = {"visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding",
                   "visual.ln_pre.weight", "visual.ln_pre.bias", "visual.ln_post.weight",
                   "visual.ln_post.bias", "visual.proj", "logit_scale"},
  [CLIP_TEXT] = {"token_embedding.weight", NULL, "positional_embedding", NULL, NULL,
                 "ln_final.weight", "ln_final.bias", "text_projection", "logit_scale"},
};

int clip__tensor_name(const clip_config *cfg, clip_tower_id tw, int layer, int slot, int part,
                      char *buf, size_t cap, int *transposed) {
  int hf = cfg->layout == CLIP_LAYOUT_HF;
  const char *leaf;
  *transposed = 0;
  if (layer < 0) {
    assert(slot >= 0 && slot < CLIP_T_COUNT);
    leaf = part == 0 ? (hf ? hf_tower : oc_tower)[tw][slot] : NULL;
    *transposed = !hf && slot == CLIP_T_PROJ;
    if (!leaf) return 0;
    snprintf(buf, cap, "%s", leaf);
    return 1;
  }
  assert(slot >= 0 && slot < CLIP_L_COUNT && part >= 0 && part < 3);
  leaf = hf ? hf_layer[slot][part] : (part == 0 ? oc_layer[slot] : NULL);
  if (!leaf) return 0;
  if (hf)
    snprintf(buf, cap, "%s.encoder.layers.%d.%s", tw == CLIP_VISION ? "vision_model" : "text_model",
             layer, leaf);
  else
    snprintf(buf, cap, "%stransformer.resblocks.%d.%s", tw == CLIP_VISION ? "visual." : "", layer,
             leaf);
  return 1;
}
