import { activeBackend, gemm, type KernelBackend } from '../kernels/index.js';
import type { PatchGeometry } from './im2col.js';

/**
 * Optional kernels a backend may offer beyond `gemm` (the wasm backend offers both). The ops
 * use them when the active backend has them and fall back to loops of `gemm` otherwise, so the
 * reference backend stays the oracle.
 */

/**
 * Many same-shaped products in one call (KernelBackend's optional gemmStridedBatched; the wasm
 * backend spreads the batch over its threads).
 */
export interface StridedBatchedBackend extends KernelBackend {
  gemmStridedBatched: NonNullable<KernelBackend['gemmStridedBatched']>;
}

/**
 * Whole-batch convolutions without bias (the ops add it), each image by im2col and gemm inside
 * the backend. Layouts as in ops/conv.ts: x [batch, channels, height, width] with the geometry
 * of ops/im2col.ts; results are overwritten, not accumulated.
 *
 * conv2d: weight [outChannels, channels, kh, kw], out [batch, outChannels, outHeight, outWidth].
 * convTranspose2d: the geometry describes the transposed convolution's *output* image
 * (channels, height, width) and its input positions (outHeight, outWidth); weight
 * [inChannels, channels, kh, kw], x [batch, inChannels, outHeight, outWidth].
 * The forward calls add `bias` (one value per output channel) when it is given and not null:
 * the output is still in the backend's memory then, so the ops need no pass of their own.
 * (Bias gradients stay in ops/conv.ts: summing them in wasm measured no faster.)
 */
export interface ConvolutionBackend extends KernelBackend {
  conv2dForward(geometry: PatchGeometry, batch: number, outChannels: number, x: Float32Array,
    weight: Float32Array, out: Float32Array, bias?: Float32Array | null): void;
  conv2dBackward(geometry: PatchGeometry, batch: number, outChannels: number, x: Float32Array,
    weight: Float32Array, gradOut: Float32Array, gradX: Float32Array | null,
    gradWeight: Float32Array | null): void;
  convTranspose2dForward(geometry: PatchGeometry, batch: number, inChannels: number,
    x: Float32Array, weight: Float32Array, out: Float32Array, bias?: Float32Array | null): void;
  convTranspose2dBackward(geometry: PatchGeometry, batch: number, inChannels: number,
    x: Float32Array, weight: Float32Array, gradOut: Float32Array, gradX: Float32Array | null,
    gradWeight: Float32Array | null): void;
}

/**
 * Patch unfolding in compiled code (the native backend): direction 0 writes the columns of
 * `count` images (image t at imageOffset + t imageStride, its columns at colOffset + t Ho Wo,
 * rows ldc apart) as ops/im2col.ts's im2col does; direction 1 adds columns back onto the
 * images as col2im does. geometry: Int32Array [channels, height, width, kernelHeight,
 * kernelWidth, stride, padding, outHeight, outWidth].
 */
export interface PatchBackend extends KernelBackend {
  patches(direction: 0 | 1, geometry: Int32Array, count: number, image: Float32Array,
    imageOffset: number, imageStride: number, cols: Float32Array, colOffset: number,
    ldc: number): void;
}

/**
 * Max pooling with argmax in compiled code (the wasm backend), with ops/pool.ts's layouts and tie
 * rule (the first maximum of each window in row-major order; -0 and +0 are equal). Forward: x
 * [planes, height, width] with kernel x kernel windows every `stride` pixels, no padding; writes
 * out and argmax (the index of each maximum into x) [planes, outHeight, outWidth]. Backward:
 * gradX (zeroed by the call) [planes, inPlane] receives gradOut[o] at argmax[o].
 */
export interface PoolingBackend extends KernelBackend {
  maxPool2dForward(planes: number, height: number, width: number, kernel: number,
    stride: number, x: Float32Array, out: Float32Array, argmax: Int32Array): void;
  maxPool2dBackward(planes: number, inPlane: number, outPlane: number, gradOut: Float32Array,
    argmax: Int32Array, gradX: Float32Array): void;
}

/**
 * The backward of nearest-neighbour upsampling in compiled code (the wasm backend), as in
 * ops/pool.ts: gradX [planes, height, width] (overwritten) receives each gradOut [planes,
 * outHeight, outWidth] value at its source pixel (rows[oy], cols[ox]); rows nondecreasing.
 */
export interface ResamplingBackend extends KernelBackend {
  upsampleNearest2dBackward(planes: number, height: number, width: number, outHeight: number,
    outWidth: number, rows: Int32Array, cols: Int32Array, gradOut: Float32Array,
    gradX: Float32Array): void;
}

/** The active backend when it implements the resampling kernels, else null. */
export function resamplingBackend(): ResamplingBackend | null {
  const backend = activeBackend() as Partial<ResamplingBackend>;
  return typeof backend.upsampleNearest2dBackward === 'function'
    ? backend as ResamplingBackend : null;
}

/** The active backend when it implements the pooling kernels, else null. */
export function poolingBackend(): PoolingBackend | null {
  const backend = activeBackend() as Partial<PoolingBackend>;
  return typeof backend.maxPool2dForward === 'function' ? backend as PoolingBackend : null;
}

/** The active backend when it unfolds patches itself, else null. */
export function patchBackend(): PatchBackend | null {
  const backend = activeBackend() as Partial<PatchBackend>;
  return typeof backend.patches === 'function' ? backend as PatchBackend : null;
}

function hasBatched(backend: KernelBackend): backend is StridedBatchedBackend {
  return typeof (backend as Partial<StridedBatchedBackend>).gemmStridedBatched === 'function';
}

/** The active backend when it implements the convolution kernels, else null. */
export function convolutionBackend(): ConvolutionBackend | null {
  const backend = activeBackend() as Partial<ConvolutionBackend>;
  return typeof backend.conv2dForward === 'function' ? backend as ConvolutionBackend : null;
}

/**
 * For t = 0..batch-1: C_t = alpha op(A_t) op(B_t) + beta C_t, where X_t starts at
 * xOffset + t strideX. Same conventions as `gemm`; one backend call when the backend supports it.
 */
export function gemmStridedBatched(
  batch: number, transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number,
  a: Float32Array, aOffset: number, lda: number, strideA: number,
  b: Float32Array, bOffset: number, ldb: number, strideB: number,
  beta: number, c: Float32Array, cOffset: number, ldc: number, strideC: number,
): void {
  if (batch <= 0 || m === 0 || n === 0) return;
  const backend = activeBackend();
  if (hasBatched(backend)) {
    backend.gemmStridedBatched(batch, transA, transB, m, n, k, alpha, a, aOffset, lda, strideA,
      b, bOffset, ldb, strideB, beta, c, cOffset, ldc, strideC);
    return;
  }
  for (let t = 0; t < batch; t++) {
    gemm(transA, transB, m, n, k, alpha, a, aOffset + t * strideA, lda,
      b, bOffset + t * strideB, ldb, beta, c, cOffset + t * strideC, ldc);
  }
}
