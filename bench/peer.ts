import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The PyTorch peer: runs the Python benchmarks of bench/peer/ (main.py, one process per case)
 * with Debian's /usr/bin/python3 and python3-torch, and collects their JSON. See
 * bench/peer/main.py for what each case measures.
 */

/** Every case main.py knows, in the order they run by default. */
export const PEER_CASES = [
  'selfcheck', 'matmul_1024', 'bmm_small', 'cnn218k_train', 'cnn218k_infer',
  'transforms_b16', 'transforms_b32', 'transforms_b50',
  's2cnn157k_train', 's2cnn157k_infer', 's2cnn204k_train', 's2cnn204k_infer',
] as const;

export type PeerCaseName = typeof PEER_CASES[number];

export interface PeerArgs {
  /** Threads for torch, OpenMP and OpenBLAS (default 2, as for our engine). */
  threads?: number;
  /** Cases to run (default all of PEER_CASES). */
  cases?: readonly PeerCaseName[];
  /** A quarter of the time budgets: for smoke runs. */
  quick?: boolean;
  /** Interpreter (default /usr/bin/python3, where Debian's python3-torch installs). */
  python?: string;
  /** Install python3-torch with apt-get when the interpreter lacks torch (default true). */
  install?: boolean;
  /** Limit for one case, in milliseconds (default 15 minutes). */
  caseTimeoutMs?: number;
  /** Progress and the reason for returning null, one line each (default console.log). */
  log?: (line: string) => void;
}

/** Median and minimum wall-clock milliseconds of one timed call. */
export interface PeerTiming {
  median_ms: number;
  min_ms: number;
  repeats: number;
}

/** What main.py printed for one case. */
export interface PeerCase {
  case: string;
  ok: boolean;
  torch: string;
  threads: number;
  metrics: Record<string, unknown>;
  notes: string;
  peak_rss_mb: number;
  wall_s: number;
  load_average: { start: number; end: number };
  environment: Record<string, string | null>;
  error?: string;
}

export interface PeerResults {
  python: string;
  torch: string;
  threads: number;
  cases: Partial<Record<PeerCaseName, PeerCase>>;
  /** Every number of every case's metrics by path, e.g. 'transforms_b16.so3_forward.median_ms',
   *  plus '<case>.peak_rss_mb'. */
  flat: Record<string, number>;
  /** Cases that failed or printed no JSON, with the reason. */
  failures: Partial<Record<PeerCaseName, string>>;
}

interface Completed {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

function run(command: string, args: string[], timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env): Promise<Completed> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, error });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1]?.trim() ?? '';
}

/** torch's version under `python`, or null with what went wrong. */
async function torchVersion(python: string): Promise<{ version: string | null; why: string }> {
  const probe = await run(python, ['-c', 'import numpy, torch; print(torch.__version__)'], 120_000);
  if (probe.error !== undefined) return { version: null, why: probe.error.message };
  if (probe.code !== 0) return { version: null, why: lastLine(probe.stderr) };
  return { version: lastLine(probe.stdout), why: '' };
}

async function installTorch(log: (line: string) => void): Promise<string | null> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'installing python3-torch needs root (apt-get)';
  }
  log('peer: installing python3-torch and python3-numpy with apt-get (a few minutes)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const packages = ['install', '-y', '--no-install-recommends', 'python3-torch', 'python3-numpy'];
  let result = await run('apt-get', packages, 1_800_000, env);
  if (result.code !== 0) {
    await run('apt-get', ['update'], 600_000, env);
    result = await run('apt-get', packages, 1_800_000, env);
  }
  if (result.error !== undefined) return `apt-get could not run (${result.error.message})`;
  if (result.code !== 0) return `apt-get install python3-torch failed: ${lastLine(result.stderr)}`;
  return null;
}

function flatten(prefix: string, value: unknown, out: Record<string, number>): void {
  if (typeof value === 'number' && Number.isFinite(value)) {
    out[prefix] = value;
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(`${prefix}.${key}`, inner, out);
  }
}

/**
 * Runs the PyTorch peer benchmarks and returns their results, or null (after logging one line
 * saying why) when they cannot run: no interpreter, or no torch and it cannot be installed.
 * A case that fails is listed in `failures` and the others still run.
 */
export async function runPeer(args: PeerArgs = {}): Promise<PeerResults | null> {
  const log = args.log ?? ((line: string) => console.log(line));
  const python = args.python ?? '/usr/bin/python3';
  const threads = args.threads ?? 2;
  const script = fileURLToPath(new URL('../../bench/peer/main.py', import.meta.url));
  const unavailable = (why: string): null => {
    log(`peer: unavailable: ${why}`);
    return null;
  };

  if (!existsSync(script)) return unavailable(`${script} not found`);
  if (!existsSync(python)) return unavailable(`${python} not found`);
  let probe = await torchVersion(python);
  if (probe.version === null) {
    if (args.install === false) return unavailable(`${python} lacks torch (${probe.why})`);
    log(`peer: ${python} lacks torch (${probe.why})`);
    const failed = await installTorch(log);
    if (failed !== null) return unavailable(failed);
    probe = await torchVersion(python);
    if (probe.version === null) return unavailable(`torch still not importable (${probe.why})`);
  }

  const results: PeerResults = {
    python, torch: probe.version, threads, cases: {}, flat: {}, failures: {},
  };
  for (const name of args.cases ?? PEER_CASES) {
    log(`peer: ${name} (torch ${probe.version}, ${threads} threads)`);
    const commandArgs = ['-B', script, '--case', name, '--threads', String(threads)];
    if (args.quick === true) commandArgs.push('--quick');
    const done = await run(python, commandArgs, args.caseTimeoutMs ?? 900_000);

    let parsed: PeerCase | null = null;
    try {
      parsed = JSON.parse(lastLine(done.stdout)) as PeerCase;
    } catch {
      parsed = null;
    }
    if (parsed === null || done.code !== 0) {
      const why = done.code === null ? 'killed (time limit) or could not start'
        : `exit ${done.code}: ${lastLine(done.stderr) || lastLine(done.stdout)}`;
      results.failures[name] = why;
      log(`peer: ${name} failed (${why})`);
      continue;
    }
    results.cases[name] = parsed;
    if (!parsed.ok) {
      results.failures[name] = parsed.error ?? 'reported not ok';
      log(`peer: ${name} not ok (${results.failures[name]})`);
    }
    flatten(name, parsed.metrics, results.flat);
    results.flat[`${name}.peak_rss_mb`] = parsed.peak_rss_mb;
  }
  return results;
}

// `node dist/bench/peer.js [--quick] [--threads N] [case ...]` prints the results as JSON.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const threadsAt = argv.indexOf('--threads');
  const threads = threadsAt >= 0 ? Number(argv[threadsAt + 1]) : 2;
  const cases = argv.filter((arg, i) => !arg.startsWith('--') && argv[i - 1] !== '--threads');
  const unknown = cases.filter((name) => !(PEER_CASES as readonly string[]).includes(name));
  if (unknown.length > 0 || !(threads >= 1)) {
    console.error(`usage: peer.js [--quick] [--threads N] [${PEER_CASES.join('|')} ...]`);
    process.exit(2);
  }
  const results = await runPeer({
    threads, quick: argv.includes('--quick'),
    cases: cases.length > 0 ? cases as PeerCaseName[] : undefined,
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify(results, null, 2));
  process.exitCode = results === null ? 1 : 0;
}
