import * as fs from 'node:fs';
import * as os from 'node:os';

import { activeBackend, useBackend, type KernelBackend } from '../engine/kernels/index.js';
import { UserError } from '../util/errors.js';

/**
 * The process-wide setup of a command: the kernel backend (WebAssembly by default, with one
 * notice and a fall-back to the reference loops when it cannot start), the Ctrl-C handler and
 * the facts `equisphere info` prints.
 */

export type BackendName = 'reference' | 'wasm';

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
  /** Set when the requested backend could not start and the reference loops run instead. */
  fallbackReason?: string;
}

let backendChoice: BackendChoice = { name: 'reference', threads: 1 };

/** The backend chosen by the last selectBackend call. */
export function currentBackend(): BackendChoice {
  return backendChoice;
}

/**
 * Activates the kernel backend `name` with `threads` threads. When the WebAssembly backend fails
 * to load or start, the reference backend stays active and `fallbackReason` says why (the caller
 * prints it once).
 */
export async function selectBackend(name: BackendName, threads: number): Promise<BackendChoice> {
  if (name === 'reference') {
    useBackend(referenceOf());
    backendChoice = { name: 'reference', threads: 1 };
    return backendChoice;
  }
  try {
    // A computed specifier: the wasm module is optional at build time, and a failure to load it
    // must end in the fall-back below, not in a crash.
    const specifier = '../engine/kernels/wasm.js';
    const module = await import(specifier) as {
      createWasmBackend: (options: { threads: number }) => KernelBackend | Promise<KernelBackend>;
    };
    const backend = await module.createWasmBackend({ threads });
    useBackend(backend);
    const reported = (backend as { threads?: number }).threads;
    backendChoice = {
      name: backend.name, threads: typeof reported === 'number' ? reported : threads,
    };
  } catch (error) {
    useBackend(referenceOf());
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ERR_MODULE_NOT_FOUND' ? 'its module is not built'
      : (error as Error).message?.split('\n')[0] ?? String(error);
    backendChoice = { name: 'reference', threads: 1, fallbackReason: reason };
  }
  return backendChoice;
}

let referenceBackendCache: KernelBackend | undefined;

/** The reference backend (the one active at start-up, before any selection). */
function referenceOf(): KernelBackend {
  referenceBackendCache ??= activeBackend().name === 'reference' ? activeBackend() : undefined;
  if (referenceBackendCache === undefined) throw new Error('reference backend not recorded');
  return referenceBackendCache;
}

// Record the start-up backend (the reference loops) before anything changes it.
referenceOf();

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
