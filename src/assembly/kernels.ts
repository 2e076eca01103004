// WebAssembly SIMD kernels for equisphere (AssemblyScript, compiled by `npm run build:wasm`).
//
// Every export takes plain numbers and byte addresses into the imported shared memory; nothing
// here allocates or keeps state, so several threads can run the same instance code on the same
// memory at once as long as their outputs and work areas do not overlap. Matrices are row-major
// float32 with leading dimensions counted in elements, as in src/engine/kernels/backend.ts.
//
// GEMM follows the layered scheme of Goto and van de Geijn ("Anatomy of high-performance matrix
// multiplication", 2008) and BLIS: C is updated in NC-wide column slabs; for each KC-deep slice
// of the inner dimension a KC x NC block of op(B) is packed into NR-wide micro-panels, then each
// MC x KC block of alpha op(A) into MR-tall micro-panels, and an MR x NR micro-kernel keeps its
// tile of C in registers across the KC loop. Sizes: a packed A block (MC KC floats = 96 KB)
// stays in L2, a B micro-panel (KC NR floats = 8 KB) in L1.

const MR: i32 = 4;
const NR: i32 = 8;
const MC: i32 = 96;
const KC: i32 = 256;
const NC: i32 = 2048;

const PACK_A_BYTES: usize = <usize>(MC * KC) << 2;
const PACK_B_BYTES: usize = <usize>(KC * NC) << 2;
const TILE_BYTES: usize = <usize>(MR * NR) << 2;

/** First byte after the module's own static data; callers place their buffers above it. */
export function heapBase(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}

/** Bytes of scratch that one gemm call needs at `work` (packed A, packed B, an edge tile). */
export function gemmWorkBytes(): usize {
  return PACK_A_BYTES + PACK_B_BYTES + TILE_BYTES;
}

/** C[i, j] *= beta for the m x n block (beta 0 writes zeros, so NaNs in C do not survive). */
function scaleBlock(m: i32, n: i32, beta: f32, c: usize, ldc: i32): void {
  if (beta == 1) return;
  const vbeta = f32x4.splat(beta);
  for (let i = 0; i < m; i++) {
    const row = c + ((<usize>i * <usize>ldc) << 2);
    let j = 0;
    if (beta == 0) {
      for (; j + 4 <= n; j += 4) v128.store(row + (<usize>j << 2), f32x4.splat(0));
      for (; j < n; j++) store<f32>(row + (<usize>j << 2), 0);
    } else {
      for (; j + 4 <= n; j += 4) {
        const at = row + (<usize>j << 2);
        v128.store(at, f32x4.mul(v128.load(at), vbeta));
      }
      for (; j < n; j++) {
        const at = row + (<usize>j << 2);
        store<f32>(at, load<f32>(at) * beta);
      }
    }
  }
}

/**
 * Packs alpha op(A)[i0 .. i0+mc, p0 .. p0+kc] into MR-row micro-panels: panel q holds rows
 * i0 + q MR .. +MR, stored k-major (MR consecutive floats per k); rows past mc are zero.
 */
function packA(transA: bool, a: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32,
  alpha: f32, dst: usize): void {
  const valpha = f32x4.splat(alpha);
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const panel = dst + ((<usize>ir * <usize>kc) << 2);
    if (transA) {
      // op(A)[i, p] = a[p lda + i]: the MR rows of one k are contiguous.
      for (let p = 0; p < kc; p++) {
        const src = a + ((<usize>(p0 + p) * <usize>lda + <usize>(i0 + ir)) << 2);
        const out = panel + (<usize>(p * MR) << 2);
        if (rows == MR) {
          v128.store(out, f32x4.mul(v128.load(src), valpha));
        } else {
          for (let r = 0; r < MR; r++) {
            const v: f32 = r < rows ? load<f32>(src + (<usize>r << 2)) * alpha : 0;
            store<f32>(out + (<usize>r << 2), v);
          }
        }
      }
    } else if (rows == MR) {
      // op(A)[i, p] = a[i lda + p]: four rows, four k at a time, transposed in registers.
      const r0 = a + ((<usize>(i0 + ir) * <usize>lda + <usize>p0) << 2);
      const pitch = <usize>lda << 2;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const at = r0 + (<usize>p << 2);
        const v0 = v128.load(at);
        const v1 = v128.load(at + pitch);
        const v2 = v128.load(at + 2 * pitch);
        const v3 = v128.load(at + 3 * pitch);
        const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5);
        const t1 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
        const t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
        const out = panel + (<usize>(p * MR) << 2);
        v128.store(out, f32x4.mul(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), valpha));
        v128.store(out, f32x4.mul(v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), valpha), 16);
        v128.store(out, f32x4.mul(v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), valpha), 32);
        v128.store(out, f32x4.mul(v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), valpha), 48);
      }
      for (; p < kc; p++) {
        const at = r0 + (<usize>p << 2);
        const out = panel + (<usize>(p * MR) << 2);
        store<f32>(out, load<f32>(at) * alpha);
        store<f32>(out, load<f32>(at + pitch) * alpha, 4);
        store<f32>(out, load<f32>(at + 2 * pitch) * alpha, 8);
        store<f32>(out, load<f32>(at + 3 * pitch) * alpha, 12);
      }
    } else {
      // A partial panel: walk each row contiguously, write with stride MR, zeros below.
      for (let r = 0; r < MR; r++) {
        if (r < rows) {
          const src = a + ((<usize>(i0 + ir + r) * <usize>lda + <usize>p0) << 2);
          for (let p = 0; p < kc; p++) {
            const v = load<f32>(src + (<usize>p << 2)) * alpha;
            store<f32>(panel + (<usize>(p * MR + r) << 2), v);
          }
        } else {
          for (let p = 0; p < kc; p++) store<f32>(panel + (<usize>(p * MR + r) << 2), 0);
        }
      }
    }
  }
}

/**
 * Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column micro-panels: panel q holds columns
 * j0 + q NR .. +NR, stored k-major (NR consecutive floats per k); columns past nc are zero.
 */
function packB(transB: bool, b: usize, ldb: i32, p0: i32, j0: i32, kc: i32, nc: i32,
  dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const panel = dst + ((<usize>jr * <usize>kc) << 2);
    if (!transB) {
      // op(B)[p, j] = b[p ldb + j]: NR contiguous floats per k.
      for (let p = 0; p < kc; p++) {
        const src = b + ((<usize>(p0 + p) * <usize>ldb + <usize>(j0 + jr)) << 2);
        const out = panel + (<usize>(p * NR) << 2);
        if (cols == NR) {
          v128.store(out, v128.load(src));
          v128.store(out, v128.load(src, 16), 16);
        } else {
          for (let j = 0; j < NR; j++) {
            store<f32>(out + (<usize>j << 2), j < cols ? load<f32>(src + (<usize>j << 2)) : 0);
          }
        }
      }
    } else if (cols == NR) {
      // op(B)[p, j] = b[j ldb + p]: two 4 x 4 blocks (columns j..j+3, j+4..j+7) per four k,
      // transposed in registers.
      const pitch = <usize>ldb << 2;
      const c0 = b + ((<usize>(j0 + jr) * <usize>ldb + <usize>p0) << 2);
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const out = panel + (<usize>(p * NR) << 2);
        for (let half = 0; half < 2; half++) {
          const at = c0 + <usize>(4 * half) * pitch + (<usize>p << 2);
          const v0 = v128.load(at);
          const v1 = v128.load(at + pitch);
          const v2 = v128.load(at + 2 * pitch);
          const v3 = v128.load(at + 3 * pitch);
          const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5);
          const t1 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
          const t2 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
          const t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
          const o = out + (<usize>half << 4);
          v128.store(o, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
          v128.store(o, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
          v128.store(o, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
          v128.store(o, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
        }
      }
      for (; p < kc; p++) {
        const out = panel + (<usize>(p * NR) << 2);
        for (let j = 0; j < NR; j++) {
          store<f32>(out + (<usize>j << 2), load<f32>(c0 + <usize>j * pitch + (<usize>p << 2)));
        }
      }
    } else {
      // A partial panel: walk each row of b contiguously, write with stride NR, zeros after.
      for (let j = 0; j < NR; j++) {
        if (j < cols) {
          const src = b + ((<usize>(j0 + jr + j) * <usize>ldb + <usize>p0) << 2);
          for (let p = 0; p < kc; p++) {
            store<f32>(panel + (<usize>(p * NR + j) << 2), load<f32>(src + (<usize>p << 2)));
          }
        } else {
          for (let p = 0; p < kc; p++) store<f32>(panel + (<usize>(p * NR + j) << 2), 0);
        }
      }
    }
  }
}

/**
 * The 4 x 8 micro-kernel: tile += Apanel (4 x kc) Bpanel (kc x 8), with the tile held in eight
 * f32x4 accumulators. `c` is the tile's first element and `ldcBytes` the row pitch; a partial
 * tile (mr < 4 or nr < 8) goes through the scratch `tile` so that C is never written outside it.
 */
function microKernel(kc: i32, pa: usize, pb: usize, c: usize, ldcBytes: usize, mr: i32, nr: i32,
  tile: usize): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);

  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    pa += 16;
    pb += 32;
  }

  if (mr == MR && nr == NR) {
    let row = c;
    v128.store(row, f32x4.add(v128.load(row), c00));
    v128.store(row, f32x4.add(v128.load(row, 16), c01), 16);
    row += ldcBytes;
    v128.store(row, f32x4.add(v128.load(row), c10));
    v128.store(row, f32x4.add(v128.load(row, 16), c11), 16);
    row += ldcBytes;
    v128.store(row, f32x4.add(v128.load(row), c20));
    v128.store(row, f32x4.add(v128.load(row, 16), c21), 16);
    row += ldcBytes;
    v128.store(row, f32x4.add(v128.load(row), c30));
    v128.store(row, f32x4.add(v128.load(row, 16), c31), 16);
    return;
  }

  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  for (let r = 0; r < mr; r++) {
    const row = c + <usize>r * ldcBytes;
    const src = tile + (<usize>(r * NR) << 2);
    if (nr == NR) {
      v128.store(row, f32x4.add(v128.load(row), v128.load(src)));
      v128.store(row, f32x4.add(v128.load(row, 16), v128.load(src, 16)), 16);
      continue;
    }
    for (let j = 0; j < nr; j++) {
      const at = row + (<usize>j << 2);
      store<f32>(at, load<f32>(at) + load<f32>(src + (<usize>j << 2)));
    }
  }
}

/**
 * C = alpha op(A) op(B) + beta C for an m x n block, op(A) m x k, op(B) k x n (row-major, byte
 * addresses a, b, c, leading dimensions in elements). `work` must hold gemmWorkBytes() bytes
 * that no other thread uses at the same time.
 */
export function gemm(transA: i32, transB: i32, m: i32, n: i32, k: i32, alpha: f32,
  a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32, work: usize): void {
  if (m <= 0 || n <= 0) return;
  scaleBlock(m, n, beta, c, ldc);
  if (k <= 0 || alpha == 0) return;

  const packedA = work;
  const packedB = work + PACK_A_BYTES;
  const tile = packedB + PACK_B_BYTES;
  const ldcBytes = <usize>ldc << 2;

  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB(transB != 0, b, ldb, pc, jc, kc, nc, packedB);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA(transA != 0, a, lda, ic, pc, mc, kc, alpha, packedA);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const pb = packedB + ((<usize>jr * <usize>kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const pa = packedA + ((<usize>ir * <usize>kc) << 2);
            const ct = c + <usize>(ic + ir) * ldcBytes + (<usize>(jc + jr) << 2);
            microKernel(kc, pa, pb, ct, ldcBytes, mr, nr, tile);
          }
        }
      }
    }
  }
}

/**
 * `count` products of the same shape: for t < count, gemm on A + t strideA, B + t strideB,
 * C + t strideC (strides in elements).
 */
export function gemmStridedBatched(count: i32, transA: i32, transB: i32, m: i32, n: i32, k: i32,
  alpha: f32, a: usize, lda: i32, strideA: i32, b: usize, ldb: i32, strideB: i32,
  beta: f32, c: usize, ldc: i32, strideC: i32, work: usize): void {
  for (let t = 0; t < count; t++) {
    gemm(transA, transB, m, n, k, alpha,
      a + ((<usize>t * <usize>strideA) << 2), lda,
      b + ((<usize>t * <usize>strideB) << 2), ldb,
      beta, c + ((<usize>t * <usize>strideC) << 2), ldc, work);
  }
}

// ---------------------------------------------------------------------------------------------
// Convolutions by im2col and gemm, one sample at a time, so a thread can take a range of
// samples with only its own columns buffer (see src/engine/ops/im2col.ts for the layout: row
// r = (c kh + i) kw + j, column q = oy outW + ox, value x[c, oy stride + i - padding,
// ox stride + j - padding] or 0 outside the image).

/** First output column ox whose input column ox stride + j - padding is >= 0. */
@inline
function firstInside(j: i32, stride: i32, padding: i32): i32 {
  const a = padding - j;
  return a > 0 ? (a + stride - 1) / stride : 0;
}

/** One past the last output column whose input column is < width, capped at outW. */
@inline
function endInside(j: i32, stride: i32, padding: i32, width: i32, outW: i32): i32 {
  const a = width - 1 + padding - j;
  return a >= 0 ? min(outW, a / stride + 1) : 0;
}

/** Writes the columns matrix [channels kh kw, outH outW] of one image (see above). */
export function im2col(x: usize, channels: i32, height: i32, width: i32, kh: i32, kw: i32,
  stride: i32, padding: i32, outH: i32, outW: i32, cols: usize): void {
  const plane = <usize>(height * width) << 2;
  const rowBytes = <usize>(outH * outW) << 2;
  let row = cols;
  for (let c = 0; c < channels; c++) {
    const channel = x + <usize>c * plane;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++, row += rowBytes) {
        const start = firstInside(j, stride, padding);
        const end = endInside(j, stride, padding, width, outW);
        for (let oy = 0; oy < outH; oy++) {
          const iy = oy * stride + i - padding;
          const dst = row + (<usize>(oy * outW) << 2);
          if (iy < 0 || iy >= height || end <= start) {
            memory.fill(dst, 0, <usize>outW << 2);
            continue;
          }
          if (start > 0) memory.fill(dst, 0, <usize>start << 2);
          if (end < outW) memory.fill(dst + (<usize>end << 2), 0, <usize>(outW - end) << 2);
          // Input address of output column ox: src + 4 ox stride.
          const src = channel + (<usize>(iy * width + j - padding) << 2);
          let ox = start;
          if (stride == 1) {
            for (; ox + 4 <= end; ox += 4) {
              v128.store(dst + (<usize>ox << 2), v128.load(src + (<usize>ox << 2)));
            }
            for (; ox < end; ox++) {
              store<f32>(dst + (<usize>ox << 2), load<f32>(src + (<usize>ox << 2)));
            }
          } else {
            for (; ox < end; ox++) {
              store<f32>(dst + (<usize>ox << 2), load<f32>(src + (<usize>(ox * stride) << 2)));
            }
          }
        }
      }
    }
  }
}

/** Adjoint of im2col: adds each column entry onto the pixel it was read from (into `x`). */
export function col2im(cols: usize, channels: i32, height: i32, width: i32, kh: i32, kw: i32,
  stride: i32, padding: i32, outH: i32, outW: i32, x: usize): void {
  const plane = <usize>(height * width) << 2;
  const rowBytes = <usize>(outH * outW) << 2;
  let row = cols;
  for (let c = 0; c < channels; c++) {
    const channel = x + <usize>c * plane;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++, row += rowBytes) {
        const start = firstInside(j, stride, padding);
        const end = endInside(j, stride, padding, width, outW);
        for (let oy = 0; oy < outH; oy++) {
          const iy = oy * stride + i - padding;
          if (iy < 0 || iy >= height) continue;
          const src = row + (<usize>(oy * outW) << 2);
          const dst = channel + (<usize>(iy * width + j - padding) << 2);
          let ox = start;
          if (stride == 1) {
            for (; ox + 4 <= end; ox += 4) {
              const at = dst + (<usize>ox << 2);
              v128.store(at, f32x4.add(v128.load(at), v128.load(src + (<usize>ox << 2))));
            }
            for (; ox < end; ox++) {
              const at = dst + (<usize>ox << 2);
              store<f32>(at, load<f32>(at) + load<f32>(src + (<usize>ox << 2)));
            }
          } else {
            for (; ox < end; ox++) {
              const at = dst + (<usize>(ox * stride) << 2);
              store<f32>(at, load<f32>(at) + load<f32>(src + (<usize>ox << 2)));
            }
          }
        }
      }
    }
  }
}

/**
 * Convolution of `count` images x [channels, height, width] (consecutive) with weight
 * [outChannels, channels kh kw]: out [outChannels, outH outW] per image, no bias. `cols` holds
 * channels kh kw outH outW floats of scratch.
 */
export function convForward(count: i32, channels: i32, height: i32, width: i32, kh: i32, kw: i32,
  stride: i32, padding: i32, outH: i32, outW: i32, x: usize, w: usize, outChannels: i32,
  out: usize, cols: usize, work: usize): void {
  const rows = channels * kh * kw;
  const positions = outH * outW;
  const xBytes = <usize>(channels * height * width) << 2;
  const outBytes = <usize>(outChannels * positions) << 2;
  for (let t = 0; t < count; t++) {
    im2col(x + <usize>t * xBytes, channels, height, width, kh, kw, stride, padding, outH, outW,
      cols);
    gemm(0, 0, outChannels, positions, rows, 1, w, rows, cols, positions, 0,
      out + <usize>t * outBytes, positions, work);
  }
}

/**
 * Gradients of convForward for `count` images: dw += sum_t dy_t cols_t^T (when dw != 0) and
 * dx_t = col2im(w^T dy_t) (when dx != 0, overwritten).
 */
export function convBackward(count: i32, channels: i32, height: i32, width: i32, kh: i32,
  kw: i32, stride: i32, padding: i32, outH: i32, outW: i32, x: usize, w: usize,
  outChannels: i32, dy: usize, dx: usize, dw: usize, cols: usize, work: usize): void {
  const rows = channels * kh * kw;
  const positions = outH * outW;
  const xBytes = <usize>(channels * height * width) << 2;
  const yBytes = <usize>(outChannels * positions) << 2;
  for (let t = 0; t < count; t++) {
    const dyt = dy + <usize>t * yBytes;
    if (dw != 0) {
      im2col(x + <usize>t * xBytes, channels, height, width, kh, kw, stride, padding, outH, outW,
        cols);
      gemm(0, 1, outChannels, rows, positions, 1, dyt, positions, cols, positions, 1, dw, rows,
        work);
    }
    if (dx != 0) {
      gemm(1, 0, rows, positions, outChannels, 1, w, rows, dyt, positions, 0, cols, positions,
        work);
      const dxt = dx + <usize>t * xBytes;
      memory.fill(dxt, 0, xBytes);
      col2im(cols, channels, height, width, kh, kw, stride, padding, outH, outW, dxt);
    }
  }
}

/**
 * Transposed convolution of `count` images x [inChannels, outH, outW] with weight
 * [inChannels, channels kh kw]: out [channels, height, width] per image = col2im(w^T x_t), no
 * bias. Here (channels, height, width) describe the output image and (outH, outW) the input
 * positions, as in the forward convolution this one is the adjoint of.
 */
export function convTransposeForward(count: i32, channels: i32, height: i32, width: i32, kh: i32,
  kw: i32, stride: i32, padding: i32, outH: i32, outW: i32, x: usize, w: usize, inChannels: i32,
  out: usize, cols: usize, work: usize): void {
  const rows = channels * kh * kw;
  const positions = outH * outW;
  const xBytes = <usize>(inChannels * positions) << 2;
  const outBytes = <usize>(channels * height * width) << 2;
  for (let t = 0; t < count; t++) {
    gemm(1, 0, rows, positions, inChannels, 1, w, rows, x + <usize>t * xBytes, positions, 0,
      cols, positions, work);
    const outt = out + <usize>t * outBytes;
    memory.fill(outt, 0, outBytes);
    col2im(cols, channels, height, width, kh, kw, stride, padding, outH, outW, outt);
  }
}

/**
 * Gradients of convTransposeForward: with cols_t = im2col(dy_t), dx_t = w cols_t (when dx != 0,
 * overwritten) and dw += sum_t x_t cols_t^T (when dw != 0).
 */
export function convTransposeBackward(count: i32, channels: i32, height: i32, width: i32,
  kh: i32, kw: i32, stride: i32, padding: i32, outH: i32, outW: i32, x: usize, w: usize,
  inChannels: i32, dy: usize, dx: usize, dw: usize, cols: usize, work: usize): void {
  const rows = channels * kh * kw;
  const positions = outH * outW;
  const xBytes = <usize>(inChannels * positions) << 2;
  const yBytes = <usize>(channels * height * width) << 2;
  for (let t = 0; t < count; t++) {
    im2col(dy + <usize>t * yBytes, channels, height, width, kh, kw, stride, padding, outH, outW,
      cols);
    const xt = x + <usize>t * xBytes;
    if (dx != 0) {
      gemm(0, 0, inChannels, positions, rows, 1, w, rows, cols, positions, 0,
        dx + <usize>t * xBytes, positions, work);
    }
    if (dw != 0) {
      gemm(0, 1, inChannels, rows, positions, 1, xt, positions, cols, positions, 1, dw, rows, work);
    }
  }
}

/**
 * A tight loop of f32x4 multiply-adds shaped like the gemm micro-kernel (ten accumulators, each
 * acc += u v with the product independent of acc), for estimating the machine's SIMD peak.
 * Counts 80 flops per iteration; the one extra add per iteration that varies u (so the products
 * cannot be hoisted out of the loop) is not counted. Returns a lane sum so the work is live.
 */
export function peakLoop(iterations: i32): f32 {
  const v0 = f32x4.splat(1e-7);
  const v1 = f32x4.splat(-1e-7);
  const du = f32x4.splat(1e-9);
  let u = f32x4.splat(1);
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0);
  let a5 = f32x4.splat(0);
  let a6 = f32x4.splat(0);
  let a7 = f32x4.splat(0);
  let a8 = f32x4.splat(0);
  let a9 = f32x4.splat(0);
  for (let i = 0; i < iterations; i++) {
    a0 = f32x4.add(a0, f32x4.mul(u, v0));
    a1 = f32x4.add(a1, f32x4.mul(u, v1));
    a2 = f32x4.add(a2, f32x4.mul(u, v0));
    a3 = f32x4.add(a3, f32x4.mul(u, v1));
    a4 = f32x4.add(a4, f32x4.mul(u, v0));
    a5 = f32x4.add(a5, f32x4.mul(u, v1));
    a6 = f32x4.add(a6, f32x4.mul(u, v0));
    a7 = f32x4.add(a7, f32x4.mul(u, v1));
    a8 = f32x4.add(a8, f32x4.mul(u, v0));
    a9 = f32x4.add(a9, f32x4.mul(u, v1));
    u = f32x4.add(u, du);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)),
    f32x4.add(f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(a8, a9)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)
    + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

// Max pooling with argmax (ops/pool.ts's maxPool2d) on whole planes. Values are compared as
// order-preserving integer keys: key = ((bits & 0x7fffffff) ^ sign) - sign orders float32 like
// the floats (NaNs above all) and makes -0 and +0 equal, so a strict comparison keeps the first
// maximum and the tie rule (first maximum in row-major window order, -0 ties +0) is the
// TypeScript one exactly.
// Separable: the row pass takes each row's window maxima over the columns (strictly greater
// replaces, so the leftmost wins), the column pass the maxima of those over the window rows (the
// topmost wins); together that is the row-major first maximum of the window.

/** Bytes of scratch one maxPoolPlanes call needs: row keys and row positions. */
export function maxPoolWorkBytes(height: i32, outW: i32): usize {
  return (<usize>height * <usize>outW) << 3;
}

// Every NaN, whatever its sign bit, gets a key above +Infinity's (its sign is ignored), so a NaN
// in a window wins and reaches the loss, as in ops/pool.ts.
@inline
function sortKeys(bits: v128): v128 {
  const magnitude = v128.and(bits, i32x4.splat(0x7fffffff));
  const nan = i32x4.gt_s(magnitude, i32x4.splat(0x7f800000));
  const sign = v128.andnot(i32x4.shr_s(bits, 31), nan);
  return i32x4.sub(v128.xor(magnitude, sign), sign);
}

@inline
function sortKey(bits: i32): i32 {
  const magnitude = bits & 0x7fffffff;
  const nan = (0x7f800000 - magnitude) >> 31;
  const sign = (bits >> 31) & ~nan;
  return (magnitude ^ sign) - sign;
}

/**
 * Max pooling of `count` planes x [count, height, width] with kernel x kernel windows every
 * `stride` pixels: out [count, outH, outW] and argmax (i32, the index into the whole input
 * x of the caller, plane p counted as firstPlane + p). work: maxPoolWorkBytes(height, outW).
 */
export function maxPoolPlanes(count: i32, height: i32, width: i32, kernel: i32, stride: i32,
  outH: i32, outW: i32, x: usize, out: usize, argmax: usize, firstPlane: i32,
  work: usize): void {
  const inPlane = height * width;
  const outPlane = outH * outW;
  const rowKey = work;
  const rowArg = work + ((<usize>height * <usize>outW) << 2);
  const iota = i32x4(0, 1, 2, 3);
  for (let p = 0; p < count; p++) {
    const plane = x + ((<usize>p * <usize>inPlane) << 2);

    // Row pass: rowKey[y, ox] = max over j < kernel of key(x[y, ox stride + j]).
    for (let y = 0; y < height; y++) {
      const line = y * width;
      const dst = <usize>(y * outW) << 2;
      let ox = 0;
      if (stride == 1) {
        for (; ox + 4 <= outW; ox += 4) {
          const start = line + ox;
          let at = plane + (<usize>start << 2);
          let best = sortKeys(v128.load(at));
          let where = i32x4.add(i32x4.splat(start), iota);
          for (let j = 1; j < kernel; j++) {
            at += 4;
            const key = sortKeys(v128.load(at));
            const larger = i32x4.gt_s(key, best);
            best = v128.bitselect(key, best, larger);
            where = v128.bitselect(i32x4.add(i32x4.splat(start + j), iota), where, larger);
          }
          v128.store(rowKey + dst + (<usize>ox << 2), best);
          v128.store(rowArg + dst + (<usize>ox << 2), where);
        }
      }
      for (; ox < outW; ox++) {
        const start = line + ox * stride;
        let best = sortKey(load<i32>(plane + (<usize>start << 2)));
        let where = start;
        for (let j = 1; j < kernel; j++) {
          const key = sortKey(load<i32>(plane + (<usize>(start + j) << 2)));
          const larger = key > best;
          best = select<i32>(key, best, larger);
          where = select<i32>(start + j, where, larger);
        }
        store<i32>(rowKey + dst + (<usize>ox << 2), best);
        store<i32>(rowArg + dst + (<usize>ox << 2), where);
      }
    }

    // Column pass over whole output rows, then the values gathered from the winners.
    const base = (firstPlane + p) * inPlane;
    const vbase = i32x4.splat(base);
    const outAt = out + ((<usize>p * <usize>outPlane) << 2);
    const argAt = argmax + ((<usize>p * <usize>outPlane) << 2);
    for (let oy = 0; oy < outH; oy++) {
      const first = <usize>(oy * stride * outW) << 2;
      const pitch = <usize>outW << 2;
      const o = <usize>(oy * outW) << 2;
      let ox = 0;
      for (; ox + 4 <= outW; ox += 4) {
        let at = first + (<usize>ox << 2);
        let best = v128.load(rowKey + at);
        let where = v128.load(rowArg + at);
        for (let i = 1; i < kernel; i++) {
          at += pitch;
          const key = v128.load(rowKey + at);
          const larger = i32x4.gt_s(key, best);
          best = v128.bitselect(key, best, larger);
          where = v128.bitselect(v128.load(rowArg + at), where, larger);
        }
        const dst = o + (<usize>ox << 2);
        v128.store(argAt + dst, i32x4.add(where, vbase));
        store<f32>(outAt + dst, load<f32>(plane + (<usize>i32x4.extract_lane(where, 0) << 2)));
        store<f32>(outAt + dst, load<f32>(plane + (<usize>i32x4.extract_lane(where, 1) << 2)), 4);
        store<f32>(outAt + dst, load<f32>(plane + (<usize>i32x4.extract_lane(where, 2) << 2)), 8);
        store<f32>(outAt + dst,
          load<f32>(plane + (<usize>i32x4.extract_lane(where, 3) << 2)), 12);
      }
      for (; ox < outW; ox++) {
        let at = first + (<usize>ox << 2);
        let best = load<i32>(rowKey + at);
        let where = load<i32>(rowArg + at);
        for (let i = 1; i < kernel; i++) {
          at += pitch;
          const key = load<i32>(rowKey + at);
          const larger = key > best;
          best = select<i32>(key, best, larger);
          where = select<i32>(load<i32>(rowArg + at), where, larger);
        }
        const dst = o + (<usize>ox << 2);
        store<i32>(argAt + dst, where + base);
        store<f32>(outAt + dst, load<f32>(plane + (<usize>where << 2)));
      }
    }
  }
}

/**
 * Max pooling backward for outputs [o0, o0 + count): gx[argmax[o]] += g[o], with gx the
 * whole input gradient (argmax indexes it) and g, argmax starting at output o0.
 */
export function maxPoolScatter(count: i32, g: usize, argmax: usize, gx: usize): void {
  for (let o = 0; o < count; o++) {
    const at = gx + (<usize>load<i32>(argmax + (<usize>o << 2)) << 2);
    store<f32>(at, load<f32>(at) + load<f32>(g + (<usize>o << 2)));
  }
}

/**
 * y[n, c, :] += bias[c] for `count` images y [count, channels, plane]: the per-channel bias of a
 * convolution, added while its output is still in this memory (saves the caller a pass).
 */
export function addBiasPlanes(count: i32, channels: i32, plane: i32, y: usize,
  bias: usize): void {
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < channels; c++) {
      const b = load<f32>(bias + (<usize>c << 2));
      const vb = f32x4.splat(b);
      const row = y + ((<usize>(n * channels + c) * <usize>plane) << 2);
      let i = 0;
      for (; i + 4 <= plane; i += 4) {
        const at = row + (<usize>i << 2);
        v128.store(at, f32x4.add(v128.load(at), vb));
      }
      for (; i < plane; i++) {
        const at = row + (<usize>i << 2);
        store<f32>(at, load<f32>(at) + b);
      }
    }
  }
}

/**
 * Backward of nearest-neighbour upsampling (ops/pool.ts's upsampleNearest2d) for `count`
 * planes: gx [count, height, width] (overwritten) receives every g [count, outH, outW] value at
 * its source pixel (rows[oy], cols[ox]), rows and cols being i32 tables, rows nondecreasing.
 * Same order of float32 sums as the TypeScript loop, so the results are identical: each run of
 * output rows with one source row is summed first (in `row`, outW floats), then spread over
 * the columns in increasing ox.
 */
export function upsampleNearestBackward(count: i32, height: i32, width: i32, outH: i32,
  outW: i32, rows: usize, cols: usize, g: usize, gx: usize, row: usize): void {
  const inPlane = <usize>(height * width) << 2;
  const outPlane = <usize>(outH * outW) << 2;
  const pitch = <usize>outW << 2;
  for (let p = 0; p < count; p++) {
    const gp = g + <usize>p * outPlane;
    const gxp = gx + <usize>p * inPlane;
    memory.fill(gxp, 0, inPlane);
    let oy = 0;
    while (oy < outH) {
      const sy = load<i32>(rows + (<usize>oy << 2));
      memory.copy(row, gp + <usize>oy * pitch, pitch);
      for (oy++; oy < outH && load<i32>(rows + (<usize>oy << 2)) == sy; oy++) {
        const from = gp + <usize>oy * pitch;
        let ox = 0;
        for (; ox + 4 <= outW; ox += 4) {
          const at = <usize>ox << 2;
          v128.store(row + at, f32x4.add(v128.load(row + at), v128.load(from + at)));
        }
        for (; ox < outW; ox++) {
          const at = <usize>ox << 2;
          store<f32>(row + at, load<f32>(row + at) + load<f32>(from + at));
        }
      }
      const dst = gxp + (<usize>(sy * width) << 2);
      for (let ox = 0; ox < outW; ox++) {
        const at = dst + (<usize>load<i32>(cols + (<usize>ox << 2)) << 2);
        store<f32>(at, load<f32>(at) + load<f32>(row + (<usize>ox << 2)));
      }
    }
  }
}
