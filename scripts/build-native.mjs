#!/usr/bin/env node
/**
 * Builds the optional native kernel addon (native/equisphere_blas.c, an N-API module over
 * OpenBLAS's CBLAS) into dist/native/equisphere_blas.node.
 *
 * The addon is optional: when a C compiler, Node's headers or libopenblas are missing, or the
 * build fails, this prints one line saying why and exits 0, so `npm ci` never fails because of
 * it and the engine falls back to its wasm kernels. It compiles directly against Node's headers
 * (no node-gyp, which would try to download them). Set EQUISPHERE_NATIVE=0 to skip the build,
 * CC to choose the compiler.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'equisphere_blas.c');
const outputDir = join(root, 'dist', 'native');
const output = join(outputDir, 'equisphere_blas.node');
const INSTALL_HINT = 'install libopenblas-dev (apt-get install -y libopenblas-dev) and rerun '
  + '`node scripts/build-native.mjs` for the native backend';

function note(text) {
  console.log(`native addon: ${text}`);
}

/** Folders that may hold node_api.h for the running Node. */
function nodeIncludeDirs() {
  const prefix = process.config?.variables?.node_prefix;
  const home = process.env.HOME ?? '';
  const candidates = [
    join(dirname(process.execPath), '..', 'include', 'node'),
    prefix ? join(prefix, 'include', 'node') : '',
    join(home, '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  return candidates.filter((dir) => dir !== '' && existsSync(join(dir, 'node_api.h')));
}

/** Folders that may hold cblas.h (Debian multiarch, Fedora, Homebrew). */
function cblasIncludeDirs() {
  const candidates = [
    '/usr/include/x86_64-linux-gnu/openblas-pthread',
    '/usr/include/aarch64-linux-gnu/openblas-pthread',
    '/usr/include/openblas',
    '/usr/local/opt/openblas/include',
    '/opt/homebrew/opt/openblas/include',
  ];
  return candidates.filter((dir) => existsSync(join(dir, 'cblas.h')));
}

function libraryDirs() {
  const candidates = ['/usr/local/opt/openblas/lib', '/opt/homebrew/opt/openblas/lib'];
  return candidates.filter((dir) => existsSync(dir));
}

function firstLine(text) {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const error = lines.find((line) => /error|cannot find|not found/i.test(line));
  return (error ?? lines[0] ?? '').slice(0, 200);
}

function build() {
  if (process.env.EQUISPHERE_NATIVE === '0') {
    note('skipped (EQUISPHERE_NATIVE=0)');
    return;
  }

  const nodeDirs = nodeIncludeDirs();
  if (nodeDirs.length === 0) {
    note(`skipped: Node's headers (node_api.h) not found for ${process.execPath}; `
      + 'the engine will use its wasm kernels');
    return;
  }

  const compiler = process.env.CC ?? 'cc';
  const temporary = join(outputDir, `equisphere_blas.${process.pid}.tmp.node`);
  const args = [
    '-O3', '-std=c11', '-fPIC', '-shared', '-Wall', '-Wextra', '-pthread',
    ...nodeDirs.slice(0, 1).map((dir) => `-I${dir}`),
    ...cblasIncludeDirs().map((dir) => `-I${dir}`),
    ...libraryDirs().map((dir) => `-L${dir}`),
    source, '-o', temporary, '-lopenblas',
  ];
  if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');

  mkdirSync(outputDir, { recursive: true });
  const compile = spawnSync(compiler, args, { encoding: 'utf8' });
  if (compile.error !== undefined || compile.status !== 0) {
    rmSync(temporary, { force: true });
    const why = compile.error !== undefined
      ? `${compiler} could not be run (${compile.error.message})`
      : firstLine(`${compile.stderr}${compile.stdout}`);
    const missingBlas = /cblas\.h|lopenblas/.test(why);
    note(`not built (${missingBlas ? 'libopenblas not found' : why}); ${INSTALL_HINT}`);
    return;
  }

  // Load it in a separate process before installing it: a library that links but does not load
  // (wrong architecture, missing runtime library) must not replace a working build.
  const probe = spawnSync(process.execPath, ['-e',
    `const m = require(${JSON.stringify(temporary)}); process.stdout.write(m.config());`],
  { encoding: 'utf8' });
  if (probe.status !== 0) {
    rmSync(temporary, { force: true });
    note(`built but failed to load (${firstLine(probe.stderr)}); the engine will use wasm`);
    return;
  }
  renameSync(temporary, output);
  note(`built ${output.slice(root.length + 1)} (${probe.stdout})`);
}

try {
  build();
} catch (error) {
  note(`not built (${error instanceof Error ? error.message : String(error)})`);
}
process.exitCode = 0;
