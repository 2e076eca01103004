/**
 * The kernel interface behind which every heavy loop of the engine sits. A backend works on
 * typed arrays with explicit offsets and leading dimensions (row-major, BLAS-like), so that the
 * same call can run in plain TypeScript, in WebAssembly, or in a native library.
 *
 * Backends: `reference` (plain TypeScript, the oracle in tests), `wasm` (AssemblyScript SIMD,
 * the portable default). Float64Array operands always run on the reference loops: float64 is
 * for exactness checks, not for speed.
 */
export type FloatArray = Float32Array | Float64Array;

export interface KernelBackend {
  readonly name: string;

  /**
   * C = alpha op(A) op(B) + beta C, with op(A) of size m x k and op(B) of size k x n.
   * A is read at a[aOffset + i lda + p] (or a[aOffset + p lda + i] when transA).
   */
  gemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, aOffset: number, lda: number,
    b: Float32Array, bOffset: number, ldb: number,
    beta: number, c: Float32Array, cOffset: number, ldc: number,
  ): void;

  /**
   * Optional: for t = 0..batch-1, C_t = alpha op(A_t) op(B_t) + beta C_t, where operand X_t
   * starts at xOffset + t strideX. Same conventions as `gemm`. Callers fall back to a loop of
   * `gemm` when a backend lacks it (see engine/ops/extensions.ts).
   */
  gemmStridedBatched?(
    batch: number, transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number,
    a: Float32Array, aOffset: number, lda: number, strideA: number,
    b: Float32Array, bOffset: number, ldb: number, strideB: number,
    beta: number, c: Float32Array, cOffset: number, ldc: number, strideC: number,
  ): void;
}
