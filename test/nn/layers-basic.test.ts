import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conv2d, convTranspose2d, linear } from '../../src/engine/ops/index.js';
import { noGrad } from '../../src/engine/tensor.js';
import { ReLU } from '../../src/nn/layers/activation.js';
import { BatchNorm } from '../../src/nn/layers/batch-norm.js';
import { ConvTranspose2d } from '../../src/nn/layers/conv-transpose2d.js';
import { Conv2d } from '../../src/nn/layers/conv2d.js';
import { Linear } from '../../src/nn/layers/linear.js';
import { GlobalAvgPool2d, MaxPool2d } from '../../src/nn/layers/pool.js';
import { UpsampleNearest2d } from '../../src/nn/layers/upsample.js';
import { Random } from '../../src/util/random.js';
import { assertClose, checkGradients, randomTensor } from '../engine/gradcheck.js';

/** Largest |value| and mean of an array. */
function stats(values: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (const v of values) {
    max = Math.max(max, Math.abs(v));
    sum += v;
  }
  return { max, mean: sum / values.length };
}

test('Linear: PyTorch default initialisation bounds and forward', () => {
  const layer = new Linear(50, 30, new Random(1));
  assert.deepEqual(layer.namedParameters().map(([name, t]) => [name, t.shape]),
    [['weight', [30, 50]], ['bias', [30]]]);
  const bound = 1 / Math.sqrt(50);
  const w = stats(layer.weight.data);
  assert.ok(w.max <= bound && w.max > 0.95 * bound, `weight range ${w.max} vs ${bound}`);
  assert.ok(Math.abs(w.mean) < 0.1 * bound, `weight mean ${w.mean}`);
  assert.ok(stats(layer.bias.data).max <= bound);
  assert.equal(layer.parameterCount(), 30 * 50 + 30);

  const x = randomTensor(new Random(2), [4, 50]);
  const y = layer.forward(x);
  assert.deepEqual(y.shape, [4, 30]);
  assertClose(y.data, noGrad(() => linear(x, layer.weight, layer.bias)).data, 0);
  checkGradients('Linear', [x, layer.weight, layer.bias], () => layer.forward(x));
});

test('Conv2d and ConvTranspose2d: shapes, fan-in bounds and output sizes', () => {
  const random = new Random(3);
  const conv = new Conv2d(3, 8, 5, 2, random);
  assert.deepEqual(conv.weight.shape, [8, 3, 5, 5]);
  assert.ok(stats(conv.weight.data).max <= 1 / Math.sqrt(75));
  assert.ok(stats(conv.weight.data).max > 0.9 / Math.sqrt(75));
  assert.equal(conv.outputSize(20), 8);
  const x = randomTensor(random, [2, 3, 20, 20]);
  assert.deepEqual(conv.forward(x).shape, [2, 8, 8, 8]);

  // PyTorch's fan-in for ConvTranspose2d comes from the weight's axis 1 (output channels).
  const deconv = new ConvTranspose2d(8, 3, 5, 2, 1, random);
  assert.deepEqual(deconv.weight.shape, [8, 3, 5, 5]);
  assert.ok(stats(deconv.weight.data).max <= 1 / Math.sqrt(75));
  assert.ok(stats(deconv.weight.data).max > 0.9 / Math.sqrt(75));
  assert.ok(stats(deconv.bias.data).max <= 1 / Math.sqrt(75));
  assert.equal(deconv.outputSize(8), 20);
  const y = randomTensor(random, [2, 8, 8, 8]);
  assert.deepEqual(deconv.forward(y).shape, [2, 3, 20, 20]);

  const small = randomTensor(random, [2, 3, 6, 6]);
  const c = new Conv2d(3, 2, 3, 1, random);
  assertClose(c.forward(small).data, noGrad(() => conv2d(small, c.weight, c.bias, 1)).data, 0);
  checkGradients('Conv2d', [small, c.weight, c.bias], () => c.forward(small));
  const d = new ConvTranspose2d(3, 2, 3, 2, 1, random);
  assertClose(d.forward(small).data,
    noGrad(() => convTranspose2d(small, d.weight, d.bias, 2, 1)).data, 0);
  checkGradients('ConvTranspose2d', [small, d.weight, d.bias], () => d.forward(small));
});

test('BatchNorm: ones and zeros, buffers, train and eval modes, state dict', () => {
  const bn = new BatchNorm(3, { momentum: 0.5 });
  assert.deepEqual([...bn.weight.data], [1, 1, 1]);
  assert.deepEqual([...bn.bias.data], [0, 0, 0]);
  assert.deepEqual(bn.namedBuffers().map(([name]) => name), ['runningMean', 'runningVar']);
  assert.equal(bn.parameterCount(), 6);

  const random = new Random(4);
  const x = randomTensor(random, [5, 3, 2, 2], 1, 3);
  const y = bn.forward(x);
  for (let c = 0; c < 3; c++) {
    let s = 0;
    for (let n = 0; n < 5; n++) for (let p = 0; p < 4; p++) s += y.data[(n * 3 + c) * 4 + p];
    assert.ok(Math.abs(s / 20) < 1e-5, `channel ${c} mean ${s / 20}`);
  }
  const [, runningMean] = bn.namedBuffers()[0];
  assert.ok(runningMean.every((m) => m > 0.5 && m < 1.5), 'running mean moved halfway to ~2');

  bn.setTraining(false);
  const z = bn.forward(x);
  assert.ok(!z.data.every((v, i) => Math.abs(v - y.data[i]) < 1e-3), 'eval differs from train');
  const saved = bn.stateDict();
  const other = new BatchNorm(3);
  other.loadStateDict(saved);
  other.setTraining(false);
  assertClose(other.forward(x).data, z.data, 0, 0, 'restored BatchNorm');
  checkGradients('BatchNorm eval', [x, bn.weight, bn.bias], () => bn.forward(x));
  bn.setTraining(true);
  checkGradients('BatchNorm train', [x, bn.weight, bn.bias], () => bn.forward(x));
});

test('ReLU, pooling and upsampling layers have the expected shapes', () => {
  const random = new Random(5);
  const x = randomTensor(random, [2, 3, 9, 9]);
  assert.ok(new ReLU().forward(x).data.every((v) => v >= 0));
  assert.deepEqual(new MaxPool2d(3, 2).forward(x).shape, [2, 3, 4, 4]);
  assert.deepEqual(new MaxPool2d(2).forward(x).shape, [2, 3, 4, 4]);
  assert.deepEqual(new GlobalAvgPool2d().forward(x).shape, [2, 3]);
  assert.deepEqual(new UpsampleNearest2d(20).forward(x).shape, [2, 3, 20, 20]);
  assert.deepEqual(new UpsampleNearest2d(4, 11).forward(x).shape, [2, 3, 4, 11]);
});
