import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logSoftmax, permute, reshape } from '../../src/engine/ops/index.js';
import { backward, fromArray, noGrad } from '../../src/engine/tensor.js';
import { crossEntropy } from '../../src/train/loss.js';
import { Random } from '../../src/util/random.js';
import { assertClose, checkGradients, randomTensor } from './gradcheck.js';

test('crossEntropy of known logits, unweighted and class-weighted', () => {
  // Row 0: ln 3; row 1: ln(e + e^2 + e^3) - 3 = 0.40761...
  const logits = fromArray([0, 0, 0, 1, 2, 3], [2, 3]);
  const targets = Int32Array.of(0, 2);
  assertClose(crossEntropy(logits, targets).data, [0.753109126556245], 1e-6);
  // Weighted mean: (2 ln 3 + 0.5 0.40761) / (2 + 0.5).
  const weighted = crossEntropy(logits, Uint8Array.of(0, 2), [2, 1, 0.5]);
  assertClose(weighted.data, [0.9604110238233637], 1e-6);
  assert.throws(() => crossEntropy(logits, Int32Array.of(0, 3)), /not in 0..2/);
  assert.throws(() => crossEntropy(logits, Int32Array.of(0)), /need 2 targets/);
});

test('crossEntropy does not overflow for huge logits', () => {
  const loss = crossEntropy(fromArray([1e4, 0, -1e4, 1e4], [2, 2]), Int32Array.of(0, 0));
  // Sample 0 is certain and right (loss 0); sample 1 is certain and wrong (loss 2e4).
  assertClose(loss.data, [1e4], 1e-2);
});

test('crossEntropy over pixels equals the mean over per-pixel rows', () => {
  const random = new Random(51);
  const logits = randomTensor(random, [2, 4, 3, 5], -2, 2);
  const targets = Uint8Array.from({ length: 30 }, () => random.int(4));
  const loss = crossEntropy(logits, targets).data[0];
  // Move classes last and flatten: [N H W, C] rows with targets in the same order.
  const rows = noGrad(() => logSoftmax(reshape(permute(logits, [0, 2, 3, 1]), [30, 4]), 1));
  let expected = 0;
  for (let r = 0; r < 30; r++) expected -= rows.data[r * 4 + targets[r]];
  assertClose([loss], [expected / 30], 1e-6);
});

test('crossEntropy gradient is (softmax - onehot) / count and passes central differences', () => {
  const logits = fromArray([0, 0, 0, 1, 2, 3], [2, 3]);
  logits.requiresGrad = true;
  backward(crossEntropy(logits, Int32Array.of(0, 2)));
  const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
  assertClose(logits.grad ?? [], [
    (1 / 3 - 1) / 2, 1 / 6, 1 / 6,
    Math.exp(1) / z / 2, Math.exp(2) / z / 2, (Math.exp(3) / z - 1) / 2,
  ], 1e-6);

  const random = new Random(52);
  const x = randomTensor(random, [3, 5, 2, 2], -2, 2);
  const t = Uint8Array.from({ length: 12 }, () => random.int(5));
  checkGradients('crossEntropy pixels', [x], () => crossEntropy(x, t));
  checkGradients('crossEntropy weighted', [x], () => crossEntropy(x, t, [1, 2, 0.5, 3, 1]));
});
