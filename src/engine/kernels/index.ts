import type { FloatArray, KernelBackend } from './backend.js';
import { referenceBackend, referenceGemm } from './reference.js';

export type { FloatArray, KernelBackend } from './backend.js';

let active: KernelBackend = referenceBackend;

/** The backend that float32 kernels run on. */
export function activeBackend(): KernelBackend {
  return active;
}

/** Selects the backend for float32 kernels (see backend.ts). */
export function useBackend(backend: KernelBackend): void {
  active = backend;
}

/**
 * C = alpha op(A) op(B) + beta C on any float arrays: Float64Array operands run on the reference
 * loops, Float32Array operands on the active backend (empty sums, k = 0, on the reference loops).
 */
export function gemm<T extends FloatArray>(
  transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: T, aOffset: number, lda: number,
  b: T, bOffset: number, ldb: number,
  beta: number, c: T, cOffset: number, ldc: number,
): void {
  if (m === 0 || n === 0) return;
  // k = 0 (an empty sum, e.g. zero input channels) leaves C = beta C: the reference loops do that
  // in O(m n), and BLAS would reject the zero leading dimensions of the empty operands.
  if (k > 0 && a instanceof Float32Array && b instanceof Float32Array
    && c instanceof Float32Array) {
    active.gemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta,
      c, cOffset, ldc);
  } else {
    referenceGemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta,
      c, cOffset, ldc);
  }
}
