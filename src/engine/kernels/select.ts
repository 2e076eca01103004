import { availableParallelism } from 'node:os';

import type { KernelBackend } from './backend.js';
import { activeBackend, useBackend } from './index.js';
import { loadNativeBackend } from './native.js';
import { referenceBackend } from './reference.js';

/** Options of `selectBestBackend`. */
export interface BackendChoice {
  /**
   * 'auto' (default): native when built and loadable, else wasm, else reference. A named
   * backend is used when it can start; otherwise the next one down the same order.
   */
  name?: 'auto' | 'reference' | 'wasm' | 'native';
  /** Threads for wasm workers or OpenBLAS (default: the number of cores). */
  threads?: number;
  /** One line per fallback, and one saying which backend is active. */
  onNotice?: (line: string) => void;
}

/** Backends already started, by name and thread count, so repeated calls reuse them. */
const started = new Map<string, KernelBackend>();

async function startWasm(threads: number): Promise<KernelBackend> {
  const key = `wasm/${threads}`;
  const known = started.get(key);
  if (known !== undefined) return known;
  const { createWasmBackend } = await import('./wasm.js');
  const backend = await createWasmBackend({ threads });
  started.set(key, backend);
  return backend;
}

/**
 * Picks the fastest float32 kernel backend that works here, makes it the active one
 * (`useBackend`) and returns it. Order for 'auto': native (OpenBLAS addon, when built and
 * loadable), then wasm (SIMD on worker threads), then reference. When the requested or preferred
 * backend is unavailable, `onNotice` gets one line saying why, and the next one is used; a
 * final line names the active backend and its threads.
 */
export async function selectBestBackend(options: BackendChoice = {}): Promise<KernelBackend> {
  const name = options.name ?? 'auto';
  const threads = options.threads ?? availableParallelism();
  const notice = options.onNotice ?? (() => undefined);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new RangeError(`selectBestBackend: threads must be an integer in 1..64, got ${threads}`);
  }

  let chosen: KernelBackend | null = null;
  if (name === 'reference') chosen = referenceBackend;
  if (chosen === null && (name === 'auto' || name === 'native')) {
    const native = loadNativeBackend({ threads });
    if (native !== null) chosen = native;
    else {
      const { nativeUnavailableReason } = await import('./native.js');
      notice(`${nativeUnavailableReason() ?? 'native backend unavailable'}; using wasm`);
    }
  }
  if (chosen === null) {
    try {
      chosen = await startWasm(threads);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      notice(`${message}; using the reference backend`);
      chosen = referenceBackend;
    }
  }

  if (activeBackend() !== chosen) useBackend(chosen);
  const plural = threads === 1 ? 'thread' : 'threads';
  notice(`kernel backend: ${chosen.name}`
    + (chosen === referenceBackend ? '' : `, ${threads} ${plural}`));
  return chosen;
}
