import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchNorm, logSoftmax, type BatchNormState } from '../../src/engine/ops/index.js';
import { fromArray, noGrad } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { assertClose, checkGradients, randomTensor } from './gradcheck.js';

function freshState(channels: number): BatchNormState {
  return {
    runningMean: new Float32Array(channels), runningVar: new Float32Array(channels).fill(1),
    momentum: 0.1, eps: 1e-5,
  };
}

test('batchNorm in training normalises each channel and updates running statistics', () => {
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased variance 1.25, unbiased 5/3).
  const x = fromArray([1, 2, 10, 10, 3, 4, 10, 10], [2, 2, 2]);
  const weight = fromArray([2, 1], [2]);
  const bias = fromArray([1, 0], [2]);
  const state = freshState(2);
  const y = batchNorm(x, weight, bias, state, true);
  const s = 1 / Math.sqrt(1.25 + 1e-5);
  assertClose(y.data.subarray(0, 2), [2 * -1.5 * s + 1, 2 * -0.5 * s + 1], 1e-5, 0, 'sample 0');
  assertClose(y.data.subarray(4, 6), [2 * 0.5 * s + 1, 2 * 1.5 * s + 1], 1e-5, 0, 'sample 1');
  assertClose([y.data[2], y.data[7]], [0, 0], 1e-6, 0, 'constant channel');
  assertClose(state.runningMean, [0.25, 1], 1e-6, 0, 'running mean');
  assertClose(state.runningVar, [0.9 + 0.1 * 5 / 3, 0.9], 1e-6, 0, 'running variance');
});

test('batchNorm in evaluation uses the running statistics and leaves them unchanged', () => {
  const state = freshState(1);
  state.runningMean[0] = 2;
  state.runningVar[0] = 4;
  const y = batchNorm(fromArray([0, 2, 6], [3, 1]), fromArray([3], [1]), fromArray([1], [1]),
    state, false);
  assertClose(y.data, [3 * -2 / Math.sqrt(4 + 1e-5) + 1, 1, 3 * 4 / Math.sqrt(4 + 1e-5) + 1], 1e-5);
  assert.deepEqual([...state.runningMean, ...state.runningVar], [2, 4]);
});

test('batchNorm gradients pass central-difference checks in both modes', () => {
  const random = new Random(41);
  const x = randomTensor(random, [4, 3, 2, 3], -2, 2);
  const weight = randomTensor(random, [3], 0.5, 1.5);
  const bias = randomTensor(random, [3]);
  checkGradients('batchNorm train 4-D', [x, weight, bias],
    () => batchNorm(x, weight, bias, freshState(3), true));
  const x2 = randomTensor(random, [6, 5], -2, 2);
  const w2 = randomTensor(random, [5], 0.5, 1.5);
  const b2 = randomTensor(random, [5]);
  checkGradients('batchNorm train 2-D', [x2, w2, b2],
    () => batchNorm(x2, w2, b2, freshState(5), true));
  const state = freshState(5);
  state.runningMean.set([0.1, -0.2, 0.3, 0, 1]);
  state.runningVar.set([0.5, 2, 1, 3, 0.7]);
  checkGradients('batchNorm eval', [x2, w2, b2], () => batchNorm(x2, w2, b2, state, false));
});

test('logSoftmax is stable for huge logits and passes gradient checks', () => {
  const y = noGrad(() => logSoftmax(fromArray([1000, 1000, 999], [1, 3])));
  const lse = Math.log(2 + Math.exp(-1));
  assertClose(y.data, [-lse, -lse, -1 - lse], 1e-5, 0, 'logSoftmax of large logits');
  const random = new Random(42);
  const x = randomTensor(random, [2, 4, 3], -3, 3);
  checkGradients('logSoftmax axis 1', [x], () => logSoftmax(x, 1));
  checkGradients('logSoftmax axis -1', [x], () => logSoftmax(x, -1));
});
