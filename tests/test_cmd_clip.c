/* test_cmd_clip.c -- pipeline/cli/cmd_clip.c: `curate clip` on the tiny-hf model.
**
** cmd-1.*: image and text embeddings as JSON equal the library's output.
** cmd-2.*: zeroshot prints probabilities over the given classes.
** cmd-3.*: --help, usage errors and unreadable files give the documented exit codes.
*/
#include "testlib.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "clip.h"
#include "cmd_clip.h"

/* Runs cur_cmd_clip with stdout captured into *out (caller frees). */
static int run(char **out, int argc, char **argv) {
  char *path = test_scratch_path("stdout.txt");
  fflush(stdout);
  int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 1);
  close(fd);
  cur_globals g = {0};
  g.threads = 1;
  int rc = cur_cmd_clip(&g, argc, argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  FILE *f = fopen(path, "rb");
  *out = cur_malloc(1 << 20);
  size_t n = f ? fread(*out, 1, (1 << 20) - 1, f) : 0;
  (*out)[n] = 0;
  if (f) fclose(f);
  cur_free(path);
  return rc;
}

TEST(image_json_embedding_equals_library_and_missing_file_is_partial) {
  char *dir = test_shared_path("clip/tiny-hf");
  char *img = dir ? test_shared_path("clip/images/red_apple.jpg") : NULL;
  if (!img) goto cleanup;
  char *out = NULL;
  char *argv[] = {"clip", "image", "--model", dir, "--json", img, "/nonexistent.jpg"};
  CHECK_INT(run(&out, 7, argv), CUR_EXIT_PARTIAL);
  cJSON *root = cJSON_Parse(out);
  REQUIRE(cJSON_IsArray(root) && cJSON_GetArraySize(root) == 1);
  const cJSON *o = cJSON_GetArrayItem(root, 0);
  CHECK_STR(JSON_STR(o, "input"), img);
  const cJSON *emb = cJSON_GetObjectItem(o, "embedding");
  CHECK_INT(cJSON_GetArraySize(emb), 64);
  clip_model *m = NULL;
  float pix[3 * 64 * 64], f[64];
  REQUIRE_OK(clip_model_open(dir, CLIP_PRECISION_AUTO, 1, &m));
  CHECK_OK(clip_model_preprocess_file(m, img, pix));
  CHECK_OK(clip_encode_images(m, pix, 1, f));
  /* printed with %g's 6 to 7 digits by cJSON */
  for (int i = 0; i < 64; i++) CHECK_NEAR(JSON_AT_NUM(emb, i), f[i], 1e-5 * (1 + fabs(f[i])));
  clip_model_free(m);
  cJSON_Delete(root);
  cur_free(out);
cleanup:
  cur_free(dir);
  cur_free(img);
}

TEST(text_embeddings_print_one_line_per_text) {
  char *dir = test_shared_path("clip/tiny-hf");
  if (!dir) return;
  char *out = NULL;
  char *argv[] = {"clip", "text", "--model", dir, "a photo of a dog.", "a cat"};
  CHECK_INT(run(&out, 6, argv), CUR_EXIT_OK);
  int lines = 0;
  for (char *p = out; *p; p++) lines += *p == '\n';
  CHECK_INT(lines, 2);
  CHECK(strncmp(out, "a photo of a dog.\t", 18) == 0);
  cur_free(out);
  cur_free(dir);
}

TEST(zeroshot_probabilities_cover_classes_and_sum_to_one) {
  char *dir = test_shared_path("clip/tiny-hf");
  char *img = dir ? test_shared_path("clip/images/clothing_tshirt.jpg") : NULL;
  if (!img) goto cleanup;
  char *out = NULL;
  char *argv[] = {"clip", "zeroshot", "--model", dir, "--classes", "t-shirt, dog,apple",
                  "--template", "a photo of a {}.", "--template", "{} {}", "--json", img};
  CHECK_INT(run(&out, 12, argv), CUR_EXIT_OK);
  cJSON *root = cJSON_Parse(out);
  const cJSON *probs = cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "probs");
  REQUIRE(cJSON_GetArraySize(probs) == 3);
  double sum = 0;
  const char *names[] = {"t-shirt", "dog", "apple"};
  for (int i = 0; i < 3; i++) {
    const cJSON *p = cJSON_GetObjectItem(probs, names[i]);
    REQUIRE(p != NULL);
    sum += p->valuedouble;
  }
  CHECK_NEAR(sum, 1.0, 1e-5); /* float softmax, printed with 6+ digits */
  cJSON_Delete(root);
  cur_free(out);
cleanup:
  cur_free(dir);
  cur_free(img);
}

TEST(help_and_usage_errors_use_exit_codes) {
  char *out = NULL;
  char *a1[] = {"clip", "zeroshot", "--help"};
  CHECK_INT(run(&out, 3, a1), CUR_EXIT_OK);
  CHECK(strstr(out, "--classes") != NULL);
  cur_free(out);
  char *a2[] = {"clip", "image", "x.jpg"};
  CHECK_INT(run(&out, 3, a2), CUR_EXIT_USAGE);
  cur_free(out);
  char *a3[] = {"clip", "paint"};
  CHECK_INT(run(&out, 2, a3), CUR_EXIT_USAGE);
  cur_free(out);
  char *a4[] = {"clip", "text", "--model", "/nonexistent", "hi"};
  CHECK_INT(run(&out, 5, a4), CUR_EXIT_ERROR);
  cur_free(out);
  char *a5[] = {"clip", "zeroshot", "--model", "/x", "--classes", "a,,b", "--precision", "fp8", "f"};
  CHECK_INT(run(&out, 9, a5), CUR_EXIT_USAGE);
  cur_free(out);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(image_json_embedding_equals_library_and_missing_file_is_partial);
  RUN(text_embeddings_print_one_line_per_text);
  RUN(zeroshot_probabilities_cover_classes_and_sum_to_one);
  RUN(help_and_usage_errors_use_exit_codes);
  return test_finish();
}
