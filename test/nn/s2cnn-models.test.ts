import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { backward, fromArray, noGrad, Tensor } from '../../src/engine/tensor.js';
import {
  S2cnnClassifier, S2CNN_CLASSIFIER_PAPER, S2CNN_CLASSIFIER_SMALL, S2cnnClassifierConfig,
} from '../../src/nn/models/s2cnn-classifier.js';
import {
  S2cnnSegmenter, S2CNN_SEGMENTER_PAPER, S2CNN_SEGMENTER_SMALL, S2cnnSegmenterConfig,
} from '../../src/nn/models/s2cnn-segmenter.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

function input(random: Random, shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.uniform();
  return fromArray(values, shape);
}

describe('S2CNN parameter counts (paper.md 4.3, 4.5)', () => {
  it('the deep classifier has 156,882 parameters', () => {
    const model = new S2cnnClassifier(S2CNN_CLASSIFIER_PAPER, new Random(1));
    assert.equal(model.parameterCount(), 156_882);
    // Spectral part 149,992 + head 6,890.
    assert.equal(model.features.parameterCount(), 149_992);
  });

  it('the segmentation S2CNN has 204,073 parameters, per layer as in paper.md 4.3', () => {
    const model = new S2cnnSegmenter(S2CNN_SEGMENTER_PAPER, new Random(1));
    assert.equal(model.parameterCount(), 204_073);
    const perLayer = model.layers.layers.map((layer) => layer.parameterCount())
      .filter((n) => n > 0);
    assert.deepEqual(perLayer, [275, 25_356, 29_965, 34_958, 34_957, 29_964, 25_355, 23_243]);
  });
});

describe('small S2CNN models', () => {
  it('the small classifier maps [N, 1, 32, 32] to [N, 10]; every parameter gets a gradient', () => {
    const random = new Random(2);
    const model = new S2cnnClassifier(S2CNN_CLASSIFIER_SMALL, random);
    const logits = model.forward(input(random, [4, 1, 32, 32]));
    assert.deepEqual(logits.shape, [4, 10]);
    assert.ok(logits.data.every(Number.isFinite));
    const seed = Float32Array.from({ length: 40 }, () => random.normal());
    backward(logits, seed);
    for (const [name, p] of model.namedParameters()) {
      assert.ok(p.grad !== null && p.grad.some((g) => g !== 0), `${name} has no gradient`);
    }
  });

  it('the small segmenter maps [N, 1, 32, 32] to [N, 11, 32, 32]', () => {
    const random = new Random(3);
    const model = new S2cnnSegmenter(S2CNN_SEGMENTER_SMALL, random);
    const logits = model.forward(input(random, [2, 1, 32, 32]));
    assert.deepEqual(logits.shape, [2, 11, 32, 32]);
    backward(logits, Float32Array.from({ length: logits.size }, () => random.normal()));
    for (const [name, p] of model.namedParameters()) {
      assert.ok(p.grad !== null && p.grad.some((g) => g !== 0), `${name} has no gradient`);
    }
  });

  it('the same seed gives the same weights and outputs', () => {
    const a = new S2cnnClassifier(S2CNN_CLASSIFIER_SMALL, new Random(4));
    const b = new S2cnnClassifier(S2CNN_CLASSIFIER_SMALL, new Random(4));
    const x = input(new Random(5), [2, 1, 32, 32]);
    a.setTraining(false);
    b.setTraining(false);
    const ya = noGrad(() => a.forward(x));
    const yb = noGrad(() => b.forward(x));
    assert.deepEqual(Array.from(ya.data), Array.from(yb.data));
  });

  it('the first layer has O(1) activations (the s2cnn weight scaling)', () => {
    const random = new Random(6);
    const config = { ...S2CNN_SEGMENTER_SMALL, nonlinearity: 'identity' as const };
    const model = new S2cnnSegmenter(config, random);
    const first = model.layers.layers[0];
    const x = new Float32Array(32 * 32);
    for (let i = 0; i < x.length; i++) x[i] = random.normal();
    const y = noGrad(() => first.forward(fromArray(x, [1, 1, 32, 32])));
    let sum = 0;
    for (const v of y.data) sum += v * v;
    const std = Math.sqrt(sum / y.size);
    assert.ok(std > 0.1 && std < 3, `output standard deviation ${std}`);
  });
});

describe('configuration errors', () => {
  it('a bad field throws a UserError naming it', () => {
    const bad: S2cnnClassifierConfig = {
      ...S2CNN_CLASSIFIER_SMALL,
      so3: [{ ...S2CNN_CLASSIFIER_SMALL.so3[0], bandwidth: 0 }],
    };
    assert.throws(() => new S2cnnClassifier(bad, new Random(1)),
      (error: unknown) => error instanceof UserError && /so3\[0\]\.bandwidth/.test(error.message));
    const badSegmenter = {
      ...S2CNN_SEGMENTER_SMALL, nonlinearity: 'tanh',
    } as unknown as S2cnnSegmenterConfig;
    assert.throws(() => new S2cnnSegmenter(badSegmenter, new Random(1)),
      (error: unknown) => error instanceof UserError && /nonlinearity/.test(error.message));
  });

  it('a wrongly shaped input is rejected', () => {
    const model = new S2cnnClassifier(S2CNN_CLASSIFIER_SMALL, new Random(1));
    assert.throws(() => model.forward(fromArray(new Float32Array(2 * 30 * 30), [2, 1, 30, 30])),
      /S2Convolution: input shape/);
  });
});
