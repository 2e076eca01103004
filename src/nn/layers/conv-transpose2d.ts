import { convTranspose2d } from '../../engine/ops/index.js';
import { parameter, type Tensor } from '../../engine/tensor.js';
import type { Random } from '../../util/random.js';
import { Module } from '../module.js';
import { uniformFanIn } from './linear.js';

/**
 * Transposed convolution, PyTorch's ConvTranspose2d(in, out, k, stride,
 * output_padding=outputPadding): input [N, in, H, W] -> [N, out, (H - 1) stride + k +
 * outputPadding, likewise W]. Weight [in, out, k, k]; PyTorch computes the fan-in from the
 * weight's second axis, so weight and bias start U(-1/sqrt(out k k), +1/sqrt(out k k)).
 */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly inChannels: number, readonly outChannels: number,
    readonly kernelSize: number, readonly stride: number, readonly outputPadding: number,
    random: Random) {
    super();
    const fanIn = outChannels * kernelSize * kernelSize;
    this.weight = this.registerParameter('weight', parameter(
      uniformFanIn(inChannels * fanIn, fanIn, random),
      [inChannels, outChannels, kernelSize, kernelSize]));
    this.bias = this.registerParameter('bias',
      parameter(uniformFanIn(outChannels, fanIn, random), [outChannels]));
  }

  /** Spatial output extent for an input extent. */
  outputSize(inputSize: number): number {
    return (inputSize - 1) * this.stride + this.kernelSize + this.outputPadding;
  }

  /** The transposed convolution of input, plus `addend` (of the output's shape) when given. */
  forward(input: Tensor, addend: Tensor | null = null): Tensor {
    return convTranspose2d(input, this.weight, this.bias, this.stride, this.outputPadding, 0,
      addend);
  }
}
