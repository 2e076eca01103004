import { giveGrad } from '../../engine/ops/check.js';
import { result, Tensor } from '../../engine/tensor.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import { s2Inverse, s2InverseAdjoint } from '../../harmonic/s2-transform.js';
import { so3Forward, so3ForwardAdjoint } from '../../harmonic/so3-transform.js';
import { Random } from '../../util/random.js';
import { PlanarComplex, So3KernelGrid, so3ToS2KernelTable } from './kernel-grids.js';
import { kernelSpectrum, kernelSpectrumWeightGradient } from './kernel-spectrum.js';
import { SpectralLayer, checkInputShape } from './so3-conv.js';
import {
  addBiasToSpectrum, biasGradientFromSpectrum, complexGemm, rowsOfSpectrum,
  swapMiddleAxesComplex, transposeComplex,
} from './spectral-products.js';

/**
 * SO(3) -> S2 correlation, the layer the paper adds for dense output (paper.md 4.2, Fig. 3).
 *
 * Input [N, C_in, 2b_in, 2b_in, 2b_in] (grids [beta, alpha, gamma]), output
 * [N, C_out, 2b_out, 2b_out] (grids [beta, alpha]); b_out may exceed b_in (zero padding of the
 * spectrum, 42 -> 50 in the paper). With L = min(b_in, b_out):
 *   x^l_mn = SO(3) forward transform of the input for l < L;
 *   kappa^l_n[c, c'] = sum_{m'} y^l_{m'n}[c, c']
 *                   = sum_i scaling psi[c, c', i] sum_{m'} conj(D^l_{m'n}(g_i)),
 *     the SO(3) kernel spectrum of an SO(3)-grid kernel summed over its left index,
 *     scaling = 1 / sqrt(|grid| C_in (b_out / b_in)^3);
 *   out^l_m[b, c'] = sum_c sum_n x^l_mn[b, c] conj(kappa^l_n[c, c']);
 *   out = real part of the S2 inverse transform onto the b_out grid + bias.
 * Summing over the right index commutes with the left action of rotations, so the layer is
 * equivariant; the synthesised S2 coefficients are not Hermitian, hence the real part.
 * Parameters: `weight` [C_in, C_out, |grid|] ~ U(-1, 1), `bias` [C_out] = 0.
 */
export class SO3ToS2 extends SpectralLayer {
  private table: PlanarComplex | null = null;

  constructor(
    inChannels: number, outChannels: number, bandwidthIn: number, bandwidthOut: number,
    readonly grid: So3KernelGrid, random: Random,
  ) {
    super('SO3ToS2', inChannels, outChannels, bandwidthIn, bandwidthOut, grid.length,
      1 / Math.sqrt(grid.length * inChannels * (bandwidthOut / bandwidthIn) ** 3), random);
  }

  private kernelTable(): PlanarComplex {
    this.table ??= so3ToS2KernelTable(this.grid, this.degrees);
    return this.table;
  }

  forward(input: Tensor): Tensor {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const n = checkInputShape('SO3ToS2', input.shape, ci, [2 * bIn, 2 * bIn, 2 * bIn]);

    // Input spectrum [l][m][p][b][c] -> per degree a matrix with rows (m, b), columns (p, c):
    // for one signal per channel it already is one.
    const spectrum = so3Forward(input.data, n * ci, bIn, L);
    const x = n === 1 ? spectrum : rowsOfSpectrum(spectrum, L, n, ci);

    // kappa [l][p][c][c'] is per degree a matrix with rows (p, c), columns c'.
    const pairs = ci * co;
    const kappa = { re: new Float32Array(L * L * pairs), im: new Float32Array(L * L * pairs) };
    kernelSpectrum(this.kernelTable(), this.weight.data, L * L, this.grid.length, pairs,
      this.scaling, kappa);

    // out^l = x^l conj(kappa^l): rows (m, b), columns c', which is the S2 spectrum layout.
    const s2 = this.workspace.complex('s2', L * L * n * co);
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      complexGemm(false, false, false, true, dl * n, co, dl * ci, 1,
        x, so3CoefficientCount(l) * n * ci, dl * ci, kappa, l * l * pairs, co,
        0, s2, l * l * n * co, co);
    }

    addBiasToSpectrum(s2, this.bias.data, n);

    const out = s2Inverse(s2, n * co, L, bOut);
    return result(out, [n, co, 2 * bOut, 2 * bOut], [input, this.weight, this.bias],
      (grad) => this.backwardPass(grad, input, x, kappa, n));
  }

  private backwardPass(
    grad: Float32Array, input: Tensor, x: PlanarComplex, kappa: PlanarComplex, n: number,
  ): void {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const count = so3CoefficientCount(L);
    const pairs = ci * co;

    // Gradient of the S2 coefficients: rows (m, b), columns c'.
    const gs2 = s2InverseAdjoint(grad, n * co, L, bOut);
    giveGrad(this.bias, biasGradientFromSpectrum(gs2, co, n));

    if (input.requiresGrad) {
      // grad x^l = grad out^l (kappa^l)^T, rows (m, b), columns (p, c); back to [m][p][b][c]
      // (already that layout for one signal per channel).
      const gx = this.workspace.complex('gx', count * n * ci);
      const gxRows = n === 1 ? gx : this.workspace.complex('gxRows', count * n * ci);
      const kappaT = this.workspace.complex('kappaT', L * L * pairs);
      for (let l = 0; l < L; l++) {
        const dl = 2 * l + 1;
        const offset = so3CoefficientCount(l) * n * ci;
        transposeComplex(kappa, l * l * pairs, kappaT, l * l * pairs, dl * ci, co);
        complexGemm(false, false, false, false, dl * n, dl * ci, co, 1,
          gs2, l * l * n * co, co, kappaT, l * l * pairs, dl * ci, 0, gxRows, offset, dl * ci);
        if (n > 1) swapMiddleAxesComplex(gxRows, offset, gx, offset, dl, n, dl, ci);
      }
      giveGrad(input, so3ForwardAdjoint(gx, n * ci, bIn, L));
    }

    if (this.weight.requiresGrad) {
      // grad kappa^l = (x^l)^T conj(grad out^l): rows (p, c), columns c' = layout [l][p][c][c'].
      const gKappa = this.workspace.complex('gKappa', L * L * pairs);
      for (let l = 0; l < L; l++) {
        const dl = 2 * l + 1;
        complexGemm(true, false, false, true, dl * ci, co, dl * n, 1,
          x, so3CoefficientCount(l) * n * ci, dl * ci, gs2, l * l * n * co, co,
          0, gKappa, l * l * pairs, co);
      }
      giveGrad(this.weight, kernelSpectrumWeightGradient(this.kernelTable(), gKappa, L * L,
        this.grid.length, pairs, this.scaling));
    }
  }
}
