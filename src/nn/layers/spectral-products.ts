/*
 * Generic helpers of the spectral correlation products shared by S2Convolution, SO3Convolution
 * and SO3ToS2: complex GEMMs and axis swaps on planar arrays, the half-spectrum layouts, the bias
 * through the degree-0 coefficient, and the layers' shared scratch buffers.
 *
 * The products are per-degree complex matrix products. They run as real GEMMs on planar (re, im)
 * Float32Arrays through `gemm` of src/engine/kernels.
 */

import { gemm } from '../../engine/kernels/index.js';
import { workArray32 } from '../../engine/work-arrays.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import { PlanarComplex } from './kernel-grids.js';

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
 * The orders n >= 0 of degree l of an SO(3) spectrum [l][m][n'][b][k] (S signals b, d columns k)
 * as a matrix with rows (m, b) and columns (n, k), as [array, offset, leading dimension]: the
 * spectrum itself for one signal (the block n' >= 0 of each row m is contiguous), else gathered
 * into `rows` at 0 (at least (2l+1) S (l+1) d values).
 */
export function halfRowsOfDegree(
  spectrum: PlanarComplex, rows: PlanarComplex, l: number, S: number, d: number,
): [PlanarComplex, number, number] {
  const before = so3CoefficientCount(l);
  if (S <= 1) return [spectrum, (before + l) * d, (2 * l + 1) * d];
  gatherHalfRows(spectrum, before * S * d, rows, 0, l, S, d);
  return [rows, 0, (l + 1) * d];
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
 * backward call (never for anything a backward pass reads later): named views of the engine's
 * work arrays (engine/work-arrays.ts) cut to the size asked for.
 */
export class Workspace {
  /** `prefix` keeps this workspace's slots apart from other users of the engine's work arrays. */
  constructor(private readonly prefix: string) {}

  /** A planar complex buffer of `size` values per plane; contents are unspecified. */
  complex(name: string, size: number): PlanarComplex {
    return { re: this.real(`${name}.re`, size), im: this.real(`${name}.im`, size) };
  }

  /** A real buffer of exactly `size` values; contents are unspecified. */
  real(name: string, size: number): Float32Array {
    const buffer = workArray32(this.prefix + name, size);
    return buffer.length === size ? buffer : buffer.subarray(0, size);
  }
}

/**
 * The one Workspace of all spectral layers. Their buffers live only inside one synchronous
 * forward or backward call, so the layers can share them: memory then holds one set of scratch
 * buffers of the largest layer instead of one set per layer.
 */
export const layerWorkspace = new Workspace('layer.');
