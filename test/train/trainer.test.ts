import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

import type { Module } from '../../src/nn/module.js';
import { ConfusionMatrix, segmentationScores } from '../../src/train/metrics.js';
import {
  evaluateModel, epochOrder, loadTrainingCheckpoint, saveTrainingCheckpoint, trainModel,
  type TrainOptions,
  type TrainSettings,
} from '../../src/train/trainer.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';
import {
  LinearClassifier, MomentumSgd, PixelSegmenter, softmaxCrossEntropy, toyClassificationData,
} from './stand-ins.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-trainer-'));
after(() => fs.rmSync(folder, { recursive: true, force: true }));

const bandwidth = 4;
const data = toyClassificationData(96, bandwidth, 4, 11);
const settings: TrainSettings = {
  task: 'classification', epochs: 4, batchSize: 16, learningRate: 0.02, seed: 5,
};
const standIns: TrainOptions = {
  loss: softmaxCrossEntropy,
  createOptimizer: (model: Module, lr: number) => new MomentumSgd(model.parameters(), lr),
};

function freshModel(initSeed = 1): LinearClassifier {
  return new LinearClassifier(4 * bandwidth * bandwidth, 10, new Random(initSeed));
}

function weightsOf(model: Module): Float32Array[] {
  return model.parameters().map((p) => Float32Array.from(p.data));
}

describe('epochOrder', () => {
  it('is a permutation that depends on seed and epoch only', () => {
    const order = epochOrder(50, 3, 2);
    assert.deepEqual(Array.from(order).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(epochOrder(50, 3, 2), order);
    assert.notDeepEqual(epochOrder(50, 3, 3), order);
    assert.notDeepEqual(epochOrder(50, 4, 2), order);
  });
});

describe('trainModel', () => {
  it('lowers the loss and learns the toy task', async () => {
    const model = freshModel();
    const before = await evaluateModel(model, data, 'classification',
      { loss: softmaxCrossEntropy });
    const progress: number[] = [];
    const outcome = await trainModel(model, data, settings, {
      ...standIns, onProgress: (p) => progress.push(p.done),
    });
    const afterTraining = await evaluateModel(model, data, 'classification',
      { loss: softmaxCrossEntropy });

    assert.equal(outcome.completedEpochs, 4);
    assert.equal(outcome.interrupted, false);
    assert.ok(outcome.history[3].trainLoss < 0.5 * outcome.history[0].trainLoss,
      `loss ${outcome.history.map((h) => h.trainLoss.toFixed(3))}`);
    assert.ok(afterTraining.loss < before.loss / 2);
    assert.ok(afterTraining.accuracy > 0.9, `accuracy ${afterTraining.accuracy}`);
    // Progress after every batch of 16: 16, 32, ..., 96, four times.
    assert.equal(progress.length, 4 * 6);
    assert.equal(progress[5], 96);
  });

  it('gives identical weights for the same seed and different ones for another seed', async () => {
    const a = freshModel();
    const b = freshModel();
    const c = freshModel();
    await trainModel(a, data, settings, standIns);
    await trainModel(b, data, settings, standIns);
    await trainModel(c, data, { ...settings, seed: 6 }, standIns);
    assert.deepEqual(weightsOf(a), weightsOf(b));
    assert.notDeepEqual(weightsOf(a), weightsOf(c));
  });

  it('resumes an interrupted run to exactly the weights of an uninterrupted one', async () => {
    const uninterrupted = freshModel();
    await trainModel(uninterrupted, data, settings, standIns);

    // Stop in the middle of epoch 3: the checkpoint holds epoch 2 only.
    const checkpointPath = path.join(folder, 'run.ckpt');
    const interrupted = freshModel();
    let batches = 0;
    const first = await trainModel(interrupted, data, settings, {
      ...standIns, checkpointPath, identity: { model: 'linear' },
      shouldStop: () => ++batches === 6 * 2 + 3,
    });
    assert.equal(first.interrupted, true);
    assert.equal(first.completedEpochs, 2);

    const checkpoint = loadTrainingCheckpoint(checkpointPath);
    assert.equal(checkpoint.completedEpochs, 2);
    assert.deepEqual(checkpoint.identity, { model: 'linear' });
    assert.equal(checkpoint.history.length, 2);

    // A new process would build the model afresh (another init), then load the checkpoint.
    const resumed = freshModel(99);
    const second = await trainModel(resumed, data, settings, {
      ...standIns, checkpointPath, resumeFrom: checkpoint,
    });
    assert.equal(second.completedEpochs, 4);
    assert.deepEqual(weightsOf(resumed), weightsOf(uninterrupted));
    assert.equal(loadTrainingCheckpoint(checkpointPath).completedEpochs, 4);
  });

  it('refuses to resume with different settings', async () => {
    const checkpointPath = path.join(folder, 'short.ckpt');
    await trainModel(freshModel(), data, { ...settings, epochs: 1 },
      { ...standIns, checkpointPath });
    const checkpoint = loadTrainingCheckpoint(checkpointPath);
    await assert.rejects(
      trainModel(freshModel(), data, { ...settings, batchSize: 8 },
        { ...standIns, resumeFrom: checkpoint }),
      (error: Error) => error instanceof UserError && /batchSize 16/.test(error.message),
    );
  });

  it('rejects bad settings with a UserError', async () => {
    await assert.rejects(trainModel(freshModel(), data, { ...settings, epochs: 0 }, standIns),
      UserError);
    await assert.rejects(
      trainModel(freshModel(), data, { ...settings, learningRate: -1 }, standIns),
      UserError);
  });
});

describe('evaluateModel (segmentation)', () => {
  it('scores per-pixel predictions against hand-built confusion matrices', async () => {
    // Pixel values 0, 64, 128, 192 in every row; masks mark values > 100 as class 3.
    const b = 2;
    const pixels = 16;
    const count = 3;
    const images = new Uint8Array(count * pixels).map((_, i) => 64 * (i % 4));
    const targets = images.map((v) => (v > 100 ? 3 : 0));
    // Class 3 wins where 4 x - 2.2 > 0 (x = value / 255 > 0.55): only 192 qualifies, so 128 is
    // a missed digit pixel.
    const model = new PixelSegmenter(11, [0, 0, 0, 4, ...new Array(7).fill(0)],
      [0, -1, -1, -2.2, ...new Array(7).fill(-1)]);
    const result = await evaluateModel(model, { images, targets, count, bandwidth: b },
      'segmentation', { batchSize: 2, loss: softmaxCrossEntropy });

    const expected = new ConfusionMatrix(11);
    expected.add(images.map((v) => (v > 140 ? 3 : 0)), targets);
    assert.deepEqual(result.confusionPixels, expected.toRows());
    const scores = segmentationScores(expected);
    assert.equal(result.pixel?.meanIoUNonBackground, 0.5);
    assert.deepEqual(result.pixel, scores);
    assert.equal(result.accuracy, 0.75);
    assert.equal(result.pixel?.perClassIoU[1], null);
    // Every column of a row has the same area, so area weighting agrees here.
    assert.ok(Math.abs((result.area?.meanIoUNonBackground ?? 0) - 0.5) < 1e-12);
    const totalArea = result.confusionArea?.flat().reduce((s, v) => s + v, 0) as number;
    assert.ok(Math.abs(totalArea - 3) < 1e-9);
  });
});

describe('divergence and broken weights', () => {
  it('treats a finite mean epoch loss above 1000 ln(classes) as divergence', async () => {
    const model = freshModel();
    const checkpointPath = path.join(folder, 'diverged.ckpt');
    await assert.rejects(trainModel(model, data, { ...settings, learningRate: 1e7 }, {
      ...standIns, checkpointPath, learningRateOption: '--lr-cnn',
    }), (error: Error) => error instanceof UserError
      && /training diverged: mean loss is .* in epoch 1; expected at most 2303 \(1000 ln 10\)/
        .test(error.message)
      && /try a smaller --lr-cnn\)$/.test(error.message));
    assert.equal(fs.existsSync(checkpointPath), false, 'no checkpoint of a diverged epoch');
    // The limit is not reached by an ordinary run.
    const outcome = await trainModel(freshModel(), data, { ...settings, epochs: 1 }, standIns);
    assert.ok(outcome.history[0].trainLoss < 10);
  });

  it('refuses a checkpoint with non-finite weights, naming the file and the entry', async () => {
    const checkpointPath = path.join(folder, 'nan.ckpt');
    await trainModel(freshModel(), data, { ...settings, epochs: 1 },
      { ...standIns, checkpointPath });
    const checkpoint = loadTrainingCheckpoint(checkpointPath);
    const weight = checkpoint.modelState.get('weight');
    assert.ok(weight !== undefined);
    weight[3] = NaN;
    saveTrainingCheckpoint(checkpointPath, checkpoint);
    assert.throws(() => loadTrainingCheckpoint(checkpointPath),
      (error: Error) => error instanceof UserError
        && error.message.startsWith(`${checkpointPath}: weight weight[3] is NaN; expected finite`));
  });

  it('refuses a NaN evaluation loss', async () => {
    const model = freshModel();
    model.parameters()[0].data[0] = NaN;
    await assert.rejects(evaluateModel(model, data, 'classification',
      { loss: softmaxCrossEntropy }),
    (error: Error) => error instanceof UserError && /evaluation loss is NaN/.test(error.message));
  });
});
