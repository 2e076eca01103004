import { upsampleNearest2d } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { Module } from '../module.js';

/**
 * Nearest-neighbour resampling of [N, C, H, W] to a fixed size [N, C, height, width]
 * (PyTorch's nn.Upsample(size=(height, width), mode='nearest')).
 */
export class UpsampleNearest2d extends Module {
  constructor(readonly height: number, readonly width: number = height) {
    super();
  }

  forward(input: Tensor): Tensor {
    return upsampleNearest2d(input, this.height, this.width);
  }
}
