import { batchNorm, type BatchNormState } from '../../engine/ops/index.js';
import { parameter, type Tensor } from '../../engine/tensor.js';
import { Module } from '../module.js';

/**
 * Batch normalisation of axis 1 of [N, C, ...] (PyTorch's BatchNorm1d/2d): batch statistics
 * while training, running statistics (buffers `runningMean`, `runningVar`) in evaluation.
 * Parameters: weight (ones) and bias (zeros), [C] each.
 */
export class BatchNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  private readonly state: BatchNormState;

  constructor(readonly channels: number, options: { momentum?: number; eps?: number } = {}) {
    super();
    this.weight = this.registerParameter('weight',
      parameter(new Float32Array(channels).fill(1), [channels]));
    this.bias = this.registerParameter('bias', parameter(new Float32Array(channels), [channels]));
    this.state = {
      runningMean: this.registerBuffer('runningMean', new Float32Array(channels)),
      runningVar: this.registerBuffer('runningVar', new Float32Array(channels).fill(1)),
      momentum: options.momentum ?? 0.1,
      eps: options.eps ?? 1e-5,
    };
  }

  forward(input: Tensor): Tensor {
    return batchNorm(input, this.weight, this.bias, this.state, this.training);
  }
}
