import { reluInPlace, upsampleNearest2d } from '../../engine/ops/index.js';
import type { Tensor } from '../../engine/tensor.js';
import { UserError } from '../../util/errors.js';
import type { Random } from '../../util/random.js';
import { Conv2d } from '../layers/conv2d.js';
import { ConvTranspose2d } from '../layers/conv-transpose2d.js';
import { MaxPool2d } from '../layers/pool.js';
import { Module } from '../module.js';
import { convSizes, validateCnnConfig } from './cnn-classifier.js';

/**
 * The paper's planar segmentation baseline (reference notes section 4.4, ConvNet_sem_seg): an
 * encoder-decoder ("hourglass", not a U-Net) on the equirectangular image.
 *
 * Encoder: Conv2d(1 -> f0, k0, s0), then Conv2d(f[i-1] -> f[i], k[i], s[i]), valid padding,
 * ReLU after each. Decoder: the mirror, ConvTranspose2d(f[i] -> f[i-1], k[i], s[i]) with the
 * output padding that restores the encoder map's size exactly, ReLU after each, and finally
 * ConvTranspose2d(f0 -> classes, k0, s0) without activation. With skips, every encoder step
 * i >= 1 adds MaxPool(k[i], s[i]) then a 1x1 conv f[i-1] -> f[i] of its input, and every
 * decoder step i >= 1 adds a 1x1 conv f[i] -> f[i-1] of its input upsampled (nearest) to the
 * target size, both before the ReLU. Default PyTorch initialisation, no normalisation.
 */
export interface CnnSegmenterConfig {
  channels: number[];
  kernels: number[];
  strides: number[];
  useSkips: boolean;
  /** Output classes (default 11: background and ten digits or items). */
  classes?: number;
}

/** "218k": 218,144 parameters with skips (206,698 without), 100 -> 96 -> 94 -> 86 -> 80 -> 39. */
export const CNN_SEGMENTER_218K: CnnSegmenterConfig = {
  channels: [13, 15, 22, 31, 141], kernels: [5, 3, 9, 7, 3], strides: [1, 1, 1, 1, 2],
  useSkips: true,
};

/** "1M": 1,042,013 parameters with skips (992,162 without). */
export const CNN_SEGMENTER_1M: CnnSegmenterConfig = {
  channels: [12, 13, 16, 77, 96, 163], kernels: [3, 3, 5, 5, 3, 5], strides: [1, 1, 1, 2, 1, 1],
  useSkips: true,
};

/** "5.5M": 5,519,335 parameters with skips (5,015,735 without). */
export const CNN_SEGMENTER_5_5M: CnnSegmenterConfig = {
  channels: [12, 15, 16, 85, 141, 191, 1100],
  kernels: [3, 5, 3, 7, 5, 3, 3],
  strides: [1, 1, 1, 2, 1, 1, 2],
  useSkips: true,
};

/**
 * A small segmenter for 32x32 (32 -> 30 -> 14 -> 12) or 40x40 (40 -> 38 -> 18 -> 16) spheres
 * that trains in minutes on two cores; 22,623 parameters.
 */
export const CNN_SEGMENTER_SMALL: CnnSegmenterConfig = {
  channels: [12, 24, 32], kernels: [3, 3, 3], strides: [1, 2, 1], useSkips: true,
};

/** The presets by name (for the command line). */
export const CNN_SEGMENTER_PRESETS: Readonly<Record<string, CnnSegmenterConfig>> = {
  'cnn-218k': CNN_SEGMENTER_218K,
  'cnn-1m': CNN_SEGMENTER_1M,
  'cnn-5.5m': CNN_SEGMENTER_5_5M,
  'cnn-small': CNN_SEGMENTER_SMALL,
};

export class CnnSegmenter extends Module {
  readonly classes: number;
  /** Spatial extents: sizes[0] is the input, sizes[i + 1] the output of encoder layer i. */
  readonly sizes: number[];
  private readonly encoder: Conv2d[] = [];
  private readonly encoderSkips: Array<{ pool: MaxPool2d; conv: Conv2d } | null> = [];
  private readonly decoder: ConvTranspose2d[] = [];
  private readonly decoderSkips: Array<Conv2d | null> = [];

  constructor(readonly config: CnnSegmenterConfig, readonly inputSize: number, random: Random) {
    super();
    validateCnnConfig(config, 'CNN segmenter config');
    const classes = config.classes ?? 11;
    if (!Number.isInteger(classes) || classes < 1) {
      throw new UserError(
        `CNN segmenter config: classes is ${classes}; expected a positive integer`);
    }
    this.classes = classes;
    this.sizes = convSizes(config, inputSize, 'CNN segmenter');
    const { channels: f, kernels: k, strides: s } = config;
    const depth = f.length;

    for (let i = 0; i < depth; i++) {
      const inChannels = i === 0 ? 1 : f[i - 1];
      this.encoder.push(this.registerModule(`encoder.${i}`,
        new Conv2d(inChannels, f[i], k[i], s[i], random)));
      if (config.useSkips && i >= 1) {
        const pool = new MaxPool2d(k[i], s[i]);
        const conv = this.registerModule(`encoderSkip.${i}`,
          new Conv2d(f[i - 1], f[i], 1, 1, random));
        this.encoderSkips.push({ pool, conv });
      } else {
        this.encoderSkips.push(null);
      }
    }

    // Decoder layer i undoes encoder layer i: sizes[i + 1] -> sizes[i].
    for (let i = 0; i < depth; i++) {
      const outChannels = i === 0 ? classes : f[i - 1];
      const outputPadding = this.sizes[i] - ((this.sizes[i + 1] - 1) * s[i] + k[i]);
      this.decoder.push(this.registerModule(`decoder.${i}`,
        new ConvTranspose2d(f[i], outChannels, k[i], s[i], outputPadding, random)));
      this.decoderSkips.push(config.useSkips && i >= 1
        ? this.registerModule(`decoderSkip.${i}`, new Conv2d(f[i], f[i - 1], 1, 1, random))
        : null);
    }
  }

  /** Input [N, 1, S, S] with S = inputSize -> logits [N, classes, S, S]. */
  forward(input: Tensor): Tensor {
    const size = this.inputSize;
    if (input.rank !== 4 || input.shape[1] !== 1 || input.shape[2] !== size
      || input.shape[3] !== size) {
      throw new RangeError(`CnnSegmenter: input must be [N, 1, ${size}, ${size}], got [${
        input.shape}]`);
    }
    const depth = this.encoder.length;
    let h = input;
    // The skip paths are summed into the convolutions (their `addend`) instead of by separate
    // adds, and the ReLU overwrites each sum, which nothing else reads: fewer big arrays.
    for (let i = 0; i < depth; i++) {
      const skip = this.encoderSkips[i];
      const skipped = skip === null ? null : skip.conv.forward(skip.pool.forward(h));
      h = reluInPlace(this.encoder[i].forward(h, skipped));
    }

    for (let i = depth - 1; i >= 1; i--) {
      const skip = this.decoderSkips[i];
      const skipped = skip === null ? null
        : upsampleNearest2d(skip.forward(h), this.sizes[i], this.sizes[i]);
      h = reluInPlace(this.decoder[i].forward(h, skipped));
    }
    return this.decoder[0].forward(h);
  }
}
