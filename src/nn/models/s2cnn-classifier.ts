import { Tensor } from '../../engine/tensor.js';
import { UserError } from '../../util/errors.js';
import { Random } from '../../util/random.js';
import { Module, Sequential } from '../module.js';
import { ReLU } from '../layers/activation.js';
import { BatchNorm } from '../layers/batch-norm.js';
import {
  S2GridSettings, s2NearIdentityGrid, So3GridSettings, so3NearIdentityGrid,
} from '../layers/kernel-grids.js';
import { Linear } from '../layers/linear.js';
import { S2Convolution } from '../layers/s2-conv.js';
import { SO3Convolution } from '../layers/so3-conv.js';
import { SO3Integrate } from '../layers/so3-integrate.js';

/** One spectral layer of an S2CNN: output channels, output bandwidth and its kernel grid. */
export interface S2LayerConfig {
  channels: number;
  bandwidth: number;
  grid: S2GridSettings;
}

export interface So3LayerConfig {
  channels: number;
  bandwidth: number;
  grid: So3GridSettings;
}

/**
 * An S2CNN classifier: S2Convolution -> ReLU -> (SO3Convolution -> ReLU)* -> SO3Integrate (a
 * rotation-invariant [N, C] feature) -> head. The ReLUs after spectral layers work in place
 * (the layers' backward passes do not read their outputs). The head is, for each hidden width h,
 * BatchNorm -> Linear(., h) -> ReLU, then BatchNorm -> Linear(., classes).
 */
export interface S2cnnClassifierConfig {
  /** Bandwidth b of the input maps [N, inChannels, 2b, 2b]. */
  bandwidth: number;
  inChannels: number;
  classes: number;
  s2: S2LayerConfig;
  so3: So3LayerConfig[];
  hidden: number[];
}

function so3Layer(channels: number, bandwidth: number, maxBeta: number): So3LayerConfig {
  return {
    channels, bandwidth,
    grid: { maxBeta, nAlpha: 6, nBeta: 1, maxGamma: 2 * Math.PI, nGamma: 6 },
  };
}

/**
 * The upstream s2cnn "deep" MNIST model (paper.md 4.5, upstream PR #35) at b = 30: 156,882
 * parameters. Grids n_alpha = 6, n_beta = 1, n_gamma = 6 (6 S2 points, 36 SO(3) points).
 */
export const S2CNN_CLASSIFIER_PAPER: S2cnnClassifierConfig = {
  bandwidth: 30,
  inChannels: 1,
  classes: 10,
  s2: { channels: 8, bandwidth: 30, grid: { maxBeta: Math.PI / 16, nAlpha: 6, nBeta: 1 } },
  so3: [
    so3Layer(16, 15, Math.PI / 16),
    so3Layer(16, 15, Math.PI / 8),
    so3Layer(24, 8, Math.PI / 8),
    so3Layer(24, 8, Math.PI / 4),
    so3Layer(32, 4, Math.PI / 4),
    so3Layer(64, 2, Math.PI / 2),
  ],
  hidden: [64, 32],
};

/**
 * A small classifier for 32 x 32 spheres (b = 16) that trains on two CPU cores: S2 1 -> 8
 * (16 -> 10), SO(3) 8 -> 16 (10 -> 6), SO(3) 16 -> 24 (6 -> 4), integrate, head 24 -> 32 -> 10.
 * Kernel radii double as the bandwidth roughly halves, as in the deep model.
 */
export const S2CNN_CLASSIFIER_SMALL: S2cnnClassifierConfig = {
  bandwidth: 16,
  inChannels: 1,
  classes: 10,
  s2: { channels: 8, bandwidth: 10, grid: { maxBeta: Math.PI / 8, nAlpha: 6, nBeta: 1 } },
  so3: [
    so3Layer(16, 6, Math.PI / 4),
    so3Layer(24, 4, Math.PI / 2),
  ],
  hidden: [32],
};

function requirePositiveInteger(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new UserError(`${field}: found ${String(value)}, expected a positive integer`);
  }
}

function requirePositive(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new UserError(`${field}: found ${String(value)}, expected a positive number`);
  }
}

/** Checks an S2 layer's settings; `field` names it in messages. */
export function checkS2LayerConfig(layer: S2LayerConfig, field: string): void {
  requirePositiveInteger(layer?.channels, `${field}.channels`);
  requirePositiveInteger(layer.bandwidth, `${field}.bandwidth`);
  requirePositive(layer.grid?.maxBeta, `${field}.grid.maxBeta`);
  requirePositiveInteger(layer.grid.nAlpha, `${field}.grid.nAlpha`);
  requirePositiveInteger(layer.grid.nBeta, `${field}.grid.nBeta`);
}

/** Checks an SO(3) layer's settings; `field` names it in messages. */
export function checkSo3LayerConfig(layer: So3LayerConfig, field: string): void {
  checkS2LayerConfig(layer, field);
  requirePositive(layer.grid.maxGamma, `${field}.grid.maxGamma`);
  requirePositiveInteger(layer.grid.nGamma, `${field}.grid.nGamma`);
}

/** Throws a UserError naming the first invalid field of a classifier configuration. */
export function checkClassifierConfig(config: S2cnnClassifierConfig): void {
  requirePositiveInteger(config.bandwidth, 's2cnn classifier bandwidth');
  requirePositiveInteger(config.inChannels, 's2cnn classifier inChannels');
  requirePositiveInteger(config.classes, 's2cnn classifier classes');
  checkS2LayerConfig(config.s2, 's2cnn classifier s2');
  if (!Array.isArray(config.so3)) {
    throw new UserError('s2cnn classifier so3: expected a list of SO(3) layers');
  }
  config.so3.forEach((layer, i) => checkSo3LayerConfig(layer, `s2cnn classifier so3[${i}]`));
  if (!Array.isArray(config.hidden)) {
    throw new UserError('s2cnn classifier hidden: expected a list of widths');
  }
  config.hidden.forEach((width, i) => {
    requirePositiveInteger(width, `s2cnn classifier hidden[${i}]`);
  });
}

/**
 * Rotation-invariant S2CNN classifier (s2cnn's MNIST models): input [N, inChannels, 2b, 2b]
 * spheres on the SOFT grid [beta, alpha], output logits [N, classes].
 */
export class S2cnnClassifier extends Module {
  /** Spectral layers and ReLUs up to the Haar integral: [N, C, 2b, 2b] -> [N, C_last]. */
  readonly features: Sequential;
  /** BatchNorm / Linear / ReLU head: [N, C_last] -> [N, classes]. */
  readonly head: Sequential;

  constructor(readonly config: S2cnnClassifierConfig, random: Random) {
    super();
    checkClassifierConfig(config);

    const features: Module[] = [];
    const s2 = config.s2;
    features.push(new S2Convolution(config.inChannels, s2.channels, config.bandwidth, s2.bandwidth,
      s2NearIdentityGrid(s2.grid), random), new ReLU(true));
    let channels = s2.channels;
    let bandwidth = s2.bandwidth;
    for (const layer of config.so3) {
      features.push(new SO3Convolution(channels, layer.channels, bandwidth, layer.bandwidth,
        so3NearIdentityGrid(layer.grid), random), new ReLU(true));
      channels = layer.channels;
      bandwidth = layer.bandwidth;
    }
    features.push(new SO3Integrate());
    this.features = this.registerModule('features', new Sequential(features));

    const head: Module[] = [];
    for (const width of config.hidden) {
      head.push(new BatchNorm(channels), new Linear(channels, width, random), new ReLU());
      channels = width;
    }
    head.push(new BatchNorm(channels), new Linear(channels, config.classes, random));
    this.head = this.registerModule('head', new Sequential(head));
  }

  forward(input: Tensor): Tensor {
    return this.head.forward(this.features.forward(input));
  }
}
