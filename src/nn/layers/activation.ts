import { relu, reluInPlace } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { Module } from '../module.js';

/**
 * Elementwise max(x, 0), any shape. With `inPlace`, the input's values are overwritten (see
 * reluInPlace in engine/ops/elementwise.ts for when that is safe): models use it right after a
 * convolution whose output nothing else reads.
 */
export class ReLU extends Module {
  constructor(readonly inPlace = false) {
    super();
  }

  forward(input: Tensor): Tensor {
    return this.inPlace ? reluInPlace(input) : relu(input);
  }
}
