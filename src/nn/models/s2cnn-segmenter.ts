import { Tensor } from '../../engine/tensor.js';
import { UserError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import { Module, Sequential } from '../module.js';
import { ReLU } from '../layers/activation.js';
import {
  S2_GRID_DEFAULTS, s2NearIdentityGrid, SO3_GRID_DEFAULTS, So3GridSettings, so3NearIdentityGrid,
} from '../layers/kernel-grids.js';
import { S2Convolution } from '../layers/s2-conv.js';
import { SO3Convolution } from '../layers/so3-conv.js';
import { SO3ToS2 } from '../layers/so3-to-s2.js';
import {
  checkS2LayerConfig, checkSo3LayerConfig, S2LayerConfig, So3LayerConfig,
} from './s2cnn-classifier.js';

/**
 * A segmentation S2CNN (the paper's `S2ConvNet_sem_seg`, paper.md 4.3): S2Convolution ->
 * (SO3Convolution)* -> SO3ToS2 back to the input bandwidth, all spectral, no normalisation and no
 * pooling (bandwidths change by truncation or zero padding). ReLU follows every layer but the last
 * unless `nonlinearity` is 'identity' (a purely linear, exactly equivariant network, for tests);
 * it works in place, since the spectral layers' backward passes do not read their outputs.
 */
export interface S2cnnSegmenterConfig {
  /** Bandwidth b of the input maps [N, inChannels, 2b, 2b] and of the output logits. */
  bandwidth: number;
  inChannels: number;
  classes: number;
  s2: S2LayerConfig;
  so3: So3LayerConfig[];
  /** Kernel grid of the final SO3ToS2 layer. */
  outputGrid: So3GridSettings;
  nonlinearity?: 'relu' | 'identity';
}

const PI = Math.PI;

function so3Layer(channels: number, bandwidth: number, maxBeta: number): So3LayerConfig {
  return { channels, bandwidth, grid: { ...SO3_GRID_DEFAULTS, maxBeta } };
}

/**
 * The paper's "204k" segmentation S2CNN at b = 50 (100 x 100 spheres, 11 classes): bandwidths
 * 50 42 35 27 20 27 35 42 50, channels 11 12 13 14 13 12 11, kernel radii 0.1238 ... 0.1474 (x pi),
 * default grids (24 S2 points, 192 SO(3) points): 204,073 parameters.
 */
export const S2CNN_SEGMENTER_PAPER: S2cnnSegmenterConfig = {
  bandwidth: 50,
  inChannels: 1,
  classes: 11,
  s2: { channels: 11, bandwidth: 42, grid: { ...S2_GRID_DEFAULTS, maxBeta: 0.1238 * PI } },
  so3: [
    so3Layer(12, 35, 0.1474 * PI),
    so3Layer(13, 27, 0.1768 * PI),
    so3Layer(14, 20, 0.2292 * PI),
    so3Layer(13, 27, 0.3095 * PI),
    so3Layer(12, 35, 0.2292 * PI),
    so3Layer(11, 42, 0.1768 * PI),
  ],
  outputGrid: { ...SO3_GRID_DEFAULTS, maxBeta: 0.1474 * PI },
  nonlinearity: 'relu',
};

/**
 * A small segmentation S2CNN for 32 x 32 spheres (b = 16) that trains in minutes on two cores:
 * bandwidths 16 -> 12 -> 8 -> 12 -> 16, channels 8 12 8, the paper's kernel radii in radians (so
 * the receptive fields cover the same solid angles), default grids.
 */
export const S2CNN_SEGMENTER_SMALL: S2cnnSegmenterConfig = {
  bandwidth: 16,
  inChannels: 1,
  classes: 11,
  s2: { channels: 8, bandwidth: 12, grid: { ...S2_GRID_DEFAULTS, maxBeta: 0.1238 * PI } },
  so3: [
    so3Layer(12, 8, 0.1768 * PI),
    so3Layer(8, 12, 0.2292 * PI),
  ],
  outputGrid: { ...SO3_GRID_DEFAULTS, maxBeta: 0.1474 * PI },
  nonlinearity: 'relu',
};

/** Throws a UserError naming the first invalid field of a segmenter configuration. */
export function checkSegmenterConfig(config: S2cnnSegmenterConfig): void {
  for (const key of ['bandwidth', 'inChannels', 'classes'] as const) {
    const value: unknown = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new UserError(
        `s2cnn segmenter ${key}: found ${String(value)}, expected a positive integer`);
    }
  }
  checkS2LayerConfig(config.s2, 's2cnn segmenter s2');
  if (!Array.isArray(config.so3)) {
    throw new UserError('s2cnn segmenter so3: expected a list of SO(3) layers');
  }
  config.so3.forEach((layer, i) => checkSo3LayerConfig(layer, `s2cnn segmenter so3[${i}]`));
  const output = { channels: config.classes, bandwidth: config.bandwidth, grid: config.outputGrid };
  checkSo3LayerConfig(output, 's2cnn segmenter outputGrid');
  const nonlinearity: unknown = config.nonlinearity ?? 'relu';
  if (nonlinearity !== 'relu' && nonlinearity !== 'identity') {
    throw new UserError(`s2cnn segmenter nonlinearity: found ${String(nonlinearity)}, expected ` +
      '"relu" or "identity"');
  }
}

/**
 * Rotation-equivariant segmentation S2CNN: input [N, inChannels, 2b, 2b] spheres on the SOFT grid
 * [beta, alpha], output per-pixel logits [N, classes, 2b, 2b] on the same grid.
 */
export class S2cnnSegmenter extends Module {
  readonly layers: Sequential;

  constructor(readonly config: S2cnnSegmenterConfig, random: Random) {
    super();
    checkSegmenterConfig(config);
    const relu = (config.nonlinearity ?? 'relu') === 'relu';

    const layers: Module[] = [];
    const s2 = config.s2;
    layers.push(new S2Convolution(config.inChannels, s2.channels, config.bandwidth, s2.bandwidth,
      s2NearIdentityGrid(s2.grid), random));
    if (relu) layers.push(new ReLU(true));
    let channels = s2.channels;
    let bandwidth = s2.bandwidth;
    for (const layer of config.so3) {
      layers.push(new SO3Convolution(channels, layer.channels, bandwidth, layer.bandwidth,
        so3NearIdentityGrid(layer.grid), random));
      if (relu) layers.push(new ReLU(true));
      channels = layer.channels;
      bandwidth = layer.bandwidth;
    }
    layers.push(new SO3ToS2(channels, config.classes, bandwidth, config.bandwidth,
      so3NearIdentityGrid(config.outputGrid), random));
    this.layers = this.registerModule('layers', new Sequential(layers));
  }

  forward(input: Tensor): Tensor {
    return this.layers.forward(input);
  }
}
