import { gemm } from '../engine/kernels/index.js';
import type { FloatArray } from '../engine/kernels/index.js';
import { workArrayLike } from '../engine/work-arrays.js';
import { checkBandwidths, checkLength, checkSpectrum } from './checks.js';
import { allocateLike, s2CoefficientCount, s2CoefficientIndex, zeroSpectrum } from './indexing.js';
import type { Spectrum } from './indexing.js';
import { foldRows, unfoldRows } from './fold.js';
import { dftMatrices, product, ringWeights, s2Blocks, signalsPerChunk } from './tables.js';

export type { Spectrum } from './indexing.js';

/**
 * Spherical-harmonic transforms on the SOFT grid (transforms.md 2.4), batched over S real signals,
 * with their hand-written adjoints (2.7).
 *
 *   forward:  f^l_m = sum_j (2b q_j) d^l_{m0}(beta_j) sum_k f(beta_j, alpha_k) e^{-i m alpha_k}
 *   inverse:  f(beta, alpha) = Re sum_{l<L} (2l+1) sum_m f^l_m d^l_{m0}(beta) e^{i m alpha}
 *
 * Layouts: grids are signal-major, x[s (2b)^2 + j (2b) + k] = f_s(beta_j, alpha_k); spectra are
 * coefficient-major, re/im[s2CoefficientIndex(l, m) S + s]. Float64Array in gives float64 tables
 * and loops; Float32Array in gives float32 tables and matrix products on the active kernel
 * backend.
 *
 * Each transform is a real DFT over alpha (products of the even/odd folded samples with cached
 * cos/sin matrices, fold.ts; orders m >= 0 only, since the grid side is real) followed, per
 * order m, by a product over beta with the table block d^l_{m0}(beta_j). The orders m < 0
 * follow from f^l_{-m} = (-1)^m conj(f^l_m).
 *
 * The beta products use the reflection symmetry of the grid, beta_{2b-1-j} = pi - beta_j, with
 * d^l_{m0}(pi - beta) = (-1)^{l+m} d^l_{m0}(beta) and symmetric ring weights: for the ring sums
 * F_m(j) of order m,
 *
 *   sum_{j<2b} d^l_{m0}(beta_j) F_m(j) = sum_{j<b} d^l_{m0}(beta_j) (F_m(j) + (-1)^{l+m} F_m(j')),
 *
 * j' = 2b-1-j, so degrees with l + m even take the even ring sums E_m(j) = F_m(j) + F_m(j') and
 * those with l + m odd the odd sums O_m(j) = F_m(j) - F_m(j'), each against the half table
 * (j < b): half the multiply-adds. The synthesis is the transpose: E_m(j) from the degrees with
 * l + m even, O_m(j) from the others, then ring j = E + O and ring j' = E - O.
 */

/**
 * Analysis of S real grids [S][2bIn][2bIn] onto degrees l < L (L <= bIn), with quadrature: the
 * S2 spherical-harmonic coefficients in s2cnn's normalisation (f^0_0 is the area mean). Returns
 * the spectrum [lm][S] (L^2 coefficients), in the precision of `x`.
 */
export function s2Forward<T extends FloatArray>(
  x: T, S: number, bIn: number, L: number,
): Spectrum<T> {
  checkBandwidths('s2Forward', S, bIn, L);
  checkLength('s2Forward', 'grid', x, S * 4 * bIn * bIn);
  return s2Analysis(x, S, bIn, L, ringWeights('s2', bIn), false);
}

/**
 * Synthesis of S spectra [lm][S] (degrees l < L) on the grid of bandwidth bOut >= L: the real part
 * of sum_l (2l+1) sum_m f^l_m d^l_{m0}(beta) e^{i m alpha}, as grids [S][2bOut][2bOut]. bOut > L
 * is zero padding (upsampling).
 */
export function s2Inverse<T extends FloatArray>(
  spectrum: Spectrum<T>, S: number, L: number, bOut: number,
): T {
  checkBandwidths('s2Inverse', S, bOut, L);
  checkSpectrum('s2Inverse', spectrum, s2CoefficientCount(L) * S);
  return s2Synthesis(spectrum, S, L, bOut, true, null);
}

/**
 * Adjoint of s2Forward: Re(A^H g) for a spectrum g [lm][S] (degrees l < L), as real grids
 * [S][2bIn][2bIn]. It is the synthesis with the quadrature weights 2b q_j in place of (2l+1).
 * Identity: sum Re(conj(A x) g) = sum x Re(A^H g).
 */
export function s2ForwardAdjoint<T extends FloatArray>(
  gradSpectrum: Spectrum<T>, S: number, bIn: number, L: number,
): T {
  checkBandwidths('s2ForwardAdjoint', S, bIn, L);
  checkSpectrum('s2ForwardAdjoint', gradSpectrum, s2CoefficientCount(L) * S);
  return s2Synthesis(gradSpectrum, S, L, bIn, false, ringWeights('s2', bIn));
}

/**
 * Adjoint of s2Inverse (as a real-linear map of the complex spectrum): B^H y for real grids y
 * [S][2bOut][2bOut], a complex spectrum [lm][S] of degrees l < L. It is the analysis with (2l+1) in
 * place of the quadrature weights. Identity: sum Re(B z) y = sum Re(conj(z) B^H y).
 */
export function s2InverseAdjoint<T extends FloatArray>(
  gradGrid: T, S: number, L: number, bOut: number,
): Spectrum<T> {
  checkBandwidths('s2InverseAdjoint', S, bOut, L);
  checkLength('s2InverseAdjoint', 'grid', gradGrid, S * 4 * bOut * bOut);
  return s2Analysis(gradGrid, S, bOut, L, null, true);
}

/**
 * c^l_m = (2l+1 if degreeWeights) sum_j (ring[j] if ring) d^l_{m0}(beta_j)
 *         sum_k x(beta_j, alpha_k) e^{-i m alpha_k}
 * for l < L on the grid of bandwidth b.
 */
function s2Analysis<T extends FloatArray>(
  x: T, S: number, b: number, L: number, ring: Float64Array | null, degreeWeights: boolean,
): Spectrum<T> {
  const out = zeroSpectrum(x, s2CoefficientCount(L), S);
  if (L === 0 || S === 0) return out;
  const nb = 2 * b;
  const blocks = s2Blocks(b, x);
  const dft = dftMatrices(b, L, x);
  const chunk = signalsPerChunk(S, nb * nb);
  const even = workArrayLike(x, 's2-a', chunk * nb * (b + 1));
  const odd = workArrayLike(x, 's2-b', chunk * nb * (b - 1));
  const re = workArrayLike(x, 's2-c', chunk * nb * L);
  const im = workArrayLike(x, 's2-d', chunk * nb * L);
  const rings = workArrayLike(x, 's2-e', L * nb * 2 * chunk);
  const orders = workArrayLike(x, 's2-f', L * 2 * chunk);

  for (let s0 = 0; s0 < S; s0 += chunk) {
    const sc = Math.min(chunk, S - s0);
    const width = 2 * sc;

    // DFT over alpha, orders 0..L-1, from the folded rings: re/im[(s, j)][m] =
    // sum cos(m alpha) u and -sum sin(m alpha) v.
    foldRows(x, s0 * nb * nb, sc * nb, b, even, odd);
    product(sc * nb, L, b + 1, 1, even, 0, b + 1, dft.cosAngleFreq, 0, L, re, 0, L);
    product(sc * nb, L, b - 1, -1, odd, 0, b - 1, dft.sinAngleFreq, 0, L, im, 0, L);

    // Regroup by order with the ring weights, pairing ring j < b with its mirror j' = 2b-1-j:
    // rings[m][0][j][part][s] = w_j F_m(j) + w_j' F_m(j') (even sums E) and
    // rings[m][1][j][part][s] = w_j F_m(j) - w_j' F_m(j') (odd sums O).
    for (let s = 0; s < sc; s++) {
      for (let j = 0; j < b; j++) {
        const mirror = nb - 1 - j;
        const w = ring === null ? 1 : ring[j];
        const wMirror = ring === null ? 1 : ring[mirror];
        const source = (s * nb + j) * L;
        const sourceMirror = (s * nb + mirror) * L;
        for (let m = 0; m < L; m++) {
          const target = (m * nb + j) * width + s;
          const reNear = w * re[source + m];
          const reFar = wMirror * re[sourceMirror + m];
          const imNear = w * im[source + m];
          const imFar = wMirror * im[sourceMirror + m];
          rings[target] = reNear + reFar;
          rings[target + sc] = imNear + imFar;
          rings[target + b * width] = reNear - reFar;
          rings[target + b * width + sc] = imNear - imFar;
        }
      }
    }

    // Per order: orders[l - m][part][s] = sum_{j<b} d^l_{m0}(beta_j) E_m(j) (l + m even) or
    // O_m(j) (l + m odd). Rows l - m = 0, 2, .. of the half-table block (b values each) are
    // b apart, hence leading dimension 2b; their results go to every other row of `orders`.
    for (let m = 0; m < L; m++) {
      const degrees = L - m;
      const evenDegrees = Math.ceil(degrees / 2);
      const oddDegrees = degrees - evenDegrees;
      const start = blocks.blockStart[m];
      const sums = m * nb * width;
      gemm(false, false, evenDegrees, width, b, 1, blocks.table, start, nb,
        rings, sums, width, 0, orders, 0, 2 * width);
      gemm(false, false, oddDegrees, width, b, 1, blocks.table, start + b, nb,
        rings, sums + b * width, width, 0, orders, width, 2 * width);
      scatterOrder(orders, m, degrees, sc, s0, S, degreeWeights, out);
    }
  }
  return out;
}

/** Writes the coefficients of order m (and, from the real-signal symmetry, of -m). */
function scatterOrder<T extends FloatArray>(
  product: T, m: number, degrees: number, sc: number, s0: number, S: number,
  degreeWeights: boolean, out: Spectrum<T>,
): void {
  const sign = m % 2 === 0 ? 1 : -1;
  for (let r = 0; r < degrees; r++) {
    const l = m + r;
    const scale = degreeWeights ? 2 * l + 1 : 1;
    const target = s2CoefficientIndex(l, m) * S + s0;
    const mirror = s2CoefficientIndex(l, -m) * S + s0;
    const row = r * 2 * sc;
    for (let s = 0; s < sc; s++) {
      const re = scale * product[row + s];
      const im = scale * product[row + sc + s];
      out.re[target + s] = re;
      out.im[target + s] = im;
      if (m > 0) {
        out.re[mirror + s] = sign * re;
        out.im[mirror + s] = -sign * im;
      }
    }
  }
}

/**
 * y(beta_j, alpha_k) = (ring[j] if ring) Re sum_{l<L} (2l+1 if degreeWeights)
 *                      sum_m c^l_m d^l_{m0}(beta_j) e^{i m alpha_k}
 * on the grid of bandwidth b >= L.
 */
function s2Synthesis<T extends FloatArray>(
  spectrum: Spectrum<T>, S: number, L: number, b: number, degreeWeights: boolean,
  ring: Float64Array | null,
): T {
  const like = spectrum.re;
  const nb = 2 * b;
  const out = allocateLike(like, S * nb * nb);
  if (L === 0 || S === 0) return out;
  const blocks = s2Blocks(b, like);
  const dft = dftMatrices(b, L, like);
  const chunk = signalsPerChunk(S, nb * nb);
  const folded = workArrayLike(like, 's2-f', L * 2 * chunk);
  const rings = workArrayLike(like, 's2-e', L * nb * 2 * chunk);
  const re = workArrayLike(like, 's2-c', chunk * nb * L);
  const im = workArrayLike(like, 's2-d', chunk * nb * L);
  const cosSums = workArrayLike(like, 's2-a', chunk * nb * (b + 1));
  const sinSums = workArrayLike(like, 's2-b', chunk * nb * (b - 1));

  for (let s0 = 0; s0 < S; s0 += chunk) {
    const sc = Math.min(chunk, S - s0);
    const width = 2 * sc;

    // Per order m >= 0: fold in order -m, since Re(c_{-m} d_{-m0} e^{-i m a}) =
    // Re((-1)^m conj(c_{-m}) d_{m0} e^{i m a}); then, on the half grid j < b,
    // rings[m][0][j] = E_m(j) = sum_{l+m even} d^l_{m0}(beta_j) c'^l_m and
    // rings[m][1][j] = O_m(j) = sum_{l+m odd} d^l_{m0}(beta_j) c'^l_m (transpose of the analysis).
    for (let m = 0; m < L; m++) {
      const degrees = L - m;
      const evenDegrees = Math.ceil(degrees / 2);
      const oddDegrees = degrees - evenDegrees;
      const start = blocks.blockStart[m];
      const sums = m * nb * width;
      foldOrder(spectrum, m, degrees, sc, s0, S, degreeWeights, folded);
      gemm(true, false, b, width, evenDegrees, 1, blocks.table, start, nb,
        folded, 0, 2 * width, 0, rings, sums, width);
      if (oddDegrees > 0) {
        gemm(true, false, b, width, oddDegrees, 1, blocks.table, start + b, nb,
          folded, width, 2 * width, 0, rings, sums + b * width, width);
      } else {
        rings.fill(0, sums + b * width, sums + nb * width);
      }
    }

    // Regroup, unpairing the rings (d^l_{m0}(beta_j') = (-1)^{l+m} d^l_{m0}(beta_j)):
    // ring j = E + O, ring j' = 2b-1-j = E - O; re/im[(s, j)][m].
    for (let s = 0; s < sc; s++) {
      for (let j = 0; j < b; j++) {
        const target = (s * nb + j) * L;
        const targetMirror = (s * nb + nb - 1 - j) * L;
        for (let m = 0; m < L; m++) {
          const source = (m * nb + j) * width + s;
          const reEven = rings[source];
          const imEven = rings[source + sc];
          const reOdd = rings[source + b * width];
          const imOdd = rings[source + b * width + sc];
          re[target + m] = reEven + reOdd;
          im[target + m] = imEven + imOdd;
          re[targetMirror + m] = reEven - reOdd;
          im[targetMirror + m] = imEven - imOdd;
        }
      }
    }

    // Real part of the inverse DFT over alpha: cos sums of Re, sin sums of Im, unfolded.
    product(sc * nb, b + 1, L, 1, re, 0, L, dft.cosFreqAngle, 0, b + 1, cosSums, 0, b + 1);
    product(sc * nb, b - 1, L, 1, im, 0, L, dft.sinFreqAngle, 0, b - 1, sinSums, 0, b - 1);
    unfoldRows(cosSums, sinSums, sc * nb, b, out, s0 * nb * nb,
      ring === null ? () => 1 : (r) => ring[r % nb]);
  }
  return out;
}

/** folded[l - m][part][s] = w_l (c^l_m + [m > 0] (-1)^m conj(c^l_{-m})), w_l = 2l+1 or 1. */
function foldOrder<T extends FloatArray>(
  spectrum: Spectrum<T>, m: number, degrees: number, sc: number, s0: number, S: number,
  degreeWeights: boolean, folded: T,
): void {
  const sign = m % 2 === 0 ? 1 : -1;
  for (let r = 0; r < degrees; r++) {
    const l = m + r;
    const scale = degreeWeights ? 2 * l + 1 : 1;
    const source = s2CoefficientIndex(l, m) * S + s0;
    const mirror = s2CoefficientIndex(l, -m) * S + s0;
    const row = r * 2 * sc;
    for (let s = 0; s < sc; s++) {
      let re = spectrum.re[source + s];
      let im = spectrum.im[source + s];
      if (m > 0) {
        re += sign * spectrum.re[mirror + s];
        im -= sign * spectrum.im[mirror + s];
      }
      folded[row + s] = scale * re;
      folded[row + sc + s] = scale * im;
    }
  }
}
