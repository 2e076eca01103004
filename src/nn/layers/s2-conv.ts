import { result, Tensor } from '../../engine/tensor.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import { s2Forward, s2ForwardAdjoint } from '../../harmonic/s2-transform.js';
import { so3Inverse } from '../../harmonic/so3-transform.js';
import { Random } from '../../util/random.js';
import { PlanarComplex, S2KernelGrid, s2KernelTable } from './kernel-grids.js';
import {
  SpectralLayer, addChannelBias, channelBiasGradient, checkInputShape, complexGemm, kernelSpectrum,
  kernelSpectrumWeightGradient, spectrumGradientRows, swapMiddleAxesComplex, transposeComplex,
} from './so3-conv.js';

/**
 * S2 -> SO(3) correlation (s2cnn `S2Convolution`, transforms.md 4.2).
 *
 * Input [N, C_in, 2b_in, 2b_in] (grids [beta, alpha]), output [N, C_out, 2b_out, 2b_out, 2b_out]
 * (grids [beta, alpha, gamma]). With L = min(b_in, b_out):
 *   x^l_m = S2 forward transform of the input for l < L;
 *   y^l_n[c, c'] = 2 b_out sum_i scaling psi[c, c', i] e^{-i n alpha_i} d^l_{n0}(beta_i),
 *     scaling = 1 / sqrt(|grid| C_in b_out^4 / b_in^2) (applied at use time);
 *   z^l_mn[b, c'] = sum_c x^l_m[b, c] conj(y^l_n[c, c']);
 *   out = SO(3) inverse transform of z onto the b_out grid + bias.
 * On the group: out_c'(R) = 2 b_out scaling sum_c sum_i psi[c, c', i] f_c^{(l<L)}(R x_i) + bias_c',
 * with x_i the unit vector of kernel point i.
 * Parameters: `weight` [C_in, C_out, |grid|] ~ U(-1, 1), `bias` [C_out] = 0.
 */
export class S2Convolution extends SpectralLayer {
  private table: PlanarComplex | null = null;

  constructor(
    inChannels: number, outChannels: number, bandwidthIn: number, bandwidthOut: number,
    readonly grid: S2KernelGrid, random: Random,
  ) {
    super('S2Convolution', inChannels, outChannels, bandwidthIn, bandwidthOut, grid.length,
      1 / Math.sqrt((grid.length * inChannels * bandwidthOut ** 4) / bandwidthIn ** 2), random);
  }

  private kernelTable(): PlanarComplex {
    this.table ??= s2KernelTable(this.grid, this.degrees);
    return this.table;
  }

  /** The factor in front of sum_i psi_i T_i in the kernel spectrum: 2 b_out scaling. */
  private get spectrumFactor(): number {
    return 2 * this.bandwidthOut * this.scaling;
  }

  /**
   * The kernel spectrum y^l_n[c, c'] for the current weights, laid out per degree as a
   * C_in x ((2l+1) C_out) matrix with rows c and columns (n, c').
   */
  private spectrumOfKernel(): PlanarComplex {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const pairs = ci * co;
    const raw = this.workspace.complex('kernelRaw', L * L * pairs);
    kernelSpectrum(this.kernelTable(), this.weight.data, L * L, this.grid.length, pairs,
      this.spectrumFactor, raw);

    // raw is [l][n][c][c']; move c in front of n.
    const y = { re: new Float32Array(L * L * pairs), im: new Float32Array(L * L * pairs) };
    for (let l = 0; l < L; l++) {
      swapMiddleAxesComplex(raw, l * l * pairs, y, l * l * pairs, 1, 2 * l + 1, ci, co);
    }
    return y;
  }

  forward(input: Tensor): Tensor {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const n = checkInputShape('S2Convolution', input.shape, ci, [2 * bIn, 2 * bIn]);
    const count = so3CoefficientCount(L);

    // Input spectrum [l][m][b][c]: per degree a matrix with rows (m, b) and columns c.
    const x = s2Forward(input.data, n * ci, bIn, L);

    // z^l = x^l conj(y^l): rows (m, b), columns (n, c'); then to the layout [m][n][b][c'].
    const y = this.spectrumOfKernel();
    const rows = this.workspace.complex('zRows', count * n * co);
    const z = this.workspace.complex('z', count * n * co);
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const offset = so3CoefficientCount(l) * n * co;
      complexGemm(false, false, false, true, dl * n, dl * co, ci, 1,
        x, l * l * n * ci, ci, y, l * l * ci * co, dl * co, 0, rows, offset, dl * co);
      swapMiddleAxesComplex(rows, offset, z, offset, dl, n, dl, co);
    }

    const out = so3Inverse(z, n * co, L, bOut);
    addChannelBias(out, this.bias.data, n, (2 * bOut) ** 3);

    return result(out, [n, co, 2 * bOut, 2 * bOut, 2 * bOut], [input, this.weight, this.bias],
      (grad) => this.backwardPass(grad, input, x, y, n));
  }

  private backwardPass(
    grad: Float32Array, input: Tensor, x: PlanarComplex, y: PlanarComplex, n: number,
  ): void {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    this.bias.accumulateGrad(channelBiasGradient(grad, co, n, (2 * bOut) ** 3));

    const gRows = spectrumGradientRows(grad, n, co, L, bOut);

    if (input.requiresGrad) {
      // grad x^l = grad z^l (y^l)^T: rows (m, b), columns c, which is the S2 spectrum layout.
      const gx = this.workspace.complex('gx', L * L * n * ci);
      const yT = this.workspace.complex('yT', L * L * ci * co);
      for (let l = 0; l < L; l++) {
        const dl = 2 * l + 1;
        transposeComplex(y, l * l * ci * co, yT, l * l * ci * co, ci, dl * co);
        complexGemm(false, false, false, false, dl * n, ci, dl * co, 1,
          gRows, so3CoefficientCount(l) * n * co, dl * co, yT, l * l * ci * co, ci,
          0, gx, l * l * n * ci, ci);
      }
      input.accumulateGrad(s2ForwardAdjoint(gx, n * ci, bIn, L));
    }

    if (this.weight.requiresGrad) {
      // grad y^l = (x^l)^T conj(grad z^l): rows c, columns (n, c'); back to [n][c][c'].
      const pairs = ci * co;
      const gy = this.workspace.complex('gy', L * L * pairs);
      const gyRaw = this.workspace.complex('gyRaw', L * L * pairs);
      for (let l = 0; l < L; l++) {
        const dl = 2 * l + 1;
        complexGemm(true, false, false, true, ci, dl * co, dl * n, 1,
          x, l * l * n * ci, ci, gRows, so3CoefficientCount(l) * n * co, dl * co,
          0, gy, l * l * pairs, dl * co);
        swapMiddleAxesComplex(gy, l * l * pairs, gyRaw, l * l * pairs, 1, ci, dl, co);
      }
      this.weight.accumulateGrad(kernelSpectrumWeightGradient(this.kernelTable(), gyRaw, L * L,
        this.grid.length, pairs, this.spectrumFactor));
    }
  }
}
