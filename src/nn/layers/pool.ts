import { globalAvgPool2d, maxPool2d } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { Module } from '../module.js';

/** Max pooling over kernel x kernel windows every `stride` pixels, no padding ([N, C, H, W]). */
export class MaxPool2d extends Module {
  constructor(readonly kernel: number, readonly stride: number = kernel) {
    super();
  }

  forward(input: Tensor): Tensor {
    return maxPool2d(input, this.kernel, this.stride);
  }
}

/** Mean over the spatial axes: [N, C, H, W] -> [N, C]. */
export class GlobalAvgPool2d extends Module {
  forward(input: Tensor): Tensor {
    return globalAvgPool2d(input);
  }
}
