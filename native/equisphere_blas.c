/*
 * equisphere_blas: a small N-API addon exposing single-precision GEMM from a CBLAS library
 * (OpenBLAS) to the engine's `native` kernel backend (src/engine/kernels/native.ts).
 *
 * Every matrix is a Float32Array view read or written in place (no copies): the pointer handed
 * to BLAS is the view's data plus the element offset given by the caller. Layout is row-major,
 * BLAS-like: element (i, p) of A is a[aOffset + i lda + p], or a[aOffset + p lda + i] when A is
 * transposed. Bounds are checked here, once per call, so a wrong offset throws a RangeError in
 * JavaScript instead of reading outside the array.
 *
 * Exports:
 *   sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc)
 *   sgemmStridedBatched(batch, transA, transB, m, n, k, alpha, a, aOff, lda, strideA,
 *                       b, bOff, ldb, strideB, beta, c, cOff, ldc, strideC)
 *   sgemmGrouped(table, count, alpha, a, b, beta, c)   table: Int32Array of count x 11
 *   patches(direction, geometry, count, image, imageOff, imageStride, cols, colOff, ldc)
 *   setThreads(count), getThreads(), config()
 *
 * OpenBLAS runs a small product (below m n k = 262144) on the calling thread only, so a batch of
 * many small products gains nothing from OpenBLAS's own threads. Such a batch is cut into shares
 * of about equal work, one per POSIX thread, each calling cblas_sgemm on its share: the pthreads
 * build of OpenBLAS (0.3.7 and later) is safe to call from several threads, and on two idle
 * cores this nearly halves the time of 1000 products 21 x 21 by 21 x 64.
 */
#define _DEFAULT_SOURCE /* madvise */
#include <node_api.h>
#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* OpenBLAS extensions; declared again in case the cblas.h found is not OpenBLAS's own. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

#define MAX_THREADS 64
#define GROUP_FIELDS 11

/* OpenBLAS runs a product on one thread below m n k = 65536 * 4 (interface/gemm.c); batches of
 * products smaller than this are worth spreading over our own threads instead. */
#define SMALL_PRODUCT 262144.0
/* Below this much work in a whole batch, starting threads costs more than it saves. */
#define MIN_PARALLEL_FLOPS 2.0e6

static int thread_count = 1;

typedef struct {
  int trans_a, trans_b;
  int m, n, k;
  float alpha, beta;
  const float *a;
  const float *b;
  float *c;
  int lda, ldb, ldc;
} product_t;

/* ---------------------------------------------------------------------------------------------
 * Argument reading. Each reader throws a JavaScript error and returns 0 on failure.
 */

static int throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return 0;
}

static int throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return 0;
}

static int read_bool(napi_env env, napi_value value, int *out, const char *name) {
  bool flag;
  char message[96];

  if (napi_get_value_bool(env, value, &flag) != napi_ok) {
    snprintf(message, sizeof message, "equisphere_blas: %s must be a boolean", name);
    return throw_type(env, message);
  }
  *out = flag ? 1 : 0;
  return 1;
}

static int read_double(napi_env env, napi_value value, double *out, const char *name) {
  char message[96];

  if (napi_get_value_double(env, value, out) != napi_ok) {
    snprintf(message, sizeof message, "equisphere_blas: %s must be a number", name);
    return throw_type(env, message);
  }
  return 1;
}

/* A non-negative integer below 2^53 (an element offset or a count). */
static int read_index(napi_env env, napi_value value, int64_t *out, const char *name) {
  double x;
  char message[112];

  if (!read_double(env, value, &x, name)) return 0;
  if (!(x >= 0 && x <= 9007199254740991.0) || x != (double)(int64_t)x) {
    snprintf(message, sizeof message,
             "equisphere_blas: %s must be a non-negative integer, got %g", name, x);
    return throw_range(env, message);
  }
  *out = (int64_t)x;
  return 1;
}

/* A non-negative integer that fits BLAS's 32-bit int (a dimension or a leading dimension). */
static int read_dim(napi_env env, napi_value value, int *out, const char *name) {
  int64_t x;
  char message[112];

  if (!read_index(env, value, &x, name)) return 0;
  if (x > INT32_MAX) {
    snprintf(message, sizeof message, "equisphere_blas: %s = %lld exceeds 2^31 - 1", name,
             (long long)x);
    return throw_range(env, message);
  }
  *out = (int)x;
  return 1;
}

static int read_f32(napi_env env, napi_value value, float **data, int64_t *length,
                    const char *name) {
  bool is_typed;
  napi_typedarray_type type;
  size_t count;
  void *pointer;
  char message[96];

  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    snprintf(message, sizeof message, "equisphere_blas: %s must be a Float32Array", name);
    return throw_type(env, message);
  }
  if (napi_get_typedarray_info(env, value, &type, &count, &pointer, NULL, NULL) != napi_ok ||
      type != napi_float32_array) {
    snprintf(message, sizeof message, "equisphere_blas: %s must be a Float32Array", name);
    return throw_type(env, message);
  }
  *data = (float *)pointer;
  *length = (int64_t)count;
  return 1;
}

/*
 * Checks that a rows x cols matrix with leading dimension ld at element offset `offset`, and
 * `batch` copies of it spaced `stride` apart, lie inside an array of `length` elements.
 */
static int check_matrix(napi_env env, const char *name, int rows, int cols, int ld,
                        int64_t offset, int64_t stride, int64_t batch, int64_t length) {
  char message[200];
  double last;

  if (ld < (cols > 1 ? cols : 1)) {
    snprintf(message, sizeof message,
             "equisphere_blas: leading dimension of %s is %d, expected at least %d", name, ld,
             cols > 1 ? cols : 1);
    return throw_range(env, message);
  }
  if (rows == 0 || cols == 0 || batch == 0) return 1;

  /* In double: exact below 2^53, and anything larger is out of bounds anyway. */
  last = (double)offset + (double)(batch - 1) * (double)stride + (double)(rows - 1) * ld + cols;
  if (last > (double)length) {
    snprintf(message, sizeof message,
             "equisphere_blas: %s (%d x %d, ld %d, offset %lld, %lld blocks) reaches element "
             "%.0f of an array of %lld",
             name, rows, cols, ld, (long long)offset, (long long)batch, last,
             (long long)length);
    return throw_range(env, message);
  }
  return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Products.
 */

/* C = beta C when there is nothing to multiply (k = 0 or alpha = 0); beta = 0 overwrites. */
static void scale_c(const product_t *p) {
  for (int i = 0; i < p->m; i++) {
    float *row = p->c + (int64_t)i * p->ldc;
    if (p->beta == 0.0f) {
      memset(row, 0, sizeof(float) * (size_t)p->n);
    } else if (p->beta != 1.0f) {
      for (int j = 0; j < p->n; j++) row[j] *= p->beta;
    }
  }
}

static int is_small(const product_t *p) {
  return (double)p->m * p->n * p->k < SMALL_PRODUCT;
}

static void run_product(const product_t *p) {
  if (p->m == 0 || p->n == 0) return;
  if (p->k == 0 || p->alpha == 0.0f) {
    scale_c(p);
    return;
  }
  cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans,
              p->trans_b ? CblasTrans : CblasNoTrans, p->m, p->n, p->k, p->alpha, p->a,
              p->lda, p->b, p->ldb, p->beta, p->c, p->ldc);
}

/* The products of a batch are described either by strides or by a table of offsets. */
typedef struct {
  product_t first;
  int64_t stride_a, stride_b, stride_c;
  const int32_t *table;
} batch_t;

static void batch_item(const batch_t *batch, int64_t index, product_t *out) {
  *out = batch->first;
  if (batch->table == NULL) {
    out->a += index * batch->stride_a;
    out->b += index * batch->stride_b;
    out->c += index * batch->stride_c;
    return;
  }

  const int32_t *row = batch->table + index * GROUP_FIELDS;
  out->trans_a = row[0] & 1;
  out->trans_b = (row[0] >> 1) & 1;
  out->m = row[1];
  out->n = row[2];
  out->k = row[3];
  out->a += row[4];
  out->lda = row[5];
  out->b += row[6];
  out->ldb = row[7];
  out->c += row[8];
  out->ldc = row[9];
}

typedef struct {
  const batch_t *batch;
  int64_t begin, end;
} share_t;

static void *run_share(void *arg) {
  const share_t *share = (const share_t *)arg;
  product_t p;

  for (int64_t i = share->begin; i < share->end; i++) {
    batch_item(share->batch, i, &p);
    run_product(&p);
  }
  return NULL;
}

/*
 * Runs `count` products. When `parallel` is set (every product is small and they write disjoint
 * parts of C), the batch is cut into contiguous shares of about equal work, one per thread;
 * otherwise the products run in order.
 */
static void run_batch(const batch_t *batch, int64_t count, int parallel, double flops) {
  int threads = thread_count;
  pthread_t ids[MAX_THREADS];
  share_t shares[MAX_THREADS];
  int started[MAX_THREADS];

  if (threads > count) threads = (int)count;
  if (!parallel || threads < 2 || flops < MIN_PARALLEL_FLOPS) {
    share_t all = { batch, 0, count };
    run_share(&all);
    return;
  }

  /* Cut by accumulated work so that shares of a grouped batch with uneven sizes balance. */
  int64_t begin = 0;
  double done = 0;
  for (int t = 0; t < threads; t++) {
    double target = flops * (t + 1) / threads;
    int64_t end = begin;
    product_t p;
    while (end < count && (t == threads - 1 || done < target)) {
      batch_item(batch, end, &p);
      done += 2.0 * p.m * p.n * p.k;
      end++;
    }
    shares[t].batch = batch;
    shares[t].begin = begin;
    shares[t].end = end;
    begin = end;
  }

  for (int t = 1; t < threads; t++) {
    started[t] = pthread_create(&ids[t], NULL, run_share, &shares[t]) == 0;
    if (!started[t]) run_share(&shares[t]);
  }
  run_share(&shares[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(ids[t], NULL);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Exported functions.
 */

static int read_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv) {
  size_t argc = expected;
  char message[96];

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < expected) {
    snprintf(message, sizeof message, "equisphere_blas: expected %zu arguments, got %zu",
             expected, argc);
    return throw_type(env, message);
  }
  return 1;
}

/* Reads (matrix, offset, ld) and returns the pointer at the offset after the bounds check. */
static int read_operand(napi_env env, napi_value *argv, const char *name, int rows, int cols,
                        int64_t stride, int64_t batch, float **pointer, int *ld) {
  float *data;
  int64_t length, offset;

  if (!read_f32(env, argv[0], &data, &length, name)) return 0;
  if (!read_index(env, argv[1], &offset, "offset")) return 0;
  if (!read_dim(env, argv[2], ld, "leading dimension")) return 0;
  if (!check_matrix(env, name, rows, cols, *ld, offset, stride, batch, length)) return 0;
  *pointer = data + offset;
  return 1;
}

static int read_shape(napi_env env, napi_value *argv, product_t *p) {
  double alpha;

  if (!read_bool(env, argv[0], &p->trans_a, "transA")) return 0;
  if (!read_bool(env, argv[1], &p->trans_b, "transB")) return 0;
  if (!read_dim(env, argv[2], &p->m, "m")) return 0;
  if (!read_dim(env, argv[3], &p->n, "n")) return 0;
  if (!read_dim(env, argv[4], &p->k, "k")) return 0;
  if (!read_double(env, argv[5], &alpha, "alpha")) return 0;
  p->alpha = (float)alpha;
  return 1;
}

static napi_value sgemm(napi_env env, napi_callback_info info) {
  napi_value argv[16];
  product_t p;
  double beta;
  float *a, *b;

  if (!read_args(env, info, 16, argv) || !read_shape(env, argv, &p)) return NULL;
  if (!read_operand(env, argv + 6, "A", p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k, 0, 1, &a,
                    &p.lda))
    return NULL;
  if (!read_operand(env, argv + 9, "B", p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n, 0, 1, &b,
                    &p.ldb))
    return NULL;
  if (!read_double(env, argv[12], &beta, "beta")) return NULL;
  if (!read_operand(env, argv + 13, "C", p.m, p.n, 0, 1, &p.c, &p.ldc)) return NULL;

  p.a = a;
  p.b = b;
  p.beta = (float)beta;
  run_product(&p);
  return NULL;
}

/* Reads a stride argument: a non-negative element count (0 repeats the same matrix). */
static int read_stride(napi_env env, napi_value value, int64_t *out, const char *name) {
  return read_index(env, value, out, name);
}

static napi_value sgemm_strided_batched(napi_env env, napi_callback_info info) {
  napi_value argv[20];
  batch_t batch;
  product_t *p = &batch.first;
  int64_t count;
  double beta;
  float *a, *b;

  memset(&batch, 0, sizeof batch);
  if (!read_args(env, info, 20, argv)) return NULL;
  if (!read_index(env, argv[0], &count, "batch")) return NULL;
  napi_value *args = argv + 1;   /* the rest as in sgemm, with a stride after each ld */
  if (!read_shape(env, args, p)) return NULL;
  if (!read_stride(env, args[9], &batch.stride_a, "strideA")) return NULL;
  if (!read_stride(env, args[13], &batch.stride_b, "strideB")) return NULL;
  if (!read_stride(env, args[18], &batch.stride_c, "strideC")) return NULL;

  napi_value opA[3] = { args[6], args[7], args[8] };
  napi_value opB[3] = { args[10], args[11], args[12] };
  napi_value opC[3] = { args[15], args[16], args[17] };
  if (!read_operand(env, opA, "A", p->trans_a ? p->k : p->m, p->trans_a ? p->m : p->k,
                    batch.stride_a, count, &a, &p->lda))
    return NULL;
  if (!read_operand(env, opB, "B", p->trans_b ? p->n : p->k, p->trans_b ? p->k : p->n,
                    batch.stride_b, count, &b, &p->ldb))
    return NULL;
  if (!read_double(env, args[14], &beta, "beta")) return NULL;
  if (!read_operand(env, opC, "C", p->m, p->n, batch.stride_c, count, &p->c, &p->ldc))
    return NULL;
  p->a = a;
  p->b = b;
  p->beta = (float)beta;
  if (count == 0 || p->m == 0 || p->n == 0) return NULL;

  /* Threads only when the blocks of C are disjoint and each product is small. */
  int64_t c_extent = (int64_t)(p->m - 1) * p->ldc + p->n;
  double each = 2.0 * p->m * p->n * p->k;
  int parallel = batch.stride_c >= c_extent && is_small(p);
  run_batch(&batch, count, parallel, each * (double)count);
  return NULL;
}

/* Extent [first, last) of the elements one operand of a grouped product touches. */
static int group_extent(int rows, int cols, int64_t offset, int ld, int64_t length,
                        int64_t *first, int64_t *last) {
  if (offset < 0 || ld < (cols > 1 ? cols : 1)) return 0;
  *first = offset;
  *last = rows == 0 || cols == 0 ? offset : offset + (int64_t)(rows - 1) * ld + cols;
  return *last <= length;
}

/*
 * sgemmGrouped(table, count, alpha, a, b, beta, c): `count` products with shared alpha/beta
 * and operand arrays, each described by one row of 11 int32 in `table`:
 * [flags (1 = transA, 2 = transB), m, n, k, aOffset, lda, bOffset, ldb, cOffset, ldc, 0].
 */
static napi_value sgemm_grouped(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  batch_t batch;
  product_t *p = &batch.first;
  int64_t count, a_len, b_len, c_len;
  double alpha, beta, flops = 0;
  napi_typedarray_type type;
  size_t table_len;
  void *table;
  bool is_typed;
  char message[200];

  memset(&batch, 0, sizeof batch);
  if (!read_args(env, info, 7, argv)) return NULL;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &table_len, &table, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    throw_type(env, "equisphere_blas: table must be an Int32Array");
    return NULL;
  }
  if (!read_index(env, argv[1], &count, "count")) return NULL;
  if ((int64_t)table_len < count * GROUP_FIELDS) {
    throw_range(env, "equisphere_blas: table is shorter than count x 11 entries");
    return NULL;
  }
  if (!read_double(env, argv[2], &alpha, "alpha")) return NULL;
  if (!read_f32(env, argv[3], (float **)&p->a, &a_len, "A")) return NULL;
  if (!read_f32(env, argv[4], (float **)&p->b, &b_len, "B")) return NULL;
  if (!read_double(env, argv[5], &beta, "beta")) return NULL;
  if (!read_f32(env, argv[6], &p->c, &c_len, "C")) return NULL;
  p->alpha = (float)alpha;
  p->beta = (float)beta;
  batch.table = (const int32_t *)table;

  /* Validate every row, and find whether the C blocks come in increasing, disjoint ranges. */
  int disjoint = 1, all_small = 1;
  int64_t previous_end = 0;
  for (int64_t i = 0; i < count; i++) {
    const int32_t *row = batch.table + i * GROUP_FIELDS;
    int ta = row[0] & 1, tb = (row[0] >> 1) & 1;
    int m = row[1], n = row[2], k = row[3];
    int64_t first, last;
    if (m < 0 || n < 0 || k < 0 || (row[0] & ~3) != 0 ||
        !group_extent(ta ? k : m, ta ? m : k, row[4], row[5], a_len, &first, &last) ||
        !group_extent(tb ? n : k, tb ? k : n, row[6], row[7], b_len, &first, &last) ||
        !group_extent(m, n, row[8], row[9], c_len, &first, &last)) {
      snprintf(message, sizeof message,
               "equisphere_blas: grouped product %lld has a bad shape, leading dimension or "
               "offset (outside its array)", (long long)i);
      throw_range(env, message);
      return NULL;
    }
    if (m != 0 && n != 0) {
      if (first < previous_end) disjoint = 0;
      previous_end = last;
    }
    flops += 2.0 * m * n * k;
    all_small = all_small && (double)m * n * k < SMALL_PRODUCT;
  }

  /* Threads only when the C ranges are disjoint and every product is small. */
  int parallel = disjoint && all_small;
  run_batch(&batch, count, parallel, flops);
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Patches: im2col and its adjoint col2im for `count` images at once (the layout of
 * src/engine/ops/im2col.ts). geometry (Int32Array): [channels, height, width, kernelHeight,
 * kernelWidth, stride, padding, outHeight, outWidth]. Image t starts at srcOffset + t srcStride;
 * its columns at colOffset + t outHeight outWidth, rows ldc apart (ldc >= count Ho Wo when the
 * images sit side by side). col2im accumulates into the images.
 */

typedef struct {
  int channels, height, width, kh, kw, stride, padding, oh, ow;
} patch_t;

static void im2col_one(const patch_t *g, const float *src, float *cols, int64_t ldc) {
  int64_t plane = (int64_t)g->height * g->width;
  float *row = cols;
  for (int c = 0; c < g->channels; c++) {
    const float *base = src + c * plane;
    for (int i = 0; i < g->kh; i++) {
      for (int j = 0; j < g->kw; j++, row += ldc) {
        int start = g->padding - j > 0 ? (g->padding - j + g->stride - 1) / g->stride : 0;
        int end = (g->width - 1 + g->padding - j) / g->stride + 1;
        if (g->width - 1 + g->padding - j < 0) end = 0;
        if (end > g->ow) end = g->ow;
        for (int oy = 0; oy < g->oh; oy++) {
          int iy = oy * g->stride + i - g->padding;
          float *dst = row + (int64_t)oy * g->ow;
          if (iy < 0 || iy >= g->height || end <= start) {
            memset(dst, 0, sizeof(float) * (size_t)g->ow);
            continue;
          }
          const float *line = base + (int64_t)iy * g->width + j - g->padding;
          for (int ox = 0; ox < start; ox++) dst[ox] = 0;
          if (g->stride == 1) {
            memcpy(dst + start, line + start, sizeof(float) * (size_t)(end - start));
          } else {
            for (int ox = start; ox < end; ox++) dst[ox] = line[(int64_t)ox * g->stride];
          }
          for (int ox = end; ox < g->ow; ox++) dst[ox] = 0;
        }
      }
    }
  }
}

static void col2im_one(const patch_t *g, const float *cols, int64_t ldc, float *dst) {
  int64_t plane = (int64_t)g->height * g->width;
  const float *row = cols;
  for (int c = 0; c < g->channels; c++) {
    float *base = dst + c * plane;
    for (int i = 0; i < g->kh; i++) {
      for (int j = 0; j < g->kw; j++, row += ldc) {
        int start = g->padding - j > 0 ? (g->padding - j + g->stride - 1) / g->stride : 0;
        int end = (g->width - 1 + g->padding - j) / g->stride + 1;
        if (g->width - 1 + g->padding - j < 0) end = 0;
        if (end > g->ow) end = g->ow;
        for (int oy = 0; oy < g->oh; oy++) {
          int iy = oy * g->stride + i - g->padding;
          if (iy < 0 || iy >= g->height) continue;
          const float *from = row + (int64_t)oy * g->ow;
          float *line = base + (int64_t)iy * g->width + j - g->padding;
          if (g->stride == 1) {
            for (int ox = start; ox < end; ox++) line[ox] += from[ox];
          } else {
            for (int ox = start; ox < end; ox++) line[(int64_t)ox * g->stride] += from[ox];
          }
        }
      }
    }
  }
}

/* patches(direction, geometry, count, image, imageOffset, imageStride, cols, colOffset, ldc):
 * direction 0 = im2col (image -> cols), 1 = col2im (cols added onto image). */
static napi_value patches(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  int64_t direction, count, image_off, image_stride, col_off, ldc, image_len, col_len;
  float *image, *cols;
  int32_t *geo;
  size_t geo_count;
  napi_typedarray_type type;
  bool is_typed;
  patch_t g;

  if (!read_args(env, info, 9, argv)) return NULL;
  if (!read_index(env, argv[0], &direction, "direction")) return NULL;
  if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &geo_count, (void **)&geo, NULL, NULL)
        != napi_ok || type != napi_int32_array || geo_count < 9) {
    throw_type(env, "equisphere_blas: geometry must be an Int32Array of 9 values");
    return NULL;
  }
  g = (patch_t){ geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7], geo[8] };
  if (g.channels < 0 || g.height < 1 || g.width < 1 || g.kh < 1 || g.kw < 1 || g.stride < 1 ||
      g.padding < 0 || g.oh < 0 || g.ow < 0) {
    throw_range(env, "equisphere_blas: bad patch geometry");
    return NULL;
  }
  if (!read_index(env, argv[2], &count, "count")) return NULL;
  if (!read_f32(env, argv[3], &image, &image_len, "image")) return NULL;
  if (!read_index(env, argv[4], &image_off, "imageOffset")) return NULL;
  if (!read_index(env, argv[5], &image_stride, "imageStride")) return NULL;
  if (!read_f32(env, argv[6], &cols, &col_len, "cols")) return NULL;
  if (!read_index(env, argv[7], &col_off, "colOffset")) return NULL;
  if (!read_index(env, argv[8], &ldc, "ldc")) return NULL;
  if (count == 0) return NULL;

  int64_t image_size = (int64_t)g.channels * g.height * g.width;
  int64_t out_plane = (int64_t)g.oh * g.ow;
  int64_t rows = (int64_t)g.channels * g.kh * g.kw;
  if ((double)image_off + (double)(count - 1) * image_stride + image_size > (double)image_len ||
      (rows > 0 && (double)col_off + (double)(rows - 1) * ldc + (double)count * out_plane
        > (double)col_len) || ldc < out_plane) {
    throw_range(env, "equisphere_blas: patches reach outside their arrays");
    return NULL;
  }
  for (int64_t t = 0; t < count; t++) {
    float *img = image + image_off + t * image_stride;
    float *col = cols + col_off + t * out_plane;
    if (direction == 0) im2col_one(&g, img, col, ldc);
    else col2im_one(&g, col, ldc, img);
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Harmonic transform loops: the regrouping passes of the SO(3) transforms of src/harmonic
 * (fold.ts and so3-transform.ts), which move every sample of a grid once per pass and cost more
 * there than the products between them. Each is a line-by-line port of its TypeScript twin and
 * computes in double like JavaScript does, rounding to float once per stored value, so the two
 * agree bit for bit (test/harmonic/native-loops.test.ts). Passes with enough work are cut into
 * ranges of independent output blocks, one per thread.
 */

/* Below this many values moved, a pass runs on the calling thread. */
#define MIN_PARALLEL_VALUES 262144.0

typedef void (*range_fn)(const void *context, int64_t begin, int64_t end);

typedef struct {
  range_fn fn;
  const void *context;
  int64_t begin, end;
} range_share_t;

static void *run_range_share(void *arg) {
  const range_share_t *share = (const range_share_t *)arg;
  share->fn(share->context, share->begin, share->end);
  return NULL;
}

/* Calls fn on [0, count) cut into equal ranges, one per thread when `values` is large. */
static void parallel_range(range_fn fn, const void *context, int64_t count, double values) {
  int threads = thread_count;
  pthread_t ids[MAX_THREADS];
  range_share_t shares[MAX_THREADS];
  int started[MAX_THREADS];

  if (threads > count) threads = (int)count;
  if (threads < 2 || values < MIN_PARALLEL_VALUES) {
    if (count > 0) fn(context, 0, count);
    return;
  }
  for (int t = 0; t < threads; t++) {
    shares[t].fn = fn;
    shares[t].context = context;
    shares[t].begin = count * t / threads;
    shares[t].end = count * (t + 1) / threads;
  }
  for (int t = 1; t < threads; t++) {
    started[t] = pthread_create(&ids[t], NULL, run_range_share, &shares[t]) == 0;
    if (!started[t]) run_range_share(&shares[t]);
  }
  run_range_share(&shares[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(ids[t], NULL);
  }
}

/* A Float32Array argument with at least `needed` values. */
static int read_f32_min(napi_env env, napi_value value, float **data, double needed,
                        const char *name) {
  int64_t length;
  char message[160];

  if (!read_f32(env, value, data, &length, name)) return 0;
  if ((double)length < needed) {
    snprintf(message, sizeof message,
             "equisphere_blas: %s has %lld values, the transform needs %.0f", name,
             (long long)length, needed);
    return throw_range(env, message);
  }
  return 1;
}

/* null, or a Float64Array of at least `needed` values (ring weights). */
static int read_weights(napi_env env, napi_value value, const double **data, int64_t needed) {
  napi_valuetype kind;
  bool is_typed;
  napi_typedarray_type type;
  size_t count;
  void *pointer;

  if (napi_typeof(env, value, &kind) != napi_ok) return 0;
  if (kind == napi_null || kind == napi_undefined) {
    *data = NULL;
    return 1;
  }
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, &count, &pointer, NULL, NULL) != napi_ok ||
      type != napi_float64_array) {
    return throw_type(env, "equisphere_blas: ring weights must be a Float64Array or null");
  }
  if ((int64_t)count < needed) {
    return throw_range(env, "equisphere_blas: ring weights are shorter than 2b");
  }
  *data = (const double *)pointer;
  return 1;
}

/* An Int32Array of at least `needed` values whose entries lie in [0, limit). */
static int read_positions(napi_env env, napi_value value, const int32_t **data, int64_t needed,
                          int64_t limit) {
  bool is_typed;
  napi_typedarray_type type;
  size_t count;
  void *pointer;

  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, &count, &pointer, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    return throw_type(env, "equisphere_blas: pair positions must be an Int32Array");
  }
  if ((int64_t)count < needed) {
    return throw_range(env, "equisphere_blas: pair positions are too short");
  }
  for (int64_t i = 0; i < needed; i++) {
    int32_t position = ((const int32_t *)pointer)[i];
    if (position < 0 || position >= limit) {
      return throw_range(env, "equisphere_blas: a pair position is out of range");
    }
  }
  *data = (const int32_t *)pointer;
  return 1;
}

/* A positive integer argument that fits an int. */
static int read_count(napi_env env, napi_value value, int *out, const char *name, int minimum) {
  char message[96];

  if (!read_dim(env, value, out, name)) return 0;
  if (*out < minimum) {
    snprintf(message, sizeof message, "equisphere_blas: %s must be at least %d", name, minimum);
    return throw_range(env, message);
  }
  return 1;
}

/* Values of the source (or target) blocks per tile of the fold passes. */
#ifndef FOLD_TILE_VALUES
#define FOLD_TILE_VALUES 32768
#endif

static int64_t fold_tile(int nb) {
  int64_t tile = FOLD_TILE_VALUES / ((int64_t)nb * nb);
  return tile < 1 ? 1 : tile;
}

typedef struct {
  const float *src;
  float *even_even, *even_odd, *odd_even, *odd_odd;
  int64_t rings;
  int b;
} fold_t;

static void fold_row(const float *src, float *even, float *odd, int b) {
  int nb = 2 * b;
  even[0] = src[0];
  even[b] = src[b];
  for (int i = 1; i < b; i++) {
    double a = src[i], c = src[nb - i];
    even[i] = (float)(a + c);
    odd[i - 1] = (float)(a - c);
  }
}

/* foldBlocks of fold.ts for blocks [begin, end). */
static void fold_range(const void *context, int64_t begin, int64_t end) {
  const fold_t *f = (const fold_t *)context;
  const int b = f->b, nb = 2 * b, e = b + 1, o = b - 1;
  const int64_t rings = f->rings;

  const int64_t tile = fold_tile(nb);
  for (int64_t t0 = begin; t0 < end; t0 += tile) {
    int64_t t1 = t0 + tile < end ? t0 + tile : end;
    for (int64_t t = t0; t < t1; t++) {
      const float *block = f->src + t * nb * nb;
      int64_t last = (int64_t)b * rings + t;
      fold_row(block, f->even_even + t * e, f->even_odd + t * o, b);
      fold_row(block + b * nb, f->even_even + last * e, f->even_odd + last * o, b);
    }
    for (int q = 1; q < b; q++) {
      for (int64_t t = t0; t < t1; t++) {
        const float *upper = f->src + t * nb * nb + q * nb;
        const float *lower = f->src + t * nb * nb + (nb - q) * nb;
        float *plus_e = f->even_even + ((int64_t)q * rings + t) * e;
        float *plus_o = f->even_odd + ((int64_t)q * rings + t) * o;
        float *minus_e = f->odd_even + ((int64_t)(q - 1) * rings + t) * e;
        float *minus_o = f->odd_odd + ((int64_t)(q - 1) * rings + t) * o;
        plus_e[0] = (float)((double)upper[0] + lower[0]);
        minus_e[0] = (float)((double)upper[0] - lower[0]);
        plus_e[b] = (float)((double)upper[b] + lower[b]);
        minus_e[b] = (float)((double)upper[b] - lower[b]);
        for (int i = 1; i < b; i++) {
          double a = upper[i], c = upper[nb - i], d = lower[i], g = lower[nb - i];
          plus_e[i] = (float)(a + d + (c + g));
          plus_o[i - 1] = (float)(a + d - (c + g));
          minus_e[i] = (float)(a - d + (c - g));
          minus_o[i - 1] = (float)(a - d - (c - g));
        }
      }
    }
  }
}

/* Reads the four folded arrays of fold.ts, argv[0..3], for `rings` blocks of bandwidth b:
 * alpha-even/gamma-even, even/odd, odd/even and odd/odd parts, of (b + 1 or b - 1 alpha rows)
 * x (b + 1 or b - 1 gamma columns) values per ring; `names` name them in errors. */
static int read_folded(napi_env env, napi_value *argv, int b, int64_t rings,
                       const char *const names[4], float **even_even, float **even_odd,
                       float **odd_even, float **odd_odd) {
  double e = b + 1, o = b - 1;
  return read_f32_min(env, argv[0], even_even, (b + 1) * e * rings, names[0]) &&
         read_f32_min(env, argv[1], even_odd, (b + 1) * o * rings, names[1]) &&
         read_f32_min(env, argv[2], odd_even, (b - 1) * e * rings, names[2]) &&
         read_f32_min(env, argv[3], odd_odd, (b - 1) * o * rings, names[3]);
}

/* foldBlocks(src, srcOffset, rings, b, evenEven, evenOdd, oddEven, oddOdd): see fold.ts. */
static napi_value fold_blocks(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  fold_t f;
  int64_t offset, rings;
  float *src;

  if (!read_args(env, info, 8, argv)) return NULL;
  if (!read_index(env, argv[1], &offset, "srcOffset") ||
      !read_index(env, argv[2], &rings, "rings") || !read_count(env, argv[3], &f.b, "b", 1))
    return NULL;
  static const char *const names[4] = {"evenEven", "evenOdd", "oddEven", "oddOdd"};
  double nb = 2.0 * f.b;
  if (!read_f32_min(env, argv[0], &src, offset + rings * nb * nb, "src") ||
      !read_folded(env, argv + 4, f.b, rings, names, &f.even_even, &f.even_odd, &f.odd_even,
                   &f.odd_odd))
    return NULL;
  f.src = src + offset;
  f.rings = rings;
  parallel_range(fold_range, &f, rings, (double)rings * nb * nb);
  return NULL;
}

typedef struct {
  const float *cos_even, *sin_even, *cos_odd, *sin_odd;
  float *dst;
  const double *ring;
  int64_t rings;
  int b;
} unfold_t;

static void unfold_row(const float *cos, const float *sin, float *dst, int b, double scale) {
  int nb = 2 * b;
  dst[0] = (float)(scale * cos[0]);
  dst[b] = (float)(scale * cos[b]);
  for (int i = 1; i < b; i++) {
    double x = cos[i], y = sin[i - 1];
    dst[i] = (float)(scale * (x - y));
    dst[nb - i] = (float)(scale * (x + y));
  }
}

/* unfoldBlocks of fold.ts for blocks [begin, end), block t times ring[t mod 2b] (or 1). */
static void unfold_range(const void *context, int64_t begin, int64_t end) {
  const unfold_t *u = (const unfold_t *)context;
  const int b = u->b, nb = 2 * b, e = b + 1, o = b - 1;
  const int64_t rings = u->rings;

  const int64_t tile = fold_tile(nb);
  for (int64_t t0 = begin; t0 < end; t0 += tile) {
    int64_t t1 = t0 + tile < end ? t0 + tile : end;
    for (int64_t t = t0; t < t1; t++) {
      float *block = u->dst + t * nb * nb;
      double scale = u->ring == NULL ? 1.0 : u->ring[t % nb];
      int64_t last = (int64_t)b * rings + t;
      unfold_row(u->cos_even + t * e, u->sin_even + t * o, block, b, scale);
      unfold_row(u->cos_even + last * e, u->sin_even + last * o, block + b * nb, b, scale);
    }
    for (int q = 1; q < b; q++) {
      for (int64_t t = t0; t < t1; t++) {
        double scale = u->ring == NULL ? 1.0 : u->ring[t % nb];
        const float *c1 = u->cos_even + ((int64_t)q * rings + t) * e;
        const float *c2 = u->cos_odd + ((int64_t)(q - 1) * rings + t) * e;
        const float *s1 = u->sin_even + ((int64_t)q * rings + t) * o;
        const float *s2 = u->sin_odd + ((int64_t)(q - 1) * rings + t) * o;
        float *upper = u->dst + t * nb * nb + q * nb;
        float *lower = u->dst + t * nb * nb + (nb - q) * nb;
        upper[0] = (float)(scale * ((double)c1[0] - c2[0]));
        lower[0] = (float)(scale * ((double)c1[0] + c2[0]));
        upper[b] = (float)(scale * ((double)c1[b] - c2[b]));
        lower[b] = (float)(scale * ((double)c1[b] + c2[b]));
        for (int i = 1; i < b; i++) {
          double x1 = c1[i], x2 = c2[i], y1 = s1[i - 1], y2 = s2[i - 1];
          double cos_minus = x1 - x2, sin_minus = y1 - y2;
          double cos_plus = x1 + x2, sin_plus = y1 + y2;
          upper[i] = (float)(scale * (cos_minus - sin_minus));
          upper[nb - i] = (float)(scale * (cos_minus + sin_minus));
          lower[i] = (float)(scale * (cos_plus - sin_plus));
          lower[nb - i] = (float)(scale * (cos_plus + sin_plus));
        }
      }
    }
  }
}

/* unfoldBlocks(cosEven, sinEven, cosOdd, sinOdd, rings, b, dst, dstOffset, ring): fold.ts. */
static napi_value unfold_blocks(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  unfold_t u;
  int64_t offset, rings;
  float *cos_even, *sin_even, *cos_odd, *sin_odd, *dst;

  if (!read_args(env, info, 9, argv)) return NULL;
  if (!read_index(env, argv[4], &rings, "rings") || !read_count(env, argv[5], &u.b, "b", 1) ||
      !read_index(env, argv[7], &offset, "dstOffset"))
    return NULL;
  static const char *const names[4] = {"cosEven", "sinEven", "cosOdd", "sinOdd"};
  double nb = 2.0 * u.b;
  if (!read_folded(env, argv, u.b, rings, names, &cos_even, &sin_even, &cos_odd, &sin_odd) ||
      !read_f32_min(env, argv[6], &dst, offset + rings * nb * nb, "dst") ||
      !read_weights(env, argv[8], &u.ring, 2 * u.b))
    return NULL;
  u.cos_even = cos_even;
  u.sin_even = sin_even;
  u.cos_odd = cos_odd;
  u.sin_odd = sin_odd;
  u.dst = dst + offset;
  u.rings = rings;
  parallel_range(unfold_range, &u, rings, (double)rings * nb * nb);
  return NULL;
}

/* Largest degree bound L of the pair passes (stack arrays of L pointers). */
#define MAX_ORDERS 4096

typedef struct {
  float *re, *im, *sin_re, *sin_im; /* the [|m|][n][t] arrays (cos, sin sums or sums, diffs) */
  float *pairs;
  const double *ring;
  const int32_t *positions;
  int64_t stride;
  int L, nb, sc;
} pairs_t;

/* gatherPairs of so3-transform.ts for (|m|, n) = divmod(i, L), i in [begin, end). */
static void gather_range(const void *context, int64_t begin, int64_t end) {
  const pairs_t *g = (const pairs_t *)context;
  const int L = g->L, nb = g->nb, sc = g->sc, width = 2 * sc;
  const int64_t rings = (int64_t)sc * nb;

  for (int64_t i = begin; i < end; i++) {
    int m = (int)(i / L), n = (int)(i % L);
    int64_t from = i * rings;
    float *plus = g->pairs + g->positions[(L - 1 + m) * L + n] * g->stride;
    float *minus = m > 0 ? g->pairs + g->positions[(L - 1 - m) * L + n] * g->stride : NULL;
    for (int j = 0; j < nb; j++) {
      double w = g->ring == NULL ? 1.0 : g->ring[j];
      float *to_plus = plus + j * width;
      float *to_minus = minus == NULL ? NULL : minus + j * width;
      int64_t at = from + j;
      for (int s = 0; s < sc; s++, at += nb) {
        double cr = w * g->re[at], ci = w * g->im[at];
        double sr = w * g->sin_re[at], si = w * g->sin_im[at];
        to_plus[s] = (float)(cr + si);
        to_plus[sc + s] = (float)(ci - sr);
        if (to_minus != NULL) {
          to_minus[s] = (float)(cr - si);
          to_minus[sc + s] = (float)(ci + sr);
        }
      }
    }
  }
}

/* spreadPairs of so3-transform.ts for the orders m in [begin, end): re/im are sumRe/sumIm,
 * sin_im/sin_re are diffIm/diffRe, laid out [m][t][n]. The orders n are innermost so that the
 * writes are contiguous (a stride of 2b L values would alias in the caches for L = 32). */
static void spread_range(const void *context, int64_t begin, int64_t end) {
  const pairs_t *g = (const pairs_t *)context;
  const int L = g->L, nb = g->nb, sc = g->sc, width = 2 * sc;
  const int64_t rings = (int64_t)sc * nb;
  const float *plus[MAX_ORDERS], *minus[MAX_ORDERS];

  for (int64_t m = begin; m < end; m++) {
    for (int n = 0; n < L; n++) {
      plus[n] = g->pairs + g->positions[(L - 1 + m) * L + n] * g->stride;
      minus[n] = m > 0 ? g->pairs + g->positions[(L - 1 - m) * L + n] * g->stride : NULL;
    }
    for (int j = 0; j < nb; j++) {
      for (int s = 0; s < sc; s++) {
        int64_t at = m * L * rings + ((int64_t)s * nb + j) * L;
        int64_t from = (int64_t)j * width + s;
        float *sum_re = g->re + at, *sum_im = g->im + at;
        float *diff_im = g->sin_im + at, *diff_re = g->sin_re + at;
        if (m == 0) {
          for (int n = 0; n < L; n++) {
            sum_re[n] = plus[n][from];
            sum_im[n] = plus[n][from + sc];
            diff_im[n] = 0;
            diff_re[n] = 0;
          }
          continue;
        }
        for (int n = 0; n < L; n++) {
          double hr = plus[n][from], hi = plus[n][from + sc];
          double gr = minus[n][from], gi = minus[n][from + sc];
          sum_re[n] = (float)(hr + gr);
          sum_im[n] = (float)(hi + gi);
          diff_im[n] = (float)(hi - gi);
          diff_re[n] = (float)(gr - hr);
        }
      }
    }
  }
}

/* Reads the arguments shared by gatherPairs and spreadPairs: L, nb, sc, positions, stride and
 * the pair array (argument indices given), checking every extent. */
static int read_pairs(napi_env env, napi_value *argv, int at_l, int at_positions, int at_pairs,
                      int at_stride, pairs_t *g) {
  int64_t stride;

  if (!read_count(env, argv[at_l], &g->L, "L", 1)) return 0;
  if (g->L > MAX_ORDERS) return throw_range(env, "equisphere_blas: L is above 4096");
  if (!read_count(env, argv[at_l + 1], &g->nb, "nb", 2) ||
      !read_count(env, argv[at_l + 2], &g->sc, "sc", 1) ||
      !read_index(env, argv[at_stride], &stride, "stride"))
    return 0;
  if (stride < (int64_t)g->nb * 2 * g->sc) {
    return throw_range(env, "equisphere_blas: pair stride is below 2b 2sc");
  }
  int64_t pair_count = (int64_t)g->L * (2 * g->L - 1);
  if (!read_positions(env, argv[at_positions], &g->positions, (int64_t)(2 * g->L - 1) * g->L,
                      pair_count) ||
      !read_f32_min(env, argv[at_pairs], &g->pairs,
                    (double)(pair_count - 1) * stride + (double)g->nb * 2 * g->sc, "pairs"))
    return 0;
  g->stride = stride;
  return 1;
}

/* gatherPairs(cosRe, cosIm, sinRe, sinIm, ring, L, nb, sc, positions, pairs, stride). */
static napi_value gather_pairs(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  pairs_t g;

  if (!read_args(env, info, 11, argv) || !read_pairs(env, argv, 5, 8, 9, 10, &g)) return NULL;
  double plane = (double)g.L * g.L * g.nb * g.sc;
  if (!read_f32_min(env, argv[0], &g.re, plane, "cosRe") ||
      !read_f32_min(env, argv[1], &g.im, plane, "cosIm") ||
      !read_f32_min(env, argv[2], &g.sin_re, plane, "sinRe") ||
      !read_f32_min(env, argv[3], &g.sin_im, plane, "sinIm") ||
      !read_weights(env, argv[4], &g.ring, g.nb))
    return NULL;
  parallel_range(gather_range, &g, (int64_t)g.L * g.L, 4 * plane);
  return NULL;
}

/* spreadPairs(pairs, stride, L, nb, sc, positions, sumRe, sumIm, diffIm, diffRe). */
static napi_value spread_pairs(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  pairs_t g;

  if (!read_args(env, info, 10, argv) || !read_pairs(env, argv, 2, 5, 0, 1, &g)) return NULL;
  double plane = (double)g.L * g.L * g.nb * g.sc;
  if (!read_f32_min(env, argv[6], &g.re, plane, "sumRe") ||
      !read_f32_min(env, argv[7], &g.im, plane, "sumIm") ||
      !read_f32_min(env, argv[8], &g.sin_im, plane, "diffIm") ||
      !read_f32_min(env, argv[9], &g.sin_re, plane, "diffRe"))
    return NULL;
  g.ring = NULL;
  parallel_range(spread_range, &g, g.L, 4 * plane);
  return NULL;
}

typedef struct {
  float *re, *im;     /* the spectrum [lmn][S] */
  float *product;     /* per group l0, per pair, [l - l0][part][s] */
  int L, sc, s0, S, degree_weights;
} groups_t;

/* Flat SO(3) coefficient index of (l, m, n), as so3CoefficientIndex. */
static int64_t so3_index(int l, int m, int n) {
  return (int64_t)l * (4 * l * l - 1) / 3 + (int64_t)(m + l) * (2 * l + 1) + (n + l);
}

/* Start of group l0 in the grouped product array: width sum_{k<l0} (4k + 1)(L - k). */
static int64_t group_base(int L, int l0, int width) {
  int64_t total = 0;
  for (int k = 0; k < l0; k++) total += (int64_t)(4 * k + 1) * (L - k);
  return total * width;
}

/* The pair (m, n) at `index` of group l0 (pairOfGroup of so3-transform.ts). */
static void pair_of_group(int l0, int index, int *m, int *n) {
  if (index <= 2 * l0) {
    *m = index - l0;
    *n = l0;
    return;
  }
  int rest = index - 2 * l0 - 1;
  *m = rest % 2 == 0 ? -l0 : l0;
  *n = rest >> 1;
}

/* scatterGroup (direction 0) or foldGroup (1) of so3-transform.ts for groups [begin, end). */
static void groups_range(const void *context, int64_t begin, int64_t end, int direction) {
  const groups_t *g = (const groups_t *)context;
  const int L = g->L, sc = g->sc, width = 2 * sc;
  int64_t base = group_base(L, (int)begin, width);

  for (int l0 = (int)begin; l0 < end; l0++) {
    int degrees = L - l0;
    for (int index = 0; index < 4 * l0 + 1; index++) {
      int m, n;
      pair_of_group(l0, index, &m, &n);
      double sign = (m - n) % 2 == 0 ? 1.0 : -1.0;
      for (int r = 0; r < degrees; r++) {
        int l = l0 + r;
        double scale = g->degree_weights ? 2 * l + 1 : 1;
        int64_t target = so3_index(l, m, n) * g->S + g->s0;
        int64_t mirror = so3_index(l, -m, -n) * g->S + g->s0;
        float *row = g->product + base + ((int64_t)index * degrees + r) * width;
        if (direction == 0) {
          for (int s = 0; s < sc; s++) {
            double value_re = scale * row[s], value_im = scale * row[sc + s];
            g->re[target + s] = (float)value_re;
            g->im[target + s] = (float)value_im;
            if (n > 0) {
              g->re[mirror + s] = (float)(sign * value_re);
              g->im[mirror + s] = (float)(-sign * value_im);
            }
          }
        } else {
          for (int s = 0; s < sc; s++) {
            double value_re = g->re[target + s], value_im = g->im[target + s];
            if (n > 0) {
              value_re += sign * g->re[mirror + s];
              value_im -= sign * g->im[mirror + s];
            }
            row[s] = (float)(scale * value_re);
            row[sc + s] = (float)(scale * value_im);
          }
        }
      }
    }
    base += (int64_t)(4 * l0 + 1) * degrees * width;
  }
}

static void scatter_range(const void *context, int64_t begin, int64_t end) {
  groups_range(context, begin, end, 0);
}

static void fold_groups_range(const void *context, int64_t begin, int64_t end) {
  groups_range(context, begin, end, 1);
}

/* scatterGroups / foldGroups(product, L, sc, s0, S, degreeWeights, re, im): all groups. */
static napi_value spectrum_groups(napi_env env, napi_callback_info info, int direction) {
  napi_value argv[8];
  groups_t g;

  if (!read_args(env, info, 8, argv)) return NULL;
  if (!read_count(env, argv[1], &g.L, "L", 1) || !read_count(env, argv[2], &g.sc, "sc", 1) ||
      !read_count(env, argv[3], &g.s0, "s0", 0) || !read_count(env, argv[4], &g.S, "S", 1) ||
      !read_bool(env, argv[5], &g.degree_weights, "degreeWeights"))
    return NULL;
  if (g.s0 + g.sc > g.S) {
    throw_range(env, "equisphere_blas: signals s0 + sc exceed S");
    return NULL;
  }
  double coefficients = (double)g.L * (4.0 * g.L * g.L - 1) / 3;
  if (!read_f32_min(env, argv[0], &g.product, (double)group_base(g.L, g.L, 2 * g.sc),
                    "product") ||
      !read_f32_min(env, argv[6], &g.re, coefficients * g.S, "re") ||
      !read_f32_min(env, argv[7], &g.im, coefficients * g.S, "im"))
    return NULL;
  /* Groups with large l0 hold more pairs: cut by group, the shares are uneven but independent. */
  parallel_range(direction == 0 ? scatter_range : fold_groups_range, &g, g.L,
                 2 * coefficients * g.sc);
  return NULL;
}

static napi_value scatter_groups(napi_env env, napi_callback_info info) {
  return spectrum_groups(env, info, 0);
}

static napi_value fold_groups(napi_env env, napi_callback_info info) {
  return spectrum_groups(env, info, 1);
}

/*
 * adviseHugePages(array): asks the kernel to back the 2 MB-aligned interior of a typed array's
 * memory with transparent huge pages (madvise MADV_HUGEPAGE; Linux with THP in `madvise` mode).
 * Meant for a fresh, untouched large output array: its first touch then faults in 2 MB at a time
 * instead of 4 kB, which costs a transform's output (tens of MB) thousands of page faults less.
 * Returns whether the advice was taken; contents and semantics of the array are unchanged.
 */
static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  bool is_typed, taken = false;
  napi_typedarray_type type;
  size_t count;
  void *pointer;
  size_t element = 0;

  if (!read_args(env, info, 1, argv)) return NULL;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &count, &pointer, NULL, NULL) != napi_ok) {
    throw_type(env, "equisphere_blas: adviseHugePages needs a typed array");
    return NULL;
  }
  if (type == napi_float32_array) element = 4;
  if (type == napi_float64_array) element = 8;
#ifdef MADV_HUGEPAGE
  const uintptr_t huge = (uintptr_t)1 << 21;
  uintptr_t first = ((uintptr_t)pointer + huge - 1) & ~(huge - 1);
  uintptr_t last = ((uintptr_t)pointer + count * element) & ~(huge - 1);
  if (element != 0 && last > first) {
    taken = madvise((void *)first, last - first, MADV_HUGEPAGE) == 0;
  }
#else
  (void)pointer;
  (void)count;
  (void)element;
#endif
  napi_get_boolean(env, taken, &out);
  return out;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t count;

  if (!read_args(env, info, 1, argv) || !read_index(env, argv[0], &count, "threads")) return NULL;
  if (count < 1 || count > MAX_THREADS) {
    throw_range(env, "equisphere_blas: threads must be between 1 and 64");
    return NULL;
  }
  thread_count = (int)count;
  openblas_set_num_threads(thread_count);
  return NULL;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  napi_value out;
  (void)info;
  napi_create_int32(env, thread_count, &out);
  return out;
}

static napi_value config(napi_env env, napi_callback_info info) {
  char text[512];
  napi_value out;
  (void)info;

  snprintf(text, sizeof text, "%s; core %s", openblas_get_config(), openblas_get_corename());
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

static int export_function(napi_env env, napi_value exports, const char *name,
                           napi_callback callback) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports) {
  thread_count = openblas_get_num_threads();
  if (thread_count < 1) thread_count = 1;
  if (thread_count > MAX_THREADS) thread_count = MAX_THREADS;

  if (!export_function(env, exports, "sgemm", sgemm) ||
      !export_function(env, exports, "sgemmStridedBatched", sgemm_strided_batched) ||
      !export_function(env, exports, "sgemmGrouped", sgemm_grouped) ||
      !export_function(env, exports, "patches", patches) ||
      !export_function(env, exports, "harmonicFoldBlocks", fold_blocks) ||
      !export_function(env, exports, "harmonicUnfoldBlocks", unfold_blocks) ||
      !export_function(env, exports, "harmonicGatherPairs", gather_pairs) ||
      !export_function(env, exports, "harmonicSpreadPairs", spread_pairs) ||
      !export_function(env, exports, "harmonicScatterGroups", scatter_groups) ||
      !export_function(env, exports, "harmonicFoldGroups", fold_groups) ||
      !export_function(env, exports, "adviseHugePages", advise_huge_pages) ||
      !export_function(env, exports, "setThreads", set_threads) ||
      !export_function(env, exports, "getThreads", get_threads) ||
      !export_function(env, exports, "config", config)) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(equisphere_blas, init)
