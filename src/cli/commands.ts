import * as os from 'node:os';
import * as path from 'node:path';

import { GenerationStopped, loadOrGenerateAsync } from '../data/datasets.js';
import { activeBackend } from '../engine/kernels/index.js';
import {
  QUICK_DEFAULTS, prepareQuick, runQuick, type QuickTaskSettings,
} from '../experiments/quick.js';
import {
  readResults, writeResults, type ResultsFile, type RunInfo, type TestRecord,
} from '../experiments/results.js';
import {
  MAX_BANDWIDTH, checkPoint, datasetRequest, defaultCacheFolder, defaultOutFolder, loadSpheres,
  machineFacts, runPoint, scoreModel, type DataOptions, type ExperimentHooks,
} from '../experiments/runner.js';
import { prepareSweep, runSweep } from '../experiments/sweep.js';
import { findModel, modelEntries, modelNames } from '../nn/models/registry.js';
import { renderResultsTable, writeResultsPlots } from '../report/report.js';
import { formatBytes, formatDuration, renderTable } from '../report/table.js';
import { requireBandwidth } from '../train/memory.js';
import { Interrupted, loadTrainingCheckpoint, type Task } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { ensureWritableFolder } from '../util/files.js';
import { Random } from '../util/random.js';
import {
  choiceOption, integerOption, listOption, numberOption, parseBytes, parseCommand, parseInteger,
  stringOption, type OptionSpec, type ParsedValues,
} from './args.js';
import {
  BACKEND_NAMES, StopSignal, checkThreads, coreCount, currentBackend, packageVersion,
  selectBackend,
} from './environment.js';
import { checkDataCombination, claimOutFolder } from './checks.js';
import { ProgressBar } from './progress.js';

/**
 * The commands of `equisphere`, their options and help texts. Each command parses its options,
 * sets up the backend and the Ctrl-C handler, calls the experiment code with progress callbacks
 * drawn as a bar on stderr, and prints results on stdout.
 */

export interface Command {
  summary: string;
  usage: string;
  options: OptionSpec;
  /** [option, description] lines of the help text. */
  help: Array<[string, string]>;
  run(argv: string[]): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Shared option groups.

const RUNTIME_OPTIONS: OptionSpec = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  'memory-limit': { type: 'string' },
};
const RUNTIME_HELP: Array<[string, string]> = [
  ['--backend B', 'kernel backend: auto (default: native if built, else wasm), native, wasm '
    + 'or reference'],
  ['--threads N', `threads of the wasm or native backend (default: all ${coreCount()} cores)`],
  ['--memory-limit SIZE', 'memory a run may plan to use, e.g. 8G (default: total RAM)'],
];

const DATA_OPTIONS: OptionSpec = {
  source: { type: 'string' },
  'source-folder': { type: 'string' },
  cache: { type: 'string' },
  items: { type: 'string' },
  canvas: { type: 'string' },
  threshold: { type: 'string' },
};
const DATA_HELP: Array<[string, string]> = [
  ['--source NAME', 'mnist-embedded (default), mnist or fashion-mnist'],
  ['--source-folder DIR', 'folder with the IDX files of mnist / fashion-mnist'],
  ['--cache DIR', `dataset cache folder (default ${defaultCacheFolder()})`],
  ['--items N', 'items per sphere for segmentation (default 1; the paper also uses 4)'],
  ['--canvas PIXELS', 'side of the planar canvas holding the items (default 28 per grid cell)'],
  ['--threshold T', 'segmentation mask threshold on the 0..255 intensity (default 150)'],
];

function dataOptions(values: ParsedValues, tasks: readonly Task[]): DataOptions {
  const source = choiceOption(values, 'source',
    ['mnist-embedded', 'mnist', 'fashion-mnist'] as const, 'mnist-embedded');
  checkDataCombination(values, source, tasks);
  return {
    source,
    sourceFolder: stringOption(values, 'source-folder'),
    cacheFolder: cacheFolderOption(values),
    itemsPerSphere: integerOption(values, 'items', 1, 1, 16),
    canvasSize: values.canvas === undefined
      ? undefined : integerOption(values, 'canvas', 28, 1, 4096),
    threshold: thresholdOption(values),
  };
}

/** --cache: a folder (or a path that does not exist yet), checked like --out. */
function cacheFolderOption(values: ParsedValues): string {
  const folder = stringOption(values, 'cache', defaultCacheFolder());
  claimOutFolder('--cache', folder);
  return folder;
}

/** --threshold: a number in [0, 255) on the normalised sphere intensity. */
function thresholdOption(values: ParsedValues): number | undefined {
  const text = stringOption(values, 'threshold');
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value >= 255) {
    throw new UserError(`--threshold: expected a number in [0, 255) on the 0..255 sphere `
      + `intensity, got '${text}'`);
  }
  return value;
}

function memoryLimitOption(values: ParsedValues): number | undefined {
  const text = stringOption(values, 'memory-limit');
  return text === undefined ? undefined : parseBytes('--memory-limit', text);
}

function bandwidthOption(values: ParsedValues, name: string, fallback: number): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\s*-?\d+\s*$/.test(text)) {
    throw new UserError(`--${name}: expected an integer bandwidth, got '${text}'`);
  }
  requireBandwidth(value, MAX_BANDWIDTH, `--${name}`);
  return value;
}

/** Progress bar, stop handler and backend for a long command. */
async function startSession(values: ParsedValues): Promise<{
  bar: ProgressBar; hooks: ExperimentHooks; stop: StopSignal; info: RunInfo;
}> {
  const bar = new ProgressBar();
  const backend = choiceOption(values, 'backend', BACKEND_NAMES, 'auto');
  const threads = integerOption(values, 'threads', coreCount(), 1);
  checkThreads(threads);
  const choice = await selectBackend(backend, threads);
  if (choice.fallbackReason !== undefined) {
    bar.message(`equisphere: note: ${choice.fallbackReason}`);
  }
  const stop = new StopSignal(() => bar.message(
    'equisphere: stopping after the current batch (Ctrl-C again to quit at once)')).install();
  const hooks: ExperimentHooks = {
    onProgress: (u) => bar.update(u),
    onMessage: (text) => bar.message(text),
    shouldStop: stop.shouldStop,
  };
  const info = { version: packageVersion(), backend: choice.name, threads: choice.threads };
  return { bar, hooks, stop, info };
}

// ---------------------------------------------------------------------------------------------
// quick

const QUICK_TASK_OPTIONS = (prefix: string): OptionSpec => ({
  [`${prefix}models`]: { type: 'string' },
  [`${prefix}bandwidth`]: { type: 'string' },
  [`${prefix}train-size`]: { type: 'string' },
  [`${prefix}test-size`]: { type: 'string' },
  [`${prefix}epochs`]: { type: 'string' },
  [`${prefix}batch-size`]: { type: 'string' },
  [`${prefix}lr-s2cnn`]: { type: 'string' },
  [`${prefix}lr-cnn`]: { type: 'string' },
});

function quickTaskSettings(values: ParsedValues, prefix: string,
  defaults: QuickTaskSettings, task: Task): QuickTaskSettings {
  const models = listOption(values, `${prefix}models`, defaults.models);
  models.forEach((name) => findModel(name, task));
  return {
    models,
    bandwidth: bandwidthOption(values, `${prefix}bandwidth`, defaults.bandwidth),
    trainSize: integerOption(values, `${prefix}train-size`, defaults.trainSize),
    testSize: integerOption(values, `${prefix}test-size`, defaults.testSize),
    epochs: integerOption(values, `${prefix}epochs`, defaults.epochs),
    batchSize: integerOption(values, `${prefix}batch-size`, defaults.batchSize),
    learningRateS2cnn: numberOption(values, `${prefix}lr-s2cnn`, defaults.learningRateS2cnn),
    learningRateCnn: numberOption(values, `${prefix}lr-cnn`, defaults.learningRateCnn),
  };
}

const TEST_DATA = ['rotated', 'unrotated', 'both'] as const;
const c = QUICK_DEFAULTS.classification;
const s = QUICK_DEFAULTS.segmentation;

const quick: Command = {
  summary: 'S2CNN vs CNN on rotated spheres, classification and segmentation (minutes)',
  usage: 'equisphere quick [options]',
  options: {
    task: { type: 'string' },
    ...QUICK_TASK_OPTIONS(''),
    ...QUICK_TASK_OPTIONS('seg-'),
    seed: { type: 'string' },
    out: { type: 'string' },
    fresh: { type: 'boolean' },
    ...DATA_OPTIONS,
    ...RUNTIME_OPTIONS,
  },
  help: [
    ['--task T', 'classification, segmentation or both (default both)'],
    ['--models A,B', `classification models (default ${c.models.join(',')})`],
    ['--bandwidth B', `classification bandwidth; spheres are 2B x 2B (default ${c.bandwidth})`],
    ['--train-size N', `classification training spheres (default ${c.trainSize})`],
    ['--test-size N', `classification test spheres per test set (default ${c.testSize})`],
    ['--epochs N', `classification epochs (default ${c.epochs})`],
    ['--batch-size N', `classification batch size (default ${c.batchSize})`],
    ['--lr-s2cnn X', `classification S2CNN learning rate (default ${c.learningRateS2cnn})`],
    ['--lr-cnn X', `classification CNN learning rate (default ${c.learningRateCnn})`],
    ['--seg-models A,B', `segmentation models (default ${s.models.join(',')})`],
    ['--seg-bandwidth B', `segmentation bandwidth (default ${s.bandwidth})`],
    ['--seg-train-size N', `segmentation training spheres (default ${s.trainSize})`],
    ['--seg-test-size N', `segmentation test spheres (default ${s.testSize})`],
    ['--seg-epochs N', `segmentation epochs (default ${s.epochs})`],
    ['--seg-batch-size N', `segmentation batch size (default ${s.batchSize})`],
    ['--seg-lr-s2cnn X', `segmentation S2CNN learning rate (default ${s.learningRateS2cnn})`],
    ['--seg-lr-cnn X', `segmentation CNN learning rate (default ${s.learningRateCnn})`],
    ['--seed N', `seed of data, initialisation and shuffling (default ${QUICK_DEFAULTS.seed})`],
    ['--out DIR', `output folder (default ${defaultOutFolder('quick')})`],
    ['--fresh', 'retrain even when finished checkpoints of the same runs exist'],
    ...DATA_HELP,
    ...RUNTIME_HELP,
  ],
  async run(argv) {
    const { values } = parseCommand('quick', argv, this.options);
    const task = choiceOption(values, 'task', ['classification', 'segmentation', 'both'] as const,
      'both');
    const settings = {
      tasks: task === 'both' ? ['classification', 'segmentation'] as Task[] : [task],
      classification: quickTaskSettings(values, '', c, 'classification'),
      segmentation: quickTaskSettings(values, 'seg-', s, 'segmentation'),
      seed: integerOption(values, 'seed', QUICK_DEFAULTS.seed, 0, 2 ** 32 - 1),
      outFolder: stringOption(values, 'out', defaultOutFolder('quick')),
      data: dataOptions(values, task === 'both' ? ['classification', 'segmentation'] : [task]),
      fresh: values.fresh === true,
      memoryLimit: memoryLimitOption(values),
    };
    claimOutFolder('--out', settings.outFolder);
    prepareQuick(settings);
    const { bar, hooks, stop, info } = await startSession(values);
    bar.message(`equisphere quick: ${settings.tasks.join(' and ')}; backend ${info.backend}, `
      + `${info.threads} thread(s); results in ${settings.outFolder}`);
    const started = performance.now();
    try {
      const outcome = await runQuick(settings, hooks, info);
      bar.endLine();
      printResults(outcome.results);
      process.stdout.write(`\n${outcome.findings.map((line) => `* ${line}`).join('\n')}\n`);
      process.stdout.write(`\nwrote ${outcome.files.json} and ${outcome.files.csv} `
        + `(${formatDuration((performance.now() - started) / 1000)} in all)\n`);
      return 0;
    } finally {
      stop.uninstall();
    }
  },
};

function printResults(results: ResultsFile): void {
  process.stdout.write(`${renderResultsTable(results)}\n`);
}

// ---------------------------------------------------------------------------------------------
// train

const train: Command = {
  summary: 'train one model and test it (checkpoint every epoch, resumable)',
  usage: 'equisphere train --model NAME [options]',
  options: {
    model: { type: 'string' },
    bandwidth: { type: 'string' },
    'train-size': { type: 'string' },
    'train-data': { type: 'string' },
    'test-size': { type: 'string' },
    'test-data': { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    fresh: { type: 'boolean' },
    ...DATA_OPTIONS,
    ...RUNTIME_OPTIONS,
  },
  help: [
    ['--model NAME', `one of ${modelNames().join(', ')}`],
    ['--bandwidth B', 'input bandwidth (default: as in quick for its models, else the '
      + 'preset\'s)'],
    ['--train-size N', 'training spheres (default: as in quick for the model\'s task)'],
    ['--train-data D', 'rotated or unrotated (default: unrotated for S2CNNs, rotated for CNNs)'],
    ['--test-size N', 'test spheres per test set (default: as in quick)'],
    ['--test-data D', 'rotated, unrotated or both (default both)'],
    ['--epochs N', 'epochs (default: as in quick)'],
    ['--batch-size N', 'batch size (default: as in quick)'],
    ['--lr X', 'Adam learning rate (default: as in quick for the model\'s family)'],
    ['--seed N', 'seed (default 1)'],
    ['--out DIR', `output folder (default ${defaultOutFolder('train')})`],
    ['--fresh', 'ignore an existing checkpoint of the same run'],
    ...DATA_HELP,
    ...RUNTIME_HELP,
  ],
  async run(argv) {
    const { values } = parseCommand('train', argv, this.options);
    const name = stringOption(values, 'model');
    if (name === undefined) {
      throw new UserError(`train: --model is required; one of ${modelNames().join(', ')}`);
    }
    const entry = findModel(name);
    const quickTask = entry.task === 'classification' ? c : s;
    const trainData = choiceOption(values, 'train-data', ['rotated', 'unrotated'] as const,
      entry.family === 'cnn' ? 'rotated' : 'unrotated');
    const testData = choiceOption(values, 'test-data', TEST_DATA, 'both');
    const spec = {
      task: entry.task, model: name,
      bandwidth: bandwidthOption(values, 'bandwidth',
        quickTask.models.includes(name) ? quickTask.bandwidth : entry.presetBandwidth),
      trainSize: integerOption(values, 'train-size', quickTask.trainSize),
      trainRotated: trainData === 'rotated',
      testSize: integerOption(values, 'test-size', quickTask.testSize),
      testRotated: testData === 'both' ? [false, true] : [testData === 'rotated'],
      epochs: integerOption(values, 'epochs', quickTask.epochs),
      batchSize: integerOption(values, 'batch-size', quickTask.batchSize),
      learningRate: numberOption(values, 'lr', entry.family === 's2cnn'
        ? quickTask.learningRateS2cnn : quickTask.learningRateCnn),
      seed: integerOption(values, 'seed', 1, 0, 2 ** 32 - 1),
    };
    const outFolder = stringOption(values, 'out', defaultOutFolder('train'));
    const data = dataOptions(values, [entry.task]);
    const memoryLimit = memoryLimitOption(values);

    const context = {
      data, checkpointFolder: path.join(outFolder, 'checkpoints'), fresh: values.fresh === true,
      memoryLimit,
    };
    checkPoint(spec, context);
    claimOutFolder('--out', outFolder);
    ensureWritableFolder(outFolder);

    const { bar, hooks, stop, info } = await startSession(values);
    try {
      const { record } = await runPoint(spec, { ...context, hooks });
      bar.endLine();
      const results = newResults('train', info, { ...spec, data, outFolder });
      record.checkpoint = record.checkpoint === undefined ? undefined
        : path.relative(outFolder, record.checkpoint);
      results.runs.push(record);
      const files = writeResults(path.join(outFolder, 'results.json'), results);
      printResults(results);
      process.stdout.write(`\ncheckpoint ${path.join(outFolder, record.checkpoint ?? '')}\n`
        + `wrote ${files.json} and ${files.csv}\n`);
      return 0;
    } finally {
      stop.uninstall();
    }
  },
};

function newResults(experiment: string, info: { version: string; backend: string; threads: number },
  settings: Record<string, unknown>): ResultsFile {
  return {
    format: 'equisphere-results', version: 1, experiment, createdAt: new Date().toISOString(),
    equisphereVersion: info.version,
    environment: { ...machineFacts(), backend: info.backend, threads: info.threads },
    settings, runs: [],
  };
}

// ---------------------------------------------------------------------------------------------
// evaluate

const evaluate: Command = {
  summary: 'test a trained checkpoint on rotated and/or unrotated spheres',
  usage: 'equisphere evaluate CHECKPOINT [options]',
  options: {
    'test-size': { type: 'string' },
    'test-data': { type: 'string' },
    'batch-size': { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    ...DATA_OPTIONS,
    ...RUNTIME_OPTIONS,
  },
  help: [
    ['CHECKPOINT', 'a .ckpt file written by train, quick or sweep'],
    ['--test-size N', 'test spheres per test set (default 500)'],
    ['--test-data D', 'rotated, unrotated or both (default both)'],
    ['--batch-size N', 'evaluation batch size (default 32)'],
    ['--seed N', 'seed of the test data (default: the checkpoint\'s)'],
    ['--out DIR', 'also write evaluation.json/.csv into this folder'],
    ...DATA_HELP,
    ...RUNTIME_HELP,
  ],
  async run(argv) {
    const { values, positionals } = parseCommand('evaluate', argv, this.options, true);
    if (positionals.length !== 1) {
      throw new UserError(`evaluate: expected one checkpoint file, got ${positionals.length}`);
    }
    const checkpoint = loadTrainingCheckpoint(positionals[0]);
    const identity = checkpoint.identity as {
      model?: string; bandwidth?: number; trainSize?: number; trainRotated?: boolean;
    } | null;
    if (typeof identity?.model !== 'string' || typeof identity.bandwidth !== 'number') {
      throw new UserError(`${positionals[0]} does not say which model it holds (no identity)`);
    }
    const entry = findModel(identity.model);
    const testData = choiceOption(values, 'test-data', TEST_DATA, 'both');
    const testSize = integerOption(values, 'test-size', 500);
    const batchSize = integerOption(values, 'batch-size', 32);
    const seed = integerOption(values, 'seed', checkpoint.settings.seed, 0, 2 ** 32 - 1);
    const data = dataOptions(values, [entry.task]);
    const outFolder = stringOption(values, 'out');
    if (outFolder !== undefined) claimOutFolder('--out', outFolder);
    if (outFolder !== undefined) ensureWritableFolder(outFolder);

    const { bar, hooks, stop, info } = await startSession(values);
    try {
      const model = entry.create(identity.bandwidth, new Random(0));
      try {
        model.loadStateDict(checkpoint.modelState);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        throw new UserError(`${positionals[0]}: ${error.message}`);
      }
      const tests: TestRecord[] = [];
      for (const rotated of testData === 'both' ? [false, true] : [testData === 'rotated']) {
        const set = await loadSpheres(entry.task, 'test', testSize, identity.bandwidth, rotated,
          seed, data, hooks);
        const evaluation = await scoreModel(model, set.data, entry.task, batchSize,
          `test ${entry.name} on ${rotated ? 'rotated' : 'unrotated'} spheres`, hooks);
        tests.push({ rotated, evaluation });
      }
      bar.endLine();
      const last = checkpoint.history[checkpoint.history.length - 1];
      const results = newResults('evaluate', info,
        { checkpoint: positionals[0], testSize, seed, data });
      results.runs.push({
        task: entry.task, model: entry.name, parameters: model.parameterCount(),
        bandwidth: identity.bandwidth, trainRotated: identity.trainRotated === true,
        trainSize: identity.trainSize ?? 0, epochs: checkpoint.completedEpochs,
        batchSize: checkpoint.settings.batchSize, learningRate: checkpoint.settings.learningRate,
        seed: checkpoint.settings.seed,
        trainSeconds: checkpoint.history.reduce((sum, r) => sum + r.seconds, 0),
        trainSamplesPerSecond: last?.samplesPerSecond ?? 0, finalTrainLoss: last?.trainLoss ?? NaN,
        tests, checkpoint: path.resolve(positionals[0]),
      });
      printResults(results);
      if (outFolder !== undefined) {
        const files = writeResults(path.join(outFolder, 'evaluation.json'), results);
        process.stdout.write(`\nwrote ${files.json} and ${files.csv}\n`);
      }
      return 0;
    } finally {
      stop.uninstall();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// sweep

const sweep: Command = {
  summary: 'train models for several training-set sizes, test on rotated spheres (resumable)',
  usage: 'equisphere sweep [--task T] [--models A,B] [--sizes N1,N2,...] [options]',
  options: {
    task: { type: 'string' },
    models: { type: 'string' },
    sizes: { type: 'string' },
    'train-data': { type: 'string' },
    'test-unrotated': { type: 'boolean' },
    bandwidth: { type: 'string' },
    'test-size': { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    'lr-s2cnn': { type: 'string' },
    'lr-cnn': { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    fresh: { type: 'boolean' },
    ...DATA_OPTIONS,
    ...RUNTIME_OPTIONS,
  },
  help: [
    ['--task T', 'classification (default) or segmentation'],
    ['--models A,B', 'models (default: the small S2CNN and CNN of the task)'],
    ['--sizes N1,N2', 'training-set sizes, e.g. 500,1000,2000 (default 500,1000,2000)'],
    ['--train-data D', 'auto (S2CNN unrotated, CNN rotated; default), rotated or unrotated'],
    ['--test-unrotated', 'also test on unrotated spheres'],
    ['--bandwidth B', 'bandwidth (default: as in quick for the task)'],
    ['--test-size N', 'test spheres (default: as in quick)'],
    ['--epochs N', 'epochs per point (default: as in quick)'],
    ['--batch-size N', 'batch size (default: as in quick)'],
    ['--lr-s2cnn X', 'S2CNN learning rate (default: as in quick)'],
    ['--lr-cnn X', 'CNN learning rate (default: as in quick)'],
    ['--seed N', 'seed (default 1)'],
    ['--out DIR', `output folder (default ${defaultOutFolder('sweep')})`],
    ['--fresh', 'ignore finished points and checkpoints and start over'],
    ...DATA_HELP,
    ...RUNTIME_HELP,
  ],
  async run(argv) {
    const { values } = parseCommand('sweep', argv, this.options);
    const task = choiceOption(values, 'task', ['classification', 'segmentation'] as const,
      'classification');
    const defaults = task === 'classification' ? c : s;
    const models = listOption(values, 'models', defaults.models);
    models.forEach((name) => findModel(name, task));
    const sizes = listOption(values, 'sizes', ['500', '1000', '2000'])
      .map((text) => parseInteger('--sizes', text));
    const settings = {
      task, models, trainSizes: sizes,
      trainData: choiceOption(values, 'train-data', ['auto', 'rotated', 'unrotated'] as const,
        'auto'),
      testUnrotated: values['test-unrotated'] === true,
      bandwidth: bandwidthOption(values, 'bandwidth', defaults.bandwidth),
      testSize: integerOption(values, 'test-size', defaults.testSize),
      epochs: integerOption(values, 'epochs', defaults.epochs),
      batchSize: integerOption(values, 'batch-size', defaults.batchSize),
      learningRateS2cnn: numberOption(values, 'lr-s2cnn', defaults.learningRateS2cnn),
      learningRateCnn: numberOption(values, 'lr-cnn', defaults.learningRateCnn),
      seed: integerOption(values, 'seed', 1, 0, 2 ** 32 - 1),
      outFolder: stringOption(values, 'out', defaultOutFolder('sweep')),
      data: dataOptions(values, [task]),
      fresh: values.fresh === true,
      memoryLimit: memoryLimitOption(values),
    };
    claimOutFolder('--out', settings.outFolder);
    prepareSweep(settings);
    const { bar, hooks, stop, info } = await startSession(values);
    try {
      const outcome = await runSweep(settings, hooks, info);
      bar.endLine();
      printResults(outcome.results);
      const plots = writeResultsPlots(outcome.files.json, outcome.results);
      const written = [outcome.files.json, outcome.files.csv, ...plots].join(', ');
      process.stdout.write(
        `\n${outcome.trained} point(s) trained, ${outcome.skipped} reused; wrote ${written}\n`);
      return 0;
    } finally {
      stop.uninstall();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// report

const report: Command = {
  summary: 'print a results file as a table and write its plots (SVG) beside it',
  usage: 'equisphere report RESULTS.json',
  options: {},
  help: [['RESULTS.json', 'a results file written by quick, sweep, train or evaluate']],
  async run(argv) {
    const { positionals } = parseCommand('report', argv, this.options, true);
    if (positionals.length !== 1) {
      throw new UserError(`report: expected one results file, got ${positionals.length}`);
    }
    const results = readResults(positionals[0]);
    printResults(results);
    const plots = writeResultsPlots(positionals[0], results);
    process.stdout.write(plots.length > 0 ? `\nwrote ${plots.join(', ')}\n`
      : '\nno plot: every model has a single training-set size\n');
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// data

const data: Command = {
  summary: 'generate (or find) a spherical dataset and print its folder',
  usage: 'equisphere data [options]',
  options: {
    task: { type: 'string' },
    split: { type: 'string' },
    size: { type: 'string' },
    bandwidth: { type: 'string' },
    rotated: { type: 'boolean' },
    seed: { type: 'string' },
    ...DATA_OPTIONS,
  },
  help: [
    ['--task T', 'classification (default) or segmentation'],
    ['--split S', 'train (default) or test'],
    ['--size N', 'number of spheres (default 1000)'],
    ['--bandwidth B', 'bandwidth; spheres are 2B x 2B (default 16)'],
    ['--rotated', 'give every sphere its own random rotation'],
    ['--seed N', 'seed (default 1)'],
    ...DATA_HELP,
  ],
  async run(argv) {
    const { values } = parseCommand('data', argv, this.options);
    const task = choiceOption(values, 'task', ['classification', 'segmentation'] as const,
      'classification');
    const split = choiceOption(values, 'split', ['train', 'test'] as const, 'train');
    const count = integerOption(values, 'size', 1000);
    const bandwidth = bandwidthOption(values, 'bandwidth', 16);
    const seed = integerOption(values, 'seed', 1, 0, 2 ** 32 - 1);
    const options = dataOptions(values, [task]);
    const bar = new ProgressBar();
    const request = datasetRequest(task, split, count, bandwidth, values.rotated === true, seed,
      options);
    const onProgress = (done: number, total: number): void => bar.update({
      label: `generate ${split} spheres`, done, total, unit: 'spheres',
    });
    const stop = new StopSignal(() => bar.message(
      'equisphere: stopping the generation (Ctrl-C again to quit at once)')).install();
    let set;
    try {
      set = await loadOrGenerateAsync(options.cacheFolder, request,
        { onProgress, shouldStop: stop.shouldStop });
    } catch (error) {
      if (!(error instanceof GenerationStopped)) throw error;
      throw new Interrupted('dataset generation stopped; its temporary folder was removed');
    } finally {
      stop.uninstall();
    }
    bar.endLine();
    process.stderr.write(set.reused ? 'equisphere: found in the cache\n' : '');
    process.stdout.write(`${path.resolve(set.folder)}\n`);
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// info

/**
 * The OpenBLAS build and the CPU kernels it chose, for the native backend: on an AVX-512 CPU
 * where OPENBLAS_CORETYPE pins the AVX2 Haswell kernels, its products run at about half speed.
 */
function blasLine(backend: object): Array<[string, string]> {
  if (!('library' in backend) || typeof backend.library !== 'string') return [];
  const pinned = process.env.OPENBLAS_CORETYPE;
  return [['blas', backend.library + (pinned === undefined ? ''
    : ` (OPENBLAS_CORETYPE=${pinned} is set)`)]];
}

const info: Command = {
  summary: 'version, kernel backend, threads, cores, memory and models',
  usage: 'equisphere info [--backend auto|native|wasm|reference] [--threads N]',
  options: { ...RUNTIME_OPTIONS },
  help: RUNTIME_HELP.slice(0, 2),
  async run(argv) {
    const { values } = parseCommand('info', argv, this.options);
    const backend = choiceOption(values, 'backend', BACKEND_NAMES, 'auto');
    const threads = integerOption(values, 'threads', coreCount(), 1);
    checkThreads(threads);
    const choice = await selectBackend(backend, threads);
    const lines: Array<[string, string]> = [
      ['version', packageVersion()],
      ['backend', choice.name + (choice.fallbackReason === undefined ? ''
        : ` (${choice.fallbackReason})`)],
      ['threads', String(currentBackend().threads)],
      ['cores', String(coreCount())],
      ...blasLine(activeBackend()),
      ['memory', `${formatBytes(os.totalmem())} total (the default --memory-limit)`],
      ['node', process.version],
    ];
    const width = Math.max(...lines.map(([key]) => key.length));
    process.stdout.write(
      lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n') + '\n\n');
    process.stdout.write(renderTable(['model', 'task', 'preset b', 'parameters', 'description'],
      modelEntries().map((e) => [e.name, e.task, e.presetBandwidth,
        e.footprint(e.presetBandwidth).parameterCount, e.description])) + '\n');
    return 0;
  },
};

export const COMMANDS: Record<string, Command> = {
  quick, train, evaluate, sweep, report, data, info,
};

/** The top-level help text. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = [
    'equisphere: rotation-equivariant spherical CNNs (S2CNN) against planar CNNs with rotation',
    'augmentation, on MNIST projected onto the sphere.',
    '',
    'usage: equisphere COMMAND [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS)
      .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    `  ${'help'.padEnd(width)}  this text; 'equisphere help COMMAND' for a command's options`,
    '',
    'options for every command: --help; equisphere --version prints the version.',
    'start with: equisphere quick',
    '',
  ];
  return lines.join('\n');
}

/** The help text of one command. */
export function commandHelp(name: string): string {
  const command = COMMANDS[name];
  const width = Math.max(...command.help.map(([option]) => option.length));
  return [
    `usage: ${command.usage}`,
    '',
    command.summary,
    '',
    ...command.help.map(([option, text]) => `  ${option.padEnd(width)}  ${text}`),
    '',
  ].join('\n');
}
