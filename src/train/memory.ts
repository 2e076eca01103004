import * as os from 'node:os';

import type { Tensor } from '../engine/tensor.js';
import { UserError } from '../util/errors.js';

/**
 * Peak-memory estimate of a training run, checked before any work starts so that a run too big
 * for the machine fails at once with advice instead of swapping or dying hours later.
 *
 * peak = parameters (4 B each)
 *      + their gradients (4 B)
 *      + Adam's first and second moments (8 B)
 *      + activations kept for the backward pass: batch x (floats per sample) x 4 B, times
 *        (1 + BACKWARD_OVERHEAD) for the gradient buffers alive during the backward sweep and
 *        the spectra that spectral layers build on the way
 *      + transform tables (Wigner-d and DFT tables, float64, shared by all samples)
 *      + the datasets held in memory (uint8)
 *      + a fixed allowance for Node.js itself.
 *
 * The activation count per sample comes from the model's architecture (see registry.ts). Layer
 * code that keeps more than its output (for example a spectrum) is covered by the overhead factor,
 * which was set from measured peaks: within about 10% (under at batch 1-8, over at larger
 * batches) for the small and paper S2CNNs (bench/run.ts prints the estimates and the peak).
 */

/** Extra working memory during backward, as a fraction of the forward activations. */
export const BACKWARD_OVERHEAD = 1.0;

/** Memory Node.js and the loaded code take before any tensor exists. */
export const RUNTIME_BYTES = 200 * 2 ** 20;

/** Fraction of the limit a run may plan to use (the rest is left to the OS and other programs). */
export const USABLE_FRACTION = 0.85;

export interface MemoryFootprint {
  /** Trainable scalars. */
  parameterCount: number;
  /** float32 values kept for backward per sample (all layer outputs of one forward pass). */
  activationFloatsPerSample: number;
  /** Bytes of precomputed transform tables. */
  tableBytes: number;
}

export interface MemoryEstimate {
  parameterBytes: number;
  optimizerBytes: number;
  activationBytes: number;
  tableBytes: number;
  dataBytes: number;
  runtimeBytes: number;
  totalBytes: number;
}

/** Estimated peak bytes of training with `batchSize` samples per batch (see the module doc). */
export function estimateTrainingMemory(footprint: MemoryFootprint, batchSize: number,
  dataBytes = 0): MemoryEstimate {
  const parameterBytes = 4 * footprint.parameterCount * 2;
  const optimizerBytes = 8 * footprint.parameterCount;
  const activationBytes = 4 * footprint.activationFloatsPerSample * batchSize
    * (1 + BACKWARD_OVERHEAD);
  const totalBytes = parameterBytes + optimizerBytes + activationBytes + footprint.tableBytes
    + dataBytes + RUNTIME_BYTES;
  return {
    parameterBytes, optimizerBytes, activationBytes, tableBytes: footprint.tableBytes, dataBytes,
    runtimeBytes: RUNTIME_BYTES, totalBytes,
  };
}

/** The memory a run may use: `limitBytes` when given (--memory-limit), else the machine's RAM. */
export function availableMemory(limitBytes?: number): number {
  return limitBytes ?? os.totalmem();
}

/**
 * Throws a UserError when `estimate` does not fit in USABLE_FRACTION of `limitBytes`, saying how
 * much the run needs and the largest batch size that would fit (or that the bandwidth must fall).
 */
export function requireMemoryFits(what: string, footprint: MemoryFootprint, batchSize: number,
  limitBytes: number, dataBytes = 0): MemoryEstimate {
  const estimate = estimateTrainingMemory(footprint, batchSize, dataBytes);
  const usable = USABLE_FRACTION * limitBytes;
  if (estimate.totalBytes <= usable) return estimate;

  const perSample = estimate.activationBytes / batchSize;
  const fixed = estimate.totalBytes - estimate.activationBytes;
  const largestBatch = Math.floor((usable - fixed) / perSample);
  const advice = largestBatch >= 1
    ? `use --batch-size ${largestBatch} or less, or a smaller --bandwidth`
    : 'even one sample per batch does not fit: use a smaller --bandwidth';
  throw new UserError(`${what} needs about ${gib(estimate.totalBytes)} GiB `
    + `(${gib(estimate.activationBytes)} GiB of activations for batch size ${batchSize}) but only `
    + `${gib(usable)} GiB of ${gib(limitBytes)} GiB may be used; ${advice} `
    + '(or raise --memory-limit)');
}

/**
 * Checks a bandwidth setting: an integer b with 2 <= b <= max (the grid is 2b x 2b; below 2 no
 * convolution fits, above `max` the tables and maps outgrow any laptop).
 */
export function requireBandwidth(bandwidth: number, max = 64, name = '--bandwidth'): void {
  if (!Number.isInteger(bandwidth) || bandwidth < 2) {
    throw new UserError(`${name} must be an integer of at least 2, got ${bandwidth}`);
  }
  if (bandwidth > max) {
    throw new UserError(`${name} ${bandwidth} is too large: at most ${max} is supported `
      + `(the SO(3) feature maps grow as (2b)^3)`);
  }
}

/**
 * Counts the float32 values a forward pass keeps alive for backward: the data of every tensor in
 * the graph below `output` (each buffer once). Used to check the analytic estimates of the
 * registry against a real model in tests.
 */
export function graphFloats(output: Tensor): number {
  const seen = new Set<Tensor>();
  const buffers = new Set<ArrayBufferLike>();
  const stack: Tensor[] = [output];
  let floats = 0;
  while (stack.length > 0) {
    const tensor = stack.pop() as Tensor;
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    if (tensor.parents.length > 0 && !buffers.has(tensor.data.buffer)) {
      buffers.add(tensor.data.buffer);
      floats += tensor.data.length;
    }
    stack.push(...tensor.parents);
  }
  return floats;
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 1);
}
