import { conv2d } from '../../engine/ops/index.js';
import { parameter, type Tensor } from '../../engine/tensor.js';
import type { Random } from '../../util/random.js';
import { Module } from '../module.js';
import { uniformFanIn } from './linear.js';

/**
 * Valid (unpadded) 2-D convolution, PyTorch's Conv2d(in, out, k, stride): input
 * [N, in, H, W] -> [N, out, floor((H - k) / stride) + 1, likewise W]. Weight [out, in, k, k] and
 * bias [out] start U(-1/sqrt(in k k), +1/sqrt(in k k)) (weight drawn first).
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly inChannels: number, readonly outChannels: number,
    readonly kernelSize: number, readonly stride: number, random: Random) {
    super();
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = this.registerParameter('weight', parameter(
      uniformFanIn(outChannels * fanIn, fanIn, random),
      [outChannels, inChannels, kernelSize, kernelSize]));
    this.bias = this.registerParameter('bias',
      parameter(uniformFanIn(outChannels, fanIn, random), [outChannels]));
  }

  /** Spatial output extent for an input extent. */
  outputSize(inputSize: number): number {
    return Math.floor((inputSize - this.kernelSize) / this.stride) + 1;
  }

  /** The convolution of input, plus `addend` (of the output's shape) when given. */
  forward(input: Tensor, addend: Tensor | null = null): Tensor {
    return conv2d(input, this.weight, this.bias, this.stride, 0, addend);
  }
}
