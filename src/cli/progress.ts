import { formatDuration } from '../report/table.js';

/**
 * A progress bar on a stream (stderr by default). On a terminal it redraws one line in place, at
 * most every 100 ms; otherwise (a log file, a pipe) it writes a plain line at most every
 * `plainIntervalSeconds` and when a task finishes, so logs stay short.
 */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

export interface ProgressUpdate {
  /** What is running ("train s2cnn-small epoch 2/5"). */
  label: string;
  done: number;
  total: number;
  /** Unit of done/total, e.g. "samples". */
  unit?: string;
  /** Extra text at the end (e.g. "loss 0.412"). */
  detail?: string;
  /** Seconds since the task started, when the caller knows better than the bar's clock. */
  elapsedSeconds?: number;
}

let activeBar: ProgressBar | null = null;

/** Seconds as m:ss or h:mm:ss ('-:--' when unknown). */
function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-:--';
  const s = Math.round(seconds);
  const mmss = `${Math.floor((s % 3600) / 60)}:${String(s % 60).padStart(2, '0')}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss.padStart(5, '0')}` : mmss;
}

/** Ends the line of the most recent bar, if it is drawn (before an error message). */
export function closeProgressLine(): void {
  activeBar?.endLine();
}

/** The parts of a terminal bar line, composed by fitLine. */
export interface BarParts {
  label: string;
  /** "[####....]". */
  bar: string;
  /** "64/1000 6%". */
  count: string;
  /** Rate and time fields, kept whatever the width. */
  numbers: string[];
  detail: string[];
}

/** Shortens `text` to `length` characters, ending in an ellipsis when cut. */
function shorten(text: string, length: number): string {
  if (text.length <= length) return text;
  return length <= 0 ? '' : `${text.slice(0, length - 1)}\u2026`;
}

/**
 * A bar line of at most `width` characters. The label is shortened first (down to 12
 * characters, with an ellipsis), then the detail fields go, then the bar, then the rest of the
 * label; the count, rate and time are kept (cut only when nothing else is left to take away).
 */
export function fitLine(parts: BarParts, width: number): string {
  const compose = (label: string, bar: boolean, detail: boolean): string => [
    [label, bar ? parts.bar : '', parts.count].filter((p) => p.length > 0).join(' '),
    ...parts.numbers, ...(detail ? parts.detail : []),
  ].join(' | ');
  const attempts: Array<[boolean, boolean, number]> = [
    [true, true, 12], [true, false, 12], [false, false, 12], [false, false, 0],
  ];
  for (const [bar, detail, minimum] of attempts) {
    const fixed = compose('', bar, detail).length + 1;
    const room = Math.min(parts.label.length, width - fixed);
    if (room >= Math.min(minimum, parts.label.length)) {
      return compose(shorten(parts.label, room), bar, detail);
    }
  }
  return compose('', false, false).slice(0, width);
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly interactive: boolean;
  private readonly plainIntervalSeconds: number;
  private readonly now: () => number;
  private taskLabel = '';
  private taskStart = 0;
  private lastDraw = -Infinity;
  private lineVisible = false;

  constructor(stream: ProgressStream = process.stderr,
    options: { plainIntervalSeconds?: number; now?: () => number; interactive?: boolean } = {}) {
    this.stream = stream;
    this.interactive = options.interactive ?? stream.isTTY === true;
    this.plainIntervalSeconds = options.plainIntervalSeconds ?? 15;
    this.now = options.now ?? (() => performance.now() / 1000);
    activeBar = this;
  }

  /** Shows the state of a task; a new label starts a new task (and resets its clock). */
  update(progress: ProgressUpdate): void {
    const t = this.now();
    if (progress.label !== this.taskLabel) {
      this.taskLabel = progress.label;
      this.taskStart = t - (progress.elapsedSeconds ?? 0);
      // A plain log gets its first line only after an interval, so short tasks print one line.
      this.lastDraw = this.interactive ? -Infinity : t;
    }
    const finished = progress.done >= progress.total;
    const interval = this.interactive ? 0.1 : this.plainIntervalSeconds;
    if (!finished && t - this.lastDraw < interval) return;
    if (finished && !this.interactive && this.lastDraw === Infinity) return;

    // A terminal of unknown size reports 0 columns; assume the classic 80.
    const columns = this.stream.columns !== undefined && this.stream.columns > 0
      ? this.stream.columns : 80;
    const width = Math.max(20, columns - 1);
    const text = this.render(progress, progress.elapsedSeconds ?? t - this.taskStart, width);
    if (this.interactive) {
      this.stream.write(`\r${text.slice(0, width).padEnd(width)}`);
      this.lineVisible = true;
      if (finished) this.endLine();
    } else {
      this.stream.write(`${text}\n`);
    }
    this.lastDraw = finished ? Infinity : t;
  }

  /** Writes a message on its own line (closing a bar line in progress first). */
  message(text: string): void {
    this.endLine();
    this.stream.write(`${text}\n`);
  }

  /** Ends the current bar line, if one is drawn. */
  endLine(): void {
    if (this.lineVisible) {
      this.stream.write('\n');
      this.lineVisible = false;
    }
  }

  private render(progress: ProgressUpdate, elapsed: number, width: number): string {
    const fraction = progress.total > 0 ? Math.min(1, progress.done / progress.total) : 0;
    const rate = elapsed > 0 ? progress.done / elapsed : 0;
    const left = rate > 0 ? (progress.total - progress.done) / rate : NaN;
    const unit = progress.unit ?? 'samples';
    const percent = `${(100 * fraction).toFixed(0)}%`;
    const remaining = progress.done >= progress.total ? 'done' : `left ${formatDuration(left)}`;
    const detail = progress.detail === undefined ? [] : [progress.detail];

    if (this.interactive) {
      // One compact line: the label, the bar, then the numbers that change.
      const slots = 16;
      const filled = Math.round(fraction * slots);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(slots - filled)}]`;
      const time = progress.done >= progress.total ? 'done' : `${clock(left)} left`;
      return fitLine({
        label: progress.label, bar, count: `${progress.done}/${progress.total} ${percent}`,
        numbers: [`${rate.toFixed(1)} ${unit}/s`, `${clock(elapsed)} elapsed, ${time}`], detail,
      }, width);
    }
    return [
      `${progress.label} ${progress.done}/${progress.total} ${unit}`, percent,
      `${rate.toFixed(1)} ${unit}/s`, `elapsed ${formatDuration(elapsed)}`, remaining, ...detail,
    ].join(' | ');
  }
}
