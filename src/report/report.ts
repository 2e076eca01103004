import * as path from 'node:path';

import {
  findTest, headlineScore, type ResultsFile, type RunRecord,
} from '../experiments/results.js';
import { writeFileAtomic } from '../util/files.js';
import { renderLinePlot } from './svg.js';
import { formatDuration, percent, renderTable, type Cell } from './table.js';

/**
 * Human-readable views of a results file: a text table of every run (one row per run, one
 * column per test set) and SVG plots of the headline score on rotated test spheres against the
 * number of training samples, one line per model and one plot per task.
 */

/** Text table of the runs of `results`, grouped by task. */
export function renderResultsTable(results: ResultsFile): string {
  const sections: string[] = [];
  for (const task of ['classification', 'segmentation'] as const) {
    const runs = results.runs.filter((run) => run.task === task);
    if (runs.length === 0) continue;

    if (task === 'classification') {
      const headers = ['model', 'params', 'train data', 'train n', 'epochs', 'train time',
        'acc unrot %', 'acc rot %', 'drop'];
      const rows = runs.map((run): Cell[] => {
        const unrotated = scoreOf(run, false);
        const rotated = scoreOf(run, true);
        return [...runColumns(run), percent(unrotated), percent(rotated),
          unrotated !== null && rotated !== null ? (100 * (unrotated - rotated)).toFixed(2) : null];
      });
      sections.push('Classification: top-1 test accuracy\n' + renderTable(headers, rows));
    } else {
      const headers = ['model', 'params', 'train data', 'train n', 'epochs', 'train time',
        'mIoU unrot %', 'mIoU rot %', 'area mIoU unrot %', 'area mIoU rot %'];
      const area = (run: RunRecord, rotated: boolean): string | null =>
        percent(findTest(run, rotated)?.evaluation.area?.meanIoUNonBackground);
      const rows = runs.map((run): Cell[] => [...runColumns(run), percent(scoreOf(run, false)),
        percent(scoreOf(run, true)), area(run, false), area(run, true)]);
      sections.push('Segmentation: mean IoU over the 10 digit classes (background excluded); '
        + '"mIoU" counts pixels of the 2b x 2b grid as the paper does, "area mIoU" weighs them '
        + 'by their area on the sphere\n' + renderTable(headers, rows));
    }
  }
  if (sections.length === 0) return '';
  return sections.join('\n\n') + '\n' + TRAIN_TIME_NOTE;
}

/**
 * What the "train time" column counts. Progress lines time the batches of an epoch only; the
 * column adds the batch-norm recalibration after each epoch (RunRecord.trainSeconds).
 */
export const TRAIN_TIME_NOTE = 'train time: all epochs (a resumed checkpoint\'s too), each with '
  + 'its batch-norm recalibration; '
  + 'not data generation, checkpoint writing or testing';

function runColumns(run: RunRecord): Cell[] {
  return [run.model, run.parameters, run.trainRotated ? 'rotated' : 'unrotated', run.trainSize,
    run.epochs, formatDuration(run.trainSeconds)];
}

function scoreOf(run: RunRecord, rotated: boolean): number | null {
  const test = findTest(run, rotated);
  return test === undefined ? null : headlineScore(test);
}

/**
 * One SVG per task that has a model with two or more training-set sizes: the score on rotated
 * test spheres (in %) against the number of training samples, one line per model (and training
 * data kind). Returns the plots by file-name suffix.
 */
export function renderResultsPlots(results: ResultsFile): Map<string, string> {
  const plots = new Map<string, string>();
  for (const task of ['classification', 'segmentation'] as const) {
    const lines = new Map<string, Array<[number, number]>>();
    for (const run of results.runs.filter((r) => r.task === task)) {
      const score = scoreOf(run, true);
      if (score === null) continue;
      const name = `${run.model} (${run.trainRotated ? 'rotated' : 'unrotated'} training)`;
      const points = lines.get(name) ?? [];
      points.push([run.trainSize, 100 * score]);
      lines.set(name, points);
    }
    if (![...lines.values()].some((points) => points.length >= 2)) continue;

    const metric = task === 'classification' ? 'accuracy (%)' : 'mIoU, non-background (%)';
    plots.set(task, renderLinePlot({
      title: `${task === 'classification' ? 'Classification' : 'Segmentation'} on rotated test `
        + `spheres (${results.experiment})`,
      xLabel: 'number of training samples',
      yLabel: `rotated test ${metric}`,
      series: [...lines].map(([name, points]) => ({ name, points })),
    }));
  }
  return plots;
}

/**
 * Writes the plots of `results` beside `jsonPath` as <base>-<task>.svg (atomically); returns the
 * paths written.
 */
export function writeResultsPlots(jsonPath: string, results: ResultsFile): string[] {
  const base = jsonPath.replace(/\.json$/i, '');
  const written: string[] = [];
  for (const [task, svg] of renderResultsPlots(results)) {
    const target = `${base}-${task}.svg`;
    writeFileAtomic(target, svg);
    written.push(path.normalize(target));
  }
  return written;
}
