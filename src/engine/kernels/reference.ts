import type { FloatArray, KernelBackend } from './backend.js';

/**
 * Plain TypeScript kernels: the oracle against which every other backend is tested. Written for
 * clarity first; loops are ordered so the innermost one walks memory contiguously.
 */
export function referenceGemm<T extends FloatArray>(
  transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: T, aOffset: number, lda: number,
  b: T, bOffset: number, ldb: number,
  beta: number, c: T, cOffset: number, ldc: number,
): void {
  for (let i = 0; i < m; i++) {
    const row = cOffset + i * ldc;
    if (beta === 0) c.fill(0, row, row + n);
    else if (beta !== 1) for (let j = 0; j < n; j++) c[row + j] *= beta;
  }
  if (alpha === 0 || k === 0) return;

  for (let i = 0; i < m; i++) {
    const row = cOffset + i * ldc;
    for (let p = 0; p < k; p++) {
      const aip = alpha * (transA ? a[aOffset + p * lda + i] : a[aOffset + i * lda + p]);
      if (aip === 0) continue;
      if (!transB) {
        const bRow = bOffset + p * ldb;
        for (let j = 0; j < n; j++) c[row + j] += aip * b[bRow + j];
      } else {
        for (let j = 0; j < n; j++) c[row + j] += aip * b[bOffset + j * ldb + p];
      }
    }
  }
}

export const referenceBackend: KernelBackend = {
  name: 'reference',
  gemm: referenceGemm,
};
