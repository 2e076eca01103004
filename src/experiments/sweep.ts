import * as fs from 'node:fs';
import * as path from 'node:path';

import { findModel } from '../nn/models/registry.js';
import type { Task } from '../train/trainer.js';
import { ensureWritableFolder } from '../util/files.js';
import {
  UNKNOWN_RUN_INFO, readResults, writeResults, type ResultsFile, type RunInfo, type RunRecord,
} from './results.js';
import {
  checkPoint, machineFacts, runPoint, type DataOptions, type ExperimentHooks, type PointSpec,
} from './runner.js';

/**
 * `equisphere sweep`: the amount-of-augmentation study of the paper (Figs 4, 7 and 9). Each model
 * is trained once per training-set size and tested on rotated spheres (and optionally unrotated
 * ones). S2CNNs train on unrotated spheres, CNNs on rotated ones (augmentation), unless
 * `trainData` says otherwise.
 *
 * Resumable: results.json in the output folder is rewritten after every finished point, and a
 * rerun skips the points it already holds (same model and settings); a point interrupted during
 * training resumes from its checkpoint.
 */

export interface SweepSettings {
  task: Task;
  models: string[];
  trainSizes: number[];
  /** 'auto' = by model family (S2CNN unrotated, CNN rotated). */
  trainData: 'auto' | 'rotated' | 'unrotated';
  testUnrotated: boolean;
  bandwidth: number;
  testSize: number;
  epochs: number;
  batchSize: number;
  learningRateS2cnn: number;
  learningRateCnn: number;
  seed: number;
  outFolder: string;
  data: DataOptions;
  fresh: boolean;
  memoryLimit?: number;
}

/** The points of a sweep, model by model, sizes ascending. */
export function sweepPoints(settings: SweepSettings): PointSpec[] {
  const sizes = [...new Set(settings.trainSizes)].sort((a, b) => a - b);
  const points: PointSpec[] = [];
  for (const name of settings.models) {
    const entry = findModel(name, settings.task);
    const trainRotated = settings.trainData === 'auto' ? entry.family === 'cnn'
      : settings.trainData === 'rotated';
    for (const trainSize of sizes) {
      points.push({
        task: settings.task, model: name, bandwidth: settings.bandwidth, trainSize, trainRotated,
        testSize: settings.testSize,
        testRotated: settings.testUnrotated ? [false, true] : [true],
        epochs: settings.epochs, batchSize: settings.batchSize, seed: settings.seed,
        learningRate: entry.family === 's2cnn' ? settings.learningRateS2cnn
          : settings.learningRateCnn,
      });
    }
  }
  return points;
}

/** Whether `run` is the finished result of `point` (same model, data and settings). */
export function runMatches(run: RunRecord, point: PointSpec): boolean {
  return run.task === point.task && run.model === point.model && run.bandwidth === point.bandwidth
    && run.trainSize === point.trainSize && run.trainRotated === point.trainRotated
    && run.epochs === point.epochs && run.batchSize === point.batchSize
    && run.learningRate === point.learningRate && run.seed === point.seed
    && point.testRotated.every((rotated) => run.tests.some((t) => t.rotated === rotated
      && t.evaluation.count === point.testSize));
}

export interface SweepOutcome {
  results: ResultsFile;
  files: { json: string; csv: string };
  skipped: number;
  trained: number;
}

/** Checks every point and the output folder before any work; returns the points. */
export function prepareSweep(settings: SweepSettings): PointSpec[] {
  const points = sweepPoints(settings);
  for (const point of points) {
    checkPoint(point, { data: settings.data, memoryLimit: settings.memoryLimit });
  }
  ensureWritableFolder(settings.outFolder);
  return points;
}

/** Runs (or continues) a sweep; see the module comment. */
export async function runSweep(settings: SweepSettings, hooks: ExperimentHooks = {},
  info: RunInfo = UNKNOWN_RUN_INFO,
): Promise<SweepOutcome> {
  const points = prepareSweep(settings);
  const context = {
    data: settings.data, checkpointFolder: path.join(settings.outFolder, 'checkpoints'),
    fresh: settings.fresh, memoryLimit: settings.memoryLimit, hooks,
    learningRateOptions: { s2cnn: '--lr-s2cnn', cnn: '--lr-cnn' },
  };

  const jsonPath = path.join(settings.outFolder, 'results.json');
  const previous = !settings.fresh && fs.existsSync(jsonPath) ? readResults(jsonPath).runs : [];
  const results: ResultsFile = {
    format: 'equisphere-results', version: 1, experiment: 'sweep',
    createdAt: new Date().toISOString(), equisphereVersion: info.version,
    environment: { ...machineFacts(), backend: info.backend, threads: info.threads },
    settings: { ...settings, data: { ...settings.data } },
    runs: [],
  };
  let files = { json: jsonPath, csv: jsonPath.replace(/\.json$/, '.csv') };
  let skipped = 0;
  let trained = 0;

  for (const point of points) {
    const done = previous.find((run) => runMatches(run, point));
    if (done !== undefined) {
      results.runs.push(done);
      skipped++;
      hooks.onMessage?.(`skipping ${point.model} with ${point.trainSize} training samples: `
        + 'already in results.json');
      continue;
    }
    const { record, reused } = await runPoint(point, context);
    record.checkpoint = record.checkpoint === undefined ? undefined
      : path.relative(settings.outFolder, record.checkpoint);
    results.runs.push(record);
    // A finished checkpoint is reused (tested, not trained) after an interrupted sweep.
    if (reused) skipped++;
    else trained++;
    files = writeResults(jsonPath, results);
  }
  if (trained === 0) files = writeResults(jsonPath, results);
  return { results, files, skipped, trained };
}
