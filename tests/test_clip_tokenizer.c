/* test_clip_tokenizer.c -- models/clip_tokenizer.c against the reference tokenizer.
**
** tok-1.*: every case of ../shared/clip/tokenizer-cases.json gives identical ids.
** tok-2.*: HTML entities, whitespace and truncation behave as in simple_tokenizer.py.
** tok-3.*: a folder without vocabulary files is refused with a message.
*/
#include "testlib.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "clip_tokenizer.h"

static cJSON *read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return cJSON_Parse(buf);
}

static clip_tokenizer *open_shared_tokenizer(void) {
  char *dir = test_shared_path("clip/tiny-hf");
  clip_tokenizer *t = NULL;
  if (dir && clip_tokenizer_open(dir, &t) != CUR_OK)
    test_fail(__FILE__, __LINE__, "open: %s", cur_error());
  cur_free(dir);
  return t;
}

/* Compares the ids for text with a JSON array of 77 expected ids. */
static void check_ids(const clip_tokenizer *t, const char *text, const cJSON *want) {
  int32_t ids[CLIP_CONTEXT_LEN];
  int rc = clip_tokenizer_encode(t, text, CLIP_CONTEXT_LEN, ids, NULL);
  CHECK_MSG(rc == CUR_OK, "\"%s\": %s", text, cur_error());
  REQUIRE(rc == CUR_OK && cJSON_GetArraySize(want) == CLIP_CONTEXT_LEN);
  int bad = -1, w = 0;
  for (int i = 0; bad < 0 && i < CLIP_CONTEXT_LEN; i++) {
    const cJSON *item = cJSON_GetArrayItem(want, i);
    w = cJSON_IsNumber(item) ? item->valueint : -1;
    if (ids[i] != w) bad = i;
  }
  CHECK_MSG(bad < 0, "\"%s\": id %d is %d, expected %d", text, bad, bad < 0 ? 0 : ids[bad], w);
}

TEST(every_reference_case_gives_identical_ids) {
  char *path = test_shared_path("clip/tokenizer-cases.json");
  clip_tokenizer *t = path ? open_shared_tokenizer() : NULL;
  cJSON *root = t ? read_json(path) : NULL;
  if (t) {
    const cJSON *c, *cases = cJSON_GetObjectItem(root, "cases");
    CHECK(cJSON_GetArraySize(cases) == 15);
    cJSON_ArrayForEach(c, cases)
      check_ids(t, JSON_STR(c, "text"), cJSON_GetObjectItem(c, "ids"));
  }
  cJSON_Delete(root);
  clip_tokenizer_free(t);
  cur_free(path);
}

TEST(model_reference_texts_give_the_model_tokens) {
  char *path = test_shared_path("clip/tiny-openclip/reference-outputs.json");
  clip_tokenizer *t = path ? open_shared_tokenizer() : NULL;
  cJSON *root = t ? read_json(path) : NULL;
  if (t) {
    const cJSON *texts = cJSON_GetObjectItem(root, "texts");
    const cJSON *tokens = cJSON_GetObjectItem(root, "tokens");
    for (int i = 0; i < cJSON_GetArraySize(texts); i++)
      check_ids(t, JSON_AT_STR(texts, i), cJSON_GetArrayItem(tokens, i));
  }
  cJSON_Delete(root);
  clip_tokenizer_free(t);
  cur_free(path);
}

/* Encodes text and returns the content ids (between start and end) as a
** space-separated string in buf. */
static const char *content(const clip_tokenizer *t, const char *text, char *buf, size_t cap) {
  int32_t ids[CLIP_CONTEXT_LEN];
  int eot = 0;
  buf[0] = 0;
  if (clip_tokenizer_encode(t, text, CLIP_CONTEXT_LEN, ids, &eot) != CUR_OK) return "error";
  size_t o = 0;
  for (int i = 1; i < eot && o < cap; i++)
    o += (size_t)snprintf(buf + o, cap - o, i > 1 ? " %d" : "%d", ids[i]);
  return buf;
}

TEST(entities_and_whitespace_normalise_like_python) {
  clip_tokenizer *t = open_shared_tokenizer();
  if (!t) return;
  char a[512], b[512];
  /* Double unescape: "&amp;lt;" -> "&lt;" -> "<". */
  CHECK_STR(content(t, "&amp;lt;b&#62;", a, sizeof a), content(t, "<b>", b, sizeof b));
  /* Legacy entity without ';', numeric hex reference, cp1252 reference &#150; (en dash). */
  CHECK_STR(content(t, "x &amp y &#x41; &#150;", a, sizeof a),
            content(t, "x & y a \xe2\x80\x93", b, sizeof b));
  /* &nbsp; and ideographic space are whitespace; runs collapse. */
  CHECK_STR(content(t, " a&nbsp;\xe3\x80\x80 b\t\n", a, sizeof a), content(t, "a b", b, sizeof b));
  /* Unknown entity stays as text. */
  CHECK_STR(content(t, "&bogus;", a, sizeof a), content(t, "& bogus ;", b, sizeof b));
  clip_tokenizer_free(t);
}

TEST(truncation_keeps_end_token_last_for_short_context) {
  clip_tokenizer *t = open_shared_tokenizer();
  if (!t) return;
  int32_t ids[5];
  int eot = 0;
  CHECK_OK(clip_tokenizer_encode(t, "a photo of a dog", 5, ids, &eot));
  CHECK_INT(ids[0], clip_tokenizer_sot(t));
  CHECK_INT(ids[4], clip_tokenizer_eot(t));
  CHECK_INT(eot, 4);
  CHECK_INT(ids[1], 320); /* "a</w>" */
  /* Invalid UTF-8 is read as U+FFFD and does not fail. */
  CHECK_OK(clip_tokenizer_encode(t, "bad \xff\xfe bytes", 5, ids, &eot));
  clip_tokenizer_free(t);
}

TEST(missing_vocabulary_is_refused_with_message) {
  clip_tokenizer *t = NULL;
  CHECK(clip_tokenizer_open(T.scratch, &t) == CUR_EIO);
  CHECK(t == NULL);
  CHECK(strstr(cur_error(), "vocab.json") != NULL);
  clip_tokenizer_free(NULL);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  RUN(every_reference_case_gives_identical_ids);
  RUN(model_reference_texts_give_the_model_tokens);
  RUN(entities_and_whitespace_normalise_like_python);
  RUN(truncation_keeps_end_token_last_for_short_context);
  RUN(missing_vocabulary_is_refused_with_message);
  return test_finish();
}
