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
#include <node_api.h>
#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
      !export_function(env, exports, "setThreads", set_threads) ||
      !export_function(env, exports, "getThreads", get_threads) ||
      !export_function(env, exports, "config", config)) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(equisphere_blas, init)
