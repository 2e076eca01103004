import { activeBackend, gemm } from '../engine/kernels/index.js';
import type { FloatArray, KernelBackend } from '../engine/kernels/index.js';
import type { HarmonicLoops, NativeBackend } from '../engine/kernels/native.js';
import { clearWorkArrays } from '../engine/work-arrays.js';
import { betaQuadratureWeights, gridBetas } from '../sphere/grid.js';
import { LruCache } from './cache.js';
import { betaTrig, clearSoftWignerTables, recurseWignerPair } from './wigner.js';

/**
 * Per-bandwidth tables of the S2 and SO(3) transforms, in the layouts the transforms multiply
 * with, cached in float64 and float32.
 *
 * Wigner blocks: for the SOFT grid of bandwidth b (2b betas) and each order pair the transform
 * needs, one row-major block [l][j] of d^l_mn(beta_j) for l = l0 .. b-1, l0 = max(|m|, |n|). A
 * transform with output degrees l < L <= b uses the first L - l0 rows of a block (leading
 * dimension 2b, or b for the S2 table). No weights are folded in: quadrature weights q_j and
 * the factors (2l+1) are applied to the data, so one table serves the forward transform, the
 * inverse and both adjoints.
 *
 * - S2 table: n = 0 and m = 0 .. b-1, block of order m at blockStart[m], holding only the first
 *   half of the rings, j < b (leading dimension b, not 2b): the grid is symmetric,
 *   beta_{2b-1-j} = pi - beta_j, and d^l_{m0}(pi - beta) = (-1)^{l+m} d^l_{m0}(beta), so the
 *   transforms pair ring j with ring 2b-1-j (s2-transform.ts) and never read the other half.
 * - SO(3) table: the half plane n >= 0 (which a real signal determines; transforms.md 2.2), pairs
 *   in the order of so3PairPosition, i.e. grouped by l0. The 4 l0 + 1 blocks of group l0 have
 *   the same size (b - l0) 2b and follow each other, starting at groupStart[l0], so one strided
 *   batched product covers a group.
 */
export interface WignerBlocks<T extends FloatArray> {
  bandwidth: number;
  table: T;
  blockStart: Int32Array;
  groupStart: Int32Array;
}

/**
 * Position of the pair (m, n), n >= 0, max(|m|, n) = l0, in the l0-grouped order shared by the
 * SO(3) tables and the transforms' work arrays: group l0 starts at l0 (2 l0 - 1) and holds first
 * (m, l0) for m = -l0..l0, then (-l0, n), (l0, n) for n = 0..l0-1. The positions of all pairs
 * with l0 < L are 0 .. L (2L - 1) - 1, for every L.
 */
export function so3PairPosition(m: number, n: number): number {
  const l0 = Math.max(Math.abs(m), n);
  const base = l0 * (2 * l0 - 1);
  if (n === l0) return base + m + l0;
  return base + 2 * l0 + 1 + 2 * n + (m > 0 ? 1 : 0);
}

/** Number of pairs (m, n), n >= 0, with max(|m|, n) < L: L (2L - 1). */
export function so3PairCount(L: number): number {
  return L * (2 * L - 1);
}

function buildS2Blocks(b: number): WignerBlocks<Float64Array> {
  const count = b;
  const blockStart = new Int32Array(b);
  let size = 0;
  for (let m = 0; m < b; m++) {
    blockStart[m] = size;
    size += (b - m) * count;
  }
  const table = new Float64Array(size);
  const trig = betaTrig(gridBetas(b).subarray(0, b));
  for (let m = 0; m < b; m++) {
    const start = blockStart[m];
    recurseWignerPair(m, 0, b, trig, table, (l) => start + (l - m) * count);
  }
  return { bandwidth: b, table, blockStart, groupStart: blockStart };
}

function buildSo3Blocks(b: number): WignerBlocks<Float64Array> {
  const count = 2 * b;
  const blockStart = new Int32Array(so3PairCount(b));
  const groupStart = new Int32Array(b);
  let size = 0;
  for (let l0 = 0; l0 < b; l0++) {
    groupStart[l0] = size;
    const pairs = 4 * l0 + 1;
    for (let i = 0; i < pairs; i++) blockStart[l0 * (2 * l0 - 1) + i] = size + i * (b - l0) * count;
    size += pairs * (b - l0) * count;
  }
  const table = new Float64Array(size);
  const trig = betaTrig(gridBetas(b));
  for (let n = 0; n < b; n++) {
    for (let m = -(b - 1); m < b; m++) {
      const start = blockStart[so3PairPosition(m, n)];
      const l0 = Math.max(Math.abs(m), n);
      recurseWignerPair(m, n, b, trig, table, (l) => start + (l - l0) * count);
    }
  }
  return { bandwidth: b, table, blockStart, groupStart };
}

const blockCache = new LruCache<WignerBlocks<FloatArray>>(32, 1.5e9);

function toFloat32(blocks: WignerBlocks<Float64Array>): WignerBlocks<Float32Array> {
  return { ...blocks, table: Float32Array.from(blocks.table) };
}

function cachedBlocks<T extends FloatArray>(
  kind: 's2' | 'so3', b: number, like: T,
): WignerBlocks<T> {
  const build = kind === 's2' ? buildS2Blocks : buildSo3Blocks;
  const size = (value: WignerBlocks<FloatArray>): number => value.table.byteLength;
  const key64 = `${kind}:${b}:f64`;
  if (like instanceof Float64Array) {
    return blockCache.get(key64, () => build(b), size) as unknown as WignerBlocks<T>;
  }
  // The float32 table is rounded from a float64 build, which is kept only if it was cached
  // already (float32 training need not hold both).
  return blockCache.get(`${kind}:${b}:f32`, () => {
    const f64 = blockCache.peek(key64) as WignerBlocks<Float64Array> | undefined;
    return toFloat32(f64 ?? build(b));
  }, size) as WignerBlocks<T>;
}

/**
 * The S2 Wigner blocks d^l_{m0}(beta_j), m >= 0, j < b (the half grid), of bandwidth b in the
 * precision of `like`: block m is [l - m][j], rows of b values.
 */
export function s2Blocks<T extends FloatArray>(b: number, like: T): WignerBlocks<T> {
  return cachedBlocks('s2', b, like);
}

/** The SO(3) Wigner blocks d^l_mn(beta_j), n >= 0, of bandwidth b in the precision of `like`. */
export function so3Blocks<T extends FloatArray>(b: number, like: T): WignerBlocks<T> {
  return cachedBlocks('so3', b, like);
}

/**
 * Half-size DFT matrices between the 2b equispaced angles theta_i = pi i / b of the SOFT grid and
 * the frequencies f = 0 .. F-1 (F <= b), for folded samples (see fold.ts), in the precision of
 * `like`:
 *
 * - cosAngleFreq [b+1][F]: cos(f theta_i), i = 0..b;   cosFreqAngle [F][b+1]: its transpose;
 * - sinAngleFreq [b-1][F]: sin(f theta_i), i = 1..b-1; sinFreqAngle [F][b-1]: its transpose.
 */
export interface DftMatrices<T extends FloatArray> {
  cosAngleFreq: T;
  sinAngleFreq: T;
  cosFreqAngle: T;
  sinFreqAngle: T;
}

const dftCache = new LruCache<DftMatrices<FloatArray>>(64, 2.5e8);

/** The cached DFT matrices for 2b angles and F frequencies (see DftMatrices). */
export function dftMatrices<T extends FloatArray>(b: number, F: number, like: T): DftMatrices<T> {
  const precision = like instanceof Float32Array ? 'f32' : 'f64';
  return dftCache.get(`${b}:${F}:${precision}`, () => {
    const make = (n: number): FloatArray => (precision === 'f32' ? new Float32Array(n)
      : new Float64Array(n));
    const cosAngleFreq = make((b + 1) * F);
    const cosFreqAngle = make((b + 1) * F);
    const sinAngleFreq = make(Math.max(0, b - 1) * F);
    const sinFreqAngle = make(Math.max(0, b - 1) * F);
    for (let i = 0; i <= b; i++) {
      for (let f = 0; f < F; f++) {
        // Reduce f i mod 2b first so that the angle, and hence cos and sin, are exact to 1 ulp.
        const angle = (Math.PI * ((f * i) % (2 * b))) / b;
        cosAngleFreq[i * F + f] = Math.cos(angle);
        cosFreqAngle[f * (b + 1) + i] = Math.cos(angle);
        if (i >= 1 && i < b) {
          sinAngleFreq[(i - 1) * F + f] = Math.sin(angle);
          sinFreqAngle[f * (b - 1) + i - 1] = Math.sin(angle);
        }
      }
    }
    return { cosAngleFreq, sinAngleFreq, cosFreqAngle, sinFreqAngle };
  }, (value) => 4 * value.cosAngleFreq.byteLength) as DftMatrices<T>;
}

const weightCache = new LruCache<Float64Array>(16, 1e8);

/**
 * Per-beta-ring quadrature weights of the SOFT grid of bandwidth b (float64, cached):
 * 'so3' gives q_j = w_b(j) / (2 (2b)^2) (normalised Haar measure, transforms.md 1.4),
 * 's2' gives 2b q_j (normalised area measure).
 */
export function ringWeights(kind: 's2' | 'so3', b: number): Float64Array {
  return weightCache.get(`${kind}:${b}`, () => {
    const scale = kind === 'so3' ? 1 / (2 * (2 * b) ** 2) : 1 / (2 * (2 * b) ** 2) * 2 * b;
    return betaQuadratureWeights(b).map((w) => w * scale);
  }, (value) => value.byteLength);
}

let chunkElements = 1 << 23;

/**
 * Signals a transform processes at once: as many as keep the largest work array of one chunk
 * (perSignal values per signal) near 2^23 values (32 MB in float32), at least one.
 */
export function signalsPerChunk(S: number, perSignal: number): number {
  return Math.max(1, Math.min(S, Math.floor(chunkElements / Math.max(1, perSignal))));
}

/** Sets the work-array target of signalsPerChunk (values); returns the previous one. For tests. */
export function setChunkElements(values: number): number {
  const previous = chunkElements;
  chunkElements = values;
  return previous;
}

let nativeLoopsEnabled = true;

/**
 * The C twins of the transforms' regrouping loops (HarmonicLoops of engine/kernels/native.ts)
 * when the active backend is `native` and its addon has them, for float32 operands; otherwise
 * null and the transforms run their TypeScript loops (wasm, reference, float64).
 */
export function nativeLoops(like: FloatArray): HarmonicLoops | null {
  if (!nativeLoopsEnabled || !(like instanceof Float32Array)) return null;
  const backend = activeBackend() as Partial<NativeBackend>;
  return backend.name === 'native' ? backend.harmonic ?? null : null;
}

/**
 * Turns the use of the native loops on or off (on by default); returns the previous setting.
 * For tests that compare the C loops with the TypeScript ones.
 */
export function setNativeLoops(enabled: boolean): boolean {
  const previous = nativeLoopsEnabled;
  nativeLoopsEnabled = enabled;
  return previous;
}

/** A kernel backend that has the optional batched product (wasm and native do). */
type BatchedBackend = KernelBackend & Required<Pick<KernelBackend, 'gemmStridedBatched'>>;

function hasBatched(backend: KernelBackend): backend is BatchedBackend {
  return typeof (backend as Partial<BatchedBackend>).gemmStridedBatched === 'function';
}

/**
 * For t = 0..count-1: C_t = alpha op(A_t) op(B_t) + beta C_t with X_t at xOffset + t strideX, as
 * `gemm`. Float32 operands go to the active backend in one batched call when it has one.
 */
export function batchedGemm<T extends FloatArray>(
  count: number, transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: T, aOffset: number, lda: number, strideA: number,
  b: T, bOffset: number, ldb: number, strideB: number,
  beta: number, c: T, cOffset: number, ldc: number, strideC: number,
): void {
  if (count <= 0 || m === 0 || n === 0) return;
  if (k === 0) {
    for (let t = 0; t < count; t++) zeroRows(c, cOffset + t * strideC, m, n, ldc, beta);
    return;
  }
  const backend = activeBackend();
  if (a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array
    && hasBatched(backend)) {
    backend.gemmStridedBatched(count, transA, transB, m, n, k, alpha, a, aOffset, lda, strideA,
      b, bOffset, ldb, strideB, beta, c, cOffset, ldc, strideC);
    return;
  }
  for (let t = 0; t < count; t++) {
    gemm(transA, transB, m, n, k, alpha, a, aOffset + t * strideA, lda, b, bOffset + t * strideB,
      ldb, beta, c, cOffset + t * strideC, ldc);
  }
}

/** C = alpha A B (m x k times k x n, row-major with leading dimensions), overwriting C. */
export function product<T extends FloatArray>(
  m: number, n: number, k: number, alpha: number, a: T, aOffset: number, lda: number,
  b: T, bOffset: number, ldb: number, c: T, cOffset: number, ldc: number,
): void {
  if (m === 0 || n === 0) return;
  if (k === 0) {
    zeroRows(c, cOffset, m, n, ldc, 0);
    return;
  }
  gemm(false, false, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, 0, c, cOffset, ldc);
}

/** beta C for an empty inner dimension (C = 0 when beta = 0). */
function zeroRows(c: FloatArray, offset: number, m: number, n: number, ldc: number,
  beta: number): void {
  for (let i = 0; i < m; i++) {
    const row = offset + i * ldc;
    if (beta === 0) c.fill(0, row, row + n);
    else for (let j = 0; j < n; j++) c[row + j] *= beta;
  }
}

/**
 * Frees every cached table (Wigner blocks, DFT matrices, weights, softWignerTable) and the work
 * arrays (engine/work-arrays.ts, those of the transforms among them); they are rebuilt on the
 * next use.
 */
export function clearHarmonicCaches(): void {
  blockCache.clear();
  dftCache.clear();
  weightCache.clear();
  clearWorkArrays();
  clearSoftWignerTables();
}
