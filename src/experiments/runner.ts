import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  GenerationStopped, loadOrGenerateAsync, type DatasetRequest,
} from '../data/datasets.js';
import { loadSource, sourceFingerprint } from '../data/sources.js';
import { findModel, type ModelEntry } from '../nn/models/registry.js';
import type { Module } from '../nn/module.js';
import { availableMemory, requireBandwidth, requireMemoryFits } from '../train/memory.js';
import {
  Interrupted, evaluateModel, loadTrainingCheckpoint, trainModel, type Evaluation, type SphereData,
  type Task, type TrainProgress, type TrainSettings,
} from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { Random } from '../util/random.js';
import type { RunRecord } from './results.js';

/**
 * One point of an experiment: build a model from the registry, get its training and test sets
 * (from the dataset cache, generated on first use), train it with checkpoints, and score it on
 * each requested test set. Shared by `quick`, `sweep` and `train`.
 */

/** Largest input bandwidth the command line accepts. */
export const MAX_BANDWIDTH = 128;

/** Where the planar images come from and where generated spheres are cached. */
export interface DataOptions {
  /** 'mnist-embedded', 'mnist' or 'fashion-mnist' (src/data/sources.ts). */
  source: string;
  sourceFolder?: string;
  cacheFolder: string;
  /** Items per sphere for segmentation (the paper uses 1 and 4). */
  itemsPerSphere: number;
  /** Side of the planar canvas holding the items (default: a grid of 28 x 28 cells). */
  canvasSize?: number;
  /** Mask threshold on the 0..255 sphere intensity (default 150, as in the paper). */
  threshold?: number;
}

export interface PointSpec {
  task: Task;
  model: string;
  bandwidth: number;
  trainSize: number;
  trainRotated: boolean;
  testSize: number;
  /** Test sets to score on: false = unrotated spheres, true = rotated. */
  testRotated: boolean[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
}

/** Progress and messages for the command line; nothing below it prints. */
export interface ExperimentHooks {
  onProgress?: (update: {
    label: string; done: number; total: number; unit: string; detail?: string;
    elapsedSeconds?: number;
  }) => void;
  onMessage?: (text: string) => void;
  shouldStop?: () => boolean;
}

export interface PointContext {
  data: DataOptions;
  /** Folder for checkpoints; without it nothing is saved and nothing resumed. */
  checkpointFolder?: string;
  /** Ignore existing checkpoints and train from scratch. */
  fresh?: boolean;
  /** Bytes a run may use (--memory-limit); default the machine's RAM. */
  memoryLimit?: number;
  hooks?: ExperimentHooks;
  /** The options that set the learning rate, named in the hint of a divergence error. */
  learningRateOptions?: { s2cnn: string; cnn: string };
}

/** A trained model and where it came from. */
export interface TrainedPoint {
  record: RunRecord;
  model: Module;
  entry: ModelEntry;
  /** True when a finished checkpoint was reused and nothing was trained. */
  reused: boolean;
}

/**
 * Checks the settings of a point before any work: the model exists and fits the task, the
 * bandwidth is valid for it, and training fits in memory. Throws UserError otherwise.
 */
export function checkPoint(spec: PointSpec, context: PointContext): ModelEntry {
  const entry = findModel(spec.model, spec.task);
  requireBandwidth(spec.bandwidth, MAX_BANDWIDTH);
  const footprint = entry.footprint(spec.bandwidth);
  const dataBytes = (spec.trainSize + spec.testSize) * 8 * spec.bandwidth ** 2;
  requireMemoryFits(`training ${spec.model} at bandwidth ${spec.bandwidth}`, footprint,
    spec.batchSize, availableMemory(context.memoryLimit), dataBytes);
  return entry;
}

/**
 * File name of a point's checkpoint: every setting that changes the weights except the number of
 * epochs, so that a run asked for more epochs continues the checkpoint of a shorter one.
 */
export function checkpointName(spec: PointSpec): string {
  return [spec.task, spec.model, spec.trainRotated ? 'rot' : 'unrot', `n${spec.trainSize}`,
    `b${spec.bandwidth}`, `bs${spec.batchSize}`, `lr${spec.learningRate}`,
    `s${spec.seed}`].join('-') + '.ckpt';
}

/**
 * Trains and tests one point. With a checkpoint folder, a finished checkpoint of the same run is
 * reused (no training) and an unfinished one resumed. Throws Interrupted when a stop request
 * ends training (the completed epochs stay in the checkpoint).
 */
export async function runPoint(spec: PointSpec, context: PointContext): Promise<TrainedPoint> {
  const entry = checkPoint(spec, context);
  const hooks = context.hooks ?? {};
  const model = entry.create(spec.bandwidth, Random.derive(spec.seed, `init:${spec.model}`));

  const train = await loadSpheres(spec.task, 'train', spec.trainSize, spec.bandwidth,
    spec.trainRotated, spec.seed, context.data, hooks);
  const settings: TrainSettings = {
    task: spec.task, epochs: spec.epochs, batchSize: spec.batchSize,
    learningRate: spec.learningRate, seed: spec.seed,
  };
  const identity = {
    model: spec.model, config: entry.config(spec.bandwidth), bandwidth: spec.bandwidth,
    trainSize: spec.trainSize, trainRotated: spec.trainRotated, data: train.description,
  };

  const checkpointPath = context.checkpointFolder === undefined ? undefined
    : path.join(context.checkpointFolder, checkpointName(spec));
  const resumeFrom = checkpointPath === undefined || context.fresh === true ? undefined
    : usableCheckpoint(checkpointPath, identity, settings, hooks);

  const label = `train ${spec.model} (${spec.trainRotated ? 'rotated' : 'unrotated'})`;
  const learningRateOption = context.learningRateOptions === undefined ? '--lr'
    : context.learningRateOptions[entry.family === 's2cnn' ? 's2cnn' : 'cnn'];
  const outcome = await trainModel(model, train.data, settings, {
    checkpointPath, resumeFrom, identity, shouldStop: hooks.shouldStop, learningRateOption,
    onProgress: (p) => reportTraining(hooks, label, p),
  });
  if (outcome.interrupted) {
    throw new Interrupted(checkpointPath === undefined
      ? `training of ${spec.model} stopped in epoch ${outcome.completedEpochs + 1}`
      : `training of ${spec.model} stopped; ${outcome.completedEpochs} completed epoch(s) kept in `
        + `${checkpointPath}; run the same command again to resume`);
  }

  const tests = [];
  for (const rotated of spec.testRotated) {
    const test = await loadSpheres(spec.task, 'test', spec.testSize, spec.bandwidth, rotated,
      spec.seed, context.data, hooks);
    const evaluation = await scoreModel(model, test.data, spec.task, spec.batchSize,
      `test ${spec.model} on ${rotated ? 'rotated' : 'unrotated'} spheres`, hooks);
    tests.push({ rotated, evaluation });
  }

  const last = outcome.history[outcome.history.length - 1];
  const record: RunRecord = {
    task: spec.task, model: spec.model, parameters: model.parameterCount(),
    bandwidth: spec.bandwidth, trainRotated: spec.trainRotated, trainSize: spec.trainSize,
    epochs: spec.epochs, batchSize: spec.batchSize, learningRate: spec.learningRate,
    seed: spec.seed, trainSeconds: outcome.trainSeconds,
    trainSamplesPerSecond: (spec.trainSize * spec.epochs) / Math.max(outcome.trainSeconds, 1e-9),
    finalTrainLoss: last?.trainLoss ?? NaN, tests,
    checkpoint: checkpointPath,
  };
  const reused = resumeFrom !== undefined && resumeFrom.completedEpochs === spec.epochs;
  return { record, model, entry, reused };
}

/** Evaluates with progress under `label`. */
export async function scoreModel(model: Module, data: SphereData, task: Task, batchSize: number,
  label: string, hooks: ExperimentHooks): Promise<Evaluation> {
  return evaluateModel(model, data, task, {
    batchSize, shouldStop: hooks.shouldStop,
    onProgress: (p) => hooks.onProgress?.({
      label, done: p.done, total: p.total, unit: 'samples', detail: `loss ${p.loss.toFixed(4)}`,
      elapsedSeconds: p.elapsedSeconds,
    }),
  });
}

function reportTraining(hooks: ExperimentHooks, label: string, p: TrainProgress): void {
  if (p.phase === 'train') {
    hooks.onProgress?.({
      label: `${label} epoch ${p.epoch}/${p.epochs}`, done: p.done, total: p.total,
      unit: 'samples', detail: `loss ${p.loss.toFixed(4)}`, elapsedSeconds: p.elapsedSeconds,
    });
  } else {
    hooks.onProgress?.({
      label: `${label} evaluation`, done: p.done, total: p.total, unit: 'samples',
      elapsedSeconds: p.elapsedSeconds,
    });
  }
}

/**
 * The checkpoint at `checkpointPath` when it belongs to this run (same identity and settings
 * except possibly fewer epochs); otherwise undefined, with a message saying why it is ignored.
 */
function usableCheckpoint(checkpointPath: string, identity: unknown, settings: TrainSettings,
  hooks: ExperimentHooks) {
  if (!fs.existsSync(checkpointPath)) return undefined;
  let checkpoint;
  try {
    checkpoint = loadTrainingCheckpoint(checkpointPath);
  } catch (error) {
    hooks.onMessage?.(
      `ignoring unreadable checkpoint ${checkpointPath}: ${(error as Error).message}`);
    return undefined;
  }
  const same = JSON.stringify(checkpoint.identity) === JSON.stringify(identity)
    && (['task', 'batchSize', 'learningRate', 'seed'] as const)
      .every((key) => checkpoint.settings[key] === settings[key]);
  if (!same) {
    hooks.onMessage?.(`ignoring checkpoint ${checkpointPath}: it belongs to a different run`);
    return undefined;
  }
  if (checkpoint.completedEpochs > settings.epochs) {
    hooks.onMessage?.(`ignoring checkpoint ${checkpointPath}: it has ${checkpoint.completedEpochs} `
      + `epochs, more than the ${settings.epochs} asked for`);
    return undefined;
  }
  hooks.onMessage?.(checkpoint.completedEpochs === settings.epochs
    ? `reusing the finished training in ${checkpointPath}`
    : `resuming from ${checkpointPath} after epoch ${checkpoint.completedEpochs}`);
  return checkpoint;
}

/**
 * The request for one generated set: `count` spheres of `split` at `bandwidth`, rotated or not,
 * from `seed`, with the source, segmentation layout and cache settings of `data`.
 */
export function datasetRequest(task: Task, split: 'train' | 'test', count: number,
  bandwidth: number, rotated: boolean, seed: number, data: DataOptions): DatasetRequest {
  const source = loadSource(data.source, data.sourceFolder);
  const common = { source, split, count, bandwidth, rotated, seed };
  return task === 'classification' ? { task, ...common } : {
    task, ...common, itemsPerSphere: data.itemsPerSphere, canvasSize: data.canvasSize,
    threshold: data.threshold,
  };
}

/** A generated (or cached) set as trainer input, with a description for run identities. */
export async function loadSpheres(task: Task, split: 'train' | 'test', count: number,
  bandwidth: number, rotated: boolean, seed: number, data: DataOptions,
  hooks: ExperimentHooks = {}):
  Promise<{ data: SphereData; description: Record<string, unknown>; folder: string }> {
  const label = `generate ${count} ${rotated ? 'rotated' : 'unrotated'} ${split} spheres `
    + `(${task}, b=${bandwidth})`;
  const onProgress = (done: number, total: number): void =>
    hooks.onProgress?.({ label, done, total, unit: 'spheres' });
  const request = datasetRequest(task, split, count, bandwidth, rotated, seed, data);
  let set;
  try {
    set = await loadOrGenerateAsync(data.cacheFolder, request,
      { onProgress, shouldStop: hooks.shouldStop });
  } catch (error) {
    if (!(error instanceof GenerationStopped)) throw error;
    throw new Interrupted(`stopped generating ${count} ${split} spheres; nothing of them was kept`);
  }
  const targets = set.task === 'classification' ? set.labels : set.masks;
  return {
    data: { images: set.images, targets, count: set.count, bandwidth: set.bandwidth },
    description: {
      source: data.source, fingerprint: sourceFingerprint(request.source), count, rotated, seed,
      items: task === 'segmentation' ? data.itemsPerSphere : 1,
      ...(task === 'segmentation' && data.canvasSize !== undefined
        ? { canvas: data.canvasSize } : {}),
      ...(task === 'segmentation' && data.threshold !== undefined
        ? { threshold: data.threshold } : {}),
    },
    folder: set.folder,
  };
}

/** Default data cache: .equisphere/data under the current folder. */
export function defaultCacheFolder(): string {
  return path.join('.equisphere', 'data');
}

/** Default output folder for a command: runs/<command>. */
export function defaultOutFolder(command: string): string {
  return path.join('runs', command);
}

/** Rejects a task name that is not classification or segmentation. */
export function requireTask(task: string): Task {
  if (task !== 'classification' && task !== 'segmentation') {
    throw new UserError(`task '${task}' is not valid; expected classification or segmentation`);
  }
  return task;
}

/** Facts about this machine for results files. */
export function machineFacts(): Record<string, string | number> {
  return {
    node: process.version, platform: `${os.platform()} ${os.arch()}`, cores: os.cpus().length,
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
  };
}
