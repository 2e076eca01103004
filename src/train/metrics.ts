import { s2QuadratureWeights } from '../sphere/grid.js';

/**
 * Evaluation metrics of the paper (section 7 of the reference notes, `evaluate.py`):
 * top-1 accuracy for classification; for segmentation an 11 x 11 confusion matrix accumulated over
 * every test pixel, per-class intersection over union, the mean IoU over the ten digit classes
 * ("mIoU (non-background)", the number in the paper's figures), the mean IoU over all classes and
 * the pixel accuracy.
 *
 * Two variants of the confusion matrix exist. The paper's counts pixels of the equirectangular
 * grid, so rows near the poles are over-represented; the area-weighted variant gives each pixel of
 * row beta_j the SOFT quadrature weight of that row (src/sphere/grid.ts s2QuadratureWeights), so
 * that each sphere contributes total mass 1 and the entries are areas measured in whole spheres.
 */

/** Fraction of predictions equal to their labels, in [0, 1]. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predictions.length !== labels.length) {
    throw new RangeError(`accuracy: ${predictions.length} predictions for ${labels.length} labels`);
  }
  if (labels.length === 0) return 0;

  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}

/**
 * Index of the largest score along the class axis of logits laid out [N, C, P] (P = pixels per
 * sample; 1 for classification). Returns [N, P] class indices. Ties go to the lower class.
 */
export function argmaxClasses(logits: Float32Array, count: number, classes: number,
  pixels = 1): Uint8Array {
  if (logits.length !== count * classes * pixels) {
    throw new RangeError(
      `argmaxClasses: ${logits.length} logits, expected ${count}x${classes}x${pixels}`);
  }
  if (classes > 256) throw new RangeError(`argmaxClasses: ${classes} classes do not fit in uint8`);

  const out = new Uint8Array(count * pixels);
  for (let n = 0; n < count; n++) {
    const base = n * classes * pixels;
    for (let p = 0; p < pixels; p++) {
      let best = 0;
      let bestValue = logits[base + p];
      for (let c = 1; c < classes; c++) {
        const value = logits[base + c * pixels + p];
        if (value > bestValue) {
          bestValue = value;
          best = c;
        }
      }
      out[n * pixels + p] = best;
    }
  }
  return out;
}

/**
 * A confusion matrix CM[predicted][true] (the paper's orientation), stored row-major in `values`
 * of length classes^2. Entries are pixel counts, or areas when per-pixel weights are given.
 */
export class ConfusionMatrix {
  readonly classes: number;
  readonly values: Float64Array;

  constructor(classes: number, values?: ArrayLike<number>) {
    this.classes = classes;
    this.values = new Float64Array(classes * classes);
    if (values !== undefined) {
      if (values.length !== classes * classes) {
        throw new RangeError(`ConfusionMatrix: ${values.length} values for ${classes} classes`);
      }
      this.values.set(values);
    }
  }

  /** CM[predicted][truth]. */
  get(predicted: number, truth: number): number {
    return this.values[predicted * this.classes + truth];
  }

  /**
   * Adds a batch of label maps. `predicted` and `truth` hold one class per pixel, [N, P] with P
   * pixels per sample. `pixelWeights` (length P, optional) weighs pixel p of every sample; without
   * it every pixel counts 1.
   */
  add(predicted: ArrayLike<number>, truth: ArrayLike<number>,
    pixelWeights?: ArrayLike<number>): void {
    if (predicted.length !== truth.length) {
      throw new RangeError(
        `ConfusionMatrix.add: ${predicted.length} predictions, ${truth.length} labels`);
    }
    const k = this.classes;
    const pixels = pixelWeights?.length ?? 1;
    if (predicted.length % pixels !== 0) {
      throw new RangeError(
        `ConfusionMatrix.add: ${predicted.length} labels are not whole maps of ${pixels}`);
    }

    for (let i = 0; i < truth.length; i++) {
      const p = predicted[i];
      const t = truth[i];
      if (!(p >= 0 && p < k && t >= 0 && t < k)) {
        throw new RangeError(`ConfusionMatrix.add: class ${p} or ${t} outside 0..${k - 1}`);
      }
      this.values[p * k + t] += pixelWeights === undefined ? 1 : pixelWeights[i % pixels];
    }
  }

  /** Adds another matrix of the same size into this one. */
  merge(other: ConfusionMatrix): void {
    if (other.classes !== this.classes) throw new RangeError('ConfusionMatrix.merge: sizes differ');
    for (let i = 0; i < this.values.length; i++) this.values[i] += other.values[i];
  }

  /** Sum of all entries (pixels, or spheres when area-weighted). */
  total(): number {
    let sum = 0;
    for (const value of this.values) sum += value;
    return sum;
  }

  /** Rows as nested arrays (for JSON). */
  toRows(): number[][] {
    const rows: number[][] = [];
    for (let p = 0; p < this.classes; p++) {
      rows.push(Array.from(this.values.subarray(p * this.classes, (p + 1) * this.classes)));
    }
    return rows;
  }
}

/** Segmentation scores computed from one confusion matrix; fractions in [0, 1]. */
export interface SegmentationScores {
  /** IoU_i = CM_ii / (row_i + column_i - CM_ii); null when class i is absent from both. */
  perClassIoU: Array<number | null>;
  /** Mean IoU over classes 1..classes-1 that occur; null when none occurs. The paper's mIoU. */
  meanIoUNonBackground: number | null;
  /** Mean IoU over all classes that occur. */
  meanIoUAll: number | null;
  /** Correct pixels over all pixels (dominated by the background). */
  pixelAccuracy: number;
  /** Trace of the digit-only block CM[1:, 1:] over its sum; null when that block is empty. */
  nonBackgroundAccuracy: number | null;
}

/**
 * IoU per class, means and accuracies of a confusion matrix CM[predicted][true]. Class 0 is the
 * background. A class with an empty union (never predicted and never true) has IoU null and is
 * left out of the means.
 */
export function segmentationScores(matrix: ConfusionMatrix): SegmentationScores {
  const k = matrix.classes;
  const perClassIoU: Array<number | null> = [];
  for (let i = 0; i < k; i++) {
    let predictedAsI = 0;
    let trulyI = 0;
    for (let j = 0; j < k; j++) {
      predictedAsI += matrix.get(i, j);
      trulyI += matrix.get(j, i);
    }
    const intersection = matrix.get(i, i);
    const union = predictedAsI + trulyI - intersection;
    perClassIoU.push(union > 0 ? intersection / union : null);
  }

  let trace = 0;
  let digitTrace = 0;
  let digitTotal = 0;
  for (let i = 0; i < k; i++) {
    trace += matrix.get(i, i);
    if (i > 0) digitTrace += matrix.get(i, i);
    for (let j = 1; j < k; j++) if (i > 0) digitTotal += matrix.get(i, j);
  }
  const total = matrix.total();

  return {
    perClassIoU,
    meanIoUNonBackground: meanOfPresent(perClassIoU.slice(1)),
    meanIoUAll: meanOfPresent(perClassIoU),
    pixelAccuracy: total > 0 ? trace / total : 0,
    nonBackgroundAccuracy: digitTotal > 0 ? digitTrace / digitTotal : null,
  };
}

function meanOfPresent(values: Array<number | null>): number | null {
  const present = values.filter((v): v is number => v !== null);
  if (present.length === 0) return null;
  return present.reduce((sum, v) => sum + v, 0) / present.length;
}

/**
 * Per-pixel area weights of a 2b x 2b SOFT grid stored [beta, alpha]: pixel (j, k) gets the
 * quadrature weight of row j, so the (2b)^2 weights sum to 1 (one sphere). Length (2b)^2.
 */
export function pixelAreaWeights(bandwidth: number): Float64Array {
  const rowWeights = s2QuadratureWeights(bandwidth);
  const n = 2 * bandwidth;
  const weights = new Float64Array(n * n);
  for (let j = 0; j < n; j++) weights.fill(rowWeights[j], j * n, (j + 1) * n);
  return weights;
}
