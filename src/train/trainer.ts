import { Tensor, backward, noGrad } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { UserError } from '../util/errors.js';
import { Random } from '../util/random.js';
import { loadCheckpointFile, saveCheckpointFile } from './checkpoint.js';
import { crossEntropy } from './loss.js';
import {
  ConfusionMatrix, accuracy, argmaxClasses, pixelAreaWeights, segmentationScores,
  type SegmentationScores,
} from './metrics.js';
import { Adam } from './optimizer.js';

/**
 * The training loop of the paper (reference notes section 6): Adam, unweighted cross-entropy
 * (over pixels for segmentation), mini-batches drawn from a freshly shuffled order each epoch, no
 * learning-rate schedule. Additions for long runs on a laptop: a checkpoint after every epoch,
 * exact resumption, progress through callbacks, and a stop request honoured between batches.
 * After each epoch the batch-norm statistics are recalibrated for the final weights (see
 * recalibrateBatchNorm); evaluation then uses them.
 *
 * Determinism: the order of epoch e is a Fisher-Yates shuffle drawn from
 * Random.derive(seed, 'shuffle:e'), so it depends on the seed and the epoch only. A run resumed
 * from the checkpoint of epoch e therefore continues with exactly the batches an uninterrupted
 * run would have used, and (the kernels being deterministic) ends with the same weights.
 */

export type Task = 'classification' | 'segmentation';

/**
 * Labelled spherical images on the SOFT grid of bandwidth b.
 * images: uint8 [count, 2b, 2b] stored [beta, alpha], 0..255 per sphere.
 * targets: classification, uint8 labels [count]; segmentation, uint8 masks [count, 2b, 2b].
 */
export interface SphereData {
  images: Uint8Array;
  targets: Uint8Array;
  count: number;
  bandwidth: number;
}

/** Settings that determine the result of a run (besides the model and the data). */
export interface TrainSettings {
  task: Task;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
}

/** Progress of a training or evaluation pass, reported after every batch. */
export interface TrainProgress {
  phase: 'train' | 'evaluate';
  /** 1-based epoch being trained (0 while evaluating outside training). */
  epoch: number;
  epochs: number;
  /** Samples done in this pass, of `total`. */
  done: number;
  total: number;
  /** Mean loss over the batches of this pass so far (nats per sample or per pixel). */
  loss: number;
  /** Samples per second in this pass. */
  samplesPerSecond: number;
  elapsedSeconds: number;
}

/** Scores of a model on a test set. Fractions in [0, 1]. */
export interface Evaluation {
  task: Task;
  count: number;
  /** Mean cross-entropy per sample (classification) or per pixel (segmentation). */
  loss: number;
  seconds: number;
  /** Classification: top-1 accuracy. Segmentation: pixel accuracy. */
  accuracy: number;
  /** Segmentation only: scores of the pixel-count confusion matrix (the paper's metric). */
  pixel?: SegmentationScores;
  /** Segmentation only: scores of the area-weighted confusion matrix. */
  area?: SegmentationScores;
  /** Segmentation only: confusion matrices CM[predicted][true], pixel counts and areas. */
  confusionPixels?: number[][];
  confusionArea?: number[][];
}

/** What one epoch did. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  seconds: number;
  samplesPerSecond: number;
  evaluation?: Evaluation;
}

/** Contents of a training checkpoint (see checkpoint.ts for the file format). */
export interface TrainingCheckpoint {
  kind: 'equisphere-training';
  /** Caller's description of the run (model name and config, data); compared on resume. */
  identity: unknown;
  settings: TrainSettings;
  completedEpochs: number;
  history: EpochRecord[];
  modelState: Map<string, Float32Array>;
  optimizerState: unknown;
}

/** The parts of an optimizer the loop needs (src/train/optimizer.ts Adam). */
export interface Optimizer {
  step(): void;
  zeroGrad(): void;
  state(): unknown;
  loadState(state: unknown): void;
}

export type LossFunction = (logits: Tensor, targets: Uint8Array) => Tensor;

export interface TrainOptions {
  /** Where to write the checkpoint after every epoch (atomically); none when absent. */
  checkpointPath?: string;
  /** Continue from this checkpoint (its settings must match, epochs may grow). */
  resumeFrom?: TrainingCheckpoint;
  /** Stored in the checkpoint and compared on resume. */
  identity?: unknown;
  /** Evaluate on this set after every epoch and keep the scores in the history. */
  evaluateEach?: SphereData;
  onProgress?: (progress: TrainProgress) => void;
  onEpoch?: (record: EpochRecord) => void;
  /** Polled before every batch; when it returns true, training stops there. */
  shouldStop?: () => boolean;
  /** Batches of the batch-norm recalibration after each epoch (default 25; 0 = none). */
  recalibrationBatches?: number;
  /** The command-line option that sets the learning rate, named in divergence hints. */
  learningRateOption?: string;
  /** Replacements for tests: the loss and the optimizer factory. */
  loss?: LossFunction;
  createOptimizer?: (model: Module, learningRate: number) => Optimizer;
}

export interface TrainOutcome {
  /** Epochs completed in total (including those of a resumed checkpoint). */
  completedEpochs: number;
  /** True when a stop request ended training before the last epoch. */
  interrupted: boolean;
  history: EpochRecord[];
  /** Training seconds summed over all epochs of the history. */
  trainSeconds: number;
}

/** Thrown when a stop request ends work early; the message says what was kept. */
export class Interrupted extends Error {
  constructor(message = 'interrupted') {
    super(message);
    this.name = 'Interrupted';
  }
}

/** The default optimizer: Adam with PyTorch's defaults and the given learning rate. */
export function defaultOptimizer(model: Module, learningRate: number): Optimizer {
  return new Adam(model.parameters(), { learningRate });
}

/**
 * Trains `model` on `data` for settings.epochs epochs (continuing a checkpoint when given).
 * Progress goes to the callbacks; nothing is printed. Yields to the event loop after every batch
 * so that a signal handler can request a stop.
 */
export async function trainModel(model: Module, data: SphereData, settings: TrainSettings,
  options: TrainOptions = {}): Promise<TrainOutcome> {
  validateSettings(settings, data);
  const lossFn = options.loss ?? crossEntropy;
  const optimizer = (options.createOptimizer ?? defaultOptimizer)(model, settings.learningRate);

  let history: EpochRecord[] = [];
  let firstEpoch = 0;
  if (options.resumeFrom !== undefined) {
    const checkpoint = options.resumeFrom;
    checkResumable(checkpoint, settings);
    model.loadStateDict(checkpoint.modelState);
    optimizer.loadState(checkpoint.optimizerState);
    history = checkpoint.history.slice(0, checkpoint.completedEpochs);
    firstEpoch = checkpoint.completedEpochs;
  }

  const size = 2 * data.bandwidth;
  const pixels = size * size;
  const targetLength = settings.task === 'classification' ? 1 : pixels;
  const hint = `try a smaller ${options.learningRateOption ?? '--lr'}`;

  for (let epoch = firstEpoch; epoch < settings.epochs; epoch++) {
    model.setTraining(true);
    const order = epochOrder(data.count, settings.seed, epoch);
    const start = performance.now();
    let lossSum = 0;
    let done = 0;
    let classes = 2;

    for (let offset = 0; offset < data.count; offset += settings.batchSize) {
      // Checked before each batch, so a request during an epoch's last batch still lets that
      // epoch finish and be saved.
      if (options.shouldStop?.() === true) return outcome(history, true);
      const indices = order.subarray(offset, Math.min(offset + settings.batchSize, data.count));
      const input = batchImages(data, indices);
      const targets = gatherRows(data.targets, indices, targetLength);

      optimizer.zeroGrad();
      const logits = model.forward(input);
      classes = logits.shape[1];
      const loss = lossFn(logits, targets);
      const lossValue = loss.data[0];
      if (!Number.isFinite(lossValue)) {
        throw new UserError(`training diverged: loss is ${lossValue} in epoch ${epoch + 1}; `
          + `expected a finite loss (${hint})`);
      }
      backward(loss);
      optimizer.step();

      lossSum += lossValue * indices.length;
      done += indices.length;
      const elapsed = (performance.now() - start) / 1000;
      options.onProgress?.({
        phase: 'train', epoch: epoch + 1, epochs: settings.epochs, done, total: data.count,
        loss: lossSum / done, samplesPerSecond: done / Math.max(elapsed, 1e-9),
        elapsedSeconds: elapsed,
      });

      await yieldToEventLoop();
    }

    // A finite but huge loss is divergence too: chance level is ln(classes) nats, and a model
    // 1000 times worse than guessing has left any useful region (reference notes section 6).
    const meanLoss = lossSum / data.count;
    if (meanLoss > divergenceLimit(classes)) {
      throw new UserError(`training diverged: mean loss is ${meanLoss.toPrecision(3)} in epoch `
        + `${epoch + 1}; expected at most ${divergenceLimit(classes).toPrecision(4)} `
        + `(1000 ln ${classes}) (${hint})`);
    }

    recalibrateBatchNorm(model, data, order, settings.batchSize,
      options.recalibrationBatches ?? RECALIBRATION_BATCHES);
    const seconds = (performance.now() - start) / 1000;
    const record: EpochRecord = {
      epoch: epoch + 1, trainLoss: lossSum / data.count, seconds,
      samplesPerSecond: data.count / Math.max(seconds, 1e-9),
    };
    if (options.evaluateEach !== undefined) {
      record.evaluation = await evaluateModel(model, options.evaluateEach, settings.task, {
        batchSize: settings.batchSize, loss: lossFn, shouldStop: options.shouldStop,
        onProgress: options.onProgress === undefined ? undefined
          : (p) => options.onProgress?.({ ...p, epoch: epoch + 1, epochs: settings.epochs }),
      });
    }
    history.push(record);

    if (options.checkpointPath !== undefined) {
      saveTrainingCheckpoint(options.checkpointPath, {
        kind: 'equisphere-training', identity: options.identity ?? null, settings,
        completedEpochs: epoch + 1, history, modelState: model.stateDict(),
        optimizerState: optimizer.state(),
      });
    }
    options.onEpoch?.(record);
  }
  return outcome(history, false);
}

/**
 * Scores `model` on `data`: top-1 accuracy for classification; for segmentation the pixel-count
 * and area-weighted confusion matrices and their IoU scores. Runs without gradients, in
 * evaluation mode, batch by batch.
 */
export async function evaluateModel(model: Module, data: SphereData, task: Task,
  options: {
    batchSize?: number;
    loss?: LossFunction;
    onProgress?: (progress: TrainProgress) => void;
    shouldStop?: () => boolean;
  } = {}): Promise<Evaluation> {
  const batchSize = options.batchSize ?? 32;
  const lossFn = options.loss ?? crossEntropy;
  const size = 2 * data.bandwidth;
  const pixels = size * size;
  const targetLength = task === 'classification' ? 1 : pixels;
  const areaWeights = task === 'segmentation' ? pixelAreaWeights(data.bandwidth) : undefined;

  model.setTraining(false);
  const start = performance.now();
  const predictions = new Uint8Array(data.count);
  let pixelMatrix: ConfusionMatrix | undefined;
  let areaMatrix: ConfusionMatrix | undefined;
  let lossSum = 0;
  let done = 0;

  for (let offset = 0; offset < data.count; offset += batchSize) {
    const count = Math.min(batchSize, data.count - offset);
    const indices = new Int32Array(count).map((_, i) => offset + i);
    const targets = gatherRows(data.targets, indices, targetLength);
    const { logits, loss } = noGrad(() => {
      const out = model.forward(batchImages(data, indices));
      return { logits: out, loss: lossFn(out, targets).data[0] };
    });
    const classes = logits.shape[1];

    if (task === 'classification') {
      predictions.set(argmaxClasses(logits.data, count, classes, 1), offset);
    } else {
      pixelMatrix ??= new ConfusionMatrix(classes);
      areaMatrix ??= new ConfusionMatrix(classes);
      const predicted = argmaxClasses(logits.data, count, classes, pixels);
      pixelMatrix.add(predicted, targets);
      areaMatrix.add(predicted, targets, areaWeights);
    }

    lossSum += loss * count;
    done += count;
    const elapsed = (performance.now() - start) / 1000;
    options.onProgress?.({
      phase: 'evaluate', epoch: 0, epochs: 0, done, total: data.count, loss: lossSum / done,
      samplesPerSecond: done / Math.max(elapsed, 1e-9), elapsedSeconds: elapsed,
    });
    await yieldToEventLoop();
    if (options.shouldStop?.() === true) throw new Interrupted();
  }

  const seconds = (performance.now() - start) / 1000;
  const meanLoss = data.count > 0 ? lossSum / data.count : 0;
  if (Number.isNaN(meanLoss)) {
    throw new UserError('evaluation loss is NaN; expected a number (the model\'s weights or '
      + 'batch-norm statistics hold NaN)');
  }
  if (task === 'classification') {
    return {
      task, count: data.count, loss: meanLoss, seconds,
      accuracy: accuracy(predictions, data.targets.subarray(0, data.count)),
    };
  }
  const pixel = segmentationScores(pixelMatrix ?? new ConfusionMatrix(1));
  return {
    task, count: data.count, loss: meanLoss, seconds, accuracy: pixel.pixelAccuracy, pixel,
    area: segmentationScores(areaMatrix ?? new ConfusionMatrix(1)),
    confusionPixels: pixelMatrix?.toRows() ?? [], confusionArea: areaMatrix?.toRows() ?? [],
  };
}

/**
 * Largest mean training loss (nats per sample or pixel) of an epoch that is not divergence:
 * 1000 times the loss of uniform guessing, ln(classes).
 */
export function divergenceLimit(classes: number): number {
  return 1000 * Math.log(Math.max(2, classes));
}

/** Default number of batches of the batch-norm recalibration (see recalibrateBatchNorm). */
export const RECALIBRATION_BATCHES = 25;

/**
 * Refreshes the running statistics of batch-norm layers for the weights reached at the end of an
 * epoch: forward passes in training mode, without gradients, over the first `batches` batches of
 * the epoch's order. With momentum 0.1 the statistics gathered while the weights were still
 * moving keep a weight 0.9^batches (7% for 25 batches). Without this, the invariant features of
 * the small S2CNN, whose variance is tiny next to the per-step drift of their mean, are
 * normalised with stale statistics and test accuracy drops by tens of points. Models without
 * buffers are left alone.
 */
export function recalibrateBatchNorm(model: Module, data: SphereData, order: Int32Array,
  batchSize: number, batches: number): void {
  if (batches <= 0 || model.namedBuffers().length === 0) return;
  model.setTraining(true);
  noGrad(() => {
    for (let b = 0; b < batches; b++) {
      const offset = (b * batchSize) % data.count;
      const end = Math.min(offset + batchSize, data.count);
      if (end - offset < 2) continue;
      model.forward(batchImages(data, order.subarray(offset, end)));
    }
  });
}

/** The sample order of epoch `epoch` (0-based): a permutation of 0..count-1. */
export function epochOrder(count: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(count).map((_, i) => i);
  Random.derive(seed, `shuffle:${epoch}`).shuffle(order);
  return order;
}

/** Model input for the samples `indices`: float32 [B, 1, 2b, 2b] holding value / 255. */
export function batchImages(data: SphereData, indices: ArrayLike<number>): Tensor {
  const size = 2 * data.bandwidth;
  const pixels = size * size;
  const out = new Float32Array(indices.length * pixels);
  for (let i = 0; i < indices.length; i++) {
    const source = indices[i] * pixels;
    for (let p = 0; p < pixels; p++) out[i * pixels + p] = data.images[source + p] / 255;
  }
  return new Tensor(out, [indices.length, 1, size, size]);
}

/** Concatenates rows `indices` (each `rowLength` long) of `values`. */
function gatherRows(values: Uint8Array, indices: ArrayLike<number>, rowLength: number): Uint8Array {
  const out = new Uint8Array(indices.length * rowLength);
  for (let i = 0; i < indices.length; i++) {
    const start = indices[i] * rowLength;
    out.set(values.subarray(start, start + rowLength), i * rowLength);
  }
  return out;
}

/** Writes a training checkpoint atomically. */
export function saveTrainingCheckpoint(filePath: string, checkpoint: TrainingCheckpoint): void {
  saveCheckpointFile(filePath, checkpoint);
}

/** Reads a training checkpoint; a file of another kind is a UserError. */
export function loadTrainingCheckpoint(filePath: string): TrainingCheckpoint {
  const content = loadCheckpointFile(filePath) as Partial<TrainingCheckpoint> | null;
  if (content === null || typeof content !== 'object' || content.kind !== 'equisphere-training'
    || !(content.modelState instanceof Map)) {
    throw new UserError(`${filePath} is not an equisphere training checkpoint`);
  }
  for (const [name, values] of content.modelState) {
    const bad = values instanceof Float32Array ? values.findIndex((v) => !Number.isFinite(v)) : 0;
    if (bad >= 0) {
      const found = values instanceof Float32Array ? String(values[bad]) : 'not an array';
      throw new UserError(`${filePath}: weight ${name}[${bad}] is ${found}; expected finite `
        + 'weights (the run that wrote it diverged or the file is damaged)');
    }
  }
  return content as TrainingCheckpoint;
}

function validateSettings(settings: TrainSettings, data: SphereData): void {
  const positive = (name: string, value: number): void => {
    if (!(Number.isInteger(value) && value > 0)) {
      throw new UserError(`${name} must be a positive integer, got ${value}`);
    }
  };
  positive('epochs', settings.epochs);
  positive('batch size', settings.batchSize);
  positive('training set size', data.count);
  if (!(settings.learningRate > 0 && Number.isFinite(settings.learningRate))) {
    throw new UserError(`learning rate must be a positive number, got ${settings.learningRate}`);
  }
  const pixels = 4 * data.bandwidth * data.bandwidth;
  const targetLength = settings.task === 'classification' ? 1 : pixels;
  if (data.images.length < data.count * pixels || data.targets.length < data.count * targetLength) {
    throw new RangeError(
      `training data holds fewer than ${data.count} samples of ${pixels} pixels`);
  }
}

function checkResumable(checkpoint: TrainingCheckpoint, settings: TrainSettings): void {
  const saved = checkpoint.settings;
  for (const key of ['task', 'batchSize', 'learningRate', 'seed'] as const) {
    if (saved[key] !== settings[key]) {
      throw new UserError(`cannot resume: the checkpoint was trained with ${key} ${saved[key]}, `
        + `this run asks for ${settings[key]}`);
    }
  }
}

function outcome(history: EpochRecord[], interrupted: boolean): TrainOutcome {
  return {
    completedEpochs: history.length, interrupted, history,
    trainSeconds: history.reduce((sum, record) => sum + record.seconds, 0),
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
