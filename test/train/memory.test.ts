import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Tensor } from '../../src/engine/tensor.js';
import { findModel } from '../../src/nn/models/registry.js';
import {
  BACKWARD_OVERHEAD, RUNTIME_BYTES, USABLE_FRACTION, estimateTrainingMemory, graphFloats,
  requireBandwidth, requireMemoryFits,
} from '../../src/train/memory.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

const GiB = 2 ** 30;

describe('estimateTrainingMemory', () => {
  it('adds parameters, gradients, Adam moments, activations, tables, data and runtime', () => {
    const estimate = estimateTrainingMemory(
      { parameterCount: 1000, activationFloatsPerSample: 10_000, tableBytes: 5000 }, 8, 300);
    assert.equal(estimate.parameterBytes, 8000);
    assert.equal(estimate.optimizerBytes, 8000);
    assert.equal(estimate.activationBytes, 4 * 10_000 * 8 * (1 + BACKWARD_OVERHEAD));
    assert.equal(estimate.totalBytes,
      8000 + 8000 + estimate.activationBytes + 5000 + 300 + RUNTIME_BYTES);
  });
});

describe('requireMemoryFits', () => {
  const footprint = { parameterCount: 1e6, activationFloatsPerSample: 50e6, tableBytes: 1e8 };

  it('refuses a run that does not fit, saying what it needs and the batch that fits', () => {
    let message = '';
    assert.throws(() => requireMemoryFits('training big', footprint, 32, 8 * GiB), (e: Error) => {
      message = e.message;
      return e instanceof UserError;
    });
    assert.match(message, /training big needs about \d+(\.\d+)? GiB/);
    assert.match(message, /batch size 32/);
    const suggested = Number(/--batch-size (\d+)/.exec(message)?.[1]);
    assert.ok(suggested >= 1 && suggested < 32, message);

    // The suggestion fits and one more sample does not.
    requireMemoryFits('training big', footprint, suggested, 8 * GiB);
    assert.throws(() => requireMemoryFits('training big', footprint, suggested + 1, 8 * GiB),
      UserError);
  });

  it('tells to lower the bandwidth when not even one sample fits', () => {
    assert.throws(() => requireMemoryFits('x', footprint, 1, 0.5 * GiB),
      (e: Error) => e instanceof UserError && /smaller --bandwidth/.test(e.message)
        && !/--batch-size \d/.test(e.message));
  });

  it('accepts a run within the usable fraction of the limit', () => {
    const estimate = requireMemoryFits('small', footprint, 4, 8 * GiB);
    assert.ok(estimate.totalBytes <= USABLE_FRACTION * 8 * GiB);
  });

  it('refuses the paper\'s segmentation S2CNN at batch 32 in 8 GiB, not batch 1 in 24 GiB', () => {
    const entry = findModel('s2cnn-seg-paper');
    assert.throws(() => requireMemoryFits('s2cnn-seg-paper', entry.footprint(50), 32, 8 * GiB),
      UserError);
    requireMemoryFits('s2cnn-seg-paper', entry.footprint(50), 1, 24 * GiB);
  });
});

describe('requireBandwidth', () => {
  it('accepts 2..max and refuses the rest with a UserError', () => {
    requireBandwidth(2);
    requireBandwidth(64, 64);
    for (const bad of [1, 0, -3, 2.5, NaN, 65]) {
      assert.throws(() => requireBandwidth(bad, 64), UserError, `bandwidth ${bad}`);
    }
  });
});

describe('activation estimates of the registry', () => {
  // The analytic count must cover what a real forward pass keeps (it may add spectra and
  // patch matrices the graph does not show) without being wildly pessimistic.
  for (const [name, b] of [['s2cnn-small', 6], ['s2cnn-seg-small', 6], ['cnn-small', 8],
    ['cnn-seg-small', 8]] as const) {
    it(`${name} at b=${b}`, () => {
      const entry = findModel(name);
      const model = entry.create(b, new Random(1));
      const input = new Tensor(new Float32Array(4 * b * b).fill(0.3), [1, 1, 2 * b, 2 * b]);
      input.requiresGrad = true;
      const kept = graphFloats(model.forward(input));
      const estimated = entry.footprint(b).activationFloatsPerSample;
      assert.ok(estimated >= kept, `estimate ${estimated} < graph ${kept}`);
      assert.ok(estimated <= 3 * kept, `estimate ${estimated} > 3 x graph ${kept}`);
    });
  }
});
