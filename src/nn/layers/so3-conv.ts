import { activeBackend, gemm } from '../../engine/kernels/index.js';
import { isGradEnabled, parameter, result, Tensor } from '../../engine/tensor.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import {
  so3Forward, so3ForwardAdjoint, so3Inverse, so3InverseAdjoint,
} from '../../harmonic/so3-transform.js';
import { Random } from '../../util/random.js';
import { Module } from '../module.js';
import { PlanarComplex, So3KernelGrid, so3KernelTable } from './kernel-grids.js';

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
 * Real-signal symmetry. Spectra of real signals on SO(3) satisfy
 * F^l_{-m,-n} = (-1)^{m-n} conj(F^l_mn) (transforms.md 2.2). The input spectrum, the kernel
 * spectrum (real weights), the output spectrum and the gradients flowing back through the
 * transforms of real grids all have it, so each per-degree product needs only the rows of
 * non-negative order; the other rows are copied from them by these helpers.
 */

/**
 * For one degree l: dst [m][k][b][d] (m, k = -l..l) from src [m][b][k][d] whose rows m >= 0 only
 * are read, filling m < 0 by Z_{-m,-k} = (-1)^{m-k} conj(Z_{m,k}).
 */
export function unfoldSymmetricRows(
  src: PlanarComplex, srcOffset: number, dst: PlanarComplex, dstOffset: number,
  l: number, b: number, d: number,
): void {
  const dl = 2 * l + 1;
  for (let m = -l; m <= l; m++) {
    const source = m >= 0 ? m : -m;
    for (let k = -l; k <= l; k++) {
      const sourceK = m >= 0 ? k : -k;
      const flip = m < 0;
      const sign = flip && (m + k) % 2 !== 0 ? -1 : 1;
      for (let j = 0; j < b; j++) {
        let s = srcOffset + (((source + l) * b + j) * dl + sourceK + l) * d;
        let u = dstOffset + (((m + l) * dl + k + l) * b + j) * d;
        if (!flip) {
          for (let e = 0; e < d; e++, s++, u++) {
            dst.re[u] = src.re[s];
            dst.im[u] = src.im[s];
          }
        } else {
          for (let e = 0; e < d; e++, s++, u++) {
            dst.re[u] = sign * src.re[s];
            dst.im[u] = -sign * src.im[s];
          }
        }
      }
    }
  }
}

/**
 * For one degree l: dst [n][p][c][e] from src [p][c][n][e] whose rows p >= 0 only are read,
 * filling p < 0 by G_{-p,-n} = (-1)^{p-n} conj(G_{p,n}).
 */
export function unfoldSymmetricKernelRows(
  src: PlanarComplex, srcOffset: number, dst: PlanarComplex, dstOffset: number,
  l: number, c: number, e: number,
): void {
  const dl = 2 * l + 1;
  for (let p = -l; p <= l; p++) {
    const flip = p < 0;
    for (let n = -l; n <= l; n++) {
      const sign = flip && (p + n) % 2 !== 0 ? -1 : 1;
      const sourceP = flip ? -p : p;
      const sourceN = flip ? -n : n;
      for (let j = 0; j < c; j++) {
        let s = srcOffset + (((sourceP + l) * c + j) * dl + sourceN + l) * e;
        let u = dstOffset + (((n + l) * dl + p + l) * c + j) * e;
        const imSign = flip ? -sign : sign;
        for (let k = 0; k < e; k++, s++, u++) {
          dst.re[u] = sign * src.re[s];
          dst.im[u] = imSign * src.im[s];
        }
      }
    }
  }
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

/** Adds bias[c] to every value of channel c of a [N, C, points] array, in place. */
export function addChannelBias(
  data: Float32Array, bias: Float32Array, batch: number, points: number,
): void {
  const channels = bias.length;
  for (let s = 0; s < batch * channels; s++) {
    const value = bias[s % channels];
    const start = s * points;
    for (let g = start; g < start + points; g++) data[g] += value;
  }
}

/** Gradient of a per-channel bias: sums of the output gradient over batch and points, [C]. */
export function channelBiasGradient(
  grad: Float32Array, channels: number, batch: number, points: number,
): Float32Array {
  const out = new Float64Array(channels);
  for (let s = 0; s < batch * channels; s++) {
    let sum = 0;
    const start = s * points;
    for (let g = start; g < start + points; g++) sum += grad[g];
    out[s % channels] += sum;
  }
  return Float32Array.from(out);
}

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
 * twice and the rows n = 0 (closed under the mirror) once.
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
 * Gradient of the spectrum z of an S2 or SO(3) convolution from the gradient of its real grid
 * output [n, C_out, (2b_out)^3]: the adjoint of the real-part synthesis, with each degree's block
 * reordered from [m][n'][b][c'] to rows (m, b), columns (n', c') for the per-degree products.
 */
export function spectrumGradientRows(
  grad: Float32Array, n: number, co: number, L: number, bOut: number,
): PlanarComplex {
  const gz = so3InverseAdjoint(grad, n * co, L, bOut);
  const gRows = layerWorkspace.complex('gzRows', so3CoefficientCount(L) * n * co);
  for (let l = 0; l < L; l++) {
    const dl = 2 * l + 1;
    const offset = so3CoefficientCount(l) * n * co;
    swapMiddleAxesComplex(gz, offset, gRows, offset, dl, dl, n, co);
  }
  return gRows;
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
  private table: PlanarComplex | null = null;
  private kernelCache: { weights: Float32Array; spectrum: PlanarComplex } | null = null;

  constructor(
    inChannels: number, outChannels: number, bandwidthIn: number, bandwidthOut: number,
    readonly grid: So3KernelGrid, random: Random,
  ) {
    super('SO3Convolution', inChannels, outChannels, bandwidthIn, bandwidthOut, grid.length,
      1 / Math.sqrt(grid.length * inChannels * (bandwidthOut / bandwidthIn) ** 3), random);
  }

  /** conj(D^l_np(g_i)) for l < degrees, built on first use and kept. */
  private kernelTable(): PlanarComplex {
    this.table ??= so3KernelTable(this.grid, this.degrees);
    return this.table;
  }

  /**
   * The kernel spectrum y^l_np[c, c'] for the current weights, laid out per degree as a
   * ((2l+1) C_in) x ((2l+1) C_out) matrix with rows (p, c) and columns (n, c').
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
    const count = so3CoefficientCount(L);
    const raw = this.workspace.complex('kernelRaw', count * pairs);
    halfKernelSpectrum(this.kernelTable(), this.weight.data, L, this.grid.length, pairs,
      this.scaling, raw);

    // raw is [l][n][p][c][c'] for n >= 0; move n next to c', filling n < 0 by symmetry.
    const y = { re: new Float32Array(count * pairs), im: new Float32Array(count * pairs) };
    for (let l = 0; l < L; l++) {
      unfoldKernelMatrix(raw, y, so3CoefficientCount(l) * pairs, l, ci, co);
    }
    if (caching) this.kernelCache = { weights: Float32Array.from(this.weight.data), spectrum: y };
    return y;
  }

  forward(input: Tensor): Tensor {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const n = checkInputShape('SO3Convolution', input.shape, ci, [2 * bIn, 2 * bIn, 2 * bIn]);
    const count = so3CoefficientCount(L);

    // Input spectrum [l][m][p][b][c] -> per degree a matrix with rows (m, b), columns (p, c).
    const spectrum = so3Forward(input.data, n * ci, bIn, L);
    const x = { re: new Float32Array(count * n * ci), im: new Float32Array(count * n * ci) };
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      swapMiddleAxesComplex(spectrum, so3CoefficientCount(l) * n * ci, x,
        so3CoefficientCount(l) * n * ci, dl, dl, n, ci);
    }

    // z^l = x^l conj(y^l): rows (m, b), columns (n, c'), computed for m >= 0 only (the rows
    // start at row l n); then to the spectrum layout [m][n][b][c'], m < 0 by symmetry.
    const y = this.spectrumOfKernel();
    const rows = this.workspace.complex('zRows', count * n * co);
    const z = this.workspace.complex('z', count * n * co);
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const before = so3CoefficientCount(l);
      complexGemm(false, false, false, true, (l + 1) * n, dl * co, dl * ci, 1,
        x, (before * n + l * n * dl) * ci, dl * ci, y, before * ci * co, dl * co,
        0, rows, (before * n + l * n * dl) * co, dl * co);
      unfoldSymmetricRows(rows, before * n * co, z, before * n * co, l, n, co);
    }

    const out = so3Inverse(z, n * co, L, bOut);
    const points = (2 * bOut) ** 3;
    addChannelBias(out, this.bias.data, n, points);

    return result(out, [n, co, 2 * bOut, 2 * bOut, 2 * bOut], [input, this.weight, this.bias],
      (grad) => this.backwardPass(grad, input, x, y, n));
  }

  private backwardPass(
    grad: Float32Array, input: Tensor, x: PlanarComplex, y: PlanarComplex, n: number,
  ): void {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const count = so3CoefficientCount(L);
    this.bias.accumulateGrad(channelBiasGradient(grad, co, n, (2 * bOut) ** 3));

    // Gradient of z (adjoint of the real-part synthesis) as matrices rows (m, b), cols (n, c').
    const gRows = spectrumGradientRows(grad, n, co, L, bOut);

    if (input.requiresGrad) {
      // grad x^l = grad z^l (y^l)^T for rows m >= 0, back to [m][p][b][c] (m < 0 by symmetry),
      // then the adjoint of the analysis.
      const gxRows = this.workspace.complex('gxRows', count * n * ci);
      const gx = this.workspace.complex('gx', count * n * ci);
      // The compiled backends read a transposed operand in place; the plain-TypeScript one
      // would walk it with a stride, so it gets a transposed copy.
      const copy = activeBackend().name === 'reference';
      const yT = copy ? this.workspace.complex('yT', count * ci * co) : y;
      for (let l = 0; l < L; l++) {
        const dl = 2 * l + 1;
        const before = so3CoefficientCount(l);
        if (copy) transposeComplex(y, before * ci * co, yT, before * ci * co, dl * ci, dl * co);
        complexGemm(false, false, !copy, false, (l + 1) * n, dl * ci, dl * co, 1,
          gRows, (before * n + l * n * dl) * co, dl * co, yT, before * ci * co,
          copy ? dl * ci : dl * co, 0, gxRows, (before * n + l * n * dl) * ci, dl * ci);
        unfoldSymmetricRows(gxRows, before * n * ci, gx, before * n * ci, l, n, ci);
      }
      input.accumulateGrad(so3ForwardAdjoint(gx, n * ci, bIn, L));
    }

    if (this.weight.requiresGrad) {
      // grad y^l = (x^l)^T conj(grad z^l), rows (p, c), cols (n, c'), for p >= 0 (columns of
      // x^l from l C_in on); back to [n][p][c][c'] with p < 0 by symmetry.
      const pairs = ci * co;
      const gy = this.workspace.complex('gy', count * pairs);
      const gyRaw = this.workspace.complex('gyRaw', count * pairs);
      for (let l = 0; l < L; l++) {
        const dl = 2 * l + 1;
        const before = so3CoefficientCount(l);
        complexGemm(true, false, false, true, (l + 1) * ci, dl * co, dl * n, 1,
          x, before * n * ci + l * ci, dl * ci, gRows, before * n * co, dl * co,
          0, gy, before * pairs + l * ci * dl * co, dl * co);
        unfoldSymmetricKernelRows(gy, before * pairs, gyRaw, before * pairs, l, ci, co);
      }
      this.weight.accumulateGrad(halfKernelSpectrumWeightGradient(this.kernelTable(), gyRaw, L,
        this.grid.length, pairs, this.scaling));
    }
  }
}
