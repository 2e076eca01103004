import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { projectionStencil, type ProjectionStencil } from '../sphere/projection.js';
import { IDENTITY, randomRotation, type Matrix3 } from '../sphere/rotation.js';
import { UserError } from '../util/errors.js';
import { ensureWritableFolder, writeFileAtomic } from '../util/files.js';
import { Random } from '../util/random.js';
import { NpyWriter, readNpy, type NpyArray, type NpyDtype } from './npy.js';
import { sourceFingerprint, validateSource, type ImageSource, type ImageSplit } from './sources.js';

/**
 * Spherical datasets (paper notes sections 3 and 5): planar images projected stereographically
 * onto the SOFT grid (src/sphere/projection.ts), each sample under its own Haar-random rotation
 * or none, normalised per sphere to bytes. Everything is reproducible from a seed: the same
 * parameters give the same bytes on every machine.
 *
 * Fixes relative to the reference generator (notes section 11): SOFT grid, true bilinear
 * interpolation, one rotation per sample (not per chunk of 500), a seed, and a cache keyed by every
 * parameter.
 *
 * Sampling. Training samples draw their source images uniformly with replacement from the split
 * (each item independently), from the stream Random.derive(seed, 'indices:train'). Test samples
 * take the split's images in order: item t of sample i is image (i * items + t) mod splitCount,
 * so a test set larger than the split wraps around. Rotations come from a separate stream,
 * Random.derive(seed, 'rotations:<split>'), one Haar rotation per sample, so a rotated and an
 * unrotated set with the same seed hold the same source images. Sample i depends only on the
 * draws for samples 0..i, so a smaller count gives a prefix of a larger set.
 *
 * Rotation convention: sample i stores the matrix R_i with which it was projected: the value at
 * grid point p is the canvas at R_i p, i.e. the unrotated sphere turned by R_i^-1. The identity is
 * stored for unrotated sets.
 *
 * Intensity: each sphere is min-max normalised to 0..255 and truncated to uint8, as in the paper:
 * byte = floor(255 (v - min) / (max - min)), all zeros for a constant sphere.
 *
 * Segmentation masks (11 classes for 10-class sources): 0 is background and k + 1 marks an item of
 * class k, where the normalised byte exceeds the threshold (default 150, as in the paper). With
 * several items, the class of a pixel is that of the item whose own projected layer is brightest
 * there. Projection is linear and the items do not overlap on the canvas, so the layers sum to
 * the projection of the whole canvas; only pixels within one pixel of two items mix. The mask
 * of a rotated sphere is computed from the rotated projection.
 *
 * Multi-item canvas layout (the paper's rule is unknown; this one is ours): n items go on a g x g
 * grid of cells, g = ceil(sqrt(n)), over a square canvas of side S (default g * item side: 28 for
 * one 28x28 item, 56 for four). Cells have side floor(S / g); item t sits in cell row
 * floor(t / g), column t mod g, centred in its cell (offset floor((cell - item) / 2)). A canvas
 * whose cells are smaller than an item is a UserError. The whole canvas, not one item, fills the
 * 3-radii image square of the projection, so four items each appear half as large as one.
 */

export type Split = 'train' | 'test';

/** Version of the generator and storage layout; part of every cache key. */
export const DATASET_FORMAT_VERSION = 1;

/** The paper's mask threshold on normalised bytes (notes section 3). */
export const DEFAULT_THRESHOLD = 150;

const MAX_BANDWIDTH = 256;
const MAX_ITEMS = 16;

export interface ClassificationOptions {
  source: ImageSource;
  split: Split;
  /** Number of spheres; default the split size. */
  count?: number;
  /** Spheres are [2b, 2b] SOFT grids. */
  bandwidth: number;
  /** Whether each sample gets its own Haar-random rotation. */
  rotated: boolean;
  /** Integer 0 .. 2^32 - 1. */
  seed: number;
}

export interface SegmentationOptions extends ClassificationOptions {
  /** Items composed on one canvas (the paper uses 1 and 4); default 1. */
  itemsPerSphere?: number;
  /** Side of the square canvas in pixels; default ceil(sqrt(items)) * item side. */
  canvasSize?: number;
  /** Mask threshold on normalised bytes, 0..255; default 150. */
  threshold?: number;
}

interface SphericalSetBase {
  sourceName: string;
  classNames: readonly string[];
  split: Split;
  count: number;
  bandwidth: number;
  rotated: boolean;
  seed: number;
  /** [count, 2b, 2b] normalised intensities, stored [beta, alpha] per sample. */
  images: Uint8Array;
  /** [count, items] indices of the source images used, into the split. */
  sourceIndices: Int32Array;
  /** [count, 3, 3] row-major projection rotations R_i (identity when unrotated). */
  rotations: Float64Array;
}

export interface ClassificationSet extends SphericalSetBase {
  task: 'classification';
  /** [count] class of each sample. */
  labels: Uint8Array;
}

export interface SegmentationSet extends SphericalSetBase {
  task: 'segmentation';
  itemsPerSphere: number;
  canvasSize: number;
  threshold: number;
  /** Mask classes: 1 + the source's class count (0 is background). */
  maskClassCount: number;
  /** [count, items] class of each item, in layout order. */
  labels: Uint8Array;
  /** [count, 2b, 2b] mask classes, stored like `images`. */
  masks: Uint8Array;
}

export type SphericalSet = ClassificationSet | SegmentationSet;

export type DatasetRequest =
  | ({ task: 'classification' } & ClassificationOptions)
  | ({ task: 'segmentation' } & SegmentationOptions);

/** A dataset read from (or just written to) its cache folder. */
export type StoredSet<T extends SphericalSet> = T & { folder: string; reused: boolean };

/** Progress of a generation: `done` of `total` samples. */
export type ProgressCallback = (done: number, total: number) => void;

/** Top-left corners of the items on the canvas (see the module comment for the rule). */
export interface CanvasLayout {
  canvasSize: number;
  /** Cells per side, ceil(sqrt(items)). */
  grid: number;
  /** Side of a cell in pixels, floor(canvasSize / grid). */
  cell: number;
  itemHeight: number;
  itemWidth: number;
  offsets: { row: number; col: number }[];
}

/** Everything a generation needs, validated and with defaults filled in. */
interface Plan {
  task: 'classification' | 'segmentation';
  source: ImageSource;
  split: Split;
  splitData: ImageSplit;
  count: number;
  bandwidth: number;
  rotated: boolean;
  seed: number;
  layout: CanvasLayout;
  threshold: number | null;
}

/**
 * The layout of `items` items of itemHeight x itemWidth pixels on a canvasSize x canvasSize canvas.
 * Throws UserError when the cells are smaller than an item.
 */
export function canvasLayout(
  items: number,
  canvasSize: number,
  itemHeight: number,
  itemWidth: number,
): CanvasLayout {
  requireInteger('itemsPerSphere', items, 1, MAX_ITEMS);
  const grid = Math.ceil(Math.sqrt(items));
  const needed = grid * Math.max(itemHeight, itemWidth);
  if (!Number.isInteger(canvasSize) || canvasSize < needed) {
    throw new UserError(
      `canvasSize ${canvasSize} is too small for ${items} items of ${itemHeight}x${itemWidth} ` +
        `pixels; expected an integer of at least ${needed} (a ${grid}x${grid} grid of cells)`,
    );
  }
  const cell = Math.floor(canvasSize / grid);
  const offsets = Array.from({ length: items }, (_, t) => ({
    row: Math.floor(t / grid) * cell + Math.floor((cell - itemHeight) / 2),
    col: (t % grid) * cell + Math.floor((cell - itemWidth) / 2),
  }));
  return { canvasSize, grid, cell, itemHeight, itemWidth, offsets };
}

/**
 * Generates a classification set in memory: `count` spheres of the split's images, projected at
 * `bandwidth`, each rotated by its own Haar rotation if `rotated`. See the module comment for the
 * sampling rule. `onProgress` is called as samples complete.
 */
export function generateClassificationSet(
  options: ClassificationOptions,
  onProgress?: ProgressCallback,
): ClassificationSet {
  const plan = makePlan({ ...options, task: 'classification' });
  const arrays = allocate(plan);
  drain(generate(plan, memorySink(plan, arrays), onProgress));
  return { ...baseFields(plan, arrays), task: 'classification', labels: arrays.labels };
}

/**
 * Generates a segmentation set in memory: like generateClassificationSet, with `itemsPerSphere`
 * items per canvas and a mask per sphere (see the module comment for the layout and mask rules).
 */
export function generateSegmentationSet(
  options: SegmentationOptions,
  onProgress?: ProgressCallback,
): SegmentationSet {
  const plan = makePlan({ ...options, task: 'segmentation' });
  const arrays = allocate(plan);
  drain(generate(plan, memorySink(plan, arrays), onProgress));
  return segmentationFields(plan, arrays);
}

/**
 * Projects one canvas of items onto the sphere, as the generators do for one sample: the items
 * are split[itemIndices[t]], placed by the layout, projected with `rotation` (default none),
 * normalised to bytes, and thresholded into a mask. Returns the bytes and mask ([2b, 2b] each)
 * and the unnormalised projected intensities.
 */
export function renderSphere(
  split: ImageSplit,
  itemIndices: ArrayLike<number>,
  layout: CanvasLayout,
  bandwidth: number,
  threshold: number,
  rotation: Matrix3 = IDENTITY,
): { image: Uint8Array; mask: Uint8Array; intensities: Float64Array } {
  const renderer = new SphereRenderer(layout, bandwidth);
  const size = 4 * bandwidth * bandwidth;
  const image = new Uint8Array(size);
  const mask = new Uint8Array(size);
  renderer.render(split, itemIndices, rotation, image, mask, threshold);
  return { image, mask, intensities: renderer.intensities.slice() };
}

/**
 * Returns the dataset described by `request`, from `cacheFolder` if it was generated before with
 * exactly the same parameters, else generating it first.
 *
 * Cache layout: cacheFolder/<task>-<source>-<split>-b<b>-n<count>[-rot]-<key>/ where <key> is the
 * start of the SHA-256 of every parameter (task, source name and content fingerprint, image size,
 * split, count, bandwidth, rotated, seed, items, canvas size, threshold, format version). The
 * folder holds
 *   meta.json          the parameters, the key and the array shapes
 *   images.npy         uint8 [count, 2b, 2b]
 *   labels.npy         uint8 [count] (classification) or [count, items] (segmentation)
 *   masks.npy          uint8 [count, 2b, 2b] (segmentation only)
 *   source_indices.npy int32 [count, items]
 *   rotations.npy      float64 [count, 3, 3]
 * all readable with numpy (np.load('images.npy')). Generation streams into a temporary folder
 * .tmp-<name>-<pid>-<time> that is renamed into place when complete, so an interrupted run never
 * leaves a partial dataset (its leftover temporary folder is removed by a later call once the
 * process that wrote it is gone).
 */
export function loadOrGenerate(
  cacheFolder: string,
  request: { task: 'classification' } & ClassificationOptions,
  onProgress?: ProgressCallback,
): StoredSet<ClassificationSet>;
export function loadOrGenerate(
  cacheFolder: string,
  request: { task: 'segmentation' } & SegmentationOptions,
  onProgress?: ProgressCallback,
): StoredSet<SegmentationSet>;
export function loadOrGenerate(
  cacheFolder: string,
  request: DatasetRequest,
  onProgress?: ProgressCallback,
): StoredSet<SphericalSet>;
export function loadOrGenerate(
  cacheFolder: string,
  request: DatasetRequest,
  onProgress?: ProgressCallback,
): StoredSet<SphericalSet> {
  const job = startJob(cacheFolder, request, onProgress);
  if (job.steps === undefined) return job.finish();
  try {
    drain(job.steps);
  } catch (error) {
    job.fail(error);
  }
  return job.finish();
}

/** Raised by loadOrGenerateAsync when its stop callback asks to stop; nothing is kept. */
export class GenerationStopped extends Error {
  constructor(message = 'dataset generation stopped') {
    super(message);
    this.name = 'GenerationStopped';
  }
}

/**
 * loadOrGenerate for long generations in an interactive program: gives the event loop a turn
 * about every 50 ms (so a Ctrl-C handler can run) and polls `shouldStop` there. When it returns
 * true the temporary folder is removed and GenerationStopped is thrown.
 */
export async function loadOrGenerateAsync(
  cacheFolder: string,
  request: DatasetRequest,
  options: { onProgress?: ProgressCallback; shouldStop?: () => boolean } = {},
): Promise<StoredSet<SphericalSet>> {
  const job = startJob(cacheFolder, request, options.onProgress);
  if (job.steps === undefined) return job.finish();
  try {
    let turn = performance.now();
    for (let step = job.steps.next(); step.done !== true; step = job.steps.next()) {
      if (performance.now() - turn < 50) continue;
      await new Promise((resolve) => setImmediate(resolve));
      turn = performance.now();
      if (options.shouldStop?.() === true) {
        job.steps.return();
        throw new GenerationStopped();
      }
    }
  } catch (error) {
    job.fail(error);
  }
  return job.finish();
}

interface GenerationJob {
  /** Sample-by-sample generation into the temporary folder; undefined when cached. */
  steps?: Generator<void, void, void>;
  /** Renames the temporary folder into place (if generated) and loads the set. */
  finish(): StoredSet<SphericalSet>;
  /** Removes the temporary folder and rethrows, unless another process made the set. */
  fail(error: unknown): void;
}

function startJob(cacheFolder: string, request: DatasetRequest,
  onProgress?: ProgressCallback): GenerationJob {
  const plan = makePlan(request);
  const params = keyParameters(plan);
  const key = cacheKey(params);
  const name = folderName(plan, key);
  const folder = path.join(cacheFolder, name);

  if (fs.existsSync(folder)) {
    return {
      finish: () => ({ ...loadChecked(folder, key, params), reused: true }),
      fail: (error) => { throw error; },
    };
  }

  ensureWritableFolder(cacheFolder);
  removeStaleTemporaries(cacheFolder, name);
  const temporary = path.join(cacheFolder, `.tmp-${name}-${process.pid}-${Date.now()}`);
  let failed = false;
  return {
    steps: writeDataset(plan, temporary, key, params, onProgress),
    finish: () => {
      if (!failed) {
        try {
          fs.renameSync(temporary, folder);
        } catch (error) {
          fs.rmSync(temporary, { recursive: true, force: true });
          if (!fs.existsSync(folder)) throw error;
        }
      }
      return { ...loadChecked(folder, key, params), reused: false };
    },
    fail: (error) => {
      failed = true;
      fs.rmSync(temporary, { recursive: true, force: true });
      // Another process may have finished the same dataset first; its copy is as good as ours.
      if (error instanceof GenerationStopped || !fs.existsSync(folder)) throw error;
    },
  };
}

/** Runs a generation to its end. */
function drain(steps: Generator<void, void, void>): void {
  for (let step = steps.next(); step.done !== true; step = steps.next()) {
    // each step is one sample
  }
}

/**
 * The cache key of a request: 20 hex digits of the SHA-256 of all its parameters (see
 * loadOrGenerate). Throws UserError for invalid parameters.
 */
export function datasetKey(request: DatasetRequest): string {
  return cacheKey(keyParameters(makePlan(request)));
}

/**
 * Reads a dataset folder written by loadOrGenerate and checks that its arrays agree with each
 * other and with meta.json. Throws UserError naming the file on any mismatch.
 */
export function loadDataset(folder: string): StoredSet<SphericalSet> {
  return { ...readDatasetFolder(folder), folder, reused: true };
}

// ---------------------------------------------------------------------------------------------
// Planning and validation.

function makePlan(request: DatasetRequest): Plan {
  const { source, split, bandwidth, rotated, seed } = request;
  validateSource(source);
  if (split !== 'train' && split !== 'test') {
    throw new UserError(`split '${String(split)}' is not valid; expected 'train' or 'test'`);
  }
  requireInteger('bandwidth', bandwidth, 1, MAX_BANDWIDTH);
  requireInteger('seed', seed, 0, 2 ** 32 - 1);
  if (typeof rotated !== 'boolean') {
    throw new UserError(`rotated is ${String(rotated)}; expected true or false`);
  }

  const segmentation = request.task === 'segmentation';
  const items = segmentation ? request.itemsPerSphere ?? 1 : 1;
  requireInteger('itemsPerSphere', items, 1, MAX_ITEMS);
  const itemSide = Math.max(source.height, source.width);
  const defaultCanvas = Math.ceil(Math.sqrt(items)) * itemSide;
  const canvasSize = segmentation ? request.canvasSize ?? defaultCanvas : defaultCanvas;
  const layout = segmentation
    ? canvasLayout(items, canvasSize, source.height, source.width)
    : classificationLayout(source);

  let threshold: number | null = null;
  if (segmentation) {
    threshold = request.threshold ?? DEFAULT_THRESHOLD;
    if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 255)) {
      throw new UserError(`threshold ${threshold}; expected a number from 0 to 255`);
    }
  }

  const splitData = source[split];
  if (splitData.count === 0) {
    throw new UserError(`source ${source.name} has no ${split} images; expected at least one`);
  }
  const count = request.count ?? (split === 'train'
    ? splitData.count
    : Math.max(1, Math.floor(splitData.count / items)));
  requireInteger('count', count, 1, 2 ** 31 - 1);
  // A one-item test sphere per image: more spheres than images would repeat test images.
  // Multi-item test spheres combine images and may reuse them.
  if (split === 'test' && items === 1 && count > splitData.count) {
    throw new UserError(`test set size ${count} is more than the ${splitData.count} images of `
      + `the test split of ${source.name}; expected at most ${splitData.count} test spheres`);
  }

  return {
    task: request.task,
    source,
    split,
    splitData,
    count,
    bandwidth,
    rotated,
    seed,
    layout,
    threshold,
  };
}

/** A classification sample is the bare image: a one-item layout with no margin. */
function classificationLayout(source: ImageSource): CanvasLayout {
  if (source.height !== source.width) {
    throw new UserError(
      `source ${source.name} has ${source.height}x${source.width} images; expected square images`,
    );
  }
  return canvasLayout(1, source.height, source.height, source.width);
}

function requireInteger(field: string, value: unknown, low: number, high: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < low || value > high) {
    throw new UserError(
      `${field} ${String(value)} is not valid; expected an integer from ${low} to ${high}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Generation.

/**
 * Projects canvases of items. One instance is reused across samples so that the canvas, the
 * stencil and the intensity buffers are allocated once.
 */
class SphereRenderer {
  readonly intensities: Float64Array;
  private readonly owners: Int8Array;
  private readonly canvas: Uint8Array;
  private readonly canvasOwner: Int8Array;
  private readonly layerSums: Float64Array;
  private stencil: ProjectionStencil | undefined;

  constructor(
    private readonly layout: CanvasLayout,
    private readonly bandwidth: number,
  ) {
    const side = layout.canvasSize;
    const points = 4 * bandwidth * bandwidth;
    this.intensities = new Float64Array(points);
    this.owners = new Int8Array(points);
    this.canvas = new Uint8Array(side * side);
    this.canvasOwner = new Int8Array(side * side).fill(-1);
    this.layerSums = new Float64Array(layout.offsets.length);
    layout.offsets.forEach(({ row, col }, t) => {
      for (let r = 0; r < layout.itemHeight; r++) {
        this.canvasOwner.fill(t, (row + r) * side + col, (row + r) * side + col + layout.itemWidth);
      }
    });
  }

  /**
   * Writes the normalised bytes of one sample into `image` and, if given, its mask into `mask`
   * (both (2b)^2 long).
   */
  render(
    split: ImageSplit,
    itemIndices: ArrayLike<number>,
    rotation: Matrix3,
    image: Uint8Array,
    mask: Uint8Array | null,
    threshold: number,
  ): void {
    const { layout, canvas, canvasOwner, intensities, owners, layerSums } = this;
    const side = layout.canvasSize;
    const pixels = layout.itemHeight * layout.itemWidth;

    // Compose the canvas.
    layout.offsets.forEach(({ row, col }, t) => {
      const start = itemIndices[t] * pixels;
      for (let r = 0; r < layout.itemHeight; r++) {
        const from = start + r * layout.itemWidth;
        canvas.set(split.images.subarray(from, from + layout.itemWidth), (row + r) * side + col);
      }
    });

    // Project, keeping for each grid point the item whose own layer is brightest there.
    this.stencil = projectionStencil(this.bandwidth, side, side, rotation, this.stencil);
    const { indices, weights } = this.stencil;
    const single = layerSums.length === 1;
    for (let p = 0; p < intensities.length; p++) {
      let total = 0;
      if (!single) layerSums.fill(0);
      for (let tap = 4 * p; tap < 4 * p + 4; tap++) {
        const index = indices[tap];
        const value = weights[tap] * canvas[index];
        total += value;
        const owner = canvasOwner[index];
        if (!single && owner >= 0) layerSums[owner] += value;
      }
      intensities[p] = total;
      let best = 0;
      if (!single) {
        for (let t = 1; t < layerSums.length; t++) if (layerSums[t] > layerSums[best]) best = t;
      }
      owners[p] = best;
    }

    // Normalise per sphere to bytes (truncation, as in the paper), then threshold.
    normaliseToBytes(intensities, image);
    if (mask !== null) {
      for (let p = 0; p < image.length; p++) {
        mask[p] = image[p] > threshold ? split.labels[itemIndices[owners[p]]] + 1 : 0;
      }
    }
  }
}

/**
 * Min-max normalisation to bytes: out[p] = floor(255 (v[p] - min) / (max - min)), or 0 everywhere
 * when max = min.
 */
export function normaliseToBytes(values: ArrayLike<number>, out: Uint8Array): Uint8Array {
  let min = Infinity;
  let max = -Infinity;
  for (let p = 0; p < values.length; p++) {
    if (values[p] < min) min = values[p];
    if (values[p] > max) max = values[p];
  }
  const range = max - min;
  for (let p = 0; p < values.length; p++) {
    out[p] = range > 0 ? Math.min(255, Math.floor((255 * (values[p] - min)) / range)) : 0;
  }
  return out;
}

interface SampleSink {
  /** Receives sample i (called for i = 0, 1, ... in order). */
  put(
    image: Uint8Array,
    mask: Uint8Array | null,
    labels: Uint8Array,
    indices: Int32Array,
    rotation: Matrix3,
  ): void;
}

/** Generates the samples of `plan` into `sink`, yielding after each one. */
function* generate(plan: Plan, sink: SampleSink,
  onProgress?: ProgressCallback): Generator<void, void, void> {
  const { count, bandwidth, layout, splitData, split, seed, rotated } = plan;
  const items = layout.offsets.length;
  const renderer = new SphereRenderer(layout, bandwidth);
  const indexStream = Random.derive(seed, `indices:${split}`);
  const rotationStream = Random.derive(seed, `rotations:${split}`);

  const image = new Uint8Array(4 * bandwidth * bandwidth);
  const mask = plan.task === 'segmentation' ? new Uint8Array(image.length) : null;
  const labels = new Uint8Array(items);
  const indices = new Int32Array(items);
  const reportEvery = Math.max(1, Math.floor(count / 200));

  for (let i = 0; i < count; i++) {
    for (let t = 0; t < items; t++) {
      indices[t] = split === 'train'
        ? indexStream.int(splitData.count)
        : (i * items + t) % splitData.count;
      labels[t] = splitData.labels[indices[t]];
    }
    const rotation = rotated ? randomRotation(rotationStream) : IDENTITY;

    renderer.render(splitData, indices, rotation, image, mask, plan.threshold ?? 255);
    sink.put(image, mask, labels, indices, rotation);

    if (onProgress !== undefined && ((i + 1) % reportEvery === 0 || i + 1 === count)) {
      onProgress(i + 1, count);
    }
    yield;
  }
}

interface SetArrays {
  images: Uint8Array;
  masks: Uint8Array | null;
  labels: Uint8Array;
  sourceIndices: Int32Array;
  rotations: Float64Array;
}

function allocate(plan: Plan): SetArrays {
  const size = 4 * plan.bandwidth * plan.bandwidth;
  const items = plan.layout.offsets.length;
  if (plan.count * size > 2 ** 32) {
    throw new UserError(
      `count ${plan.count} at bandwidth ${plan.bandwidth} needs ${plan.count * size} bytes, more ` +
        'than one array holds (4 GiB); expected a smaller set, or loadOrGenerate and ' +
        'readNpyRows',
    );
  }
  return {
    images: new Uint8Array(plan.count * size),
    masks: plan.task === 'segmentation' ? new Uint8Array(plan.count * size) : null,
    labels: new Uint8Array(plan.count * items),
    sourceIndices: new Int32Array(plan.count * items),
    rotations: new Float64Array(plan.count * 9),
  };
}

function memorySink(plan: Plan, arrays: SetArrays): SampleSink {
  let i = 0;
  const items = plan.layout.offsets.length;
  return {
    put(image, mask, labels, indices, rotation) {
      arrays.images.set(image, i * image.length);
      if (mask !== null && arrays.masks !== null) arrays.masks.set(mask, i * mask.length);
      arrays.labels.set(labels, i * items);
      arrays.sourceIndices.set(indices, i * items);
      arrays.rotations.set(rotation, i * 9);
      i++;
    },
  };
}

function baseFields(plan: Plan, arrays: SetArrays): SphericalSetBase {
  return {
    sourceName: plan.source.name,
    classNames: plan.source.classNames,
    split: plan.split,
    count: plan.count,
    bandwidth: plan.bandwidth,
    rotated: plan.rotated,
    seed: plan.seed,
    images: arrays.images,
    sourceIndices: arrays.sourceIndices,
    rotations: arrays.rotations,
  };
}

function segmentationFields(plan: Plan, arrays: SetArrays): SegmentationSet {
  return {
    ...baseFields(plan, arrays),
    task: 'segmentation',
    itemsPerSphere: plan.layout.offsets.length,
    canvasSize: plan.layout.canvasSize,
    threshold: plan.threshold ?? DEFAULT_THRESHOLD,
    maskClassCount: plan.source.classNames.length + 1,
    labels: arrays.labels,
    masks: arrays.masks ?? new Uint8Array(0),
  };
}

// ---------------------------------------------------------------------------------------------
// Storage.

/** The parameters that identify a dataset; hashed into the cache key and kept in meta.json. */
interface KeyParameters {
  formatVersion: number;
  task: 'classification' | 'segmentation';
  source: {
    name: string;
    fingerprint: string;
    height: number;
    width: number;
    classNames: string[];
  };
  split: Split;
  count: number;
  bandwidth: number;
  rotated: boolean;
  seed: number;
  itemsPerSphere: number;
  canvasSize: number;
  threshold: number | null;
}

interface Meta {
  formatVersion: number;
  key: string;
  params: KeyParameters;
  files: Record<string, { dtype: NpyDtype; shape: number[] }>;
  layout: string;
}

function keyParameters(plan: Plan): KeyParameters {
  return {
    formatVersion: DATASET_FORMAT_VERSION,
    task: plan.task,
    source: {
      name: plan.source.name,
      fingerprint: sourceFingerprint(plan.source),
      height: plan.source.height,
      width: plan.source.width,
      classNames: [...plan.source.classNames],
    },
    split: plan.split,
    count: plan.count,
    bandwidth: plan.bandwidth,
    rotated: plan.rotated,
    seed: plan.seed,
    itemsPerSphere: plan.layout.offsets.length,
    canvasSize: plan.layout.canvasSize,
    threshold: plan.threshold,
  };
}

function cacheKey(params: KeyParameters): string {
  return createHash('sha256').update(JSON.stringify(params)).digest('hex').slice(0, 20);
}

function folderName(plan: Plan, key: string): string {
  const source = plan.source.name.replace(/[^A-Za-z0-9_-]/g, '_');
  const rotated = plan.rotated ? '-rot' : '';
  return `${plan.task}-${source}-${plan.split}-b${plan.bandwidth}-n${plan.count}${rotated}-${key}`;
}

function fileShapes(params: KeyParameters): Meta['files'] {
  const { count, bandwidth, itemsPerSphere, task } = params;
  const sphere = [count, 2 * bandwidth, 2 * bandwidth];
  const files: Meta['files'] = {
    images: { dtype: 'uint8', shape: sphere },
    labels: {
      dtype: 'uint8',
      shape: task === 'classification' ? [count] : [count, itemsPerSphere],
    },
    source_indices: { dtype: 'int32', shape: [count, itemsPerSphere] },
    rotations: { dtype: 'float64', shape: [count, 3, 3] },
  };
  if (task === 'segmentation') files.masks = { dtype: 'uint8', shape: sphere };
  return files;
}

function* writeDataset(
  plan: Plan,
  folder: string,
  key: string,
  params: KeyParameters,
  onProgress?: ProgressCallback,
): Generator<void, void, void> {
  fs.mkdirSync(folder, { recursive: true });
  const files = fileShapes(params);
  const writers: Record<string, NpyWriter> = {};
  for (const [name, { dtype, shape }] of Object.entries(files)) {
    writers[name] = new NpyWriter(path.join(folder, `${name}.npy`), dtype, shape);
  }

  // try/finally rather than catch: a stopped generation ends through return(), not a throw.
  let closed = false;
  try {
    yield* generate(plan, {
      put(image, mask, labels, indices, rotation) {
        writers.images.write(image);
        if (mask !== null) writers.masks.write(mask);
        writers.labels.write(labels);
        writers.source_indices.write(indices);
        writers.rotations.write(rotation);
      },
    }, onProgress);
    for (const writer of Object.values(writers)) writer.close();
    closed = true;
  } finally {
    if (!closed) for (const writer of Object.values(writers)) writer.abort();
  }

  const meta: Meta = {
    formatVersion: DATASET_FORMAT_VERSION,
    key,
    params,
    files,
    layout:
      'images/masks [count, 2b, 2b] uint8 stored [beta, alpha] on the SOFT grid ' +
      'beta_j = pi (2j+1)/(4b), alpha_k = pi k/b; rotations: sample i = canvas at R_i p',
  };
  writeFileAtomic(path.join(folder, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
}

function loadChecked(folder: string, key: string, params: KeyParameters): StoredSet<SphericalSet> {
  const set = readDatasetFolder(folder);
  const meta = readMeta(folder);
  if (meta.key !== key || JSON.stringify(meta.params) !== JSON.stringify(params)) {
    throw new UserError(
      `${path.join(folder, 'meta.json')}: describes a different dataset (key ${meta.key}); ` +
        `expected key ${key}; delete the folder to regenerate it`,
    );
  }
  return { ...set, folder, reused: true };
}

function readMeta(folder: string): Meta {
  const metaPath = path.join(folder, 'meta.json');
  let meta: Meta;
  try {
    meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as Meta;
  } catch (error) {
    throw new UserError(
      `${metaPath}: cannot read (${(error as Error).message}); expected a dataset's meta.json`,
    );
  }
  if (meta.formatVersion !== DATASET_FORMAT_VERSION || typeof meta.params !== 'object') {
    throw new UserError(
      `${metaPath}: format version ${String(meta.formatVersion)}; ` +
        `expected ${DATASET_FORMAT_VERSION} (delete the folder to regenerate it)`,
    );
  }
  return meta;
}

function readDatasetFolder(folder: string): SphericalSet {
  const meta = readMeta(folder);
  const params = meta.params;
  const expected = fileShapes(params);
  const arrays: Record<string, NpyArray> = {};

  for (const [name, { dtype, shape }] of Object.entries(expected)) {
    const filePath = path.join(folder, `${name}.npy`);
    const array = readNpy(filePath);
    const found = `(${array.shape.join(', ')})`;
    if (name === 'masks' && found !== `(${arrays.images.shape.join(', ')})`) {
      throw new UserError(
        `${filePath}: masks of shape ${found} but images of shape ` +
          `(${arrays.images.shape.join(', ')}); expected masks and images of the same shape`,
      );
    }
    if (array.dtype !== dtype || found !== `(${shape.join(', ')})`) {
      throw new UserError(
        `${filePath}: ${array.dtype} array of shape ${found}; expected ${dtype} ` +
          `(${shape.join(', ')}) as meta.json says`,
      );
    }
    arrays[name] = array;
  }

  const base: SphericalSetBase = {
    sourceName: params.source.name,
    classNames: params.source.classNames,
    split: params.split,
    count: params.count,
    bandwidth: params.bandwidth,
    rotated: params.rotated,
    seed: params.seed,
    images: arrays.images.data as Uint8Array,
    sourceIndices: arrays.source_indices.data as Int32Array,
    rotations: arrays.rotations.data as Float64Array,
  };
  if (params.task === 'classification') {
    return { ...base, task: 'classification', labels: arrays.labels.data as Uint8Array };
  }
  return {
    ...base,
    task: 'segmentation',
    itemsPerSphere: params.itemsPerSphere,
    canvasSize: params.canvasSize,
    threshold: params.threshold ?? DEFAULT_THRESHOLD,
    maskClassCount: params.source.classNames.length + 1,
    labels: arrays.labels.data as Uint8Array,
    masks: arrays.masks.data as Uint8Array,
  };
}

/** Removes temporary folders for `name` left by processes that no longer run. */
function removeStaleTemporaries(cacheFolder: string, name: string): void {
  const prefix = `.tmp-${name}-`;
  for (const entry of fs.readdirSync(cacheFolder)) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !processRuns(pid)) {
      fs.rmSync(path.join(cacheFolder, entry), { recursive: true, force: true });
    }
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
