import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { s2QuadratureWeights } from '../../src/sphere/grid.js';
import {
  ConfusionMatrix, accuracy, argmaxClasses, pixelAreaWeights, segmentationScores,
} from '../../src/train/metrics.js';

const close = (actual: number | null, expected: number, tolerance = 1e-12): void => {
  assert.ok(actual !== null, `expected ${expected}, got null`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `expected ${expected}, got ${actual}`);
};

describe('accuracy', () => {
  it('counts equal entries', () => {
    assert.equal(accuracy([1, 2, 3, 4], [1, 0, 3, 0]), 0.5);
    assert.equal(accuracy(Uint8Array.of(7), Uint8Array.of(7)), 1);
  });

  it('rejects mismatched lengths', () => {
    assert.throws(() => accuracy([1], [1, 2]), RangeError);
  });
});

describe('argmaxClasses', () => {
  it('takes the maximum along the class axis of [N, C, P] logits', () => {
    // Two samples, three classes, two pixels; values chosen so each pixel has its own winner.
    const logits = Float32Array.of(
      0.1, 5, /* c0 */ 2, 1, /* c1 */ 3, -1, /* c2 */
      9, 0, /* c0 */ 1, 0, /* c1 */ 2, 0.5, /* c2 */
    );
    assert.deepEqual(Array.from(argmaxClasses(logits, 2, 3, 2)), [2, 0, 0, 2]);
  });

  it('breaks ties towards the lower class', () => {
    assert.deepEqual(Array.from(argmaxClasses(Float32Array.of(1, 1, 0), 1, 3)), [0]);
  });
});

describe('confusion matrix and IoU', () => {
  // Hand-computed example with four classes (0 = background) where class 3 never occurs.
  const predicted = [0, 0, 1, 1, 2, 0, 1, 2];
  const truth = [0, 1, 1, 1, 2, 2, 0, 2];

  it('accumulates CM[predicted][true]', () => {
    const cm = new ConfusionMatrix(4);
    cm.add(predicted, truth);
    assert.deepEqual(cm.toRows(), [
      [1, 1, 1, 0],
      [1, 2, 0, 0],
      [0, 0, 2, 0],
      [0, 0, 0, 0],
    ]);
    assert.equal(cm.total(), 8);
  });

  it('computes per-class IoU, means over present classes and accuracies', () => {
    const cm = new ConfusionMatrix(4);
    cm.add(predicted, truth);
    const scores = segmentationScores(cm);

    // IoU_0 = 1 / (3 + 2 - 1), IoU_1 = 2 / (3 + 3 - 2), IoU_2 = 2 / (2 + 3 - 2), IoU_3 absent.
    close(scores.perClassIoU[0], 1 / 4);
    close(scores.perClassIoU[1], 1 / 2);
    close(scores.perClassIoU[2], 2 / 3);
    assert.equal(scores.perClassIoU[3], null);
    close(scores.meanIoUNonBackground, (1 / 2 + 2 / 3) / 2);
    close(scores.meanIoUAll, (1 / 4 + 1 / 2 + 2 / 3) / 3);
    close(scores.pixelAccuracy, 5 / 8);
    close(scores.nonBackgroundAccuracy, 1);
  });

  it('keeps a class that is only predicted (IoU 0) but drops one absent everywhere', () => {
    // Class 2 is predicted once but never true: union 1, IoU 0, and it lowers the mean.
    const cm = new ConfusionMatrix(3, [
      5, 0, 0,
      0, 3, 0,
      0, 1, 0,
    ]);
    const scores = segmentationScores(cm);
    close(scores.perClassIoU[1], 3 / 4);
    close(scores.perClassIoU[2], 0);
    close(scores.meanIoUNonBackground, 3 / 8);
    close(scores.nonBackgroundAccuracy, 3 / 4);
  });

  it('reports null means when only the background occurs', () => {
    const cm = new ConfusionMatrix(11);
    cm.add(new Uint8Array(10), new Uint8Array(10));
    const scores = segmentationScores(cm);
    assert.equal(scores.meanIoUNonBackground, null);
    assert.equal(scores.nonBackgroundAccuracy, null);
    close(scores.meanIoUAll, 1);
    assert.deepEqual(scores.perClassIoU.slice(1), new Array(10).fill(null));
  });

  it('rejects classes outside the matrix', () => {
    const cm = new ConfusionMatrix(3);
    assert.throws(() => cm.add([3], [0]), RangeError);
  });
});

describe('area-weighted confusion matrix', () => {
  it('gives each pixel the SOFT quadrature weight of its beta row; a sphere sums to 1', () => {
    const b = 3;
    const weights = pixelAreaWeights(b);
    const rows = s2QuadratureWeights(b);
    assert.equal(weights.length, 36);
    close(weights.reduce((s, w) => s + w, 0), 1, 1e-12);
    close(weights[2 * 6 + 5], rows[2]);
    // Rows near the equator weigh more than rows near the poles.
    assert.ok(rows[2] > rows[0]);
  });

  it('weighs errors by area: a wrong polar row costs less than a wrong equatorial row', () => {
    const b = 2;
    const n = 2 * b;
    const weights = pixelAreaWeights(b);
    const rows = s2QuadratureWeights(b);
    const truth = new Uint8Array(n * n).fill(1);

    // Prediction wrong (background) on beta row 0 (polar) only.
    const polarWrong = Uint8Array.from(truth);
    polarWrong.fill(0, 0, n);
    const polar = new ConfusionMatrix(2);
    polar.add(polarWrong, truth, weights);
    close(polar.get(0, 1), n * rows[0]);
    close(polar.get(1, 1), 1 - n * rows[0]);

    // Prediction wrong on row 1 (nearer the equator).
    const equatorWrong = Uint8Array.from(truth);
    equatorWrong.fill(0, n, 2 * n);
    const equator = new ConfusionMatrix(2);
    equator.add(equatorWrong, truth, weights);

    const iouPolar = segmentationScores(polar).perClassIoU[1] as number;
    const iouEquator = segmentationScores(equator).perClassIoU[1] as number;
    close(iouPolar, 1 - n * rows[0]);
    close(iouEquator, 1 - n * rows[1]);
    assert.ok(iouPolar > iouEquator);

    // Pixel counting cannot tell the two apart.
    const countPolar = new ConfusionMatrix(2);
    countPolar.add(polarWrong, truth);
    const countEquator = new ConfusionMatrix(2);
    countEquator.add(equatorWrong, truth);
    assert.equal(segmentationScores(countPolar).perClassIoU[1], 0.75);
    assert.equal(segmentationScores(countEquator).perClassIoU[1], 0.75);
  });

  it('applies the per-pixel weights to every sample of a batch', () => {
    const weights = pixelAreaWeights(2);
    const cm = new ConfusionMatrix(2);
    cm.add(new Uint8Array(3 * 16).fill(1), new Uint8Array(3 * 16).fill(1), weights);
    close(cm.get(1, 1), 3, 1e-12);
  });
});
