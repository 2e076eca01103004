import { relu } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { Module } from '../module.js';

/** Elementwise max(x, 0), any shape. */
export class ReLU extends Module {
  forward(input: Tensor): Tensor {
    return relu(input);
  }
}
