import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { findModel, modelEntries, modelNames } from '../../src/nn/models/registry.js';
import type { S2cnnClassifierConfig } from '../../src/nn/models/s2cnn-classifier.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

describe('model registry', () => {
  it('knows the classification and segmentation models by name', () => {
    assert.deepEqual(modelNames('classification'),
      ['s2cnn-small', 's2cnn-paper', 'cnn-small', 'cnn-114k', 'cnn-509k', 'cnn-2.5m']);
    assert.deepEqual(modelNames('segmentation'),
      ['s2cnn-seg-small', 's2cnn-seg-paper', 'cnn-seg-small', 'cnn-seg-218k', 'cnn-seg-1m',
        'cnn-seg-5.5m']);
  });

  it('refuses an unknown name with a UserError listing the known ones', () => {
    assert.throws(() => findModel('vgg'), (e: Error) => e instanceof UserError
      && e.message === `unknown model 'vgg'; known models: ${modelNames().join(', ')}`);
    assert.throws(() => findModel('cnn-small', 'segmentation'),
      (e: Error) => e instanceof UserError && /cnn-seg-small/.test(e.message));
  });

  it('has the paper\'s parameter counts, and the analytic counts match the built models', () => {
    const paper: Record<string, number> = {
      's2cnn-paper': 156_882, 'cnn-114k': 113_761, 'cnn-509k': 509_041, 'cnn-2.5m': 2_583_138,
      's2cnn-seg-paper': 204_073, 'cnn-seg-218k': 218_144, 'cnn-seg-1m': 1_042_013,
      'cnn-seg-5.5m': 5_519_335,
    };
    for (const entry of modelEntries()) {
      const b = entry.presetBandwidth;
      const model = entry.create(b, new Random(1));
      assert.equal(entry.footprint(b).parameterCount, model.parameterCount(), entry.name);
      if (entry.name in paper) assert.equal(model.parameterCount(), paper[entry.name], entry.name);
    }
  });

  it('scales S2CNN layer bandwidths with the input bandwidth and keeps the kernels', () => {
    const entry = findModel('s2cnn-small');
    const preset = entry.config(16) as S2cnnClassifierConfig;
    const scaled = entry.config(8) as S2cnnClassifierConfig;
    assert.equal(scaled.bandwidth, 8);
    assert.deepEqual([scaled.s2.bandwidth, ...scaled.so3.map((l) => l.bandwidth)], [5, 3, 2]);
    assert.deepEqual(scaled.s2.grid, preset.s2.grid);
    const wider = entry.config(20) as S2cnnClassifierConfig;
    assert.deepEqual([wider.s2.bandwidth, ...wider.so3.map((l) => l.bandwidth)], [13, 8, 5]);
    // The parameter count does not depend on the bandwidth.
    assert.equal(entry.create(8, new Random(1)).parameterCount(),
      entry.footprint(16).parameterCount);
  });

  it('refuses a CNN whose valid convolutions do not fit the input with a UserError', () => {
    assert.throws(() => findModel('cnn-114k').create(8, new Random(1)),
      (e: Error) => e instanceof UserError && /larger input \(bandwidth\)/.test(e.message));
  });
});
