import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import type { KernelBackend } from './backend.js';

/**
 * The optional `native` backend: single-precision GEMM from OpenBLAS through a small N-API addon
 * (native/equisphere_blas.c, built by scripts/build-native.mjs into
 * dist/native/equisphere_blas.node). Operands are Float32Array views passed without copying;
 * the addon checks every offset and leading dimension against the array length and throws a
 * RangeError when a matrix would reach outside its array.
 */

type StridedBatchedGemm = NonNullable<KernelBackend['gemmStridedBatched']>;

/** The functions the addon exports (see native/equisphere_blas.c). */
interface NativeAddon {
  /** Same arguments as KernelBackend.gemm. */
  sgemm: KernelBackend['gemm'];
  /** Same arguments as KernelBackend.gemmStridedBatched. */
  sgemmStridedBatched: StridedBatchedGemm;
  sgemmGrouped(
    table: Int32Array, count: number, alpha: number, a: Float32Array, b: Float32Array,
    beta: number, c: Float32Array,
  ): void;
  patches?(direction: number, geometry: Int32Array, count: number, image: Float32Array,
    imageOffset: number, imageStride: number, cols: Float32Array, colOffset: number,
    ldc: number): void;
  setThreads(count: number): void;
  getThreads(): number;
  config(): string;
  harmonicFoldBlocks?: HarmonicLoops['foldBlocks'];
  harmonicUnfoldBlocks?: HarmonicLoops['unfoldBlocks'];
  harmonicGatherPairs?: HarmonicLoops['gatherPairs'];
  harmonicSpreadPairs?: HarmonicLoops['spreadPairs'];
  harmonicScatterGroups?: HarmonicLoops['scatterGroups'];
  harmonicFoldGroups?: HarmonicLoops['foldGroups'];
  adviseHugePages?: HarmonicLoops['adviseHugePages'];
}

/**
 * The regrouping passes of the SO(3) transforms in C (native/equisphere_blas.c), float32 only,
 * each the twin of a TypeScript function of src/harmonic that it matches bit for bit; the
 * transforms use them on the native backend. Arrays are read and written in place; every extent
 * is checked (RangeError). `ring` is a Float64Array of 2b ring weights or null (weights 1).
 */
export interface HarmonicLoops {
  /** foldBlocks of src/harmonic/fold.ts. */
  foldBlocks(src: Float32Array, srcOffset: number, rings: number, b: number,
    evenEven: Float32Array, evenOdd: Float32Array, oddEven: Float32Array,
    oddOdd: Float32Array): void;
  /** unfoldBlocks of fold.ts, block t scaled by ring[t mod 2b]. */
  unfoldBlocks(cosEven: Float32Array, sinEven: Float32Array, cosOdd: Float32Array,
    sinOdd: Float32Array, rings: number, b: number, dst: Float32Array, dstOffset: number,
    ring: Float64Array | null): void;
  /** gatherPairs of so3-transform.ts; pair blocks `stride` apart. */
  gatherPairs(cosRe: Float32Array, cosIm: Float32Array, sinRe: Float32Array,
    sinIm: Float32Array, ring: Float64Array | null, L: number, nb: number, sc: number,
    positions: Int32Array, pairs: Float32Array, stride: number): void;
  /** spreadPairs of so3-transform.ts. */
  spreadPairs(pairs: Float32Array, stride: number, L: number, nb: number, sc: number,
    positions: Int32Array, sumRe: Float32Array, sumIm: Float32Array, diffIm: Float32Array,
    diffRe: Float32Array): void;
  /** scatterGroups of so3-transform.ts (every group l0 < L). */
  scatterGroups(product: Float32Array, L: number, sc: number, s0: number, S: number,
    degreeWeights: boolean, re: Float32Array, im: Float32Array): void;
  /** foldGroups of so3-transform.ts (every group l0 < L). */
  foldGroups(product: Float32Array, L: number, sc: number, s0: number, S: number,
    degreeWeights: boolean, re: Float32Array, im: Float32Array): void;
  /**
   * madvise(MADV_HUGEPAGE) on the 2 MB-aligned interior of a fresh, untouched array, so that its
   * first touch faults in 2 MB pages rather than 4 kB ones (Linux transparent huge pages in
   * `madvise` mode); contents are unchanged. Returns whether the kernel took the advice.
   */
  adviseHugePages(array: Float32Array | Float64Array): boolean;
}

/** Number of int32 fields per product in a grouped-GEMM table (see `gemmGrouped`). */
export const GROUPED_GEMM_FIELDS = 11;

/** One product of a grouped GEMM: C_i = alpha op(A_i) op(B_i) + beta C_i (see `gemmGrouped`). */
export interface GemmProduct {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  aOffset: number;
  lda: number;
  bOffset: number;
  ldb: number;
  cOffset: number;
  ldc: number;
}

/** The native backend: `gemm` plus batched products and a thread setting. */
export interface NativeBackend extends KernelBackend {
  readonly name: 'native';

  /** OpenBLAS's build configuration and the CPU core it selected, e.g. 'OpenBLAS 0.3.21 ...'. */
  readonly library: string;

  /**
   * `batch` products C_t = alpha op(A_t) op(B_t) + beta C_t where block t of each operand starts
   * `t * stride` elements after its offset (a stride of 0 reuses one matrix), as declared by
   * KernelBackend. Small products are spread over the backend's threads when the blocks of C do
   * not overlap; otherwise the products run in order, so overlapping C blocks accumulate.
   */
  gemmStridedBatched: StridedBatchedGemm;

  /**
   * Products of different shapes over the same three arrays, in one call. `table` holds
   * GROUPED_GEMM_FIELDS int32 per product: [flags (1 = transA, 2 = transB), m, n, k, aOffset,
   * lda, bOffset, ldb, cOffset, ldc, 0] (see `groupedGemmTable`). Products run in parallel when
   * their C ranges come in increasing order without overlapping; otherwise in table order.
   */
  gemmGrouped(
    table: Int32Array, count: number, alpha: number, a: Float32Array, b: Float32Array,
    beta: number, c: Float32Array,
  ): void;

  /**
   * im2col (direction 0) or col2im (direction 1, accumulating) of `count` images in C, as
   * PatchBackend of ops/extensions.ts declares; absent from addons built before it existed.
   */
  patches?(direction: 0 | 1, geometry: Int32Array, count: number, image: Float32Array,
    imageOffset: number, imageStride: number, cols: Float32Array, colOffset: number,
    ldc: number): void;

  /**
   * The SO(3) transforms' regrouping passes in C (see HarmonicLoops); absent from addons built
   * before they existed, and then the transforms run their TypeScript loops.
   */
  harmonic?: HarmonicLoops;

  /** Threads used by OpenBLAS and by the batched products. */
  threads(): number;

  /** Sets the thread count (1..64) for OpenBLAS (openblas_set_num_threads) and the batches. */
  setThreads(count: number): void;
}

/** Options of `loadNativeBackend`. */
export interface NativeLoadOptions {
  /** Path of the .node file; default dist/native/equisphere_blas.node of this package. */
  addonPath?: string;
  /** Thread count to set once loaded; default OpenBLAS's own (the number of cores). */
  threads?: number;
  /** Called with one line saying why, when the backend is unavailable. */
  onUnavailable?: (reason: string) => void;
}

/** Default location of the built addon: <package>/dist/native/equisphere_blas.node. */
export function defaultAddonPath(): string {
  // This file runs as dist/src/engine/kernels/native.js.
  return fileURLToPath(new URL('../../../native/equisphere_blas.node', import.meta.url));
}

let unavailableReason: string | null = null;

/** Why the last `loadNativeBackend` call returned null, or null if it did not. */
export function nativeUnavailableReason(): string | null {
  return unavailableReason;
}

/**
 * Loads the native addon and wraps it as a KernelBackend. Returns null, and reports one line
 * through `onUnavailable` (also kept for `nativeUnavailableReason`), when the addon was not
 * built (no libopenblas at install time) or fails to load; the caller then stays on wasm.
 * Loading twice returns backends over the same addon (Node caches native modules), so the
 * thread setting is shared.
 */
export function loadNativeBackend(options: NativeLoadOptions = {}): NativeBackend | null {
  const path = options.addonPath ?? defaultAddonPath();
  const fail = (reason: string): null => {
    unavailableReason = reason;
    options.onUnavailable?.(reason);
    return null;
  };

  if (!existsSync(path)) {
    return fail(`native backend unavailable: ${path} not built (needs libopenblas-dev, then `
      + '`node scripts/build-native.mjs`)');
  }
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return fail(`native backend unavailable: ${path} failed to load (${message})`);
  }
  if (typeof addon.sgemm !== 'function' || typeof addon.sgemmStridedBatched !== 'function') {
    return fail(`native backend unavailable: ${path} is not the equisphere_blas addon`);
  }

  unavailableReason = null;
  if (options.threads !== undefined) addon.setThreads(options.threads);
  return wrap(addon);
}

/** The addon's harmonic loops, when it has all of them. */
function harmonicLoops(addon: NativeAddon): HarmonicLoops | null {
  const {
    harmonicFoldBlocks: foldBlocks, harmonicUnfoldBlocks: unfoldBlocks,
    harmonicGatherPairs: gatherPairs, harmonicSpreadPairs: spreadPairs,
    harmonicScatterGroups: scatterGroups, harmonicFoldGroups: foldGroups, adviseHugePages,
  } = addon;
  if (foldBlocks === undefined || unfoldBlocks === undefined || gatherPairs === undefined
    || spreadPairs === undefined || scatterGroups === undefined || foldGroups === undefined
    || adviseHugePages === undefined) {
    return null;
  }
  return {
    foldBlocks, unfoldBlocks, gatherPairs, spreadPairs, scatterGroups, foldGroups,
    adviseHugePages,
  };
}

function wrap(addon: NativeAddon): NativeBackend {
  const patches = addon.patches;
  const harmonic = harmonicLoops(addon);
  return {
    ...(typeof patches === 'function' ? { patches } : {}),
    ...(harmonic !== null ? { harmonic } : {}),
    name: 'native',
    library: addon.config(),
    gemm: addon.sgemm,
    gemmStridedBatched: addon.sgemmStridedBatched,
    gemmGrouped: addon.sgemmGrouped,
    threads: () => addon.getThreads(),
    setThreads: (count: number) => addon.setThreads(count),
  };
}

/** Packs products into the Int32Array table that `gemmGrouped` reads. */
export function groupedGemmTable(products: readonly GemmProduct[]): Int32Array {
  const table = new Int32Array(products.length * GROUPED_GEMM_FIELDS);

  products.forEach((p, i) => {
    const flags = (p.transA ? 1 : 0) | (p.transB ? 2 : 0);
    const row = [flags, p.m, p.n, p.k, p.aOffset, p.lda, p.bOffset, p.ldb, p.cOffset, p.ldc, 0];
    for (const value of row) {
      if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
        throw new RangeError(`groupedGemmTable: product ${i} has ${value}, expected an integer `
          + 'in [0, 2^31)');
      }
    }
    table.set(row, i * GROUPED_GEMM_FIELDS);
  });
  return table;
}
