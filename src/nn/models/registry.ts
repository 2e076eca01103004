import { so3CoefficientCount } from '../../harmonic/indexing.js';
import type { MemoryFootprint } from '../../train/memory.js';
import { UserError } from '../../util/errors.js';
import type { Random } from '../../util/random.js';
import type { Module } from '../module.js';
import {
  CNN_CLASSIFIER_114K, CNN_CLASSIFIER_2_5M, CNN_CLASSIFIER_509K, CNN_CLASSIFIER_SMALL,
  CnnClassifier, convSizes, type CnnClassifierConfig,
} from './cnn-classifier.js';
import {
  CNN_SEGMENTER_1M, CNN_SEGMENTER_218K, CNN_SEGMENTER_5_5M, CNN_SEGMENTER_SMALL, CnnSegmenter,
  type CnnSegmenterConfig,
} from './cnn-segmenter.js';
import {
  S2CNN_CLASSIFIER_PAPER, S2CNN_CLASSIFIER_SMALL, S2cnnClassifier, type S2cnnClassifierConfig,
} from './s2cnn-classifier.js';
import {
  S2CNN_SEGMENTER_PAPER, S2CNN_SEGMENTER_SMALL, S2cnnSegmenter, type S2cnnSegmenterConfig,
} from './s2cnn-segmenter.js';

/**
 * The models the command line knows, by name. Each entry builds its model for any input
 * bandwidth b (inputs [N, 1, 2b, 2b]) and describes its memory footprint from the architecture.
 *
 * S2CNN presets are defined at one bandwidth; at another input bandwidth every layer bandwidth is
 * scaled by b / b_preset (rounded, at least 1) while kernel radii (angles) and channels stay, so
 * the network sees the same solid angles at a coarser or finer resolution. CNNs take any input
 * size their valid convolutions fit into.
 */

export type ModelTask = 'classification' | 'segmentation';
export type ModelFamily = 's2cnn' | 'cnn';

export interface ModelEntry {
  name: string;
  task: ModelTask;
  family: ModelFamily;
  /** One line for `equisphere help`. */
  description: string;
  /** Bandwidth the preset was designed for. */
  presetBandwidth: number;
  /** The configuration used at input bandwidth b (JSON-serialisable; stored in checkpoints). */
  config(bandwidth: number): unknown;
  /** A freshly initialised model for inputs [N, 1, 2b, 2b]. */
  create(bandwidth: number, random: Random): Module;
  /** Memory footprint of training at input bandwidth b (see src/train/memory.ts). */
  footprint(bandwidth: number): MemoryFootprint;
}

/** Rescales an S2CNN configuration's layer bandwidths from its preset bandwidth to `bandwidth`. */
function scaleS2cnn<T extends S2cnnClassifierConfig | S2cnnSegmenterConfig>(preset: T,
  bandwidth: number): T {
  if (bandwidth === preset.bandwidth) return preset;
  const scale = (b: number): number => Math.max(1, Math.round((b * bandwidth) / preset.bandwidth));
  return {
    ...preset,
    bandwidth,
    s2: { ...preset.s2, bandwidth: scale(preset.s2.bandwidth) },
    so3: preset.so3.map((layer) => ({ ...layer, bandwidth: scale(layer.bandwidth) })),
  };
}

/** Number of points of the near-identity kernel grids (s2NearIdentityGrid, so3NearIdentityGrid). */
function s2GridPoints(grid: { nAlpha: number; nBeta: number }): number {
  return grid.nAlpha * grid.nBeta;
}

function so3GridPoints(grid: { nAlpha: number; nBeta: number; nGamma: number }): number {
  return grid.nAlpha * grid.nBeta * grid.nGamma;
}

/**
 * Footprint of an S2CNN: per spectral layer, its output grid C_out (2 b_out)^3 (SO(3) maps) or
 * C_out (2 b)^2 (the final S2 map of a segmenter), the ReLU output of the same size, and the
 * input and output spectra (complex, C x so3CoefficientCount(L) each) that the backward pass
 * reuses. Tables: per layer the float64 Wigner-d table of the analysis on the input grid and of
 * the synthesis on the output grid, L(4L^2 - 1)/3 x 2b values each, plus the kernel tables.
 */
function s2cnnFootprint(config: S2cnnClassifierConfig | S2cnnSegmenterConfig,
  segmentation: boolean): MemoryFootprint {
  let floats = 0;
  let tableBytes = 0;
  let parameterCount = 0;
  let channels = config.inChannels;
  let bandwidth = config.bandwidth;

  const layers: Array<{
    channels: number; bandwidth: number; gridPoints: number; toS2?: boolean;
  }> = [
    {
      channels: config.s2.channels, bandwidth: config.s2.bandwidth,
      gridPoints: s2GridPoints(config.s2.grid),
    },
    ...config.so3.map((layer) => ({
      channels: layer.channels, bandwidth: layer.bandwidth, gridPoints: so3GridPoints(layer.grid),
    })),
  ];
  if (segmentation) {
    const seg = config as S2cnnSegmenterConfig;
    layers.push({
      channels: seg.classes, bandwidth: seg.bandwidth, gridPoints: so3GridPoints(seg.outputGrid),
      toS2: true,
    });
  }

  for (const layer of layers) {
    const degrees = Math.min(bandwidth, layer.bandwidth);
    const coefficients = so3CoefficientCount(degrees);
    const side = 2 * layer.bandwidth;
    const outputPoints = layer.toS2 === true ? side ** 2 : side ** 3;
    floats += 2 * layer.channels * outputPoints;
    floats += 2 * coefficients * (channels + layer.channels);
    tableBytes += 8 * coefficients * (2 * bandwidth + 2 * layer.bandwidth);
    tableBytes += 8 * coefficients * layer.gridPoints;
    parameterCount += channels * layer.channels * layer.gridPoints + layer.channels;
    channels = layer.channels;
    bandwidth = layer.bandwidth;
  }
  if (!segmentation) {
    const hidden = (config as S2cnnClassifierConfig).hidden;
    for (const width of [...hidden, (config as S2cnnClassifierConfig).classes]) {
      parameterCount += channels * width + width + 2 * channels;
      floats += 3 * width;
      channels = width;
    }
  }
  return { parameterCount, activationFloatsPerSample: floats, tableBytes };
}

/**
 * Footprint of a planar CNN: every convolution output and its ReLU (and, for the segmenter,
 * the skip branches and the mirrored decoder maps), plus the im2col patch matrix of the largest
 * layer (C_in k^2 x output pixels), which the backward pass of that layer rebuilds.
 */
function cnnFootprint(config: CnnClassifierConfig | CnnSegmenterConfig, inputSize: number,
  segmentation: boolean, what: string): MemoryFootprint {
  const sizes = convSizes(config, inputSize, what);
  const { channels, kernels } = config;
  let floats = 0;
  let largestPatches = 0;
  let parameterCount = 0;
  channels.forEach((c, i) => {
    const inChannels = i === 0 ? 1 : channels[i - 1];
    const map = c * sizes[i + 1] ** 2;
    floats += (segmentation ? 6 : 2) * map;
    largestPatches = Math.max(largestPatches, inChannels * kernels[i] ** 2 * sizes[i + 1] ** 2);
    parameterCount += inChannels * c * kernels[i] ** 2 + c;
    if (segmentation) {
      const outChannels = i === 0 ? ((config as CnnSegmenterConfig).classes ?? 11) : inChannels;
      parameterCount += c * outChannels * kernels[i] ** 2 + outChannels;
      if ((config as CnnSegmenterConfig).useSkips && i >= 1) {
        parameterCount += 2 * inChannels * c + c + inChannels;
      }
      if (i === 0) floats += outChannels * sizes[0] ** 2;
    }
  });
  if (!segmentation) {
    // Head: BatchNorm(w) Linear(w, 64) BatchNorm(64) Linear(64, 32) BatchNorm(32) Linear(32, 10).
    const width = channels[channels.length - 1];
    parameterCount += 2 * width + (width * 64 + 64) + 2 * 64 + (64 * 32 + 32) + 2 * 32
      + (32 * 10 + 10);
  }
  return { parameterCount, activationFloatsPerSample: floats + largestPatches, tableBytes: 0 };
}

function s2cnnClassifierEntry(name: string, preset: S2cnnClassifierConfig,
  description: string): ModelEntry {
  return {
    name, task: 'classification', family: 's2cnn', description, presetBandwidth: preset.bandwidth,
    config: (b) => scaleS2cnn(preset, b),
    create: (b, random) => new S2cnnClassifier(scaleS2cnn(preset, b), random),
    footprint: (b) => s2cnnFootprint(scaleS2cnn(preset, b), false),
  };
}

function s2cnnSegmenterEntry(name: string, preset: S2cnnSegmenterConfig,
  description: string): ModelEntry {
  return {
    name, task: 'segmentation', family: 's2cnn', description, presetBandwidth: preset.bandwidth,
    config: (b) => scaleS2cnn(preset, b),
    create: (b, random) => new S2cnnSegmenter(scaleS2cnn(preset, b), random),
    footprint: (b) => s2cnnFootprint(scaleS2cnn(preset, b), true),
  };
}

function cnnClassifierEntry(name: string, preset: CnnClassifierConfig, presetBandwidth: number,
  description: string): ModelEntry {
  return {
    name, task: 'classification', family: 'cnn', description, presetBandwidth,
    config: () => preset,
    create: (b, random) => {
      convSizes(preset, 2 * b, `model ${name} at --bandwidth ${b}`);
      return new CnnClassifier(preset, random);
    },
    footprint: (b) => cnnFootprint(preset, 2 * b, false, `model ${name} at --bandwidth ${b}`),
  };
}

function cnnSegmenterEntry(name: string, preset: CnnSegmenterConfig, presetBandwidth: number,
  description: string): ModelEntry {
  return {
    name, task: 'segmentation', family: 'cnn', description, presetBandwidth,
    config: () => preset,
    create: (b, random) => new CnnSegmenter(preset, 2 * b, random),
    footprint: (b) => cnnFootprint(preset, 2 * b, true, `model ${name} at --bandwidth ${b}`),
  };
}

const ENTRIES: ModelEntry[] = [
  s2cnnClassifierEntry('s2cnn-small', S2CNN_CLASSIFIER_SMALL,
    'small S2CNN classifier for two CPU cores (preset b = 16)'),
  s2cnnClassifierEntry('s2cnn-paper', S2CNN_CLASSIFIER_PAPER,
    'the paper\'s "150k" deep S2CNN classifier (b = 30)'),
  cnnClassifierEntry('cnn-small', CNN_CLASSIFIER_SMALL, 16,
    'small planar CNN classifier for two CPU cores'),
  cnnClassifierEntry('cnn-114k', CNN_CLASSIFIER_114K, 30,
    'the paper\'s 114k CNN classifier (b = 30)'),
  cnnClassifierEntry('cnn-509k', CNN_CLASSIFIER_509K, 30,
    'the paper\'s 0.5M CNN classifier (b = 30)'),
  cnnClassifierEntry('cnn-2.5m', CNN_CLASSIFIER_2_5M, 30,
    'the paper\'s 2.5M CNN classifier (b = 30)'),
  s2cnnSegmenterEntry('s2cnn-seg-small', S2CNN_SEGMENTER_SMALL,
    'small segmentation S2CNN for two CPU cores (preset b = 16)'),
  s2cnnSegmenterEntry('s2cnn-seg-paper', S2CNN_SEGMENTER_PAPER,
    'the paper\'s "204k" segmentation S2CNN (b = 50)'),
  cnnSegmenterEntry('cnn-seg-small', CNN_SEGMENTER_SMALL, 16,
    'small planar segmentation CNN for two CPU cores'),
  cnnSegmenterEntry('cnn-seg-218k', CNN_SEGMENTER_218K, 50,
    'the paper\'s 218k segmentation CNN (b = 50)'),
  cnnSegmenterEntry('cnn-seg-1m', CNN_SEGMENTER_1M, 50,
    'the paper\'s 1M segmentation CNN (b = 50)'),
  cnnSegmenterEntry('cnn-seg-5.5m', CNN_SEGMENTER_5_5M, 50,
    'the paper\'s 5.5M segmentation CNN (b = 50)'),
];

/** All registered models, classification first. */
export function modelEntries(): readonly ModelEntry[] {
  return ENTRIES;
}

/** Names of the registered models (optionally of one task). */
export function modelNames(task?: ModelTask): string[] {
  return ENTRIES.filter((entry) => task === undefined || entry.task === task).map((e) => e.name);
}

/**
 * The entry called `name`; an unknown name (or one for another task, when `task` is given) is a
 * UserError listing the known names.
 */
export function findModel(name: string, task?: ModelTask): ModelEntry {
  const entry = ENTRIES.find((e) => e.name === name);
  if (entry === undefined) {
    throw new UserError(`unknown model '${name}'; known models: ${modelNames().join(', ')}`);
  }
  if (task !== undefined && entry.task !== task) {
    throw new UserError(`model '${name}' is a ${entry.task} model; for ${task} use one of `
      + modelNames(task).join(', '));
  }
  return entry;
}
