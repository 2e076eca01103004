import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

import { runQuick, quickPoints, QUICK_DEFAULTS } from '../../src/experiments/quick.js';
import { readResults } from '../../src/experiments/results.js';
import { checkpointName, runPoint, type PointSpec } from '../../src/experiments/runner.js';
import { runSweep, sweepPoints } from '../../src/experiments/sweep.js';
import type { Module } from '../../src/nn/module.js';
import { Interrupted, loadTrainingCheckpoint } from '../../src/train/trainer.js';
import { UserError } from '../../src/util/errors.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-runner-'));
after(() => fs.rmSync(folder, { recursive: true, force: true }));
const data = {
  source: 'mnist-embedded', cacheFolder: path.join(folder, 'cache'), itemsPerSphere: 1,
};

// The real small S2CNN and Adam on real projected digits, at b = 4 (8 x 8 spheres).
const spec: PointSpec = {
  task: 'classification', model: 's2cnn-small', bandwidth: 4, trainSize: 48, trainRotated: false,
  testSize: 20, testRotated: [false, true], epochs: 3, batchSize: 16, learningRate: 3e-3, seed: 7,
};

function weights(model: Module): Float32Array[] {
  return model.parameters().map((p) => Float32Array.from(p.data));
}

describe('runPoint with real models', () => {
  it('trains, tests on both test sets and lowers the training loss', async () => {
    const { record } = await runPoint({ ...spec, epochs: 4 }, { data });
    assert.equal(record.tests.length, 2);
    assert.deepEqual(record.tests.map((t) => t.rotated), [false, true]);
    assert.equal(record.tests[1].evaluation.count, 20);
    assert.ok(record.parameters > 10_000);
    assert.ok(record.trainSeconds > 0);
  });

  it('gives the same weights for the same seed', async () => {
    const a = await runPoint(spec, { data });
    const b = await runPoint(spec, { data });
    assert.deepEqual(weights(a.model), weights(b.model));
    assert.deepEqual(a.record.tests[1].evaluation, { ...b.record.tests[1].evaluation,
      seconds: a.record.tests[1].evaluation.seconds });
    const c = await runPoint({ ...spec, seed: 8 }, { data });
    assert.notDeepEqual(weights(a.model), weights(c.model));
  });

  it('resumes an interrupted run (real model, Adam, checkpoint) to identical weights', async () => {
    const reference = await runPoint(spec, { data });

    const checkpointFolder = path.join(folder, 'checkpoints');
    let batches = 0;
    await assert.rejects(runPoint(spec, {
      data, checkpointFolder, hooks: { shouldStop: () => ++batches === 3 + 2 },
    }), (e: Error) => e instanceof Interrupted && /1 completed epoch\(s\) kept/.test(e.message));
    const file = path.join(checkpointFolder, checkpointName(spec));
    assert.equal(loadTrainingCheckpoint(file).completedEpochs, 1);

    const messages: string[] = [];
    const resumed = await runPoint(spec, {
      data, checkpointFolder, hooks: { onMessage: (m) => messages.push(m) },
    });
    assert.deepEqual(messages, [`resuming from ${file} after epoch 1`]);
    assert.deepEqual(weights(resumed.model), weights(reference.model));

    // A finished checkpoint is reused without training; --fresh retrains.
    const again = await runPoint(spec, {
      data, checkpointFolder, hooks: { onMessage: (m) => messages.push(m) },
    });
    assert.match(messages[1], /reusing the finished training/);
    assert.deepEqual(weights(again.model), weights(reference.model));
    assert.equal(again.record.trainSeconds, resumed.record.trainSeconds);
  });

  it('refuses an unknown model, a model of the other task and a bad bandwidth', async () => {
    await assert.rejects(runPoint({ ...spec, model: 'resnet' }, { data }),
      (e: Error) => e instanceof UserError && /known models: s2cnn-small/.test(e.message));
    await assert.rejects(runPoint({ ...spec, model: 'cnn-seg-small' }, { data }),
      (e: Error) => e instanceof UserError && /segmentation model/.test(e.message));
    await assert.rejects(runPoint({ ...spec, bandwidth: 1 }, { data }), UserError);
    await assert.rejects(runPoint(spec, { data, memoryLimit: 64 * 2 ** 20 }),
      (e: Error) => e instanceof UserError && /needs about/.test(e.message));
  });
});

describe('quick and sweep plans', () => {
  it('quick trains S2CNNs unrotated, CNNs both ways (classification) or rotated', () => {
    const points = quickPoints({
      ...QUICK_DEFAULTS, outFolder: folder, data,
    });
    assert.deepEqual(points.map((p) => [p.task, p.model, p.trainRotated]), [
      ['classification', 's2cnn-small', false],
      ['classification', 'cnn-small', false],
      ['classification', 'cnn-small', true],
      ['segmentation', 's2cnn-seg-small', false],
      ['segmentation', 'cnn-seg-small', true],
    ]);
    assert.ok(points.every((p) => p.testRotated.join() === 'false,true'));
  });

  it('sweep orders sizes and picks training data by family', () => {
    const points = sweepPoints({
      task: 'segmentation', models: ['s2cnn-seg-small', 'cnn-seg-small'],
      trainSizes: [300, 100, 300],
      trainData: 'auto', testUnrotated: false, bandwidth: 8, testSize: 10, epochs: 1, batchSize: 4,
      learningRateS2cnn: 1e-3, learningRateCnn: 2e-3, seed: 1, outFolder: folder, data,
      fresh: false,
    });
    assert.deepEqual(points.map((p) => [p.model, p.trainSize, p.trainRotated, p.learningRate]), [
      ['s2cnn-seg-small', 100, false, 1e-3],
      ['s2cnn-seg-small', 300, false, 1e-3],
      ['cnn-seg-small', 100, true, 2e-3],
      ['cnn-seg-small', 300, true, 2e-3],
    ]);
  });
});

describe('runQuick and runSweep end to end (tiny)', () => {
  it('quick writes results.json/csv with every run and both test sets', async () => {
    const outFolder = path.join(folder, 'quick');
    const tiny = {
      models: [], bandwidth: 4, trainSize: 16, testSize: 8, epochs: 1, batchSize: 8,
      learningRateS2cnn: 1e-3, learningRateCnn: 1e-3,
    };
    const outcome = await runQuick({
      ...QUICK_DEFAULTS, tasks: ['classification', 'segmentation'],
      classification: { ...tiny, models: ['s2cnn-small'] },
      segmentation: { ...tiny, models: ['s2cnn-seg-small', 'cnn-seg-small'], bandwidth: 6 },
      outFolder, data, fresh: false,
    });
    const saved = readResults(path.join(outFolder, 'results.json'));
    assert.equal(saved.runs.length, 3);
    assert.equal(saved.runs[2].model, 'cnn-seg-small');
    assert.equal(saved.runs[2].trainRotated, true);
    const seg = saved.runs[1].tests[1].evaluation;
    assert.equal(seg.task, 'segmentation');
    assert.equal(seg.confusionPixels?.length, 11);
    const csv = fs.readFileSync(path.join(outFolder, 'results.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 1 + 3 * 2);
    assert.match(csv[0], /^experiment,task,model/);
    assert.equal(outcome.findings.length, 3);
    assert.match(outcome.findings[1], /segmentation: s2cnn-seg-small .* weighting them by area/);
    assert.match(outcome.findings[2], /segmentation .* s2cnn-seg-small .* cnn-seg-small/);
  });

  it('sweep skips finished points when run again', async () => {
    const settings = {
      task: 'classification' as const, models: ['s2cnn-small'], trainSizes: [8, 16],
      trainData: 'auto' as const, testUnrotated: false, bandwidth: 4, testSize: 8, epochs: 1,
      batchSize: 8, learningRateS2cnn: 1e-3, learningRateCnn: 1e-3, seed: 1,
      outFolder: path.join(folder, 'sweep'), data, fresh: false,
    };
    const first = await runSweep(settings);
    assert.deepEqual([first.trained, first.skipped], [2, 0]);
    const second = await runSweep({ ...settings, trainSizes: [8, 16, 24] });
    assert.deepEqual([second.trained, second.skipped], [1, 2]);
    assert.deepEqual(second.results.runs.map((r) => r.trainSize), [8, 16, 24]);
    assert.equal(readResults(second.files.json).runs.length, 3);
  });

  it('sweep counts a finished checkpoint as reused, not trained', async () => {
    const settings = {
      task: 'classification' as const, models: ['s2cnn-small'], trainSizes: [8],
      trainData: 'auto' as const, testUnrotated: false, bandwidth: 4, testSize: 8, epochs: 1,
      batchSize: 8, learningRateS2cnn: 1e-3, learningRateCnn: 1e-3, seed: 1,
      outFolder: path.join(folder, 'sweep-reuse'), data, fresh: false,
    };
    const first = await runSweep(settings);
    assert.deepEqual([first.trained, first.skipped], [1, 0]);
    // An interruption after the training but before results.json: only the checkpoint is left.
    fs.rmSync(path.join(settings.outFolder, 'results.json'));
    const second = await runSweep(settings);
    assert.deepEqual([second.trained, second.skipped], [0, 1]);
  });
});
