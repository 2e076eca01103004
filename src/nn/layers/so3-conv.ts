import { activeBackend, gemm } from '../../engine/kernels/index.js';
import { giveGrad } from '../../engine/ops/check.js';
import { isGradEnabled, parameter, result, Tensor } from '../../engine/tensor.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import {
  so3Forward, so3ForwardAdjoint, so3Inverse, so3InverseAdjoint,
} from '../../harmonic/so3-transform.js';
import { Random } from '../../util/random.js';
import { Module } from '../module.js';
import {
  PlanarComplex, So3KernelGrid, So3RingTable, so3HalfRowCount, so3RingTable,
} from './kernel-grids.js';

/*
 * The spectral correlation products of the S2CNN layers are per-degree complex matrix products.
 * They run as real GEMMs on planar (re, im) Float32Arrays through `gemm` of src/engine/kernels.
 * The helpers below are shared by S2Convolution, SO3Convolution and SO3ToS2.
 */

/**
 * Complex C = op(A) op(B) (beta = 0) or C += op(A) op(B) (beta = 1) on planar arrays, where op
 * transposes when `trans*` is set and conjugates when `conj*` is set; op(A) is m x k, op(B) k x n,
 * row-major with leading dimensions lda, ldb, ldc as in `gemm`. Four real GEMMs:
 * (ar + i sa ai)(br + i sb bi) = ar br - sa sb ai bi + i (sa ai br + sb ar bi), s = -1 if conj.
 */
export function complexGemm(
  transA: boolean, conjA: boolean, transB: boolean, conjB: boolean,
  m: number, n: number, k: number, alpha: number,
  a: PlanarComplex, aOffset: number, lda: number,
  b: PlanarComplex, bOffset: number, ldb: number,
  beta: 0 | 1, c: PlanarComplex, cOffset: number, ldc: number,
): void {
  const sa = conjA ? -1 : 1;
  const sb = conjB ? -1 : 1;
  gemm(transA, transB, m, n, k, alpha, a.re, aOffset, lda, b.re, bOffset, ldb, beta,
    c.re, cOffset, ldc);
  gemm(transA, transB, m, n, k, -sa * sb * alpha, a.im, aOffset, lda, b.im, bOffset, ldb, 1,
    c.re, cOffset, ldc);
  gemm(transA, transB, m, n, k, sa * alpha, a.im, aOffset, lda, b.re, bOffset, ldb, beta,
    c.im, cOffset, ldc);
  gemm(transA, transB, m, n, k, sb * alpha, a.re, aOffset, lda, b.im, bOffset, ldb, 1,
    c.im, cOffset, ldc);
}

/**
 * Copies a row-major block [a][b][c][d] at `srcOffset` to [a][c][b][d] at `dstOffset` (swaps the
 * two middle axes; with a = 1 it swaps the first two).
 */
export function swapMiddleAxes(
  src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number,
  a: number, b: number, c: number, d: number,
): void {
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      let s = srcOffset + (i * b + j) * c * d;
      for (let k = 0; k < c; k++) {
        let t = dstOffset + ((i * c + k) * b + j) * d;
        for (let e = 0; e < d; e++) dst[t++] = src[s++];
      }
    }
  }
}

/** swapMiddleAxes on both planes of a planar complex array. */
export function swapMiddleAxesComplex(
  src: PlanarComplex, srcOffset: number, dst: PlanarComplex, dstOffset: number,
  a: number, b: number, c: number, d: number,
): void {
  swapMiddleAxes(src.re, srcOffset, dst.re, dstOffset, a, b, c, d);
  swapMiddleAxes(src.im, srcOffset, dst.im, dstOffset, a, b, c, d);
}

/**
 * Planar complex transpose: dst (cols x rows, leading dimension rows) at dstOffset from src
 * (rows x cols, leading dimension cols) at srcOffset. Products with a transposed operand are
 * given an explicit copy because the plain-TypeScript GEMM walks a transposed B with a stride.
 */
export function transposeComplex(
  src: PlanarComplex, srcOffset: number, dst: PlanarComplex, dstOffset: number,
  rows: number, cols: number,
): void {
  for (let i = 0; i < rows; i++) {
    let s = srcOffset + i * cols;
    for (let j = 0; j < cols; j++, s++) {
      dst.re[dstOffset + j * rows + i] = src.re[s];
      dst.im[dstOffset + j * rows + i] = src.im[s];
    }
  }
}

/*
 * Half spectra. Spectra of real signals on SO(3) satisfy F^l_{-m,-n} = (-1)^{m-n} conj(F^l_mn)
 * (transforms.md 2.2); so do the input spectrum, the kernel spectrum (real weights), the output
 * spectrum and the gradients flowing back through the transforms of real grids. The layers
 * therefore compute only the orders n >= 0 of z^l_mn (all m) and never unfold the kernel
 * spectrum to n < 0. What they hand to the synthesis-type transforms (so3Inverse,
 * so3ForwardAdjoint, s2ForwardAdjoint) is a "half spectrum" h: h_mn = F_mn for n = 0,
 * 2 F_mn for n > 0, 0 for n < 0. Those transforms return the real part of a sum over all
 * orders (harmonic-api.md), and Re(F_mn D_mn) = Re(F_{-m,-n} D_{-m,-n}) for such F, so the
 * half spectrum gives the same grid. The factor 2 is stored in the kernel matrices (see
 * `interleaveOrders`), so every product reads them in place.
 */

/**
 * For one degree with orders n = 0..h-1: dst [r][n][k] = s_n src[n][r][k] for r < rows, k < d,
 * with s_0 = 1 and s_n = `weight` for n > 0. Turns the kernel spectrum [n][p][c][c'] into the
 * product matrix with rows (p, c) and columns (n, c'), with the columns n > 0 doubled.
 */
export function interleaveOrders(
  src: PlanarComplex, srcOffset: number, dst: PlanarComplex, dstOffset: number,
  h: number, rows: number, d: number, weight: number,
): void {
  const { re: srcRe, im: srcIm } = src;
  const { re: dstRe, im: dstIm } = dst;
  let u = dstOffset;
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < h; n++) {
      const s = n === 0 ? 1 : weight;
      let from = srcOffset + (n * rows + r) * d;
      for (let k = 0; k < d; k++, from++, u++) {
        dstRe[u] = s * srcRe[from];
        dstIm[u] = s * srcIm[from];
      }
    }
  }
}

/** The transpose of `interleaveOrders`: dst [n][r][k] = s_n src[r][n][k]. */
export function deinterleaveOrders(
  src: PlanarComplex, srcOffset: number, dst: PlanarComplex, dstOffset: number,
  h: number, rows: number, d: number, weight: number,
): void {
  const { re: srcRe, im: srcIm } = src;
  const { re: dstRe, im: dstIm } = dst;
  let u = dstOffset;
  for (let n = 0; n < h; n++) {
    const s = n === 0 ? 1 : weight;
    for (let r = 0; r < rows; r++) {
      let from = srcOffset + (r * h + n) * d;
      for (let k = 0; k < d; k++, from++, u++) {
        dstRe[u] = s * srcRe[from];
        dstIm[u] = s * srcIm[from];
      }
    }
  }
}

/**
 * For one degree l and S = signals per row block: writes rows [m][b][n][k] (m = -l..l,
 * n = 0..l, b < S, k < d) into the orders n >= 0 of the spectrum block [m][n'][b][k]
 * (n' = -l..l) at `spectrumOffset`; the orders n' < 0 are left as they are.
 */
export function scatterHalfRows(
  rows: PlanarComplex, rowsOffset: number, spectrum: PlanarComplex, spectrumOffset: number,
  l: number, S: number, d: number,
): void {
  const dl = 2 * l + 1;
  const h = l + 1;
  for (let m = 0; m < dl; m++) {
    swapMiddleAxesComplex(rows, rowsOffset + m * S * h * d, spectrum,
      spectrumOffset + (m * dl + l) * S * d, 1, S, h, d);
  }
}

/** The transpose of `scatterHalfRows`: reads the orders n >= 0 of the spectrum block. */
export function gatherHalfRows(
  spectrum: PlanarComplex, spectrumOffset: number, rows: PlanarComplex, rowsOffset: number,
  l: number, S: number, d: number,
): void {
  const dl = 2 * l + 1;
  const h = l + 1;
  for (let m = 0; m < dl; m++) {
    swapMiddleAxesComplex(spectrum, spectrumOffset + (m * dl + l) * S * d, rows,
      rowsOffset + m * S * h * d, 1, h, S, d);
  }
}

/**
 * Adds the per-channel bias to a spectrum [coefficients][n][C] (coefficient 0 first): a
 * constant function c is the coefficient F^0 = c of degree 0 for both the SO(3) and the S2
 * synthesis (D^0_00 = d^0_00 = 1, weight 2l+1 = 1), so the bias costs C n additions instead of
 * a pass over the output grid.
 */
export function addBiasToSpectrum(spectrum: PlanarComplex, bias: Float32Array, n: number): void {
  const channels = bias.length;
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < channels; c++) spectrum.re[b * channels + c] += bias[c];
  }
}

/**
 * Gradient of a per-channel bias [C] from the adjoint of the synthesis B^H g, a spectrum
 * [coefficients][n][C]: its degree-0 coefficient is the plain sum of g over the grid (weight
 * 2l+1 = 1, conj(D^0_00) = 1), so the gradient is the real part summed over the batch.
 */
export function biasGradientFromSpectrum(
  spectrum: PlanarComplex, channels: number, n: number,
): Float32Array {
  const out = new Float32Array(channels);
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < channels; c++) out[c] += spectrum.re[b * channels + c];
  }
  return out;
}

/**
 * Reusable scratch buffers of a layer, for arrays that live only inside one forward or one
 * backward call (never for anything a backward pass reads later).
 */
export class Workspace {
  private readonly buffers = new Map<string, Float32Array>();

  /** A planar complex buffer of `size` values per plane; contents are unspecified. */
  complex(name: string, size: number): PlanarComplex {
    return { re: this.real(`${name}.re`, size), im: this.real(`${name}.im`, size) };
  }

  /** A real buffer of `size` values; contents are unspecified. */
  real(name: string, size: number): Float32Array {
    let buffer = this.buffers.get(name);
    if (buffer === undefined || buffer.length < size) {
      buffer = new Float32Array(size);
      this.buffers.set(name, buffer);
    }
    return buffer.length === size ? buffer : buffer.subarray(0, size);
  }
}

/**
 * The one Workspace of all spectral layers. Their buffers live only inside one synchronous
 * forward or backward call, so the layers can share them: memory then holds one set of scratch
 * buffers of the largest layer instead of one set per layer.
 */
export const layerWorkspace = new Workspace();

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
 * The SO(3) kernel spectrum of real weights has y^l_{-n,-p} = (-1)^{n-p} conj(y^l_np), like every
 * spectrum of a real signal, and so has its gradient. So only the rows n >= 0 of each degree are
 * computed (about half the work of kernelSpectrum), and the weight gradient sums the rows n > 0
 * twice and the rows n = 0 (closed under the mirror) once. SO3Convolution now goes through the
 * factored table (ringPhaseSums and below); these plain forms on the full table stay as the
 * reference that the tests compare the factored path with.
 */

/**
 * kernelSpectrum for the rows n >= 0 of each degree l < L of an SO(3) spectrum: out rows
 * [l][n][p] with n >= 0 written, the others left as they are.
 */
export function halfKernelSpectrum(
  table: PlanarComplex, weights: Float32Array, L: number, gridSize: number, pairs: number,
  alpha: number, out: PlanarComplex,
): void {
  for (let l = 0; l < L; l++) {
    const dl = 2 * l + 1;
    const first = so3CoefficientCount(l) + l * dl;
    const rows = (l + 1) * dl;
    gemm(false, true, rows, pairs, gridSize, alpha, table.re, first * gridSize, gridSize,
      weights, 0, gridSize, 0, out.re, first * pairs, pairs);
    gemm(false, true, rows, pairs, gridSize, alpha, table.im, first * gridSize, gridSize,
      weights, 0, gridSize, 0, out.im, first * pairs, pairs);
  }
}

/**
 * kernelSpectrumWeightGradient for a gradient with the real-signal symmetry, from its rows
 * n >= 0 only: alpha Re(T^H g)^T as [pairs][|grid|].
 */
export function halfKernelSpectrumWeightGradient(
  table: PlanarComplex, grad: PlanarComplex, L: number, gridSize: number, pairs: number,
  alpha: number,
): Float32Array {
  const out = new Float32Array(pairs * gridSize);
  let beta = 0;
  for (let l = 0; l < L; l++) {
    const dl = 2 * l + 1;
    const zero = so3CoefficientCount(l) + l * dl;
    // Rows n = 0 once, rows n > 0 twice (for their mirrors n < 0).
    for (const [first, rows, weight] of [[zero, dl, 1], [zero + dl, l * dl, 2]]) {
      if (rows === 0) continue;
      gemm(true, false, pairs, gridSize, rows, weight * alpha, grad.re, first * pairs, pairs,
        table.re, first * gridSize, gridSize, beta, out, 0, gridSize);
      gemm(true, false, pairs, gridSize, rows, weight * alpha, grad.im, first * pairs, pairs,
        table.im, first * gridSize, gridSize, 1, out, 0, gridSize);
      beta = 1;
    }
  }
  return out;
}

/**
 * For one degree l at `offset` (= so3CoefficientCount(l) C_in C_out): y rows (p, c), columns
 * (n, c') from raw [n][p][c][c'] whose rows n >= 0 only are read, n < 0 by
 * y_{-n,-p} = (-1)^{n-p} conj(y_np).
 */
export function unfoldKernelMatrix(
  raw: PlanarComplex, y: PlanarComplex, offset: number, l: number, ci: number, co: number,
): void {
  const dl = 2 * l + 1;
  const ld = dl * co;
  const rawRe = raw.re;
  const rawIm = raw.im;
  const yRe = y.re;
  const yIm = y.im;
  for (let n = -l; n <= l; n++) {
    const flip = n < 0;
    for (let p = -l; p <= l; p++) {
      const sign = flip && (n - p) % 2 !== 0 ? -1 : 1;
      const imSign = flip ? -sign : sign;
      const sourceRow = flip ? (-n + l) * dl + (-p + l) : (n + l) * dl + (p + l);
      let from = offset + sourceRow * ci * co;
      let to = offset + (p + l) * ci * ld + (n + l) * co;
      for (let c = 0; c < ci; c++, to += ld - co) {
        for (let k = 0; k < co; k++, from++, to++) {
          yRe[to] = sign * rawRe[from];
          yIm[to] = imSign * rawIm[from];
        }
      }
    }
  }
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
 * The kernel matrices of SO3Convolution from the phase sums: for each degree l < L (at
 * so3HalfRowCount(l) C_in C_out) the ((2l+1) C_in) x ((l+1) C_out) matrix with rows (p, c),
 * columns (n, c'), n >= 0: s_n sum_r d^l_np(beta_r) E_r[n, p][c, c'] with s_0 = 1, s_n = 2.
 */
export function ringKernelMatrices(
  table: So3RingTable, sums: PlanarComplex, ci: number, co: number, y: PlanarComplex,
): void {
  const L = table.degrees;
  const rings = table.rings;
  const wigner = table.wigner;
  const pairs = ci * co;
  const orders = 2 * L - 1;
  // Up to three rings in one pass (grids have nBeta of 1 to 3); a missing ring reads ring 0
  // times 0. Further rings are added one pass each. The pairs (n, p) run outermost, so that
  // their phase sums (rings C_in C_out values) stay in the first-level cache while l runs.
  const second = rings > 1 ? pairs : 0;
  const third = rings > 2 ? 2 * pairs : 0;
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
  const L = table.degrees;
  const rings = table.rings;
  const wigner = table.wigner;
  const pairs = ci * co;
  const orders = 2 * L - 1;
  // As in ringKernelMatrices: up to three rings in one pass (a missing ring adds 0 to ring 0);
  // p runs innermost, so that the sums are read and written in order.
  const second = rings > 1 ? pairs : 0;
  const third = rings > 2 ? 2 * pairs : 0;
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
  const L = table.degrees;
  const rings = table.rings;
  if (rings > 3) {
    addRingGradientSums(table, g, gOffset, l, ci, co, gSums);
    addRingGradientSums(table, g, gOffset + (l + 1) * (2 * l + 1) * ci * co, l + 1, ci, co,
      gSums);
    return;
  }
  const wigner = table.wigner;
  const pairs = ci * co;
  const orders = 2 * L - 1;
  const second = rings > 1 ? pairs : 0;
  const third = rings > 2 ? 2 * pairs : 0;
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

/** Whether two arrays hold the same values (NaN never equals, so it forces a recompute). */
function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Uniform(-1, 1) initial kernel weights [C_in, C_out, |grid|] (s2cnn's initialisation). */
export function initialKernel(size: number, random: Random): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.uniformIn(-1, 1);
  return values;
}

/** Throws unless `shape` is [N, channels, ...extents]. */
export function checkInputShape(
  layer: string, shape: readonly number[], channels: number, extents: readonly number[],
): number {
  const ok = shape.length === 2 + extents.length && shape[1] === channels &&
    extents.every((extent, i) => shape[2 + i] === extent);
  if (!ok) {
    throw new RangeError(`${layer}: input shape [${shape}] is not [N, ${[channels, ...extents]}]`);
  }
  return shape[0];
}

function checkPositiveInteger(layer: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${layer}: ${name} must be a positive integer, got ${value}`);
  }
}

/** Checks the channel counts and bandwidths of a spectral layer. */
export function checkLayerSizes(
  layer: string, inChannels: number, outChannels: number, bIn: number, bOut: number,
  gridSize: number,
): void {
  checkPositiveInteger(layer, 'inChannels', inChannels);
  checkPositiveInteger(layer, 'outChannels', outChannels);
  checkPositiveInteger(layer, 'bandwidthIn', bIn);
  checkPositiveInteger(layer, 'bandwidthOut', bOut);
  if (gridSize < 1) throw new RangeError(`${layer}: the kernel grid is empty`);
}

/**
 * What the three spectral layers (S2Convolution, SO3Convolution, SO3ToS2) share: a kernel
 * `weight` [C_in, C_out, |grid|] ~ U(-1, 1), applied at use time times `scaling` so that Adam sees
 * O(1) parameters; a per-channel `bias` [C_out] = 0 (a constant function, hence equivariant); and
 * the degrees l < min(b_in, b_out) carried through the layer.
 */
export abstract class SpectralLayer extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** Degrees l < degrees carried through the layer: min(b_in, b_out). */
  readonly degrees: number;
  protected readonly workspace = layerWorkspace;

  constructor(
    layer: string, readonly inChannels: number, readonly outChannels: number,
    readonly bandwidthIn: number, readonly bandwidthOut: number, gridSize: number,
    readonly scaling: number, random: Random,
  ) {
    super();
    checkLayerSizes(layer, inChannels, outChannels, bandwidthIn, bandwidthOut, gridSize);
    const size = inChannels * outChannels * gridSize;
    this.weight = this.registerParameter('weight',
      parameter(initialKernel(size, random), [inChannels, outChannels, gridSize]));
    this.bias = this.registerParameter('bias',
      parameter(new Float32Array(outChannels), [outChannels]));
    this.degrees = Math.min(bandwidthIn, bandwidthOut);
  }
}

/**
 * SO(3) -> SO(3) group correlation (s2cnn `SO3Convolution`, transforms.md 4.3).
 *
 * Input [N, C_in, 2b_in, 2b_in, 2b_in], output [N, C_out, 2b_out, 2b_out, 2b_out], grids
 * [beta, alpha, gamma]. With L = min(b_in, b_out):
 *   x^l_mp = SO(3) forward transform of the input for l < L;
 *   y^l_np[c, c'] = sum_i scaling psi[c, c', i] conj(D^l_np(g_i)),
 *     scaling = 1 / sqrt(|grid| C_in b_out^3 / b_in^3) (applied at use time);
 *   z^l_mn[b, c'] = sum_c sum_p x^l_mp[b, c] conj(y^l_np[c, c']);
 *   out = SO(3) inverse transform of z onto the b_out grid (zero padding when b_out > b_in) + bias.
 * In the group: out_c'(R) = scaling sum_c sum_i psi[c, c', i] F_c^{(l<L)}(R g_i) + bias_c'.
 * Parameters: `weight` [C_in, C_out, |grid|] ~ U(-1, 1), `bias` [C_out] = 0.
 */
export class SO3Convolution extends SpectralLayer {
  private table: So3RingTable | null = null;
  private kernelCache: { weights: Float32Array; spectrum: PlanarComplex } | null = null;

  constructor(
    inChannels: number, outChannels: number, bandwidthIn: number, bandwidthOut: number,
    readonly grid: So3KernelGrid, random: Random,
  ) {
    super('SO3Convolution', inChannels, outChannels, bandwidthIn, bandwidthOut, grid.length,
      1 / Math.sqrt(grid.length * inChannels * (bandwidthOut / bandwidthIn) ** 3), random);
  }

  /** conj(D^l_np(g_i)) for l < degrees in factored form (so3RingTable), built on first use. */
  private kernelTable(): So3RingTable {
    this.table ??= so3RingTable(this.grid, this.degrees);
    return this.table;
  }

  /**
   * The kernel spectrum y^l_np[c, c'] for n >= 0 and the current weights, laid out per degree
   * (at so3HalfRowCount(l) C_in C_out) as a ((2l+1) C_in) x ((l+1) C_out) matrix with rows
   * (p, c) and columns (n, c'), the columns n > 0 doubled (half spectra, see above).
   */
  private spectrumOfKernel(): PlanarComplex {
    // Inference reuses the last spectrum while the weights are those it was computed from
    // (compared value by value: optimizers update weights in place). Training recomputes it,
    // so that no extra spectrum outlives a step.
    const cached = this.kernelCache;
    const caching = !isGradEnabled();
    if (caching && cached !== null && sameValues(cached.weights, this.weight.data)) {
      return cached.spectrum;
    }
    this.kernelCache = null;

    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const pairs = ci * co;
    const table = this.kernelTable();
    const sums = this.workspace.complex('kernelSums', table.rings * L * (2 * L - 1) * pairs);
    ringPhaseSums(table, this.weight.data, pairs, this.scaling, sums);
    const rows = so3HalfRowCount(L);
    const y = { re: new Float32Array(rows * pairs), im: new Float32Array(rows * pairs) };
    ringKernelMatrices(table, sums, ci, co, y);
    if (caching) this.kernelCache = { weights: Float32Array.from(this.weight.data), spectrum: y };
    return y;
  }

  forward(input: Tensor): Tensor {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const n = checkInputShape('SO3Convolution', input.shape, ci, [2 * bIn, 2 * bIn, 2 * bIn]);
    const count = so3CoefficientCount(L);

    // Input spectrum [l][m][p][b][c] -> per degree a matrix with rows (m, b), columns (p, c):
    // for one signal per channel it already is one.
    const spectrum = so3Forward(input.data, n * ci, bIn, L);
    const x = n === 1 ? spectrum : rowsOfSpectrum(spectrum, L, n, ci);

    // Half spectrum z^l = x^l conj(y^l): rows (m, b), columns (n >= 0, c'), into the spectrum
    // layout [m][n][b][c'] (in place for n = 1) whose orders n < 0 stay zero.
    const y = this.spectrumOfKernel();
    const z = this.workspace.complex('z', count * n * co);
    z.re.fill(0);
    z.im.fill(0);
    const rows = this.workspace.complex('zRows', (2 * L - 1) * n * L * co);
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const h = l + 1;
      const before = so3CoefficientCount(l);
      const kernel = so3HalfRowCount(l) * ci * co;
      if (n === 1) {
        complexGemm(false, false, false, true, dl, h * co, dl * ci, 1, x, before * ci, dl * ci,
          y, kernel, h * co, 0, z, (before + l) * co, dl * co);
      } else {
        complexGemm(false, false, false, true, dl * n, h * co, dl * ci, 1,
          x, before * n * ci, dl * ci, y, kernel, h * co, 0, rows, 0, h * co);
        scatterHalfRows(rows, 0, z, before * n * co, l, n, co);
      }
    }
    addBiasToSpectrum(z, this.bias.data, n);

    const out = so3Inverse(z, n * co, L, bOut);
    return result(out, [n, co, 2 * bOut, 2 * bOut, 2 * bOut], [input, this.weight, this.bias],
      (grad) => this.backwardPass(grad, input, x, y, n));
  }

  private backwardPass(
    grad: Float32Array, input: Tensor, x: PlanarComplex, y: PlanarComplex, n: number,
  ): void {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const count = so3CoefficientCount(L);
    const pairs = ci * co;

    // Gradient of z: the adjoint of the real-part synthesis, [m][n][b][c'].
    const gz = so3InverseAdjoint(grad, n * co, L, bOut);
    giveGrad(this.bias, biasGradientFromSpectrum(gz, co, n));

    const wantInput = input.requiresGrad;
    const wantWeight = this.weight.requiresGrad;
    const gx = wantInput ? this.workspace.complex('gx', count * n * ci) : null;
    const table = this.kernelTable();
    const gSums = wantWeight
      ? this.workspace.complex('kernelSums', table.rings * L * (2 * L - 1) * pairs) : null;
    gSums?.re.fill(0);
    gSums?.im.fill(0);
    // Two consecutive degrees of grad y (addRingGradientSumsPair): degree l at 0 for even l,
    // after degree l - 1 for odd l.
    const pairRows = L * (2 * L - 1) + (L - 1) * (2 * L - 3);
    const gyRows = this.workspace.complex('gyRows', wantWeight ? pairRows * pairs : 0);
    const maxRows = (2 * L - 1) * n;
    const gRows = this.workspace.complex('gzRows', maxRows * L * co);
    const gxRows = this.workspace.complex('gxRows', n === 1 ? 0 : maxRows * (2 * L - 1) * ci);
    // The compiled backends read a transposed operand in place; the plain-TypeScript one
    // would walk it with a stride, so it gets a transposed copy.
    const copy = activeBackend().name === 'reference';
    const yT = this.workspace.complex('yT', copy ? (2 * L - 1) * ci * L * co : 0);

    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const h = l + 1;
      const before = so3CoefficientCount(l);
      const kernel = so3HalfRowCount(l) * pairs;

      // The orders n >= 0 of grad z^l as rows (m, b), columns (n, c').
      let g = gz;
      let gOffset = (before + l) * co;
      let gStride = dl * co;
      if (n > 1) {
        gatherHalfRows(gz, before * n * co, gRows, 0, l, n, co);
        g = gRows;
        gOffset = 0;
        gStride = h * co;
      }

      if (gx !== null) {
        // Half spectrum of grad x^l = grad z^l (y^l)^T: the doubled columns n > 0 of y stand
        // for the orders n < 0 (harmonic-api: so3ForwardAdjoint takes the real part).
        if (copy) transposeComplex(y, kernel, yT, 0, dl * ci, h * co);
        const [b, bOffset, ldb] = copy ? [yT, 0, dl * ci] : [y, kernel, h * co];
        if (n === 1) {
          complexGemm(false, false, !copy, false, dl, dl * ci, h * co, 1, g, gOffset, gStride,
            b, bOffset, ldb, 0, gx, before * ci, dl * ci);
        } else {
          complexGemm(false, false, !copy, false, dl * n, dl * ci, h * co, 1, g, gOffset, gStride,
            b, bOffset, ldb, 0, gxRows, 0, dl * ci);
          swapMiddleAxesComplex(gxRows, 0, gx, before * n * ci, dl, n, dl, ci);
        }
      }

      if (gSums !== null) {
        // grad y^l = (x^l)^T conj(grad z^l) for n >= 0: rows (p, c), columns (n, c'), summed
        // into the phase-sum gradients (the columns n > 0 count twice, for their mirrors n < 0).
        const at = l % 2 === 0 ? 0 : l * (2 * l - 1) * pairs;
        complexGemm(true, false, false, true, dl * ci, h * co, dl * n, 1,
          x, before * n * ci, dl * ci, g, gOffset, gStride, 0, gyRows, at, h * co);
        if (l % 2 === 1) addRingGradientSumsPair(table, gyRows, 0, l - 1, ci, co, gSums);
        else if (l === L - 1) addRingGradientSums(table, gyRows, 0, l, ci, co, gSums);
      }
    }

    if (gx !== null) giveGrad(input, so3ForwardAdjoint(gx, n * ci, bIn, L));
    if (gSums !== null) {
      giveGrad(this.weight, ringWeightGradient(table, gSums, pairs, this.scaling));
    }
  }
}

/**
 * A fresh copy of a batched SO(3) spectrum [l][m][p][b][c] (n signals of C channels) as
 * per-degree matrices [l][m][b][p][c]: rows (m, b), columns (p, c).
 */
export function rowsOfSpectrum(
  spectrum: PlanarComplex, L: number, n: number, channels: number,
): PlanarComplex {
  const size = so3CoefficientCount(L) * n * channels;
  const x = { re: new Float32Array(size), im: new Float32Array(size) };
  for (let l = 0; l < L; l++) {
    const dl = 2 * l + 1;
    const offset = so3CoefficientCount(l) * n * channels;
    swapMiddleAxesComplex(spectrum, offset, x, offset, dl, dl, n, channels);
  }
  return x;
}
