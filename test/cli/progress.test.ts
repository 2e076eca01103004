import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseBytes, parseCommand, parseInteger } from '../../src/cli/args.js';
import { ProgressBar, fitLine } from '../../src/cli/progress.js';
import { UserError } from '../../src/util/errors.js';

function fakeStream(isTTY: boolean): { isTTY: boolean; columns: number; text: string;
  write(t: string): boolean; } {
  return {
    isTTY, columns: 120, text: '',
    write(t: string) {
      this.text += t;
      return true;
    },
  };
}

describe('ProgressBar', () => {
  it('on a terminal redraws one line in place, at most every 100 ms, and ends it when done', () => {
    let now = 0;
    const stream = fakeStream(true);
    const bar = new ProgressBar(stream, { now: () => now });
    // Updates every 62.5 ms (exact in binary): drawn at 62.5, 187.5, 312.5, 437.5, 562.5 ms and
    // at the finish.
    for (let done = 10; done <= 100; done += 10) {
      now += 0.0625;
      bar.update({ label: 'train', done, total: 100, detail: 'loss 0.5' });
    }
    const draws = stream.text.split('\r').filter((s) => s.length > 0);
    assert.equal(draws.length, 6, JSON.stringify(draws));
    assert.match(draws[0], /^train \[#{2}\.{14}\] 10\/100 10% \| /);
    assert.equal(draws[1].trimEnd(),
      'train [#####...........] 30/100 30% | 240.0 samples/s | 0:00 elapsed, 0:00 left | loss 0.5');
    assert.match(draws[5], /100\/100 100% .* elapsed, done \| loss 0\.5/);
    assert.ok(stream.text.endsWith('\n'));
    assert.ok(draws[0].length === 119, 'padded to the terminal width');
  });

  it('in a log writes plain lines at most every interval, plus the finish', () => {
    let now = 0;
    const stream = fakeStream(false);
    const bar = new ProgressBar(stream, { now: () => now, plainIntervalSeconds: 10 });
    for (let done = 1; done <= 60; done++) {
      now += 1;
      bar.update({ label: 'generate', done, total: 60, unit: 'spheres' });
    }
    const lines = stream.text.trimEnd().split('\n');
    // The task starts with the first update (t = 1 s); lines 10, 20, ..., 50 s later and the
    // finish.
    assert.equal(lines.length, 6, stream.text);
    assert.doesNotMatch(stream.text, /\r|\[#/);
    assert.equal(lines[0],
      'generate 11/60 spheres | 18% | 1.1 spheres/s | elapsed 10.0 s | left 44.5 s');
    assert.match(lines[5], /60\/60 spheres \| 100% .* \| done$/);
  });

  it('uses the elapsed time the caller reports', () => {
    const stream = fakeStream(false);
    const bar = new ProgressBar(stream, { now: () => 0 });
    bar.update({ label: 'x', done: 50, total: 50, elapsedSeconds: 5 });
    assert.match(stream.text, /10\.0 samples\/s \| elapsed 5\.0 s \| done/);
  });

  it('prints messages on their own line, closing a drawn bar first', () => {
    const stream = fakeStream(true);
    const bar = new ProgressBar(stream, { now: () => 1 });
    bar.update({ label: 'a', done: 1, total: 2 });
    bar.message('note');
    assert.ok(stream.text.endsWith(' \nnote\n'));
  });
});

describe('argument parsing', () => {
  it('parses integers with k/m suffixes and rejects the rest', () => {
    assert.equal(parseInteger('--n', '2000'), 2000);
    assert.equal(parseInteger('--n', '20k'), 20000);
    assert.equal(parseInteger('--n', '1_000'), 1000);
    for (const bad of ['', 'x', '1.5', '-3', '0']) {
      assert.throws(() => parseInteger('--n', bad), UserError, bad);
    }
  });

  it('parses memory sizes', () => {
    assert.equal(parseBytes('--m', '8G'), 8 * 2 ** 30);
    assert.equal(parseBytes('--m', '512M'), 512 * 2 ** 20);
    assert.equal(parseBytes('--m', '2.5GiB'), 2.5 * 2 ** 30);
    assert.equal(parseBytes('--m', '1000'), 1000);
    assert.throws(() => parseBytes('--m', 'big'), UserError);
  });

  it('turns parseArgs errors into one-line UserErrors naming the command', () => {
    assert.throws(() => parseCommand('quick', ['--nope'], { epochs: { type: 'string' } }),
      (e: Error) => e instanceof UserError && e.message === "quick: unknown option '--nope' "
        + '(see: equisphere help quick)');
    assert.throws(() => parseCommand('quick', ['--epochs'], { epochs: { type: 'string' } }),
      (e: Error) => e instanceof UserError && /--epochs/.test(e.message)
        && !e.message.includes('\n'));
    assert.throws(() => parseCommand('quick', ['stray'], {}),
      (e: Error) => e instanceof UserError && /stray/.test(e.message));
  });
});

describe('fitLine', () => {
  const parts = {
    label: 'train s2cnn-small (unrotated spheres) epoch 1/1', bar: '[####............]',
    count: '64/1000 6%', numbers: ['12.3 samples/s', '0:05 elapsed, 1:10 left'],
    detail: ['loss 2.3012'],
  };

  it('shortens the label first and keeps the count, rate and time on 80 columns', () => {
    const line = fitLine(parts, 79);
    assert.ok(line.length <= 79, line);
    assert.match(line, /^train s2cnn-s.*\u2026 /);
    assert.match(line, /64\/1000 6% \| 12\.3 samples\/s \| 0:05 elapsed, 1:10 left/);
    assert.equal(fitLine(parts, 200), 'train s2cnn-small (unrotated spheres) epoch 1/1 '
      + '[####............] 64/1000 6% | 12.3 samples/s | 0:05 elapsed, 1:10 left | loss 2.3012');
  });

  it('drops the detail and the bar before the numbers on a narrow terminal', () => {
    const line = fitLine(parts, 60);
    assert.ok(line.length <= 60, line);
    assert.match(line, /64\/1000 6% \| 12\.3 samples\/s \| 0:05 elapsed, 1:10 left$/);
  });

  it('a terminal of unknown width is taken as 80 columns', () => {
    const stream = { isTTY: true, columns: 0, text: '', write(t: string) {
      this.text += t;
      return true;
    } };
    new ProgressBar(stream, { now: () => 1 }).update({ label: parts.label, done: 64, total: 1000 });
    const drawn = stream.text.replace('\r', '');
    assert.equal(drawn.length, 79);
    assert.match(drawn, /64\/1000 6% \| /);
  });
});
