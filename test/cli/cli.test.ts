import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { ResultsFile } from '../../src/experiments/results.js';

// dist/test/cli/cli.test.js -> dist/src/cli/main.js
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-cli-'));
after(() => fs.rmSync(folder, { recursive: true, force: true }));
const cache = path.join(folder, 'cache');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', cwd: folder });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Asserts status 1 and exactly one stderr line "equisphere: error: ..." matching `pattern`. */
function assertOneLineError(run: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.equal(run.status, 1, `status ${run.status}, stderr: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${run.stderr}`);
  assert.match(lines[0], /^equisphere: error: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(run.stderr, /\bat .*\.js:\d+/);
}

describe('equisphere command line: mistakes', () => {
  it('an unknown command exits 1 with one line listing the commands', () => {
    assertOneLineError(cli('frobnicate'), /unknown command 'frobnicate'.*quick, train/);
  });

  it('an unknown model exits 1 with one line listing the known models', () => {
    assertOneLineError(cli('train', '--model', 'resnet-50'),
      /unknown model 'resnet-50'; known models: s2cnn-small, .*cnn-seg-5\.5m/);
    assertOneLineError(cli('quick', '--models', 'nope'), /unknown model 'nope'/);
  });

  it('unknown options and malformed values exit 1 with one line naming the option', () => {
    assertOneLineError(cli('quick', '--bogus'), /unknown option '--bogus'/);
    assertOneLineError(cli('quick', '--epochs', 'many'),
      /--epochs: expected an integer >= 1, got 'many'/);
    assertOneLineError(cli('quick', '--task', 'detection'),
      /--task: expected one of classification/);
    assertOneLineError(cli('quick', '--bandwidth', '1'),
      /--bandwidth must be an integer of at least 2/);
    assertOneLineError(cli('quick', '--bandwidth', '500'), /--bandwidth 500 is too large/);
    assertOneLineError(cli('sweep', '--sizes', '10,x'), /--sizes: expected an integer/);
    assertOneLineError(cli('quick', '--memory-limit', 'lots'), /--memory-limit: expected a size/);
    assertOneLineError(cli('train'), /--model is required/);
  });

  it('a run that does not fit in memory is refused before any work', () => {
    assertOneLineError(cli('train', '--model', 's2cnn-seg-paper', '--memory-limit', '4G',
      '--cache', cache), /needs about .* GiB .*--batch-size \d+ or less/);
    assert.equal(fs.existsSync(cache), false);
  });

  it('an unwritable output folder exits 1 with one line and writes nothing', () => {
    const blocker = path.join(folder, 'a-file');
    fs.writeFileSync(blocker, 'not a folder');
    const run = cli('quick', '--out', path.join(blocker, 'out'), '--cache', cache);
    assertOneLineError(run, /--out: .*a-file is a file, not a folder/);
    assert.equal(fs.readFileSync(blocker, 'utf8'), 'not a folder');
    assert.equal(fs.existsSync(cache), false);

    assertOneLineError(cli('train', '--model', 'cnn-small', '--out', path.join(blocker, 'x'),
      '--cache', cache), /a-file is a file, not a folder/);
  });

  it('report of a missing or foreign file exits 1 with one line', () => {
    assertOneLineError(cli('report', path.join(folder, 'none.json')), /cannot read results file/);
    const foreign = path.join(folder, 'foreign.json');
    fs.writeFileSync(foreign, '{"hello": 1}');
    assertOneLineError(cli('report', foreign),
      /foreign\.json: format is nothing; expected "equisphere-results"/);
  });
});

describe('equisphere command line: checks added after testing', () => {
  it('a negative value after a space gets the same clear message as with =', () => {
    assertOneLineError(cli('data', '--bandwidth', '-3'), /--bandwidth/);
    assert.doesNotMatch(cli('data', '--bandwidth', '-3').stderr, /ambiguous/);
    assertOneLineError(cli('train', '--model', 'cnn-small', '--train-size', '-5'),
      /--train-size: expected an integer >= 1, got '-5'/);
    assertOneLineError(cli('train', '--model', 'cnn-small', '--lr', '-1'),
      /--lr: expected a positive number, got '-1'/);
    assertOneLineError(cli('data', '--seed', '-1'), /--seed: expected an integer in 0\.\./);
  });

  it('paths and option combinations are named clearly', () => {
    const blocker = path.join(folder, 'plain-file');
    fs.writeFileSync(blocker, 'x');
    assertOneLineError(cli('train', '--model', 'cnn-small', '--out', blocker, '--cache', cache),
      /--out: .*plain-file is a file, not a folder/);
    assertOneLineError(cli('train', '--model', 'cnn-small', '--out', ''),
      /--out: an empty path was given/);
    assertOneLineError(cli('data', '--source', 'mnist', '--source-folder', blocker),
      /--source-folder: .*plain-file is not a folder/);
    assertOneLineError(cli('data', '--source-folder', folder),
      /--source-folder: the mnist-embedded source is built in/);
    assertOneLineError(cli('data', '--items', '4'), /--items: .*segmentation only/);
    assertOneLineError(cli('sweep', '--sizes', '10,,20'), /--sizes: .*without empty items/);
    assertOneLineError(cli('quick', '--models', 'cnn-small,cnn-small'),
      /--models: 'cnn-small' is given twice/);
    assertOneLineError(cli('data', '--size', '2000', '--split', 'test', '--cache', cache),
      /test set size 2000 is more than the 1501 images .*at most 1501/);
  });

  it('a run that fails before writing anything leaves no output folder', () => {
    const out = path.join(folder, 'never', 'written');
    const blocker = path.join(folder, 'cache-file');
    fs.writeFileSync(blocker, 'x');
    const run = cli('train', '--model', 'cnn-small', '--train-size', '4', '--test-size', '2',
      '--epochs', '1', '--bandwidth', '4', '--out', out, '--cache', blocker);
    assert.equal(run.status, 1, run.stderr);
    assert.equal(fs.existsSync(path.join(folder, 'never')), false);
  });

  it('help sweep shows its optional options in brackets', () => {
    assert.match(cli('help', 'sweep').stdout, /usage: equisphere sweep \[--task T\] .*\[--sizes/);
  });
});

describe('equisphere command line: information', () => {
  it('--version prints the package version', () => {
    const run = cli('--version');
    assert.equal(run.status, 0);
    assert.match(run.stdout, /^equisphere \d+\.\d+\.\d+\n$/);
  });

  it('help lists the commands and help quick lists its options', () => {
    const main = cli('help');
    assert.equal(main.status, 0);
    for (const name of ['quick', 'train', 'evaluate', 'sweep', 'report', 'data', 'info']) {
      assert.match(main.stdout, new RegExp(`\\n  ${name} `));
    }
    const quick = cli('quick', '--help');
    assert.equal(quick.status, 0);
    assert.match(quick.stdout, /--seg-train-size N/);
    assert.match(quick.stdout, /--backend B.*auto/);
  });

  it('info reports version, backend, threads and cores', () => {
    const run = cli('info', '--backend', 'reference');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /version\s+\d/);
    assert.match(run.stdout, /backend\s+reference/);
    assert.match(run.stdout, /threads\s+1/);
    assert.match(run.stdout, new RegExp(`cores\\s+${os.availableParallelism()}`));
    assert.match(run.stdout, /s2cnn-seg-paper\s+segmentation\s+50\s+204073/);
    assert.doesNotMatch(run.stdout, /blas/);
  });

  it('info names the OpenBLAS kernels when the native backend runs', (t) => {
    const run = cli('info', '--backend', 'native');
    assert.equal(run.status, 0, run.stderr);
    if (!/backend\s+native\n/.test(run.stdout)) {
      t.skip('native backend not built here');
      return;
    }
    assert.match(run.stdout, /blas\s+OpenBLAS \d+\.\d+\.\d+ .*; core \w+/);
  });
});

describe('equisphere command line: work', () => {
  const out = path.join(folder, 'train');
  const trainArgs = ['train', '--model', 's2cnn-small', '--bandwidth', '4', '--train-size', '96',
    '--test-size', '16', '--batch-size', '16', '--cache', cache, '--out', out];

  it('Ctrl-C keeps the last completed epoch and a rerun resumes from it', async () => {
    const child = spawn(process.execPath, [MAIN, ...trainArgs, '--epochs', '400'],
      { cwd: folder, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const checkpoints = path.join(out, 'checkpoints');
    const deadline = Date.now() + 20_000;
    const hasCheckpoint = (): boolean => fs.existsSync(checkpoints)
      && fs.readdirSync(checkpoints).some((f) => f.endsWith('.ckpt'));
    while (!hasCheckpoint()) {
      assert.ok(Date.now() < deadline, `no checkpoint appeared; stderr: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGINT');
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(status, 130, stderr);
    assert.match(stderr, /stopping after the current batch/);
    assert.match(stderr, new RegExp('equisphere: training of s2cnn-small stopped; \\d+ '
      + 'completed epoch\\(s\\) kept in .*\\.ckpt; run the same command again to resume'));
    const kept = Number(/stopped; (\d+) completed/.exec(stderr)?.[1]);
    assert.ok(kept >= 1 && kept < 400);

    // A shorter rerun cannot use more epochs than it asks for; a longer one resumes.
    const resumed = cli(...trainArgs, '--epochs', String(kept + 1));
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resuming from .* after epoch ${kept}`));
    const results = JSON.parse(
      fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as ResultsFile;
    assert.equal(results.runs[0].epochs, kept + 1);
    assert.deepEqual(results.runs[0].tests.map((t) => t.rotated), [false, true]);
    assert.match(resumed.stdout, /s2cnn-small\s+\d+\s+unrotated\s+96/);
  });

  it('evaluate scores a checkpoint and report renders results', () => {
    const checkpoint = fs.readdirSync(path.join(out, 'checkpoints'))[0];
    const run = cli('evaluate', path.join(out, 'checkpoints', checkpoint), '--test-size', '8',
      '--test-data', 'rotated', '--cache', cache, '--out', path.join(folder, 'eval'));
    assert.equal(run.status, 0, run.stderr);
    const saved = JSON.parse(fs.readFileSync(path.join(folder, 'eval', 'evaluation.json'), 'utf8'));
    assert.equal(saved.runs[0].tests[0].evaluation.count, 8);
    assert.equal(saved.runs[0].tests[0].rotated, true);

    const report = cli('report', path.join(out, 'results.json'));
    assert.equal(report.status, 0, report.stderr);
    assert.match(report.stdout, /Classification: top-1 test accuracy/);
    assert.match(report.stdout, /no plot/);
  });

  it('data generates a dataset and prints its folder', () => {
    const run = cli('data', '--task', 'segmentation', '--size', '5', '--bandwidth', '4',
      '--rotated', '--cache', cache);
    assert.equal(run.status, 0, run.stderr);
    const printed = run.stdout.trim();
    assert.ok(fs.existsSync(path.join(printed, 'masks.npy')), printed);
    assert.match(path.basename(printed), /^segmentation-.*-train-b4-n5-rot-/);
  });
});
