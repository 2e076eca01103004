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
  validateResults(jsonPath, parsed);
  return parsed as ResultsFile;
}

/** A short description of a JSON value for error messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Checks the parts of a results file the report reads: the format and version, a non-empty list
 * of runs, and in each run the fields of the table and plots with their types. Throws a UserError
 * naming the file, the field, what was found and what was expected.
 */
export function validateResults(jsonPath: string, parsed: unknown): void {
  const fail = (field: string, found: unknown, expected: string): never => {
    throw new UserError(`${jsonPath}: ${field} is ${describe(found)}; expected ${expected}`);
  };
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail('the content', parsed, 'an equisphere results object');
  }
  const file = parsed as Record<string, unknown>;
  if (file.format !== 'equisphere-results') fail('format', file.format, '"equisphere-results"');
  if (file.version !== 1) fail('version', file.version, '1');
  if (typeof file.experiment !== 'string') fail('experiment', file.experiment, 'a string');
  if (!Array.isArray(file.runs)) return fail('runs', file.runs, 'a list of runs');
  if (file.runs.length === 0) fail('runs', file.runs, 'at least one run');

  const fraction = (value: unknown): boolean =>
    typeof value === 'number' && value >= 0 && value <= 1;
  file.runs.forEach((run: unknown, r: number) => {
    const at = `runs[${r}]`;
    if (run === null || typeof run !== 'object' || Array.isArray(run)) {
      fail(at, run, 'an object');
    }
    const record = run as Record<string, unknown>;
    if (record.task !== 'classification' && record.task !== 'segmentation') {
      fail(`${at}.task`, record.task, '"classification" or "segmentation"');
    }
    if (typeof record.model !== 'string' || record.model === '') {
      fail(`${at}.model`, record.model, 'a model name');
    }
    for (const key of ['parameters', 'bandwidth', 'trainSize', 'epochs']) {
      const value = record[key];
      if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0)) {
        fail(`${at}.${key}`, value, 'an integer >= 0');
      }
    }
    if (!(typeof record.trainSeconds === 'number' && record.trainSeconds >= 0)) {
      fail(`${at}.trainSeconds`, record.trainSeconds, 'a number of seconds >= 0');
    }
    if (typeof record.trainRotated !== 'boolean') {
      fail(`${at}.trainRotated`, record.trainRotated, 'true or false');
    }
    if (!Array.isArray(record.tests)) return fail(`${at}.tests`, record.tests, 'a list of tests');
    record.tests.forEach((test: unknown, t: number) => {
      const where = `${at}.tests[${t}]`;
      const entry = (test ?? {}) as Record<string, unknown>;
      if (typeof test !== 'object' || test === null) fail(where, test, 'an object');
      if (typeof entry.rotated !== 'boolean') {
        fail(`${where}.rotated`, entry.rotated, 'true or false');
      }
      const evaluation = entry.evaluation as Record<string, unknown> | null | undefined;
      if (evaluation === null || typeof evaluation !== 'object') {
        return fail(`${where}.evaluation`, evaluation, 'an object');
      }
      if (evaluation.task !== record.task) {
        fail(`${where}.evaluation.task`, evaluation.task, `"${String(record.task)}" as the run`);
      }
      if (!fraction(evaluation.accuracy)) {
        fail(`${where}.evaluation.accuracy`, evaluation.accuracy, 'a fraction in [0, 1]');
      }
      if (!(typeof evaluation.count === 'number' && Number.isInteger(evaluation.count))) {
        fail(`${where}.evaluation.count`, evaluation.count, 'an integer');
      }
      if (record.task === 'segmentation') {
        for (const kind of ['pixel', 'area']) {
          const scores = evaluation[kind] as Record<string, unknown> | undefined;
          if (scores !== undefined && !fraction(scores?.meanIoUNonBackground)) {
            fail(`${where}.evaluation.${kind}.meanIoUNonBackground`,
              scores?.meanIoUNonBackground, 'a fraction in [0, 1]');
          }
        }
      }
    });
  });
}
