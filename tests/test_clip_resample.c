/* test_clip_resample.c -- models/clip_resample.c: the AVX2 loop gives the plain loop's bytes.
**
** The plain loop is held to Pillow by tests/test_clip_preprocess.c (every
** sample of torchvision's tensors); here seeded noise images of every band
** count, reduced by small and large factors and enlarged, with windows
** touching each edge, must come out byte for byte the same from both loops.
** Noise makes every tap's weight count, and the extremes (0 and 255 runs)
** drive the negative lobes past the 8-bit range, so the clipping is
** compared too.
*/
#include "testlib.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip_resample.h"

typedef struct shape {
  int w, h, nw, nh; /* input and resized sizes */
} shape;

static const shape shapes[] = {
    {400, 533, 224, 298},   /* a clothing photo: reduce by 1.8 */
    {4000, 3000, 298, 224}, /* a camera photo: reduce by 13, 60 taps */
    {32, 32, 224, 224},     /* CIFAR: enlarge by 7 */
    {225, 300, 224, 298},   /* barely reduced */
    {7, 3, 522, 224},       /* enlarged more on one axis than the other */
};

/* Noise with runs of black and white, from a xorshift seeded by SEED. */
static void fill(unsigned char *px, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    px[i] = (seed >> 8) % 4 == 0 ? (unsigned char)((seed >> 16) & 1 ? 255 : 0) : (unsigned char)seed;
  }
}

static void compare(const shape *sh, int bands, int left, int top, int s) {
  size_t in_n = (size_t)sh->w * (size_t)sh->h * (size_t)bands, out_n = (size_t)s * (size_t)s * bands;
  unsigned char *src = cur_malloc(in_n), *plain = cur_malloc(out_n), *vec = cur_malloc(out_n);
  REQUIRE(src && plain && vec);
  fill(src, in_n, 2463534242u + (uint32_t)(sh->w * 7 + bands));
  memset(plain, 1, out_n);
  memset(vec, 2, out_n);
  CHECK_OK(clip__resample_window_as(src, sh->w, sh->h, bands, sh->nw, sh->nh, left, top, s, plain, 0));
  CHECK_OK(clip__resample_window_as(src, sh->w, sh->h, bands, sh->nw, sh->nh, left, top, s, vec, 1));
  size_t first = 0;
  while (first < out_n && plain[first] == vec[first]) first++;
  CHECK_MSG(first == out_n, "%dx%d -> %dx%d, %d bands, window (%d,%d) %d: byte %zu differs (%d vs %d)",
            sh->w, sh->h, sh->nw, sh->nh, bands, left, top, s, first, first < out_n ? plain[first] : 0,
            first < out_n ? vec[first] : 0);
  cur_free(src);
  cur_free(plain);
  cur_free(vec);
}

TEST(vector_loop_gives_the_plain_loops_bytes) {
  if (!__builtin_cpu_supports("avx2")) {
    test_skip("this CPU has no AVX2: only the plain loop runs here");
    return;
  }
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const shape *sh = &shapes[i];
    for (int bands = 1; bands <= 4; bands++) {
      /* the centre crop, as CLIP takes it, and the two far corners */
      int s = 224;
      compare(sh, bands, (sh->nw - s) / 2, (sh->nh - s) / 2, s);
      compare(sh, bands, 0, 0, s);
      compare(sh, bands, sh->nw - s, sh->nh - s, s);
    }
  }
}

/* A uniform image stays uniform when reduced: the weights of a pixel sum
** to one (up to their rounding), an oracle that needs no Pillow. */
TEST(uniform_grey_stays_uniform) {
  const shape sh = {400, 533, 224, 298};
  size_t in_n = (size_t)sh.w * sh.h * 3, out_n = 224 * 224 * 3;
  unsigned char *src = cur_malloc(in_n), *out = cur_malloc(out_n);
  REQUIRE(src && out);
  for (int vector = 0; vector <= 1; vector++) {
    memset(src, 137, in_n);
    CHECK_OK(clip__resample_window_as(src, sh.w, sh.h, 3, sh.nw, sh.nh, 0, 37, 224, out, vector));
    size_t off = 0;
    while (off < out_n && out[off] == 137) off++;
    CHECK_MSG(off == out_n, "loop %d: byte %zu is %d, not 137", vector, off, off < out_n ? out[off] : 0);
  }
  cur_free(src);
  cur_free(out);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(vector_loop_gives_the_plain_loops_bytes);
  RUN(uniform_grey_stays_uniform);
  return test_finish();
}
