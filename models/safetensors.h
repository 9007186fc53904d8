/* safetensors.h -- read-only, validated access to a .safetensors file.
**
** The file is mapped with mmap and its JSON header parsed with cJSON.  Open
** validates the whole header before returning: known dtypes, shapes whose
** element count times the dtype size equals the byte range, ranges inside
** the data section and not overlapping.  A tensor's data pointer is then
** always safe to read for nbytes bytes, but it may be unaligned: read it with
** memcpy (cur_st_to_f32 does).
*/
#ifndef CURATE_SAFETENSORS_H
#define CURATE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define CUR_ST_MAX_DIMS 8

typedef enum cur_st_dtype {
  CUR_ST_BOOL, CUR_ST_U8, CUR_ST_I8, CUR_ST_I16, CUR_ST_U16, CUR_ST_F16,
  CUR_ST_BF16, CUR_ST_I32, CUR_ST_U32, CUR_ST_F32, CUR_ST_I64, CUR_ST_U64,
  CUR_ST_F64, CUR_ST_F8_E4M3, CUR_ST_F8_E5M2
} cur_st_dtype;

typedef struct cur_st_tensor {
  const char *name;          /* owned by the file object */
  cur_st_dtype dtype;
  int ndim;                  /* 0 for a scalar */
  int64_t shape[CUR_ST_MAX_DIMS];
  size_t numel;              /* product of shape (1 for a scalar) */
  const unsigned char *data; /* inside the mapping, possibly unaligned */
  size_t nbytes;
} cur_st_tensor;

typedef struct cur_st_file cur_st_file;

/* Maps and validates path.  On success *out is set; the caller frees it with
** cur_st_close, which also invalidates every tensor pointer and name. */
int cur_st_open(const char *path, cur_st_file **out);
void cur_st_close(cur_st_file *f);

/* Number of tensors, the i-th tensor (in header order), lookup by name
** (NULL when absent). */
int cur_st_count(const cur_st_file *f);
const cur_st_tensor *cur_st_get(const cur_st_file *f, int i);
const cur_st_tensor *cur_st_find(const cur_st_file *f, const char *name);
/* Hex digest (FNV-1a 64) of the JSON header: identifies the weights cheaply. */
uint64_t cur_st_header_hash(const cur_st_file *f);
const char *cur_st_path(const cur_st_file *f);

/* Name of a dtype as written in the header ("F32"). */
const char *cur_st_dtype_name(cur_st_dtype d);

/* Converts a F32, F16 or BF16 tensor to float32 into dst (t->numel floats).
** Returns CUR_EINPUT naming the tensor for any other dtype. */
int cur_st_to_f32(const cur_st_tensor *t, float *dst);

#endif
