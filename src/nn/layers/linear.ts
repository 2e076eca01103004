import { linear } from '../../engine/ops/index.js';
import { parameter, type Tensor } from '../../engine/tensor.js';
import type { Random } from '../../util/random.js';
import { Module } from '../module.js';

/**
 * Values uniform in [-bound, bound), bound = 1 / sqrt(fanIn): PyTorch's default initialisation
 * of Linear and Conv weights (Kaiming uniform with a = sqrt(5)) and biases.
 */
export function uniformFanIn(size: number, fanIn: number, random: Random): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.uniformIn(-bound, bound);
  return values;
}

/**
 * Fully connected layer y = x W^T + b: input [N, inFeatures], output [N, outFeatures]; weight
 * [outFeatures, inFeatures] and bias [outFeatures], both U(-1/sqrt(in), 1/sqrt(in)) at start
 * (weight drawn first, then bias).
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly inFeatures: number, readonly outFeatures: number, random: Random) {
    super();
    this.weight = this.registerParameter('weight', parameter(
      uniformFanIn(outFeatures * inFeatures, inFeatures, random), [outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', parameter(
      uniformFanIn(outFeatures, inFeatures, random), [outFeatures]));
  }

  forward(input: Tensor): Tensor {
    return linear(input, this.weight, this.bias);
  }
}
