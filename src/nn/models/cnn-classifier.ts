import { globalAvgPool2d } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { UserError } from '../../util/errors.js';
import type { Random } from '../../util/random.js';
import { ReLU } from '../layers/activation.js';
import { BatchNorm } from '../layers/batch-norm.js';
import { Conv2d } from '../layers/conv2d.js';
import { Linear } from '../layers/linear.js';
import { Module, Sequential } from '../module.js';

/**
 * Planar CNN classifier of the paper's classification study (reference notes section 4.5):
 * valid convolutions, each followed by ReLU, no skips; global average pooling over space; head
 * [BN -> Linear(C, 64) -> ReLU -> BN -> Linear(64, 32) -> ReLU -> BN -> Linear(32, 10)].
 * Input [N, 1, H, W] (the equirectangular image), output logits [N, 10].
 */
export interface CnnClassifierConfig {
  /** Output channels of each convolution. */
  channels: number[];
  /** Square kernel size of each convolution. */
  kernels: number[];
  /** Stride of each convolution. */
  strides: number[];
}

/** "114k": the 218k segmenter's encoder, 113,761 parameters. */
export const CNN_CLASSIFIER_114K: CnnClassifierConfig = {
  channels: [13, 15, 22, 31, 141], kernels: [5, 3, 9, 7, 3], strides: [1, 1, 1, 1, 2],
};

/** "0.5M": the 1M segmenter's encoder, 509,041 parameters. */
export const CNN_CLASSIFIER_509K: CnnClassifierConfig = {
  channels: [12, 13, 16, 77, 96, 163], kernels: [3, 3, 5, 5, 3, 5], strides: [1, 1, 1, 2, 1, 1],
};

/** "2.5M": the 5.5M segmenter's encoder, 2,583,138 parameters. */
export const CNN_CLASSIFIER_2_5M: CnnClassifierConfig = {
  channels: [12, 15, 16, 85, 141, 191, 1100],
  kernels: [3, 5, 3, 7, 5, 3, 3],
  strides: [1, 1, 1, 2, 1, 1, 2],
};

/**
 * A small classifier for 32x32 spheres (bandwidth 16) that trains in minutes on two cores:
 * 32 -> 28 -> 13 -> 11 -> 9, 16,578 parameters.
 */
export const CNN_CLASSIFIER_SMALL: CnnClassifierConfig = {
  channels: [8, 16, 24, 32], kernels: [5, 3, 3, 3], strides: [1, 2, 1, 1],
};

/** The presets by name (for the command line). */
export const CNN_CLASSIFIER_PRESETS: Readonly<Record<string, CnnClassifierConfig>> = {
  'cnn-114k': CNN_CLASSIFIER_114K,
  'cnn-509k': CNN_CLASSIFIER_509K,
  'cnn-2.5m': CNN_CLASSIFIER_2_5M,
  'cnn-small': CNN_CLASSIFIER_SMALL,
};

/**
 * Throws a UserError unless the three lists have the same positive length and hold positive
 * integers. `what` names the configuration in the message.
 */
export function validateCnnConfig(config: CnnClassifierConfig, what: string): void {
  const { channels, kernels, strides } = config;
  if (channels.length === 0 || kernels.length !== channels.length
    || strides.length !== channels.length) {
    throw new UserError(`${what}: channels, kernels and strides have ${channels.length}, ${
      kernels.length} and ${strides.length} entries; expected the same number, at least 1`);
  }
  for (const [field, list] of [['channels', channels], ['kernels', kernels],
    ['strides', strides]] as const) {
    const bad = list.find((v) => !Number.isInteger(v) || v < 1);
    if (bad !== undefined) {
      throw new UserError(`${what}: ${field} contains ${bad}; expected positive integers`);
    }
  }
}

/**
 * Spatial extents through valid convolutions: sizes[0] = inputSize and
 * sizes[i + 1] = floor((sizes[i] - kernels[i]) / strides[i]) + 1. Throws a UserError when a
 * kernel does not fit.
 */
export function convSizes(config: CnnClassifierConfig, inputSize: number, what: string): number[] {
  const sizes = [inputSize];
  config.kernels.forEach((kernel, i) => {
    const next = Math.floor((sizes[i] - kernel) / config.strides[i]) + 1;
    if (sizes[i] < kernel) {
      throw new UserError(`${what}: layer ${i} gets ${sizes[i]}x${sizes[i]} maps, smaller than ${
        ''}its ${kernel}x${kernel} kernel; use a larger input (bandwidth) or smaller kernels`);
    }
    sizes.push(next);
  });
  return sizes;
}

export class CnnClassifier extends Module {
  readonly features: Sequential;
  readonly head: Sequential;

  constructor(readonly config: CnnClassifierConfig, random: Random) {
    super();
    validateCnnConfig(config, 'CNN classifier config');
    const layers: Module[] = [];
    config.channels.forEach((channels, i) => {
      const inChannels = i === 0 ? 1 : config.channels[i - 1];
      layers.push(new Conv2d(inChannels, channels, config.kernels[i], config.strides[i], random));
      layers.push(new ReLU());
    });
    this.features = this.registerModule('features', new Sequential(layers));

    const width = config.channels[config.channels.length - 1];
    this.head = this.registerModule('head', new Sequential([
      new BatchNorm(width), new Linear(width, 64, random), new ReLU(),
      new BatchNorm(64), new Linear(64, 32, random), new ReLU(),
      new BatchNorm(32), new Linear(32, 10, random),
    ]));
  }

  /** Spatial extents of the feature maps for a square input of side `inputSize`. */
  featureSizes(inputSize: number): number[] {
    return convSizes(this.config, inputSize, 'CNN classifier');
  }

  /** Input [N, 1, H, W] -> logits [N, 10]. */
  forward(input: Tensor): Tensor {
    return this.head.forward(globalAvgPool2d(this.features.forward(input)));
  }
}
