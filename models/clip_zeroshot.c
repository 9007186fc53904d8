/* clip_zeroshot.c -- zero-shot classification: prompt-ensembled class embeddings
** and softmax(logit_scale x cosine) class probabilities (Radford et al. 2021). */
#include <math.h>
#include <string.h>

#include "clip.h"
#include "curate.h"

/* The template with every "{}" replaced by the class name; caller frees. */
static char *fill_template(const char *t, const char *cls) {
  size_t n = 1, lc = strlen(cls);
  for (const char *p = t; *p; p++) n += (p[0] == '{' && p[1] == '}') ? lc : 1;
  char *s = cur_malloc(n), *o = s;
  if (!s) return NULL;
  for (const char *p = t; *p;) {
    if (p[0] == '{' && p[1] == '}') {
      memcpy(o, cls, lc);
      o += lc;
      p += 2;
    } else {
      *o++ = *p++;
    }
  }
  *o = 0;
  return s;
}

int clip_zeroshot_classes(clip_model *m, const char *const *classes, int n_classes,
                          const char *const *templates, int n_templates, float *out) {
  int T = n_templates, n = n_classes * T, dim = clip_model_embed_dim(m), rc = CUR_OK;
  char **texts = cur_calloc((size_t)n, sizeof *texts);
  float *f = cur_mallocarray((size_t)n * dim, sizeof *f);
  if (!texts || !f) rc = CUR_ENOMEM;
  memset(out, 0, (size_t)n_classes * dim * sizeof *out);
  for (int i = 0; i < n && rc == CUR_OK; i++)
    if (!(texts[i] = fill_template(templates[i % T], classes[i / T]))) rc = CUR_ENOMEM;
  if (rc == CUR_OK) rc = clip_encode_texts(m, (const char *const *)texts, n, f);
  /* the mean of the unit embeddings over templates, normalised again (as in
  ** CLIP's zero-shot ImageNet notebook) */
  for (int i = 0; i < n && rc == CUR_OK; i++) {
    float *v = f + (size_t)i * dim, *acc = out + (size_t)(i / T) * dim;
    clip_normalize(v, dim);
    for (int k = 0; k < dim; k++) acc[k] += v[k] / (float)T;
  }
  for (int c = 0; c < n_classes && rc == CUR_OK; c++) clip_normalize(out + (size_t)c * dim, dim);
  for (int i = 0; texts && i < n; i++) cur_free(texts[i]);
  cur_free(texts);
  cur_free(f);
  return rc;
}

void clip_zeroshot_probs(const float *class_emb, int n_classes, int dim, float scale,
                         float *feature, float *probs) {
  float mx = -INFINITY, sum = 0;
  clip_normalize(feature, dim);
  for (int c = 0; c < n_classes; c++) {
    float d = 0;
    for (int k = 0; k < dim; k++) d += feature[k] * class_emb[(size_t)c * dim + k];
    probs[c] = scale * d;
    mx = probs[c] > mx ? probs[c] : mx;
  }
  for (int c = 0; c < n_classes; c++) sum += (probs[c] = expf(probs[c] - mx));
  for (int c = 0; c < n_classes; c++) probs[c] /= sum;
}
