/* test_clip_preprocess.c -- models/clip_preprocess.c against torchvision.
**
** prep-1.*: every image of ../shared/clip/preprocess gives its reference
**           tensor (every sample's grey level PIL's; file and buffer input).
** prep-2.*: bad input is refused with a message.
*/
#include "testlib.h"

#include <stdlib.h>

#include "clip_preprocess.h"

#define S 224
#define N (3 * S * S)

static int read_floats(const char *path, float *out, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t got = fread(out, sizeof *out, n, f);
  fclose(f);
  return got == n ? 0 : -1;
}

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = cur_malloc(1 << 22);
  *len = fread(buf, 1, 1 << 22, f);
  fclose(f);
  return buf;
}

/* Largest absolute difference, in normalised units. */
static double max_abs_diff(const float *a, const float *b) {
  double m = 0;
  for (int i = 0; i < N; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

/* ../shared/clip/README.md allows a mean difference of about 0.02 (0.03 for
** RGBA), what libvips' cubic resize reaches.  We resample as Pillow does
** (models/clip_resample.c) and decode with the same libjpeg, so every 8-bit
** sample equals PIL's and only the float normalisation could differ: the
** largest difference allowed is 1e-6, far below one grey level (0.015
** normalised), so one pixel off by one level anywhere fails. */
static void check_image(const char *image, double tol) {
  char rel[256];
  snprintf(rel, sizeof rel, "clip/preprocess/%s.f32", image);
  char *ref_path = test_shared_path(rel);
  snprintf(rel, sizeof rel, "clip/images/%s", image);
  char *img_path = ref_path ? test_shared_path(rel) : NULL;
  float *ref = cur_mallocarray(N, sizeof *ref), *got = cur_mallocarray(N, sizeof *got);
  unsigned char *bytes = NULL;
  size_t len = 0;
  clip_prep p;
  clip_prep_default(&p, S);
  if (!img_path) goto cleanup;
  REQUIRE(read_floats(ref_path, ref, N) == 0);
  CHECK_OK(clip_preprocess_file(&p, img_path, got));
  double d = max_abs_diff(got, ref);
  printf("  %s: max |diff| %.3g (tolerance %.3g)\n", image, d, tol);
  CHECK(d <= tol);
  /* The buffer path decodes the same bytes, so it must agree exactly. */
  bytes = read_all(img_path, &len);
  REQUIRE(bytes != NULL);
  float *again = ref; /* reuse */
  CHECK_OK(clip_preprocess_buffer(&p, bytes, len, image, again));
  CHECK(memcmp(again, got, N * sizeof *got) == 0);
cleanup:
  cur_free(bytes);
  cur_free(ref);
  cur_free(got);
  cur_free(img_path);
  cur_free(ref_path);
}

TEST(rgb_photo_landscape_matches_torchvision) { check_image("red_apple.jpg", 1e-6); }
TEST(rgb_photo_portrait_matches_torchvision) { check_image("clothing_tshirt.jpg", 1e-6); }
TEST(rgba_diagram_matches_torchvision) { check_image("CLIP.png", 1e-6); }
TEST(tiny_image_upscaled_matches_torchvision) { check_image("cifar_cat_0000.jpg", 1e-6); }
TEST(greyscale_png_matches_torchvision) { check_image("gray_portrait.png", 1e-6); }

TEST(garbage_bytes_are_refused_with_message) {
  clip_prep p;
  clip_prep_default(&p, S);
  float *out = cur_mallocarray(N, sizeof *out);
  CHECK(clip_preprocess_buffer(&p, "not an image", 12, "junk.jpg", out) == CUR_EINPUT);
  CHECK(strstr(cur_error(), "junk.jpg") != NULL);
  CHECK(clip_preprocess_file(&p, "/nonexistent/x.png", out) == CUR_EINPUT);
  CHECK(strstr(cur_error(), "/nonexistent/x.png") != NULL);
  cur_free(out);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(rgb_photo_landscape_matches_torchvision);
  RUN(rgb_photo_portrait_matches_torchvision);
  RUN(rgba_diagram_matches_torchvision);
  RUN(tiny_image_upscaled_matches_torchvision);
  RUN(greyscale_png_matches_torchvision);
  RUN(garbage_bytes_are_refused_with_message);
  return test_finish();
}
