import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backward, noGrad, Tensor } from '../../src/engine/tensor.js';
import {
  CNN_CLASSIFIER_114K, CNN_CLASSIFIER_2_5M, CNN_CLASSIFIER_509K, CNN_CLASSIFIER_SMALL,
  CnnClassifier,
} from '../../src/nn/models/cnn-classifier.js';
import {
  CNN_SEGMENTER_1M, CNN_SEGMENTER_218K, CNN_SEGMENTER_5_5M, CNN_SEGMENTER_SMALL, CnnSegmenter,
} from '../../src/nn/models/cnn-segmenter.js';
import type { Module } from '../../src/nn/module.js';
import { crossEntropy } from '../../src/train/loss.js';
import { Adam } from '../../src/train/optimizer.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import { checkGradients, randomTensor } from '../engine/gradcheck.js';

test('classifier presets have the paper parameter counts (notes 4.5)', () => {
  const random = new Random(1);
  assert.equal(new CnnClassifier(CNN_CLASSIFIER_114K, random).parameterCount(), 113_761);
  assert.equal(new CnnClassifier(CNN_CLASSIFIER_509K, random).parameterCount(), 509_041);
  assert.equal(new CnnClassifier(CNN_CLASSIFIER_2_5M, random).parameterCount(), 2_583_138);
});

test('segmenter presets have the paper parameter counts and map sizes (notes 4.4)', () => {
  const random = new Random(2);
  const cases: Array<[typeof CNN_SEGMENTER_218K, number, number, number[]]> = [
    [CNN_SEGMENTER_218K, 218_144, 206_698, [100, 96, 94, 86, 80, 39]],
    [CNN_SEGMENTER_1M, 1_042_013, 992_162, [100, 98, 96, 92, 44, 42, 38]],
    [CNN_SEGMENTER_5_5M, 5_519_335, 5_015_735, [100, 98, 94, 92, 43, 39, 37, 18]],
  ];
  for (const [config, withSkips, withoutSkips, sizes] of cases) {
    const model = new CnnSegmenter(config, 100, random);
    assert.equal(model.parameterCount(), withSkips);
    assert.deepEqual(model.sizes, sizes);
    assert.equal(new CnnSegmenter({ ...config, useSkips: false }, 100, random).parameterCount(),
      withoutSkips);
  }
});

test('models reject bad configurations with a UserError', () => {
  const random = new Random(3);
  const mismatched = { channels: [4, 4], kernels: [3], strides: [1, 1] };
  assert.throws(() => new CnnClassifier(mismatched, random), UserError);
  assert.throws(() => new CnnSegmenter({ ...CNN_SEGMENTER_SMALL, strides: [1, 0, 1] }, 32, random),
    /strides contains 0/);
  assert.throws(() => new CnnSegmenter(CNN_SEGMENTER_218K, 20, random), /smaller than its/);
  const segmenter = new CnnSegmenter(CNN_SEGMENTER_SMALL, 32, random);
  assert.throws(() => segmenter.forward(randomTensor(random, [1, 1, 40, 40])), /\[N, 1, 32, 32\]/);
});

test('small presets map 32x32 and 40x40 spheres to logits of the right shape', () => {
  const random = new Random(4);
  const classifier = new CnnClassifier(CNN_CLASSIFIER_SMALL, random);
  assert.equal(classifier.parameterCount(), 16_578);
  assert.equal(new CnnSegmenter(CNN_SEGMENTER_SMALL, 32, random).parameterCount(), 22_623);
  const x = randomTensor(random, [3, 1, 32, 32]);
  assert.deepEqual(noGrad(() => classifier.forward(x)).shape, [3, 10]);
  for (const size of [32, 40]) {
    const segmenter = new CnnSegmenter(CNN_SEGMENTER_SMALL, size, random);
    const y = noGrad(() => segmenter.forward(randomTensor(random, [2, 1, size, size])));
    assert.deepEqual(y.shape, [2, 11, size, size]);
  }
});

// ReLU kinks and float32 rounding limit the agreement of a whole model to about 1e-2, far
// below the O(1) error of a wiring mistake (a skip or layer left out of the backward pass).
test('segmenter with skips passes a central-difference gradient check', () => {
  const random = new Random(5);
  // 11 -> 9 -> 4 (stride 2 leaves one row over: output padding 1 on the way back).
  const model = new CnnSegmenter({ channels: [3, 4], kernels: [3, 3], strides: [1, 2],
    useSkips: true, classes: 2 }, 11, random);
  const x = randomTensor(random, [2, 1, 11, 11]);
  const params = model.parameters();
  // Two encoder convs, one encoder skip, two decoder convs, one decoder skip: weight and bias each.
  assert.equal(params.length, 12);
  checkGradients('CnnSegmenter', [x, ...params], () => model.forward(x),
    { step: 3e-4, tolerance: 3e-2, maxChecks: 12 });
});

test('classifier passes a central-difference gradient check', () => {
  const random = new Random(6);
  const model = new CnnClassifier({ channels: [3, 5], kernels: [3, 3], strides: [1, 2] }, random);
  const x = randomTensor(random, [4, 1, 9, 9]);
  checkGradients('CnnClassifier', [x, ...model.parameters()], () => model.forward(x),
    { step: 3e-4, tolerance: 3e-2, maxChecks: 12 });
});

/** Trains on one fixed batch; returns the loss before and after. */
function overfit(model: Module, input: Tensor, targets: Uint8Array,
  steps: number): [number, number] {
  const adam = new Adam(model.parameters(), { learningRate: 1e-2 });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    adam.zeroGrad();
    const loss = crossEntropy(model.forward(input), targets);
    losses.push(loss.data[0]);
    backward(loss);
    adam.step();
  }
  return [losses[0], losses[losses.length - 1]];
}

test('a few Adam steps lower the classifier loss on a fixed batch', () => {
  const random = new Random(7);
  const model = new CnnClassifier(CNN_CLASSIFIER_SMALL, random);
  const x = randomTensor(random, [16, 1, 20, 20]);
  const labels = Uint8Array.from({ length: 16 }, () => random.int(10));
  const [before, after] = overfit(model, x, labels, 40);
  assert.ok(after < 0.5 * before, `loss ${before} -> ${after}`);
});

test('a few Adam steps lower the segmenter loss on a fixed batch', () => {
  const random = new Random(8);
  const model = new CnnSegmenter(CNN_SEGMENTER_SMALL, 16, random);
  const x = randomTensor(random, [4, 1, 16, 16], 0, 1);
  // Mask: class 1 + (sample index) where the pixel is bright, background elsewhere.
  const masks = Uint8Array.from(x.data, (v, i) => (v > 0.6 ? 1 + Math.floor(i / 256) : 0));
  const [before, after] = overfit(model, x, masks, 40);
  assert.ok(after < 0.5 * before, `loss ${before} -> ${after}`);
});
