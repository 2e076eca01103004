import * as fs from 'node:fs';
import * as os from 'node:os';

import { selectBestBackend } from '../engine/kernels/select.js';
import { UserError } from '../util/errors.js';

/**
 * The process-wide setup of a command: the kernel backend ('auto' by default: the native
 * OpenBLAS addon when built and loadable, else WebAssembly, else the reference loops, with one
 * notice per fall-back), the Ctrl-C handler and the facts `equisphere info` prints.
 */

export type BackendName = 'auto' | 'native' | 'wasm' | 'reference';

export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'native', 'wasm', 'reference'];

let versionCache: string | undefined;

/** The version field of package.json (dist/src/cli -> ../../../package.json). */
export function packageVersion(): string {
  if (versionCache !== undefined) return versionCache;
  try {
    const url = new URL('../../../package.json', import.meta.url);
    versionCache = String(JSON.parse(fs.readFileSync(url, 'utf8')).version ?? 'unknown');
  } catch {
    versionCache = 'unknown';
  }
  return versionCache;
}

/** Number of logical cores available to this process. */
export function coreCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism()
    : os.cpus().length;
}

export interface BackendChoice {
  /** The backend now active. */
  name: string;
  /** Threads it uses (1 for the reference loops). */
  threads: number;
  /** Set when a requested or preferred backend could not start (the caller prints it once). */
  fallbackReason?: string;
}

let backendChoice: BackendChoice = { name: 'reference', threads: 1 };

/** The backend chosen by the last selectBackend call. */
export function currentBackend(): BackendChoice {
  return backendChoice;
}

/**
 * Activates the kernel backend `name` with `threads` threads (src/engine/kernels/select.ts).
 * When it cannot start, the next one in the order native, wasm, reference runs instead and
 * `fallbackReason` says why.
 */
export async function selectBackend(name: BackendName, threads: number): Promise<BackendChoice> {
  const notices: string[] = [];
  const backend = await selectBestBackend({
    name, threads, onNotice: (line) => notices.push(line),
  });
  const fallbacks = notices.filter((line) => !line.startsWith('kernel backend:'));

  // A missing native addon is normal (it is optional): mention it only when it was asked for.
  const relevant = name === 'auto' && backend.name === 'wasm' ? [] : fallbacks;
  backendChoice = {
    name: backend.name,
    threads: backend.name === 'reference' ? 1 : threads,
    ...(relevant.length > 0 ? { fallbackReason: relevant.join('; ') } : {}),
  };
  return backendChoice;
}

/**
 * Ctrl-C handling for long commands. The first SIGINT sets `requested` (the training loop stops
 * after its current batch and the last completed epoch's checkpoint is kept); a second one quits
 * at once with status 130.
 */
export class StopSignal {
  requested = false;
  private readonly onSignal = (): void => {
    if (this.requested) {
      process.stderr.write('\nequisphere: interrupted again; quitting now\n');
      process.exit(130);
    }
    this.requested = true;
    this.notify();
  };

  constructor(private readonly notify: () => void = () => {}) {}

  install(): this {
    process.on('SIGINT', this.onSignal);
    return this;
  }

  uninstall(): void {
    process.off('SIGINT', this.onSignal);
  }

  readonly shouldStop = (): boolean => this.requested;
}

/** Checks a --threads value against the machine. */
export function checkThreads(threads: number): void {
  const limit = Math.max(64, coreCount() * 4);
  if (threads > limit) {
    throw new UserError(
      `--threads ${threads} is more than this machine can use (at most ${limit})`);
  }
}
