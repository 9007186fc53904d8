/* test_clip_model.c -- models/clip*.c: the CLIP forward pass against openai/CLIP.
**
** model-1.*: tiny-hf (F32, quick_gelu) and tiny-openclip (F16, gelu) give the
**            reference image features, text features and logits in fp32.
** model-2.*: the bf16 path keeps cosine >= 0.999 to fp32 features.
** model-3.*: broken folders and checkpoints are refused with a message.
** model-4.*: the bf16 path's softmax rows against a double-precision softmax.
*/
#include "testlib.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "clip.h"
#include "clip_internal.h"

#define N_REF 5
#define MAX_DIM 64

typedef struct ref {
  cJSON *root;
  float *images;  /* N_REF x 3 x 64 x 64 */
} ref;

static int load_ref(const char *model, ref *r) {
  char rel[128];
  memset(r, 0, sizeof *r);
  snprintf(rel, sizeof rel, "clip/%s/reference-outputs.json", model);
  char *jp = test_shared_path(rel);
  snprintf(rel, sizeof rel, "clip/%s/reference-images.f32", model);
  char *ip = jp ? test_shared_path(rel) : NULL;
  int ok = 0;
  if (ip) {
    FILE *f = fopen(jp, "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    r->root = cJSON_Parse(buf);
    r->images = cur_mallocarray(N_REF * 3 * 64 * 64, sizeof(float));
    f = fopen(ip, "rb");
    ok = f && r->root && fread(r->images, sizeof(float), N_REF * 3 * 64 * 64, f) == N_REF * 3 * 64 * 64;
    if (f) fclose(f);
  }
  cur_free(jp);
  cur_free(ip);
  return ok;
}

static void free_ref(ref *r) {
  cJSON_Delete(r->root);
  cur_free(r->images);
}

/* Largest |got - want| relative to the largest |want| of the row: "within
** 1e-3 relative" in the sense, robust to components near zero. */
static double rel_err(const float *got, const cJSON *want, int n) {
  double err = 0, scale = 0;
  for (int i = 0; i < n; i++) {
    double w = JSON_AT_NUM(want, i);
    err = fmax(err, fabs(got[i] - w));
    scale = fmax(scale, fabs(w));
  }
  return err / scale;
}

static clip_model *open_model(const char *name, clip_precision p) {
  char rel[64];
  snprintf(rel, sizeof rel, "clip/%s", name);
  char *dir = test_shared_path(rel);
  clip_model *m = NULL;
  if (dir && clip_model_open(dir, p, 0, &m) != CUR_OK)
    test_fail(__FILE__, __LINE__, "open %s: %s", name, cur_error());
  cur_free(dir);
  return m;
}

/* fp32 matches model.py to about 1e-5 here; the issue allows 1e-3, which
** still catches any wrong transpose, activation or pooling (those give
** errors of order 1). */
static void check_reference(const char *name) {
  ref r;
  clip_model *m = load_ref(name, &r) ? open_model(name, CLIP_PRECISION_FP32) : NULL;
  float img[N_REF * MAX_DIM], txt[N_REF * MAX_DIM];
  if (!m) goto cleanup;
  REQUIRE(clip_model_embed_dim(m) == MAX_DIM && clip_model_image_size(m) == 64);
  /* "<folder>-<16 hex>-fp32": the embeddings' model key */
  const char *id = clip_model_id(m);
  CHECK(strncmp(id, name, strlen(name)) == 0 && strlen(id) == strlen(name) + 22);
  CHECK(strcmp(id + strlen(id) - 5, "-fp32") == 0);
  const cJSON *texts = cJSON_GetObjectItem(r.root, "texts");
  const char *tv[N_REF];
  for (int i = 0; i < N_REF; i++) tv[i] = JSON_AT_STR(texts, i);
  REQUIRE_OK(clip_encode_images(m, r.images, N_REF, img));
  REQUIRE_OK(clip_encode_texts(m, tv, N_REF, txt));
  double worst = 0;
  for (int i = 0; i < N_REF; i++) {
    double ei = rel_err(img + i * MAX_DIM, cJSON_GetArrayItem(cJSON_GetObjectItem(r.root, "image_features"), i), MAX_DIM);
    double et = rel_err(txt + i * MAX_DIM, cJSON_GetArrayItem(cJSON_GetObjectItem(r.root, "text_features"), i), MAX_DIM);
    worst = fmax(worst, fmax(ei, et));
    if (ei > 1e-3 || et > 1e-3)
      test_fail(__FILE__, __LINE__, "%s item %d: image rel err %.2g, text rel err %.2g", name, i, ei, et);
  }
  for (int i = 0; i < N_REF; i++) clip_normalize(img + i * MAX_DIM, MAX_DIM);
  for (int i = 0; i < N_REF; i++) clip_normalize(txt + i * MAX_DIM, MAX_DIM);
  const cJSON *lg = cJSON_GetObjectItem(r.root, "logits_per_image");
  for (int i = 0; i < N_REF; i++) {
    float row[N_REF];
    for (int j = 0; j < N_REF; j++) {
      double d = 0;
      for (int k = 0; k < MAX_DIM; k++) d += img[i * MAX_DIM + k] * txt[j * MAX_DIM + k];
      row[j] = (float)(clip_model_logit_scale(m) * d);
    }
    double e = rel_err(row, cJSON_GetArrayItem(lg, i), N_REF);
    worst = fmax(worst, e);
    if (e > 1e-3) test_fail(__FILE__, __LINE__, "%s logits row %d: rel err %.2g", name, i, e);
  }
  printf("  %s on %s: largest relative error %.2g (tolerance 1e-3)\n", name,
         clip_model_backend(m), worst);
cleanup:
  clip_model_free(m);
  free_ref(&r);
}

/* fp32 runs on oneDNN where the CPU has AVX-512, else on OpenBLAS: both
** backends are held to the reference on every machine. */
static void check_reference_both(const char *name) {
  static const char *const gemm[] = {"openblas", "onednn"};
  for (int i = 0; i < 2; i++) {
    setenv("CURATE_FP32_GEMM", gemm[i], 1);
    check_reference(name);
  }
  unsetenv("CURATE_FP32_GEMM");
}

TEST(hf_f32_quick_gelu_matches_reference) { check_reference_both("tiny-hf"); }
TEST(openclip_f16_gelu_matches_reference) { check_reference_both("tiny-openclip"); }

/* Lowest cosine between rows of got [N_REF, MAX_DIM] and the reference
** features of the same name (PyTorch's fp32 outputs). */
static double worst_cosine(const float *got, const ref *r, const char *key) {
  const cJSON *want = cJSON_GetObjectItem(r->root, key);
  double worst = 1;
  for (int i = 0; i < N_REF; i++) {
    const cJSON *row = cJSON_GetArrayItem(want, i);
    double d = 0, gg = 0, ww = 0;
    for (int k = 0; k < MAX_DIM; k++) {
      double w = JSON_AT_NUM(row, k);
      d += got[i * MAX_DIM + k] * w, gg += (double)got[i * MAX_DIM + k] * got[i * MAX_DIM + k];
      ww += w * w;
    }
    worst = fmin(worst, d / sqrt(gg * ww));
  }
  return worst;
}

/* bf16 rounds weights and activations to 8 mantissa bits: features move by
** about 0.3% each, and the issue asks for cosine >= 0.999 to fp32 (here to
** PyTorch's fp32 features).  Texts take the causal attention path. */
static void check_bf16(const char *name) {
  ref r;
  clip_model *a = load_ref(name, &r) ? open_model(name, CLIP_PRECISION_FP32) : NULL;
  clip_model *b = a ? open_model(name, CLIP_PRECISION_BF16) : NULL;
  float img[N_REF * MAX_DIM], txt[N_REF * MAX_DIM];
  if (!b) goto cleanup;
  CHECK(clip_model_precision(b) == CLIP_PRECISION_BF16);
  CHECK(strcmp(clip_model_id(a), clip_model_id(b)) != 0);
  const cJSON *texts = cJSON_GetObjectItem(r.root, "texts");
  const char *tv[N_REF];
  for (int i = 0; i < N_REF; i++) tv[i] = JSON_AT_STR(texts, i);
  REQUIRE_OK(clip_encode_images(b, r.images, N_REF, img));
  REQUIRE_OK(clip_encode_texts(b, tv, N_REF, txt));
  double wi = worst_cosine(img, &r, "image_features"), wt = worst_cosine(txt, &r, "text_features");
  printf("  %s: lowest bf16 cosine to the fp32 reference: images %.6f, texts %.6f (%s)\n", name,
         wi, wt, clip_model_backend(b));
  CHECK(wi >= 0.999);
  CHECK(wt >= 0.999);
cleanup:
  clip_model_free(a);
  clip_model_free(b);
  free_ref(&r);
}

TEST(bf16_features_keep_cosine_to_fp32_hf) { check_bf16("tiny-hf"); }
TEST(bf16_features_keep_cosine_to_fp32_openclip) { check_bf16("tiny-openclip"); }

/* Builds scratch/<name>/ with the tiny-hf weights and vocabulary linked and
** config.json replaced by `config`; returns the folder. */
static char *tampered_hf(const char *name, const char *sed_expr) {
  char *src = test_shared_path("clip/tiny-hf");
  char *dir = src ? test_scratch_path(name) : NULL;
  if (dir && test_sh("mkdir -p '%s' && for f in model.safetensors vocab.json merges.txt; do "
                     "ln -sf '%s'/$f '%s'/$f; done && sed '%s' '%s/config.json' > '%s/config.json'",
                     dir, src, dir, sed_expr, src, dir) != 0)
    test_fail(__FILE__, __LINE__, "cannot build %s", dir);
  cur_free(src);
  return dir;
}

static void expect_open_fails(const char *dir, const char *needle) {
  clip_model *m = NULL;
  CHECK(clip_model_open(dir, CLIP_PRECISION_FP32, 1, &m) != CUR_OK);
  CHECK(m == NULL);
  if (!strstr(cur_error(), needle))
    test_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", cur_error(), needle);
}

TEST(shape_mismatch_with_config_is_refused) {
  char *dir = tampered_hf("wide", "s/\"intermediate_size\": 512/\"intermediate_size\": 256/");
  if (dir) expect_open_fails(dir, "has shape [512, 128], the config needs [256, 128]");
  cur_free(dir);
}

TEST(missing_tensor_is_refused) {
  char *dir = tampered_hf("deep", "s/\"num_hidden_layers\": 2/\"num_hidden_layers\": 3/");
  if (dir) expect_open_fails(dir, "layers.2.layer_norm1.weight' is missing");
  cur_free(dir);
}

TEST(folder_without_config_is_refused) {
  expect_open_fails(T.scratch, "no config.json or open_clip_config.json");
  clip_precision p;
  CHECK(clip_precision_parse("fp16", &p) == CUR_ECONFIG);
  CHECK_OK(clip_precision_parse("bf16", &p));
  CHECK(p == CLIP_PRECISION_BF16);
  clip_model_free(NULL);
}

/* A misspelt backend override is refused by name, not taken as the default. */
TEST(unknown_fp32_gemm_override_is_refused) {
  char *dir = test_shared_path("clip/tiny-hf");
  setenv("CURATE_FP32_GEMM", "mkl", 1);
  if (dir) expect_open_fails(dir, "CURATE_FP32_GEMM is 'mkl': it must be openblas or onednn");
  unsetenv("CURATE_FP32_GEMM");
  cur_free(dir);
}

/* Rows of n seeded scores in [-20, 20) (scale 1/8, as D = 64), plain and
** causal, through both loops: each probability within one bf16 step of a
** softmax computed in double, every masked position exactly 0.  Lengths
** around the 16-lane steps, and the towers' 50 and 77. */
TEST(softmax_rows_match_a_double_softmax) {
  static const int lengths[] = {1, 2, 15, 16, 17, 33, 50, 77};
  uint32_t seed = 12345;
  if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl"))
    test_skip("no AVX-512 BW/VL here: the vector pass below runs the plain loop again");
  for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
    for (int causal = 0; causal < 2; causal++)
      for (int vector = 0; vector < 2; vector++) {
        int n = lengths[li], rows = 2 * n;
        float *scores = cur_mallocarray((size_t)rows * n, sizeof *scores);
        float *orig = cur_mallocarray((size_t)rows * n, sizeof *orig);
        uint16_t *p = cur_mallocarray((size_t)rows * n + 16, sizeof *p); /* 16 guard values */
        REQUIRE(scores && orig && p);
        for (int i = 0; i < 16; i++) p[(size_t)rows * n + i] = 0xbeef;
        for (int i = 0; i < rows * n; i++) {
          seed = seed * 1664525u + 1013904223u;
          orig[i] = scores[i] = (float)(seed >> 8) / (float)(1u << 24) * 40.0f - 20.0f;
        }
        clip__softmax_rows_bf16_as(scores, rows, n, causal, 0.125f, p, 2, vector);
        int bad = 0;
        for (int i = 0; i < 16; i++)
          CHECK_MSG(p[(size_t)rows * n + i] == 0xbeef, "n %d vector %d: wrote past the rows", n, vector);
        for (int r = 0; r < rows && !bad; r++) {
          int len = causal ? r % n + 1 : n;
          double mx = orig[(size_t)r * n], sum = 0;
          for (int s = 1; s < len; s++) mx = orig[(size_t)r * n + s] > mx ? orig[(size_t)r * n + s] : mx;
          for (int s = 0; s < len; s++) sum += exp((orig[(size_t)r * n + s] - mx) * 0.125);
          for (int s = 0; s < n && !bad; s++) {
            uint32_t bits = (uint32_t)p[(size_t)r * n + s] << 16;
            float got;
            memcpy(&got, &bits, sizeof got);
            double want = s < len ? exp((orig[(size_t)r * n + s] - mx) * 0.125) / sum : 0;
            if (s < len ? fabs(got - want) > want / 256 : bits != 0) {
              CHECK_MSG(0, "n %d causal %d vector %d row %d: p[%d] = %g, want %g", n, causal, vector,
                        r, s, got, want);
              bad = 1;
            }
          }
        }
        cur_free(scores);
        cur_free(orig);
        cur_free(p);
      }
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(hf_f32_quick_gelu_matches_reference);
  RUN(openclip_f16_gelu_matches_reference);
  RUN(bf16_features_keep_cosine_to_fp32_hf);
  RUN(bf16_features_keep_cosine_to_fp32_openclip);
  RUN(unknown_fp32_gemm_override_is_refused);
  RUN(shape_mismatch_with_config_is_refused);
  RUN(missing_tensor_is_refused);
  RUN(folder_without_config_is_refused);
  RUN(softmax_rows_match_a_double_softmax);
  return test_finish();
}
