import { parentPort, workerData } from 'node:worker_threads';
import {
  DONE, FAILED, GENERATION, HEADER_BYTES, runSlot, SHUTDOWN, type KernelExports,
} from './wasm-protocol.js';

/**
 * A kernel thread of the wasm backend: instantiates the shared module on the shared memory,
 * then waits on the control block and runs its job slot each time the generation changes (see
 * wasm-protocol.ts). It never returns to its event loop while serving, so it needs no messages.
 */
interface WorkerSetup {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  slot: number;
}

const setup = workerData as WorkerSetup;
const instance = new WebAssembly.Instance(setup.module, { env: { memory: setup.memory } });
const kernels = instance.exports as unknown as KernelExports;
const header = new Int32Array(setup.control, 0, HEADER_BYTES / 4);
const params = new Float64Array(setup.control, HEADER_BYTES);

// Read the generation before reporting ready: the main thread may start a job right after.
let seen = Atomics.load(header, GENERATION);
parentPort?.postMessage('ready');

for (;;) {
  // The timeout only bounds how long a missed wake-up could stall; normally notify wakes us.
  Atomics.wait(header, GENERATION, seen, 1000);
  const generation = Atomics.load(header, GENERATION);
  if (Atomics.load(header, SHUTDOWN) !== 0) break;
  if (generation === seen) continue;
  seen = generation;
  try {
    runSlot(kernels, params, setup.slot);
  } catch {
    Atomics.store(header, FAILED, 1);
  } finally {
    Atomics.add(header, DONE, 1);
    Atomics.notify(header, DONE);
  }
}
