/* safetensors.c -- mmap a .safetensors file and validate its JSON header.
**
** Layout: 8 bytes little-endian header length N, N bytes of JSON, then the
** data section.  Invariants after cur_st_open succeeds:
**   1. every tensor's [begin, end) lies inside the data section;
**   2. no two tensors' byte ranges overlap;
**   3. end - begin == numel * dtype size, computed without overflow;
**   4. every dtype is one of the known names.
** So no later read through a tensor pointer can leave the mapping.
*/
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curate.h"
#include "half.h"

/* HF's reference reader refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER ((uint64_t)100 << 20)

struct cur_st_file {
  char *path;
  unsigned char *map;     /* whole file, PROT_READ */
  size_t map_len;
  size_t data_off;        /* 8 + header length */
  uint64_t header_hash;
  int count;
  cur_st_tensor *tensors; /* names point into names[] */
  char **names;
};

static const struct { const char *name; int size; } dtypes[] = {
  [CUR_ST_BOOL] = {"BOOL", 1}, [CUR_ST_U8] = {"U8", 1},     [CUR_ST_I8] = {"I8", 1},
  [CUR_ST_I16] = {"I16", 2},   [CUR_ST_U16] = {"U16", 2},   [CUR_ST_F16] = {"F16", 2},
  [CUR_ST_BF16] = {"BF16", 2}, [CUR_ST_I32] = {"I32", 4},   [CUR_ST_U32] = {"U32", 4},
  [CUR_ST_F32] = {"F32", 4},   [CUR_ST_I64] = {"I64", 8},   [CUR_ST_U64] = {"U64", 8},
  [CUR_ST_F64] = {"F64", 8},   [CUR_ST_F8_E4M3] = {"F8_E4M3", 1},
  [CUR_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *cur_st_dtype_name(cur_st_dtype d) {
  return (unsigned)d < CUR_ARRAY_LEN(dtypes) ? dtypes[d].name : "?";
}

static int parse_dtype(const char *path, const char *tname, const cJSON *j,
                       cur_st_dtype *out) {
  if (!cJSON_IsString(j))
    return cur_errorc(CUR_EINPUT, "%s: tensor '%s': dtype missing", path, tname);
  for (size_t i = 0; i < CUR_ARRAY_LEN(dtypes); i++) {
    if (strcmp(j->valuestring, dtypes[i].name) == 0) {
      *out = (cur_st_dtype)i;
      return CUR_OK;
    }
  }
  return cur_errorc(CUR_EINPUT, "%s: tensor '%s': unknown dtype '%s'", path, tname,
                    j->valuestring);
}

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static int json_uint(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return 0;
  double v = j->valuedouble;
  if (!(v >= 0 && v <= 9007199254740992.0) || v != (double)(uint64_t)v) return 0;
  *out = (uint64_t)v;
  return 1;
}

static int parse_shape(const char *path, const char *tname, const cJSON *j,
                       cur_st_tensor *t) {
  if (!cJSON_IsArray(j))
    return cur_errorc(CUR_EINPUT, "%s: tensor '%s': shape missing", path, tname);
  int n = cJSON_GetArraySize(j);
  if (n > CUR_ST_MAX_DIMS)
    return cur_errorc(CUR_EINPUT, "%s: tensor '%s': %d dimensions (at most %d)", path,
                      tname, n, CUR_ST_MAX_DIMS);
  size_t numel = 1;
  t->ndim = n;
  for (int i = 0; i < n; i++) {
    uint64_t d;
    if (!json_uint(cJSON_GetArrayItem(j, i), &d))
      return cur_errorc(CUR_EINPUT, "%s: tensor '%s': bad dimension %d", path, tname, i);
    if (d && numel > SIZE_MAX / d)
      return cur_errorc(CUR_EINPUT, "%s: tensor '%s': shape overflows", path, tname);
    numel *= (size_t)d;
    t->shape[i] = (int64_t)d;
  }
  t->numel = numel;
  return CUR_OK;
}

/* Fills t from one header entry and checks its byte range (invariants 1, 3). */
static int parse_tensor(const cur_st_file *f, const cJSON *e, cur_st_tensor *t) {
  const char *tname = e->string;
  if (!cJSON_IsObject(e))
    return cur_errorc(CUR_EINPUT, "%s: tensor '%s': entry is not an object", f->path, tname);
  int rc = parse_dtype(f->path, tname, cJSON_GetObjectItemCaseSensitive(e, "dtype"), &t->dtype);
  if (rc == CUR_OK)
    rc = parse_shape(f->path, tname, cJSON_GetObjectItemCaseSensitive(e, "shape"), t);
  if (rc != CUR_OK) return rc;
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  uint64_t b, en;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
      !json_uint(cJSON_GetArrayItem(off, 0), &b) || !json_uint(cJSON_GetArrayItem(off, 1), &en))
    return cur_errorc(CUR_EINPUT, "%s: tensor '%s': bad data_offsets", f->path, tname);
  size_t data_len = f->map_len - f->data_off;
  if (b > en || en > data_len)
    return cur_errorc(CUR_EINPUT,
                      "%s: tensor '%s': data_offsets [%llu, %llu) outside the %zu-byte data section",
                      f->path, tname, (unsigned long long)b, (unsigned long long)en, data_len);
  size_t esize = (size_t)dtypes[t->dtype].size;
  if (t->numel > SIZE_MAX / esize || t->numel * esize != en - b)
    return cur_errorc(CUR_EINPUT, "%s: tensor '%s': %llu bytes but %s x %zu elements needs %zu",
                      f->path, tname, (unsigned long long)(en - b), dtypes[t->dtype].name,
                      t->numel, t->numel * esize);
  t->data = f->map + f->data_off + b;
  t->nbytes = (size_t)(en - b);
  return CUR_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
  const cur_st_tensor *x = *(const cur_st_tensor *const *)a;
  const cur_st_tensor *y = *(const cur_st_tensor *const *)b;
  return (x->data > y->data) - (x->data < y->data);
}

/* Invariant 2: sorted by start, each tensor begins at or after the previous end. */
static int check_overlap(const cur_st_file *f) {
  if (f->count < 2) return CUR_OK;
  const cur_st_tensor **v = cur_mallocarray((size_t)f->count, sizeof *v);
  if (!v) return CUR_ENOMEM;
  for (int i = 0; i < f->count; i++) v[i] = &f->tensors[i];
  qsort(v, (size_t)f->count, sizeof *v, cmp_by_offset);
  int rc = CUR_OK;
  for (int i = 1; i < f->count && rc == CUR_OK; i++) {
    if (v[i]->data < v[i - 1]->data + v[i - 1]->nbytes)
      rc = cur_errorc(CUR_EINPUT, "%s: tensors '%s' and '%s' overlap", f->path,
                      v[i - 1]->name, v[i]->name);
  }
  cur_free(v);
  return rc;
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static int parse_header(cur_st_file *f, const char *json, size_t len) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return cur_errorc(CUR_EINPUT, "%s: header is not a JSON object", f->path);
  }
  int rc = CUR_OK, n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, root) n++;
  f->tensors = cur_calloc((size_t)n, sizeof *f->tensors);
  f->names = cur_calloc((size_t)n, sizeof *f->names);
  if (!f->tensors || !f->names) {
    rc = CUR_ENOMEM;
    goto cleanup;
  }
  cJSON_ArrayForEach(e, root) {
    if (strcmp(e->string, "__metadata__") == 0) continue;
    cur_st_tensor *t = &f->tensors[f->count];
    if ((rc = parse_tensor(f, e, t)) != CUR_OK) goto cleanup;
    if (!(f->names[f->count] = cur_strdup(e->string))) {
      rc = CUR_ENOMEM;
      goto cleanup;
    }
    t->name = f->names[f->count++];
  }
  rc = check_overlap(f);
cleanup:
  cJSON_Delete(root);
  return rc;
}

static int map_file(cur_st_file *f) {
  int fd = open(f->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cur_errorc(CUR_EIO, "%s: %s", f->path, strerror(errno));
  struct stat st;
  int rc = CUR_OK;
  if (fstat(fd, &st) != 0) {
    rc = cur_errorc(CUR_EIO, "%s: %s", f->path, strerror(errno));
  } else if (st.st_size < 8) {
    rc = cur_errorc(CUR_EINPUT, "%s: %lld bytes is too short for a safetensors file", f->path,
                    (long long)st.st_size);
  } else {
    f->map_len = (size_t)st.st_size;
    void *m = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
      rc = cur_errorc(CUR_EIO, "%s: mmap: %s", f->path, strerror(errno));
    else
      f->map = m;
  }
  close(fd);
  return rc;
}

int cur_st_open(const char *path, cur_st_file **out) {
  *out = NULL;
  cur_st_file *f = cur_calloc(1, sizeof *f);
  if (!f) return CUR_ENOMEM;
  int rc = CUR_ENOMEM;
  if (!(f->path = cur_strdup(path))) goto cleanup;
  if ((rc = map_file(f)) != CUR_OK) goto cleanup;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->map[i];
  if (hlen > ST_MAX_HEADER || hlen > f->map_len - 8) {
    rc = cur_errorc(CUR_EINPUT, "%s: header length %llu runs past the end of the %zu-byte file",
                    path, (unsigned long long)hlen, f->map_len);
    goto cleanup;
  }
  f->data_off = 8 + (size_t)hlen;
  f->header_hash = fnv1a(f->map + 8, (size_t)hlen);
  rc = parse_header(f, (const char *)f->map + 8, (size_t)hlen);
cleanup:
  if (rc != CUR_OK) {
    cur_st_close(f);
    return rc;
  }
  *out = f;
  return CUR_OK;
}

void cur_st_close(cur_st_file *f) {
  if (!f) return;
  if (f->map) munmap(f->map, f->map_len);
  for (int i = 0; f->names && i < f->count; i++) cur_free(f->names[i]);
  cur_free(f->names);
  cur_free(f->tensors);
  cur_free(f->path);
  cur_free(f);
}

int cur_st_count(const cur_st_file *f) { return f->count; }
uint64_t cur_st_header_hash(const cur_st_file *f) { return f->header_hash; }
const char *cur_st_path(const cur_st_file *f) { return f->path; }

const cur_st_tensor *cur_st_get(const cur_st_file *f, int i) {
  return (i >= 0 && i < f->count) ? &f->tensors[i] : NULL;
}

const cur_st_tensor *cur_st_find(const cur_st_file *f, const char *name) {
  for (int i = 0; i < f->count; i++)
    if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
  return NULL;
}

int cur_st_to_f32(const cur_st_tensor *t, float *dst) {
  const unsigned char *p = t->data;
  switch (t->dtype) {
  case CUR_ST_F32:
    memcpy(dst, p, t->numel * 4);
    return CUR_OK;
  case CUR_ST_F16:
  case CUR_ST_BF16:
    for (size_t i = 0; i < t->numel; i++) {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      if (t->dtype == CUR_ST_F16) {
        dst[i] = cur_half_to_float(h);
      } else {
        uint32_t bits = (uint32_t)h << 16;
        memcpy(&dst[i], &bits, 4);
      }
    }
    return CUR_OK;
  default:
    return cur_errorc(CUR_EINPUT, "tensor '%s': dtype %s is not F32, F16 or BF16", t->name,
                      cur_st_dtype_name(t->dtype));
  }
}
