import { activeBackend } from '../engine/kernels/index.js';
import type { FloatArray } from '../engine/kernels/index.js';
import { groupedGemmTable } from '../engine/kernels/native.js';
import type { GemmProduct, NativeBackend } from '../engine/kernels/native.js';
import { workArrayLike } from '../engine/work-arrays.js';
import { checkBandwidths, checkLength, checkSpectrum } from './checks.js';
import {
  allocateLike, so3CoefficientCount, so3CoefficientIndex,
} from './indexing.js';
import type { Spectrum } from './indexing.js';
import { foldBlocks, unfoldBlocks } from './fold.js';
import type { FoldedBlocks } from './fold.js';
import {
  batchedGemm, dftMatrices, nativeLoops, product as matmul, ringWeights, signalsPerChunk,
  so3Blocks, so3PairCount, so3PairPosition,
} from './tables.js';
import type { WignerBlocks } from './tables.js';

export type { Spectrum } from './indexing.js';

/**
 * Fourier transforms on SO(3) on the SOFT grid (transforms.md 2.2-2.3), batched over S real
 * signals, with their hand-written adjoints (2.7). With D^l_mn = e^{i m alpha} d^l_mn e^{i n gamma}
 * and q_j the Haar quadrature weights (total mass 1):
 *
 *   forward:  F^l_mn = sum_j q_j d^l_mn(beta_j) sum_{k,p} F(alpha_k, beta_j, gamma_p)
 *                      e^{-i m alpha_k} e^{-i n gamma_p}
 *   inverse:  F(alpha, beta, gamma) = Re sum_{l<L} (2l+1) sum_{m,n} F^l_mn
 *                                     D^l_mn(alpha, beta, gamma)
 *
 * Layouts: grids are signal-major [S][2b][2b][2b] = [s][beta_j][alpha_k][gamma_p]; spectra are
 * coefficient-major, re/im[so3CoefficientIndex(l, m, n) S + s]. Float64Array in gives float64
 * tables and loops; Float32Array in gives float32 tables and products on the active backend.
 *
 * Steps of the analysis: the samples are folded in alpha and gamma (x_i +- x_{2b-i}, fold.ts),
 * which halves the DFT products; a real DFT over gamma (orders n >= 0 only: the grid side is
 * real, and F^l_{-m,-n} = (-1)^{m-n} conj(F^l_mn) gives the rest); cos and sin sums over alpha
 * for |m|, combined into +m and -m; then per pair (m, n) one product over beta with the table
 * block d^l_mn(beta_j). The synthesis runs the same steps backwards. Every product goes through
 * `gemm`, so float32 runs on the active kernel backend. On the native backend the regrouping
 * passes between the products (fold, gather, scatter and their transposes) run as C loops
 * (HarmonicLoops of engine/kernels/native.ts) that give the same bits as the loops below.
 */

/**
 * Analysis of S real grids [S][2bIn][2bIn][2bIn] onto degrees l < L (L <= bIn) with the Haar
 * quadrature; F^0_00 is the integral over SO(3) (mass 1). Returns the spectrum [lmn][S]: `out`
 * when given (re and im of L(4L^2-1)/3 S values each, same precision as x; every value is
 * overwritten, so it may be reusable scratch; it must not overlap x), else fresh arrays.
 */
export function so3Forward<T extends FloatArray>(
  x: T, S: number, bIn: number, L: number, out?: Spectrum<T>,
): Spectrum<T> {
  checkBandwidths('so3Forward', S, bIn, L);
  checkLength('so3Forward', 'grid', x, S * (2 * bIn) ** 3);
  return so3Analysis(x, S, bIn, L, ringWeights('so3', bIn), false,
    spectrumOut('so3Forward', x, L, S, out));
}

/**
 * Synthesis of S spectra [lmn][S] (degrees l < L) on the grid of bandwidth bOut >= L: the real
 * part of sum_l (2l+1) sum_mn F^l_mn D^l_mn, as grids [S][2bOut][2bOut][2bOut]. bOut > L is zero
 * padding. The grids go to `out` when given (S (2bOut)^3 values, same precision, every value
 * overwritten; it must not overlap the spectrum), else to a fresh array.
 */
export function so3Inverse<T extends FloatArray>(
  spectrum: Spectrum<T>, S: number, L: number, bOut: number, out?: T,
): T {
  checkBandwidths('so3Inverse', S, bOut, L);
  checkSpectrum('so3Inverse', spectrum, so3CoefficientCount(L) * S);
  return so3Synthesis(spectrum, S, L, bOut, true, null,
    gridOut('so3Inverse', spectrum.re, S * (2 * bOut) ** 3, out));
}

/**
 * Adjoint of so3Forward: Re(A^H g) for a spectrum g [lmn][S] (l < L), as real grids
 * [S][2bIn]^3; the synthesis with the quadrature weights q_j in place of (2l+1). Optional `out`
 * as for so3Inverse.
 */
export function so3ForwardAdjoint<T extends FloatArray>(
  gradSpectrum: Spectrum<T>, S: number, bIn: number, L: number, out?: T,
): T {
  checkBandwidths('so3ForwardAdjoint', S, bIn, L);
  checkSpectrum('so3ForwardAdjoint', gradSpectrum, so3CoefficientCount(L) * S);
  return so3Synthesis(gradSpectrum, S, L, bIn, false, ringWeights('so3', bIn),
    gridOut('so3ForwardAdjoint', gradSpectrum.re, S * (2 * bIn) ** 3, out));
}

/**
 * Adjoint of so3Inverse (real-linear in the complex spectrum): B^H y for real grids y
 * [S][2bOut]^3, a complex spectrum [lmn][S] (l < L); the analysis with (2l+1) in place of q_j.
 * Optional `out` as for so3Forward.
 */
export function so3InverseAdjoint<T extends FloatArray>(
  gradGrid: T, S: number, L: number, bOut: number, out?: Spectrum<T>,
): Spectrum<T> {
  checkBandwidths('so3InverseAdjoint', S, bOut, L);
  checkLength('so3InverseAdjoint', 'grid', gradGrid, S * (2 * bOut) ** 3);
  return so3Analysis(gradGrid, S, bOut, L, null, true,
    spectrumOut('so3InverseAdjoint', gradGrid, L, S, out));
}

/**
 * The output spectrum of an analysis: `out` after checking its lengths and precision (every
 * value is overwritten, so it need not be zero), or a fresh zero spectrum.
 */
function spectrumOut<T extends FloatArray>(
  name: string, like: T, L: number, S: number, out: Spectrum<T> | undefined,
): Spectrum<T> {
  if (out === undefined) {
    const count = so3CoefficientCount(L) * S;
    return { re: freshArray(like, count), im: freshArray(like, count) };
  }
  checkSpectrum(name, out, so3CoefficientCount(L) * S);
  if (out.re.constructor !== like.constructor) {
    throw new RangeError(`${name}: out has a different element type than the input`);
  }
  return out;
}

/** The output grid of a synthesis: `out` after checking it (fully overwritten), or fresh. */
function gridOut<T extends FloatArray>(name: string, like: T, length: number,
  out: T | undefined): T {
  if (out === undefined) return freshArray(like, length);
  checkLength(name, 'out', out, length);
  if (out.constructor !== like.constructor) {
    throw new RangeError(`${name}: out has a different element type than the spectrum`);
  }
  return out;
}

/** Fresh arrays of at least this many values are advised onto huge pages (see freshArray). */
const HUGE_PAGE_VALUES = 1 << 20;

/**
 * A fresh zero array like `like`. On the native backend a large one is first advised onto
 * transparent huge pages: the transform then writes it with a few hundred 2 MB page faults
 * instead of thousands of 4 kB ones (a 55 MB output: ~4 ms instead of ~19 ms).
 */
function freshArray<T extends FloatArray>(like: T, length: number): T {
  const array = allocateLike(like, length);
  if (length >= HUGE_PAGE_VALUES) nativeLoops(array)?.adviseHugePages(array);
  return array;
}

/**
 * The native backend when it runs the float32 products of `like` and has grouped products (one
 * call, one split over threads, for all L (2L - 1) Wigner products: faster than one batch per
 * group l0 at every size measured); null elsewhere (the batches of batchedGemm then).
 */
function groupedBackend(like: FloatArray): NativeBackend | null {
  if (nativeLoops(like) === null) return null;
  const backend = activeBackend() as NativeBackend;
  return typeof backend.gemmGrouped === 'function' ? backend : null;
}

const wignerTables = new Map<string, Int32Array>();

/**
 * The grouped-GEMM table (engine/kernels/native.ts) of every Wigner product of one chunk of sc
 * signals, in pair order: the analysis product[group l0][pair][l - l0][part][s] =
 * sum_j d^l_mn(beta_j) pairs[pair][j][part][s], or the synthesis pairs[pair][j][part][s] =
 * sum_l d^l_mn(beta_j) folded[group l0][pair][l - l0][part][s]. One call for all L (2L - 1)
 * products instead of one batch per group.
 */
function wignerTable(kind: 'analysis' | 'synthesis', b: number, L: number, sc: number,
  start: Int32Array): Int32Array {
  const key = `${kind}:${b}:${L}:${sc}`;
  let table = wignerTables.get(key);
  if (table !== undefined) return table;
  const nb = 2 * b;
  const width = 2 * sc;
  const stride = pairStride(nb, sc);
  const products: GemmProduct[] = [];
  for (let l0 = 0; l0 < L; l0++) {
    const degrees = L - l0;
    const first = l0 * (2 * l0 - 1);
    const base = groupBase(L, l0) * width;
    for (let i = 0; i < 4 * l0 + 1; i++) {
      const block = start[l0] + i * (b - l0) * nb;
      const spread = base + i * degrees * width;
      const pair = (first + i) * stride;
      products.push(kind === 'analysis'
        ? { transA: false, transB: false, m: degrees, n: width, k: nb, aOffset: block, lda: nb,
          bOffset: pair, ldb: width, cOffset: spread, ldc: width }
        : { transA: true, transB: false, m: nb, n: width, k: degrees, aOffset: block, lda: nb,
          bOffset: spread, ldb: width, cOffset: pair, ldc: width });
    }
  }
  table = groupedGemmTable(products);
  if (wignerTables.size >= 64) wignerTables.clear();
  wignerTables.set(key, table);
  return table;
}

/**
 * Values of the products of the groups l0' < l0 (per signal part): sum (4 l0' + 1)(L - l0'),
 * which places group l0 in the arrays that hold every group's product at once.
 */
function groupBase(L: number, l0: number): number {
  let total = 0;
  for (let k = 0; k < l0; k++) total += (4 * k + 1) * (L - k);
  return total;
}

/**
 * The work arrays of one chunk of `chunk` signals of an SO(3) transform at bandwidth b and
 * degrees l < L, the same slots for analysis and synthesis: the grid folded in alpha and gamma
 * (`folded`, 2b rings each); the gamma-even and gamma-odd parts after the products over gamma
 * (`evenRe` ... `oddIm`, L orders); the four [ring][m][n] arrays of the alpha step (`orders`);
 * the values regrouped by (m, n) pairs (`pairs`) and the per-group Wigner products (`groups`).
 */
function so3WorkArrays<T extends FloatArray>(like: T, b: number, L: number, chunk: number) {
  const nb = 2 * b;
  const e = b + 1;
  const o = b - 1;
  const slot = (name: string, length: number): T => workArrayLike(like, `so3-${name}`, length);
  const folded: FoldedBlocks<T> = {
    evenEven: slot('a', chunk * nb * e * e),
    evenOdd: slot('b', chunk * nb * e * o),
    oddEven: slot('c', chunk * nb * o * e),
    oddOdd: slot('d', chunk * nb * o * o),
  };
  return {
    folded,
    evenRe: slot('e', chunk * nb * e * L),
    evenIm: slot('f', chunk * nb * e * L),
    oddRe: slot('g', chunk * nb * o * L),
    oddIm: slot('h', chunk * nb * o * L),
    orders: ['i', 'j', 'k', 'l'].map((name) => slot(name, chunk * nb * L * L)),
    pairs: slot('p', so3PairCount(L) * pairStride(nb, chunk)),
    groups: slot('q', groupBase(L, L) * 2 * chunk),
  };
}

/**
 * Distance between the [j][part][s] blocks of consecutive pairs in the pair work array: 2b 2sc
 * values plus one 64-byte line, so that the blocks do not all start at the same offset modulo
 * 4 kB (which makes the regrouping loops thrash the caches when 2b 2sc is a power of two).
 */
function pairStride(nb: number, sc: number): number {
  return nb * 2 * sc + 16;
}

/** so3PairPosition(m, n) at index (m + L - 1) L + n, for |m| < L and 0 <= n < L. */
function pairPositions(L: number): Int32Array {
  const positions = new Int32Array((2 * L - 1) * L);
  for (let m = -(L - 1); m < L; m++) {
    for (let n = 0; n < L; n++) positions[(m + L - 1) * L + n] = so3PairPosition(m, n);
  }
  return positions;
}

/**
 * c^l_mn = (2l+1 if degreeWeights) sum_j (ring[j] if ring) d^l_mn(beta_j)
 *          sum_{k,p} x(beta_j, alpha_k, gamma_p) e^{-i m alpha_k} e^{-i n gamma_p}
 * for l < L on the grid of bandwidth b.
 */
function so3Analysis<T extends FloatArray>(
  x: T, S: number, b: number, L: number, ring: Float64Array | null, degreeWeights: boolean,
  out: Spectrum<T>,
): Spectrum<T> {
  if (L === 0 || S === 0) return out;
  const nb = 2 * b;
  const blocks = so3Blocks(b, x);
  const dft = dftMatrices(b, L, x);
  const chunk = signalsPerChunk(S, nb * nb * nb);
  const e = b + 1;
  const o = b - 1;
  const work = so3WorkArrays(x, b, L, chunk);
  const { folded, evenRe, evenIm, oddRe, oddIm, pairs, groups: product } = work;
  const [cosRe, cosIm, sinRe, sinIm] = work.orders;
  const positions = pairPositions(L);
  const loops = nativeLoops(x);

  for (let s0 = 0; s0 < S; s0 += chunk) {
    const sc = Math.min(chunk, S - s0);
    const stride = pairStride(nb, sc);
    const rings = sc * nb;

    // Fold alpha and gamma (fold.ts), then the DFT over gamma for n = 0..L-1, Re from the
    // gamma-even and Im from the gamma-odd parts, one product per alpha row k, transposed so
    // that the rings are innermost: evenRe/Im[k][n][t] for the alpha-even rows, oddRe/Im[q][n][t]
    // for the alpha-odd rows, t = s 2b + j the ring.
    if (loops !== null) {
      const f = folded as FoldedBlocks<Float32Array>;
      loops.foldBlocks(x as Float32Array, s0 * nb * nb * nb, rings, b, f.evenEven, f.evenOdd,
        f.oddEven, f.oddOdd);
    } else {
      foldBlocks(x, s0 * nb * nb * nb, rings, b, folded);
    }
    const plane = L * rings;
    batchedGemm(e, true, true, L, rings, e, 1, dft.cosAngleFreq, 0, L, 0,
      folded.evenEven, 0, e, rings * e, 0, evenRe, 0, rings, plane);
    batchedGemm(e, true, true, L, rings, o, -1, dft.sinAngleFreq, 0, L, 0,
      folded.evenOdd, 0, o, rings * o, 0, evenIm, 0, rings, plane);
    batchedGemm(o, true, true, L, rings, e, 1, dft.cosAngleFreq, 0, L, 0,
      folded.oddEven, 0, e, rings * e, 0, oddRe, 0, rings, plane);
    batchedGemm(o, true, true, L, rings, o, -1, dft.sinAngleFreq, 0, L, 0,
      folded.oddOdd, 0, o, rings * o, 0, oddIm, 0, rings, plane);

    // For all rings at once (one product each), cos sums over the alpha-even rows and sin sums
    // over the alpha-odd rows for |m| = 0..L-1:
    // cosRe[|m|][n][t] = sum_k cos(|m| alpha_k) evenRe[k][n][t], and so on.
    matmul(L, plane, e, 1, dft.cosFreqAngle, 0, e, evenRe, 0, plane, cosRe, 0, plane);
    matmul(L, plane, e, 1, dft.cosFreqAngle, 0, e, evenIm, 0, plane, cosIm, 0, plane);
    matmul(L, plane, o, 1, dft.sinFreqAngle, 0, o, oddRe, 0, plane, sinRe, 0, plane);
    matmul(L, plane, o, 1, dft.sinFreqAngle, 0, o, oddIm, 0, plane, sinIm, 0, plane);

    // e^{-i m alpha} = cos(|m| alpha) - i sgn(m) sin(|m| alpha) applied to the complex gamma
    // coefficients, times the ring weights, regrouped by pair: pairs[pair][j][part][s].
    if (loops !== null) {
      loops.gatherPairs(cosRe as Float32Array, cosIm as Float32Array, sinRe as Float32Array,
        sinIm as Float32Array, ring, L, nb, sc, positions, pairs as Float32Array, stride);
    } else {
      gatherPairs(cosRe, cosIm, sinRe, sinIm, ring, L, nb, sc, positions, pairs);
    }

    // The products over beta, one per pair:
    // product[group l0][pair][l - l0][part][s] = sum_j d^l_mn(beta_j) pairs[pair][j][part][s];
    // then the coefficients of every group are written out at once.
    wignerPairProducts('analysis', blocks, b, L, sc, pairs, product);
    if (loops !== null) {
      loops.scatterGroups(product as Float32Array, L, sc, s0, S, degreeWeights,
        out.re as Float32Array, out.im as Float32Array);
    } else {
      scatterGroups(product, L, sc, s0, S, degreeWeights, out);
    }
  }
  return out;
}

/**
 * The products over beta of every pair (m, n), n >= 0, of degrees l < L with the Wigner-d blocks
 * of bandwidth b, for sc signals, between `pairs` (pair at so3PairPosition stride
 * pairStride(2b, sc), [j][part][s]) and `groups` (group l0 at groupBase(L, l0) 2sc,
 * [pair][l - l0][part][s]):
 *   analysis:  groups[l0][pair][l - l0][part][s] = sum_j d^l_mn(beta_j) pairs[pair][j][part][s],
 *   synthesis: pairs[pair][j][part][s] = sum_l d^l_mn(beta_j) groups[l0][pair][l - l0][part][s]
 * (the same blocks, transposed). One grouped call on native, else one batch per group l0 of its
 * 4 l0 + 1 pairs; overwrites the target.
 *
 * Unlike the S2 transforms, these products do not use the reflection beta_{2b-1-j} = pi - beta_j
 * of the grid: d^l_mn(pi - beta) = (-1)^{l+m} d^l_{m,-n}(beta) maps the pair (m, n) to (m, -n),
 * which the half plane n >= 0 holds only as (-m, n) (d^l_{m,-n} = (-1)^{m+n} d^l_{-m,n}), so the
 * pair's sum over 2b rings becomes two sums over b rings against two different table rows: it
 * would halve the table, not the multiply-adds.
 */
function wignerPairProducts<T extends FloatArray>(
  direction: 'analysis' | 'synthesis', blocks: WignerBlocks<T>, b: number, L: number, sc: number,
  pairs: T, groups: T,
): void {
  const analysis = direction === 'analysis';
  const grouped = groupedBackend(pairs);
  if (grouped !== null) {
    const table = wignerTable(direction, b, L, sc, blocks.groupStart);
    const [from, to] = analysis ? [pairs, groups] : [groups, pairs];
    grouped.gemmGrouped(table, so3PairCount(L), 1, blocks.table as Float32Array,
      from as Float32Array, 0, to as Float32Array);
    return;
  }

  const nb = 2 * b;
  const width = 2 * sc;
  const stride = pairStride(nb, sc);
  for (let l0 = 0; l0 < L; l0++) {
    const degrees = L - l0;
    const pairsAt = l0 * (2 * l0 - 1) * stride;
    const groupAt = groupBase(L, l0) * width;
    if (analysis) {
      batchedGemm(4 * l0 + 1, false, false, degrees, width, nb, 1,
        blocks.table, blocks.groupStart[l0], nb, (b - l0) * nb,
        pairs, pairsAt, width, stride,
        0, groups, groupAt, width, degrees * width);
    } else {
      batchedGemm(4 * l0 + 1, true, false, nb, width, degrees, 1,
        blocks.table, blocks.groupStart[l0], nb, (b - l0) * nb,
        groups, groupAt, width, degrees * width,
        0, pairs, pairsAt, width, stride);
    }
  }
}

/**
 * Writes the coefficients of the pairs (n >= 0) of every group l0 < L from
 * product[group l0][pair][l - l0][part][s] (group l0 at groupBase(L, l0) 2sc), and for n > 0
 * those of (-m, -n) by the real-signal symmetry.
 */
function scatterGroups<T extends FloatArray>(
  product: T, L: number, sc: number, s0: number, S: number, degreeWeights: boolean,
  out: Spectrum<T>,
): void {
  for (let l0 = 0; l0 < L; l0++) {
    scatterGroup(product, groupBase(L, l0) * 2 * sc, l0, L, sc, s0, S, degreeWeights, out);
  }
}

/** scatterGroups for group l0, whose products start at product[base]. */
function scatterGroup<T extends FloatArray>(
  product: T, base: number, l0: number, L: number, sc: number, s0: number, S: number,
  degreeWeights: boolean, out: Spectrum<T>,
): void {
  const degrees = L - l0;
  const width = 2 * sc;
  const { re, im } = out;
  for (let index = 0; index < 4 * l0 + 1; index++) {
    const [m, n] = pairOfGroup(l0, index);
    const sign = (m - n) % 2 === 0 ? 1 : -1;
    for (let r = 0; r < degrees; r++) {
      const l = l0 + r;
      const scale = degreeWeights ? 2 * l + 1 : 1;
      const target = so3CoefficientIndex(l, m, n) * S + s0;
      const mirror = so3CoefficientIndex(l, -m, -n) * S + s0;
      const from = base + (index * degrees + r) * width;
      for (let s = 0; s < sc; s++) {
        const valueRe = scale * product[from + s];
        const valueIm = scale * product[from + sc + s];
        re[target + s] = valueRe;
        im[target + s] = valueIm;
        if (n > 0) {
          re[mirror + s] = sign * valueRe;
          im[mirror + s] = -sign * valueIm;
        }
      }
    }
  }
}

/** The pair (m, n) at `index` within group l0, in so3PairPosition order. */
function pairOfGroup(l0: number, index: number): [number, number] {
  if (index <= 2 * l0) return [index - l0, l0];
  const rest = index - 2 * l0 - 1;
  return [rest % 2 === 0 ? -l0 : l0, rest >> 1];
}

/**
 * y(alpha_k, beta_j, gamma_p) = (ring[j] if ring) Re sum_{l<L} (2l+1 if degreeWeights)
 *                               sum_mn c^l_mn D^l_mn(alpha_k, beta_j, gamma_p)
 * on the grid of bandwidth b >= L.
 */
function so3Synthesis<T extends FloatArray>(
  spectrum: Spectrum<T>, S: number, L: number, b: number, degreeWeights: boolean,
  ring: Float64Array | null, out: T,
): T {
  const like = spectrum.re;
  const nb = 2 * b;
  if (L === 0 || S === 0) {
    out.fill(0);
    return out;
  }
  const blocks = so3Blocks(b, like);
  const dft = dftMatrices(b, L, like);
  const chunk = signalsPerChunk(S, nb * nb * nb);
  const e = b + 1;
  const o = b - 1;
  const work = so3WorkArrays(like, b, L, chunk);
  const { evenRe, evenIm, oddRe, oddIm, pairs, groups: folded } = work;
  const even = { cos: work.folded.evenEven, sin: work.folded.evenOdd };
  const odd = { cos: work.folded.oddEven, sin: work.folded.oddOdd };
  const [sumRe, sumIm, diffIm, diffRe] = work.orders;
  const positions = pairPositions(L);
  const loops = nativeLoops(like);

  for (let s0 = 0; s0 < S; s0 += chunk) {
    const sc = Math.min(chunk, S - s0);
    const stride = pairStride(nb, sc);
    const rings = sc * nb;

    // For every group l0, fold in (-m, -n) for each pair (m, n), n >= 0, since
    // Re(c_{-m,-n} D_{-m,-n}) = Re((-1)^{m-n} conj(c_{-m,-n}) D_mn); then the products per pair:
    // pairs[pair][j][part][s] = sum_l d^l_mn c'^l_mn.
    if (loops !== null) {
      loops.foldGroups(folded as Float32Array, L, sc, s0, S, degreeWeights,
        spectrum.re as Float32Array, spectrum.im as Float32Array);
    } else {
      foldGroups(spectrum, L, sc, s0, S, degreeWeights, folded);
    }
    wignerPairProducts('synthesis', blocks, b, L, sc, pairs, folded);

    // sum_m h_m e^{i m alpha} = sum_{m>=0} (A_m cos(m alpha) + i B_m sin(m alpha)) with
    // A_m = h_m + h_{-m}, B_m = h_m - h_{-m} (A_0 = h_0, B_0 = 0), i.e. cos sums of
    // (A_re, A_im) minus sin sums of (B_im, -B_re), the convention of fold.ts. Operands
    // [m][t][n], t = s 2b + j: sumRe = A_re, sumIm = A_im, diffIm = B_im, diffRe = -B_re.
    if (loops !== null) {
      loops.spreadPairs(pairs as Float32Array, stride, L, nb, sc, positions,
        sumRe as Float32Array, sumIm as Float32Array, diffIm as Float32Array,
        diffRe as Float32Array);
    } else {
      spreadPairs(pairs, L, nb, sc, positions, sumRe, sumIm, diffIm, diffRe);
    }

    // For all rings at once, cos sums into the alpha-even rows and sin sums into the alpha-odd
    // rows: evenRe/Im[k][t][n], oddRe/Im[q][t][n].
    const plane = L * rings;
    matmul(e, plane, L, 1, dft.cosAngleFreq, 0, L, sumRe, 0, plane, evenRe, 0, plane);
    matmul(e, plane, L, 1, dft.cosAngleFreq, 0, L, sumIm, 0, plane, evenIm, 0, plane);
    matmul(o, plane, L, 1, dft.sinAngleFreq, 0, L, diffIm, 0, plane, oddRe, 0, plane);
    matmul(o, plane, L, 1, dft.sinAngleFreq, 0, L, diffRe, 0, plane, oddIm, 0, plane);

    // Real part of the inverse DFT over gamma (cos sums of Re, sin sums of Im), one product for
    // all rows (k, t) at once (one tall product runs faster than a batch of one per alpha row),
    // to rows [k][t][p] (fold.ts); then unfold both angles and apply the ring weights.
    matmul(e * rings, e, L, 1, evenRe, 0, L, dft.cosFreqAngle, 0, e, even.cos, 0, e);
    matmul(e * rings, o, L, 1, evenIm, 0, L, dft.sinFreqAngle, 0, o, even.sin, 0, o);
    matmul(o * rings, e, L, 1, oddRe, 0, L, dft.cosFreqAngle, 0, e, odd.cos, 0, e);
    matmul(o * rings, o, L, 1, oddIm, 0, L, dft.sinFreqAngle, 0, o, odd.sin, 0, o);
    if (loops !== null) {
      loops.unfoldBlocks(even.cos as Float32Array, even.sin as Float32Array,
        odd.cos as Float32Array, odd.sin as Float32Array, rings, b, out as Float32Array,
        s0 * nb * nb * nb, ring);
    } else {
      unfoldBlocks(even, odd, rings, b, out, s0 * nb * nb * nb,
        ring === null ? () => 1 : (t) => ring[t % nb]);
    }
  }
  return out;
}

/**
 * folded[group l0][pair][l - l0][part][s] = w_l (c^l_mn + [n > 0] (-1)^{m-n} conj(c^l_{-m,-n}))
 * for the pairs of every group l0 < L (group l0 at groupBase(L, l0) 2sc), w_l = 2l+1 or 1.
 */
function foldGroups<T extends FloatArray>(
  spectrum: Spectrum<T>, L: number, sc: number, s0: number, S: number, degreeWeights: boolean,
  folded: T,
): void {
  for (let l0 = 0; l0 < L; l0++) {
    foldGroup(spectrum, groupBase(L, l0) * 2 * sc, l0, L, sc, s0, S, degreeWeights, folded);
  }
}

/** foldGroups for group l0, whose products start at folded[base]. */
function foldGroup<T extends FloatArray>(
  spectrum: Spectrum<T>, base: number, l0: number, L: number, sc: number, s0: number,
  S: number, degreeWeights: boolean, folded: T,
): void {
  const degrees = L - l0;
  const width = 2 * sc;
  const { re, im } = spectrum;
  for (let index = 0; index < 4 * l0 + 1; index++) {
    const [m, n] = pairOfGroup(l0, index);
    const sign = (m - n) % 2 === 0 ? 1 : -1;
    for (let r = 0; r < degrees; r++) {
      const l = l0 + r;
      const scale = degreeWeights ? 2 * l + 1 : 1;
      const source = so3CoefficientIndex(l, m, n) * S + s0;
      const mirror = so3CoefficientIndex(l, -m, -n) * S + s0;
      const to = base + (index * degrees + r) * width;
      for (let s = 0; s < sc; s++) {
        let valueRe = re[source + s];
        let valueIm = im[source + s];
        if (n > 0) {
          valueRe += sign * re[mirror + s];
          valueIm -= sign * im[mirror + s];
        }
        folded[to + s] = scale * valueRe;
        folded[to + sc + s] = scale * valueIm;
      }
    }
  }
}

/**
 * pairs[(m, n)][j][part][s] = ring[j] (cosRe + sgn(m) sinIm, cosIm - sgn(m) sinRe)[|m|][n][t]
 * for t = s 2b + j, |m| < L, 0 <= n < L (the alpha DFT of the complex gamma coefficients).
 */
function gatherPairs<T extends FloatArray>(
  cosRe: T, cosIm: T, sinRe: T, sinIm: T, ring: Float64Array | null, L: number, nb: number,
  sc: number, positions: Int32Array, pairs: T,
): void {
  const width = 2 * sc;
  const stride = pairStride(nb, sc);
  const rings = sc * nb;
  // Per pair, the source is one contiguous block [t] of each array (t = s 2b + j), and the
  // target one contiguous block [j][part][s]: both stay in the first-level cache.
  for (let mAbs = 0; mAbs < L; mAbs++) {
    const plusRow = (L - 1 + mAbs) * L;
    const minusRow = (L - 1 - mAbs) * L;
    for (let n = 0; n < L; n++) {
      const from = (mAbs * L + n) * rings;
      const plus = positions[plusRow + n] * stride;
      const minus = mAbs > 0 ? positions[minusRow + n] * stride : -1;
      for (let j = 0; j < nb; j++) {
        const w = ring === null ? 1 : ring[j];
        const to = j * width;
        let at = from + j;
        for (let s = 0; s < sc; s++, at += nb) {
          const cr = w * cosRe[at];
          const ci = w * cosIm[at];
          const sr = w * sinRe[at];
          const si = w * sinIm[at];
          pairs[plus + to + s] = cr + si;
          pairs[plus + to + sc + s] = ci - sr;
          if (minus >= 0) {
            pairs[minus + to + s] = cr - si;
            pairs[minus + to + sc + s] = ci + sr;
          }
        }
      }
    }
  }
}

/**
 * The transpose of gatherPairs for synthesis, from pairs h[(m, n)][j][part][s] (n >= 0):
 * sumRe/sumIm = (h_m + h_{-m}) and diffIm = Im(h_m - h_{-m}), diffRe = -Re(h_m - h_{-m}), laid
 * out [m][t][n] for m = 0..L-1, t = s 2b + j (the m = 0 differences are zero): the orders n
 * innermost, so that the inverse DFT over gamma is one product over all rows.
 */
function spreadPairs<T extends FloatArray>(
  pairs: T, L: number, nb: number, sc: number, positions: Int32Array,
  sumRe: T, sumIm: T, diffIm: T, diffRe: T,
): void {
  const width = 2 * sc;
  const stride = pairStride(nb, sc);
  const rings = sc * nb;
  const plus = new Int32Array(L);
  const minus = new Int32Array(L);
  // Orders n innermost, so that the writes are contiguous (a stride of 2b L values would alias
  // in the caches for L = 32); the reads come from L pair blocks padded apart (pairStride).
  for (let m = 0; m < L; m++) {
    for (let n = 0; n < L; n++) {
      plus[n] = positions[(L - 1 + m) * L + n] * stride;
      minus[n] = m > 0 ? positions[(L - 1 - m) * L + n] * stride : 0;
    }
    for (let j = 0; j < nb; j++) {
      for (let s = 0; s < sc; s++) {
        const at = m * L * rings + (s * nb + j) * L;
        const from = j * width + s;
        for (let n = 0; n < L; n++) {
          const hr = pairs[plus[n] + from];
          const hi = pairs[plus[n] + from + sc];
          if (m === 0) {
            sumRe[at + n] = hr;
            sumIm[at + n] = hi;
            diffIm[at + n] = 0;
            diffRe[at + n] = 0;
            continue;
          }
          const gr = pairs[minus[n] + from];
          const gi = pairs[minus[n] + from + sc];
          sumRe[at + n] = hr + gr;
          sumIm[at + n] = hi + gi;
          diffIm[at + n] = hi - gi;
          diffRe[at + n] = gr - hr;
        }
      }
    }
  }
}
