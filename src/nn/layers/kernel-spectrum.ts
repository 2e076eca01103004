/*
 * Kernel spectra of the spectral layers: the product of a kernel table with the weights
 * (S2Convolution, SO3ToS2) and SO3Convolution's factored path through the ring table, each with
 * its weight gradient.
 */

import { gemm } from '../../engine/kernels/index.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import { PlanarComplex, So3RingTable, so3HalfRowCount } from './kernel-grids.js';
import { layerWorkspace } from './spectral-products.js';

/**
 * Kernel spectrum y = alpha T psi^T: T is a planar table [coefficients][|grid|] and psi the weights
 * [pairs][|grid|] (pairs = C_in C_out); the result is [coefficients][pairs].
 */
export function kernelSpectrum(
  table: PlanarComplex, weights: Float32Array, coefficients: number, gridSize: number,
  pairs: number, alpha: number, out: PlanarComplex,
): void {
  gemm(false, true, coefficients, pairs, gridSize, alpha, table.re, 0, gridSize,
    weights, 0, gridSize, 0, out.re, 0, pairs);
  gemm(false, true, coefficients, pairs, gridSize, alpha, table.im, 0, gridSize,
    weights, 0, gridSize, 0, out.im, 0, pairs);
}

/**
 * Gradient of `kernelSpectrum` with respect to the real weights: given the gradient g of y
 * ([coefficients][pairs], convention dLoss = Re sum conj(dy) g), returns
 * alpha Re(T^H g)^T = alpha (T_re^T g_re + T_im^T g_im)^T as [pairs][|grid|].
 */
export function kernelSpectrumWeightGradient(
  table: PlanarComplex, grad: PlanarComplex, coefficients: number, gridSize: number,
  pairs: number, alpha: number,
): Float32Array {
  const out = new Float32Array(pairs * gridSize);
  gemm(true, false, pairs, gridSize, coefficients, alpha, grad.re, 0, pairs, table.re, 0, gridSize,
    0, out, 0, gridSize);
  gemm(true, false, pairs, gridSize, coefficients, alpha, grad.im, 0, pairs, table.im, 0, gridSize,
    1, out, 0, gridSize);
  return out;
}

/*
 * The kernel spectrum through the factored table (So3RingTable, kernel-grids.ts): the phase
 * sums E_r are one small product per ring, and each value of y^l_np is then a combination of
 * as many values as there are rings, written straight into the product layout of the layers.
 */

/**
 * Phase sums E_r[n, p][c, c'] = alpha sum_{i in ring r} psi[c, c', i] e^{-i (n alpha_i +
 * p gamma_i)} for 0 <= n < L, |p| < L, laid out [n][p][r][c][c'] (rings L (2L-1) C_in C_out
 * values; the rings of one (n, p) side by side); psi is the weight array [pairs][|grid|].
 */
export function ringPhaseSums(
  table: So3RingTable, weights: Float32Array, pairs: number, alpha: number, out: PlanarComplex,
): void {
  const { order, ringStart, phase } = table;
  const size = order.length;
  const rows = table.degrees * (2 * table.degrees - 1);
  const sorted = layerWorkspace.real('ringWeights', pairs * size);
  for (let pair = 0; pair < pairs; pair++) {
    const at = pair * size;
    for (let j = 0; j < size; j++) sorted[at + j] = weights[at + order[j]];
  }
  for (let r = 0; r < table.rings; r++) {
    const start = ringStart[r];
    const points = ringStart[r + 1] - start;
    gemm(false, true, rows, pairs, points, alpha, phase.re, start, size, sorted, start, size,
      0, out.re, r * pairs, table.rings * pairs);
    gemm(false, true, rows, pairs, points, alpha, phase.im, start, size, sorted, start, size,
      0, out.im, r * pairs, table.rings * pairs);
  }
}

/**
 * Sizes and strides of the ring-table loops below, for pairs = C_in C_out: the phase sums of
 * (n, p) start at (n orders + p + L - 1) rings pairs, with orders = 2L - 1, and those of ring r
 * r pairs further on. `second` and `third` are the offsets of rings 1 and 2, or 0 where the grid
 * has fewer rings (the loops then read ring 0 with a Wigner factor 0).
 */
function ringStrides(table: So3RingTable, pairs: number): {
  L: number; rings: number; wigner: Float64Array; orders: number; second: number; third: number;
} {
  const rings = table.rings;
  return {
    L: table.degrees, rings, wigner: table.wigner, orders: 2 * table.degrees - 1,
    second: rings > 1 ? pairs : 0, third: rings > 2 ? 2 * pairs : 0,
  };
}

/**
 * The kernel matrices of SO3Convolution from the phase sums: for each degree l < L (at
 * so3HalfRowCount(l) C_in C_out) the ((2l+1) C_in) x ((l+1) C_out) matrix with rows (p, c),
 * columns (n, c'), n >= 0: s_n sum_r d^l_np(beta_r) E_r[n, p][c, c'] with s_0 = 1, s_n = 2.
 */
export function ringKernelMatrices(
  table: So3RingTable, sums: PlanarComplex, ci: number, co: number, y: PlanarComplex,
): void {
  const pairs = ci * co;
  // Up to three rings in one pass (grids have nBeta of 1 to 3); a missing ring reads ring 0
  // times 0. Further rings are added one pass each. The pairs (n, p) run outermost, so that
  // their phase sums (rings C_in C_out values) stay in the first-level cache while l runs.
  const { L, rings, wigner, orders, second, third } = ringStrides(table, pairs);
  const { re: sumRe, im: sumIm } = sums;
  const { re: yRe, im: yIm } = y;
  for (let n = 0; n < L; n++) {
    const weight = n === 0 ? 1 : 2;
    for (let p = -(L - 1); p < L; p++) {
      const sum = (n * orders + p + L - 1) * rings * pairs;
      for (let l = Math.max(n, Math.abs(p)); l < L; l++) {
        const dl = 2 * l + 1;
        const rowLength = (l + 1) * co;
        const at = (so3CoefficientCount(l) + (n + l) * dl + p + l) * rings;
        const d0 = weight * wigner[at];
        const d1 = rings > 1 ? weight * wigner[at + 1] : 0;
        const d2 = rings > 2 ? weight * wigner[at + 2] : 0;
        let u = so3HalfRowCount(l) * pairs + (p + l) * ci * rowLength + n * co;
        for (let c = 0; c < ci; c++, u += rowLength) {
          const from = sum + c * co;
          for (let k = 0; k < co; k++) {
            const f = from + k;
            yRe[u + k] = d0 * sumRe[f] + d1 * sumRe[f + second] + d2 * sumRe[f + third];
            yIm[u + k] = d0 * sumIm[f] + d1 * sumIm[f + second] + d2 * sumIm[f + third];
          }
          for (let r = 3; r < rings; r++) {
            const dr = weight * wigner[at + r];
            const ring = from + r * pairs;
            for (let k = 0; k < co; k++) {
              yRe[u + k] += dr * sumRe[ring + k];
              yIm[u + k] += dr * sumIm[ring + k];
            }
          }
        }
      }
    }
  }
}

/**
 * The transpose of ringKernelMatrices for one degree l: adds s_n d^l_np(beta_r) g[(p, c)][(n, c')]
 * into gSums[n][p][r][c][c'], for the gradient g of that degree's kernel matrix at gOffset.
 */
export function addRingGradientSums(
  table: So3RingTable, g: PlanarComplex, gOffset: number, l: number, ci: number, co: number,
  gSums: PlanarComplex,
): void {
  const pairs = ci * co;
  // As in ringKernelMatrices: up to three rings in one pass (a missing ring adds 0 to ring 0);
  // p runs innermost, so that the sums are read and written in order.
  const { L, rings, wigner, orders, second, third } = ringStrides(table, pairs);
  const { re: gRe, im: gIm } = g;
  const { re: sumRe, im: sumIm } = gSums;
  const dl = 2 * l + 1;
  const rowLength = (l + 1) * co;
  const coefficients = so3CoefficientCount(l);
  for (let n = 0; n <= l; n++) {
    const weight = n === 0 ? 1 : 2;
    for (let p = -l; p <= l; p++) {
      const at = (coefficients + (n + l) * dl + p + l) * rings;
      const d0 = weight * wigner[at];
      const d1 = rings > 1 ? weight * wigner[at + 1] : 0;
      const d2 = rings > 2 ? weight * wigner[at + 2] : 0;
      const sum = (n * orders + p + L - 1) * rings * pairs;
      let from = gOffset + (p + l) * ci * rowLength + n * co;
      for (let c = 0; c < ci; c++, from += rowLength) {
        const to = sum + c * co;
        for (let k = 0; k < co; k++) {
          const t = to + k;
          const valueRe = gRe[from + k];
          const valueIm = gIm[from + k];
          sumRe[t] += d0 * valueRe;
          sumIm[t] += d0 * valueIm;
          sumRe[t + second] += d1 * valueRe;
          sumIm[t + second] += d1 * valueIm;
          sumRe[t + third] += d2 * valueRe;
          sumIm[t + third] += d2 * valueIm;
        }
        for (let r = 3; r < rings; r++) {
          const dr = weight * wigner[at + r];
          const ring = to + r * pairs;
          for (let k = 0; k < co; k++) {
            sumRe[ring + k] += dr * gRe[from + k];
            sumIm[ring + k] += dr * gIm[from + k];
          }
        }
      }
    }
  }
}

/**
 * addRingGradientSums for the two degrees l and l + 1 at once (gradients g at gOffset and
 * gOffset + (l+1)(2l+1) C_in C_out, the layout of y): where both degrees have (n, p), their
 * contributions are combined before the sums are read and written, which halves that traffic.
 */
export function addRingGradientSumsPair(
  table: So3RingTable, g: PlanarComplex, gOffset: number, l: number, ci: number, co: number,
  gSums: PlanarComplex,
): void {
  const pairs = ci * co;
  const { L, rings, wigner, orders, second, third } = ringStrides(table, pairs);
  if (rings > 3) {
    addRingGradientSums(table, g, gOffset, l, ci, co, gSums);
    addRingGradientSums(table, g, gOffset + (l + 1) * (2 * l + 1) * pairs, l + 1, ci, co,
      gSums);
    return;
  }
  const { re: gRe, im: gIm } = g;
  const { re: sumRe, im: sumIm } = gSums;
  const upper = l + 1;
  const dlA = 2 * l + 1;
  const dlB = 2 * upper + 1;
  const rowA = (l + 1) * co;
  const rowB = (upper + 1) * co;
  const offsetB = gOffset + (l + 1) * dlA * pairs;
  const coefficientsA = so3CoefficientCount(l);
  const coefficientsB = so3CoefficientCount(upper);
  for (let n = 0; n <= upper; n++) {
    const weight = n === 0 ? 1 : 2;
    for (let p = -upper; p <= upper; p++) {
      const both = n <= l && p >= -l && p <= l;
      const atB = (coefficientsB + (n + upper) * dlB + p + upper) * rings;
      const b0 = weight * wigner[atB];
      const b1 = rings > 1 ? weight * wigner[atB + 1] : 0;
      const b2 = rings > 2 ? weight * wigner[atB + 2] : 0;
      const atA = (coefficientsA + (n + l) * dlA + p + l) * rings;
      const a0 = both ? weight * wigner[atA] : 0;
      const a1 = both && rings > 1 ? weight * wigner[atA + 1] : 0;
      const a2 = both && rings > 2 ? weight * wigner[atA + 2] : 0;
      const sum = (n * orders + p + L - 1) * rings * pairs;
      // A degree-l row that does not exist reads the degree-(l+1) row, times 0.
      let fromA = both ? gOffset + (p + l) * ci * rowA + n * co : 0;
      let fromB = offsetB + (p + upper) * ci * rowB + n * co;
      if (!both) fromA = fromB;
      const stepA = both ? rowA : rowB;
      for (let c = 0; c < ci; c++, fromA += stepA, fromB += rowB) {
        const to = sum + c * co;
        for (let k = 0; k < co; k++) {
          const t = to + k;
          const aRe = gRe[fromA + k];
          const aIm = gIm[fromA + k];
          const bRe = gRe[fromB + k];
          const bIm = gIm[fromB + k];
          sumRe[t] += a0 * aRe + b0 * bRe;
          sumIm[t] += a0 * aIm + b0 * bIm;
          sumRe[t + second] += a1 * aRe + b1 * bRe;
          sumIm[t + second] += a1 * aIm + b1 * bIm;
          sumRe[t + third] += a2 * aRe + b2 * bRe;
          sumIm[t + third] += a2 * aIm + b2 * bIm;
        }
      }
    }
  }
}

/**
 * Gradient of the weights [pairs][|grid|] from the gradient sums of addRingGradientSums:
 * alpha Re sum_{n, p} conj(e^{-i (n alpha_i + p gamma_i)}) G_r[n, p] for point i of ring r.
 */
export function ringWeightGradient(
  table: So3RingTable, gSums: PlanarComplex, pairs: number, alpha: number,
): Float32Array {
  const { order, ringStart, phase } = table;
  const size = order.length;
  const rows = table.degrees * (2 * table.degrees - 1);
  const sorted = layerWorkspace.real('ringWeights', pairs * size);
  for (let r = 0; r < table.rings; r++) {
    const start = ringStart[r];
    const points = ringStart[r + 1] - start;
    gemm(true, false, pairs, points, rows, alpha, gSums.re, r * pairs, table.rings * pairs,
      phase.re, start, size, 0, sorted, start, size);
    gemm(true, false, pairs, points, rows, alpha, gSums.im, r * pairs, table.rings * pairs,
      phase.im, start, size, 1, sorted, start, size);
  }
  const out = new Float32Array(pairs * size);
  for (let pair = 0; pair < pairs; pair++) {
    const at = pair * size;
    for (let j = 0; j < size; j++) out[at + order[j]] = sorted[at + j];
  }
  return out;
}
