import * as fs from 'node:fs';

import type { Evaluation, Task } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';

/**
 * The results file every experiment writes (results.json) and its flat CSV twin (results.csv):
 * one run per trained model and training set, each with its scores on one or more test sets.
 * All scores are fractions in [0, 1]; the report shows percentages.
 */

export interface TestRecord {
  /** Whether the test spheres were randomly rotated. */
  rotated: boolean;
  evaluation: Evaluation;
}

export interface RunRecord {
  task: Task;
  model: string;
  parameters: number;
  bandwidth: number;
  /** Whether the training spheres were randomly rotated (augmentation). */
  trainRotated: boolean;
  trainSize: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Seconds spent training (all epochs, excluding evaluation). */
  trainSeconds: number;
  trainSamplesPerSecond: number;
  finalTrainLoss: number;
  tests: TestRecord[];
  /** Checkpoint file of the trained model, relative to the results file. */
  checkpoint?: string;
}

export interface ResultsFile {
  format: 'equisphere-results';
  version: 1;
  experiment: string;
  createdAt: string;
  equisphereVersion: string;
  environment: Record<string, string | number>;
  settings: Record<string, unknown>;
  runs: RunRecord[];
}

/** Facts about the software that produced a results file. */
export interface RunInfo {
  version: string;
  backend: string;
  threads: number;
}

export const UNKNOWN_RUN_INFO: RunInfo = { version: '?', backend: '?', threads: 1 };

/** The headline score of a test: accuracy (classification) or non-background mIoU, pixel-count. */
export function headlineScore(test: TestRecord): number | null {
  const evaluation = test.evaluation;
  if (evaluation.task === 'classification') return evaluation.accuracy;
  return evaluation.pixel?.meanIoUNonBackground ?? null;
}

/** The test of `run` on rotated (true) or unrotated (false) spheres, if any. */
export function findTest(run: RunRecord, rotated: boolean): TestRecord | undefined {
  return run.tests.find((test) => test.rotated === rotated);
}

const CSV_COLUMNS = [
  'experiment', 'task', 'model', 'parameters', 'bandwidth', 'train_data', 'train_size', 'epochs',
  'batch_size', 'learning_rate', 'seed', 'train_seconds', 'train_samples_per_second', 'test_data',
  'test_size', 'test_loss', 'accuracy', 'miou_non_background_pixel', 'miou_non_background_area',
  'miou_all_pixel', 'pixel_accuracy',
] as const;

/** One CSV line per (run, test), with a header line. */
export function resultsToCsv(results: ResultsFile): string {
  const lines: string[] = [CSV_COLUMNS.join(',')];
  for (const run of results.runs) {
    for (const test of run.tests) {
      const e = test.evaluation;
      const row: Array<string | number | null | undefined> = [
        results.experiment, run.task, run.model, run.parameters, run.bandwidth,
        run.trainRotated ? 'rotated' : 'unrotated', run.trainSize, run.epochs, run.batchSize,
        run.learningRate, run.seed, round(run.trainSeconds, 2), round(run.trainSamplesPerSecond, 2),
        test.rotated ? 'rotated' : 'unrotated', e.count, round(e.loss, 6),
        e.task === 'classification' ? round(e.accuracy, 6) : null,
        round(e.pixel?.meanIoUNonBackground, 6), round(e.area?.meanIoUNonBackground, 6),
        round(e.pixel?.meanIoUAll, 6), e.task === 'segmentation' ? round(e.accuracy, 6) : null,
      ];
      lines.push(row.map(csvCell).join(','));
    }
  }
  return lines.join('\n') + '\n';
}

function round(value: number | null | undefined, digits: number): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return Number(value.toFixed(digits));
}

function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes results.json and results.csv (same base name) atomically; returns both paths. */
export function writeResults(jsonPath: string,
  results: ResultsFile): { json: string; csv: string } {
  const csvPath = jsonPath.replace(/\.json$/i, '') + '.csv';
  writeFileAtomic(jsonPath, JSON.stringify(results, null, 2) + '\n');
  writeFileAtomic(csvPath, resultsToCsv(results));
  return { json: jsonPath, csv: csvPath };
}

/** Reads a results file; anything else is a UserError naming the file. */
export function readResults(jsonPath: string): ResultsFile {
  let text: string;
  try {
    text = fs.readFileSync(jsonPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(`cannot read results file ${jsonPath} (${code})`);
  }
  let parsed: Partial<ResultsFile>;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(`${jsonPath} is not JSON; expected a results.json written by equisphere`);
  }
  if (parsed?.format !== 'equisphere-results' || !Array.isArray(parsed.runs)) {
    throw new UserError(`${jsonPath} is not an equisphere results file (no format/runs fields)`);
  }
  return parsed as ResultsFile;
}
