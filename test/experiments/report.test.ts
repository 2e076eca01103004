import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

import {
  readResults, resultsToCsv, writeResults, type ResultsFile, type RunRecord,
} from '../../src/experiments/results.js';
import {
  renderResultsPlots, renderResultsTable, writeResultsPlots,
} from '../../src/report/report.js';
import { niceTicks, renderLinePlot } from '../../src/report/svg.js';
import { UserError } from '../../src/util/errors.js';
import { formatBytes, formatDuration, renderTable } from '../../src/report/table.js';
import type { Evaluation } from '../../src/train/trainer.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-report-'));
after(() => fs.rmSync(folder, { recursive: true, force: true }));

function classification(accuracy: number): Evaluation {
  return { task: 'classification', count: 100, loss: 0.5, seconds: 1, accuracy };
}

function run(model: string, trainSize: number, rotatedAccuracy: number,
  unrotated?: number): RunRecord {
  return {
    task: 'classification', model, parameters: 1234, bandwidth: 16, trainRotated: model === 'cnn',
    trainSize, epochs: 2, batchSize: 32, learningRate: 1e-3, seed: 1, trainSeconds: 75,
    trainSamplesPerSecond: 10, finalTrainLoss: 0.3,
    tests: [
      ...(unrotated === undefined ? []
        : [{ rotated: false, evaluation: classification(unrotated) }]),
      { rotated: true, evaluation: classification(rotatedAccuracy) },
    ],
  };
}

const results: ResultsFile = {
  format: 'equisphere-results', version: 1, experiment: 'sweep', createdAt: '2024-01-01T00:00:00Z',
  equisphereVersion: '0.1.0', environment: {}, settings: {},
  runs: [
    run('s2cnn', 100, 0.9, 0.92), run('s2cnn', 200, 0.95), run('cnn', 100, 0.5),
    run('cnn', 200, 0.625),
  ],
};

describe('text table', () => {
  it('aligns numbers right and text left under a rule', () => {
    const text = renderTable(['model', 'acc'],
      [['s2cnn', '97.50'], ['cnn-small', '9.00'], ['x', null]]);
    assert.equal(text, [
      'model        acc',
      '---------  -----',
      's2cnn      97.50',
      'cnn-small   9.00',
      'x              -',
    ].join('\n'));
  });

  it('formats durations and sizes', () => {
    assert.equal(formatDuration(12.34), '12.3 s');
    assert.equal(formatDuration(245), '4 min 05 s');
    assert.equal(formatDuration(3720), '1 h 02 min');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 2 ** 30), '3.0 GiB');
  });
});

describe('results report', () => {
  it('renders one row per run with unrotated, rotated and drop columns', () => {
    const text = renderResultsTable(results);
    const row = text.split('\n').find((line) => line.startsWith('s2cnn') && line.includes(' 100 '));
    assert.ok(row !== undefined, text);
    assert.match(row, /92\.00\s+90\.00\s+2\.00$/);
    assert.match(text, /cnn\s+1234\s+rotated\s+200\s+2\s+1 min 15 s\s+-\s+62\.50\s+-/);
  });

  it('writes CSV with one line per test and JSON that reads back', () => {
    const csv = resultsToCsv(results).trim().split('\n');
    assert.equal(csv.length, 1 + 5);
    assert.equal(csv[1].split(',')[2], 's2cnn');
    assert.match(csv[1], /,unrotated,100,0\.5,0\.92,,,,$/);
    const files = writeResults(path.join(folder, 'results.json'), results);
    assert.deepEqual(readResults(files.json), results);
    assert.equal(fs.readFileSync(files.csv, 'utf8'), resultsToCsv(results));
  });

  it('plots accuracy against training samples, one line per model, beside the JSON', () => {
    const plots = renderResultsPlots(results);
    assert.deepEqual([...plots.keys()], ['classification']);
    const svg = plots.get('classification') as string;
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
    assert.equal((svg.match(/<circle /g) ?? []).length, 4);
    assert.match(svg, />s2cnn \(unrotated training\)</);
    assert.match(svg, />number of training samples</);

    const written = writeResultsPlots(path.join(folder, 'results.json'), results);
    assert.deepEqual(written, [path.join(folder, 'results-classification.svg')]);
    assert.equal(fs.readFileSync(written[0], 'utf8'), svg);
  });

  it('places points on the axes linearly', () => {
    const svg = renderLinePlot({
      title: 't', xLabel: 'x', yLabel: 'y', yRange: [0, 100],
      series: [{ name: 'a', points: [[0, 0], [100, 100], [50, 50]] }],
    });
    const polyline = /<polyline points="([^"]+)"/.exec(svg)?.[1].split(' ')
      .map((p) => p.split(',').map(Number)) ?? [];
    assert.equal(polyline.length, 3);
    // Sorted by x and collinear: the middle point is the mean of the ends.
    assert.ok(Math.abs(polyline[1][0] - (polyline[0][0] + polyline[2][0]) / 2) < 0.11);
    assert.ok(Math.abs(polyline[1][1] - (polyline[0][1] + polyline[2][1]) / 2) < 0.11);
    assert.ok(polyline[2][1] < polyline[0][1], 'larger y is higher on the page');
  });

  it('chooses round ticks', () => {
    assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(3, 97), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(niceTicks(0, 2400), [0, 500, 1000, 1500, 2000, 2500]);
    assert.deepEqual(niceTicks(5, 5), [4, 4.5, 5, 5.5, 6]);
  });
});

describe('readResults validation', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-validate-'));
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  /** Writes `results` changed by `edit` and returns readResults' error message. */
  function messageOf(edit: (file: Record<string, any>) => void): string {
    const file = JSON.parse(JSON.stringify(results)) as Record<string, any>;
    edit(file);
    const target = path.join(scratch, 'bad.json');
    fs.writeFileSync(target, JSON.stringify(file));
    try {
      readResults(target);
    } catch (error) {
      assert.ok(error instanceof UserError, String(error));
      return error.message;
    }
    return 'accepted';
  }

  it('names the file, the field, what was found and what was expected', () => {
    const target = path.join(scratch, 'bad.json');
    assert.equal(messageOf(() => {}), 'accepted');
    assert.equal(messageOf((f) => { f.runs[0].tests = null; }),
      `${target}: runs[0].tests is null; expected a list of tests`);
    assert.equal(messageOf((f) => { f.runs[0].tests[0].evaluation.accuracy = 'x'; }),
      `${target}: runs[0].tests[0].evaluation.accuracy is "x"; expected a fraction in [0, 1]`);
    assert.equal(messageOf((f) => { delete f.runs[0].model; }),
      `${target}: runs[0].model is nothing; expected a model name`);
    assert.equal(messageOf((f) => { f.version = 99; }), `${target}: version is 99; expected 1`);
    assert.equal(messageOf((f) => { f.runs = []; }),
      `${target}: runs is a list; expected at least one run`);
  });
});
