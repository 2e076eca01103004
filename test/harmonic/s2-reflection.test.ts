import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import type { KernelBackend } from '../../src/engine/kernels/index.js';
import { loadNativeBackend } from '../../src/engine/kernels/native.js';
import { s2CoefficientCount, s2CoefficientIndex } from '../../src/harmonic/indexing.js';
import type { Spectrum } from '../../src/harmonic/indexing.js';
import {
  s2Forward, s2ForwardAdjoint, s2Inverse, s2InverseAdjoint,
} from '../../src/harmonic/s2-transform.js';
import { wignerD } from '../../src/harmonic/wigner.js';
import { gridAlphas, gridBetas, s2QuadratureWeights } from '../../src/sphere/grid.js';
import { Random } from '../../src/util/random.js';
import { maxAbs, maxAbsDiff, randomArray, randomSpectrum } from './helpers.js';

/*
 * The S2 transforms pair ring j with ring 2b-1-j (beta_{2b-1-j} = pi - beta_j,
 * d^l_{m0}(pi - beta) = (-1)^{l+m} d^l_{m0}(beta)) and multiply with half the Wigner table. These
 * tests check the four transforms against direct sums over the full grid, computed here from
 * wignerD with no symmetry used, in float64 on b = 1, 2, 3, 5, 8 (even and odd L, L < b), and
 * the float32 analysis against the full-grid float32 sum to float32 rounding.
 */

const BANDWIDTHS = [1, 2, 3, 5, 8];

/** d[(l*l + m + l) * 2b + j] = d^l_{m0}(beta_j) on the whole grid, from wignerD. */
function directTable(b: number, L: number): Float64Array {
  const betas = gridBetas(b);
  const nb = 2 * b;
  const d = new Float64Array(L * L * nb);
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      const row = s2CoefficientIndex(l, m) * nb;
      for (let j = 0; j < nb; j++) d[row + j] = wignerD(l, m, 0, betas[j]);
    }
  }
  return d;
}

/**
 * c^l_m = (2l+1 if degreeWeights) sum_{j,k} (w_j if ringWeights) d^l_{m0}(beta_j)
 * e^{-i m alpha_k} x_s(beta_j, alpha_k), all 2b rings, float64.
 */
function directAnalysis(x: ArrayLike<number>, S: number, b: number, L: number,
  ringWeights: boolean, degreeWeights: boolean): Spectrum<Float64Array> {
  const nb = 2 * b;
  const d = directTable(b, L);
  const w = s2QuadratureWeights(b);
  const alphas = gridAlphas(b);
  const re = new Float64Array(L * L * S);
  const im = new Float64Array(L * L * S);
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      const c = s2CoefficientIndex(l, m);
      const scale = degreeWeights ? 2 * l + 1 : 1;
      for (let s = 0; s < S; s++) {
        let sumRe = 0;
        let sumIm = 0;
        for (let j = 0; j < nb; j++) {
          const factor = scale * (ringWeights ? w[j] : 1) * d[c * nb + j];
          for (let k = 0; k < nb; k++) {
            const value = x[(s * nb + j) * nb + k];
            sumRe += factor * Math.cos(m * alphas[k]) * value;
            sumIm -= factor * Math.sin(m * alphas[k]) * value;
          }
        }
        re[c * S + s] = sumRe;
        im[c * S + s] = sumIm;
      }
    }
  }
  return { re, im };
}

/**
 * y_s(beta_j, alpha_k) = (w_j if ringWeights) Re sum_{l<L} (2l+1 if degreeWeights)
 * sum_m c^l_m d^l_{m0}(beta_j) e^{i m alpha_k}, all 2b rings, float64.
 */
function directSynthesis(spectrum: Spectrum<Float64Array>, S: number, L: number, b: number,
  ringWeights: boolean, degreeWeights: boolean): Float64Array {
  const nb = 2 * b;
  const d = directTable(b, L);
  const w = s2QuadratureWeights(b);
  const alphas = gridAlphas(b);
  const out = new Float64Array(S * nb * nb);
  for (let s = 0; s < S; s++) {
    for (let j = 0; j < nb; j++) {
      for (let k = 0; k < nb; k++) {
        let sum = 0;
        for (let l = 0; l < L; l++) {
          for (let m = -l; m <= l; m++) {
            const c = s2CoefficientIndex(l, m);
            const value = spectrum.re[c * S + s] * Math.cos(m * alphas[k])
              - spectrum.im[c * S + s] * Math.sin(m * alphas[k]);
            sum += (degreeWeights ? 2 * l + 1 : 1) * d[c * nb + j] * value;
          }
        }
        out[(s * nb + j) * nb + k] = (ringWeights ? w[j] : 1) * sum;
      }
    }
  }
  return out;
}

function relativeError(a: ArrayLike<number>, reference: ArrayLike<number>): number {
  return maxAbsDiff(a, reference) / Math.max(maxAbs(reference), 1e-300);
}

/** (L, b) pairs for each bandwidth: L = b, and smaller L of both parities. */
function cases(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const b of BANDWIDTHS) {
    for (const L of new Set([b, Math.max(1, b - 1), Math.max(1, b - 2)])) out.push([L, b]);
  }
  return out;
}

test('forward and inverse adjoint equal direct full-grid sums (float64, b = 1..8)', (t) => {
  const random = new Random(41);
  const S = 3;
  let worst = 0;
  for (const [L, b] of cases()) {
    const grid = randomArray(Float64Array, S * 4 * b * b, random);
    const forward = s2Forward(grid, S, b, L);
    const forwardDirect = directAnalysis(grid, S, b, L, true, false);
    const adjoint = s2InverseAdjoint(grid, S, L, b);
    const adjointDirect = directAnalysis(grid, S, b, L, false, true);
    const errors = [
      relativeError(forward.re, forwardDirect.re), relativeError(forward.im, forwardDirect.im),
      relativeError(adjoint.re, adjointDirect.re), relativeError(adjoint.im, adjointDirect.im),
    ];
    worst = Math.max(worst, ...errors);
    assert.ok(Math.max(...errors) < 1e-13, `L=${L} b=${b}: ${errors}`);
  }
  t.diagnostic(`max relative error ${worst.toExponential(2)}`);
});

test('inverse and forward adjoint equal direct full-grid sums (float64, b = 1..8)', (t) => {
  const random = new Random(42);
  const S = 3;
  let worst = 0;
  for (const [L, b] of cases()) {
    // A complex spectrum with no real-signal symmetry: the inverse keeps the real part.
    const spectrum = randomSpectrum(Float64Array, s2CoefficientCount(L), S, random);
    const errors = [
      relativeError(s2Inverse(spectrum, S, L, b), directSynthesis(spectrum, S, L, b, false, true)),
      relativeError(s2ForwardAdjoint(spectrum, S, b, L),
        directSynthesis(spectrum, S, L, b, true, false)),
    ];
    worst = Math.max(worst, ...errors);
    assert.ok(Math.max(...errors) < 1e-13, `L=${L} b=${b}: ${errors}`);
  }
  t.diagnostic(`max relative error ${worst.toExponential(2)}`);
});

/**
 * The full-grid analysis in float32 (the computation before the reflection pairing): ring DFTs
 * F_m(j) rounded to float32, then c^l_m = sum over all 2b rings of fround(w_j) fround(d^l_{m0})
 * F_m(j), accumulated in float32. Also returns, per coefficient, the sum of the absolute values
 * of its terms, the scale of float32 rounding errors.
 */
function float32FullGridAnalysis(x: Float32Array, S: number, b: number, L: number):
  { re: Float64Array; im: Float64Array; scale: Float64Array } {
  const f = Math.fround;
  const nb = 2 * b;
  const d = directTable(b, L);
  const w = s2QuadratureWeights(b);
  const alphas = gridAlphas(b);
  const re = new Float64Array(L * L * S);
  const im = new Float64Array(L * L * S);
  const scale = new Float64Array(L * L * S);
  for (let s = 0; s < S; s++) {
    for (let l = 0; l < L; l++) {
      for (let m = -l; m <= l; m++) {
        const c = s2CoefficientIndex(l, m);
        let sumRe = 0;
        let sumIm = 0;
        let magnitude = 0;
        for (let j = 0; j < nb; j++) {
          let ringRe = 0;
          let ringIm = 0;
          for (let k = 0; k < nb; k++) {
            const value = x[(s * nb + j) * nb + k];
            ringRe += Math.cos(m * alphas[k]) * value;
            ringIm -= Math.sin(m * alphas[k]) * value;
          }
          const factor = f(f(w[j]) * f(d[c * nb + j]));
          sumRe = f(sumRe + f(factor * f(ringRe)));
          sumIm = f(sumIm + f(factor * f(ringIm)));
          magnitude += Math.abs(factor) * (Math.abs(ringRe) + Math.abs(ringIm));
        }
        re[c * S + s] = sumRe;
        im[c * S + s] = sumIm;
        scale[c * S + s] = magnitude;
      }
    }
  }
  return { re, im, scale };
}

/** The backends to compare on: the default one, and wasm and native where they load. */
async function backends(): Promise<Array<[string, KernelBackend | null]>> {
  const out: Array<[string, KernelBackend | null]> = [['default', null]];
  try {
    const wasm = await import('../../src/engine/kernels/wasm.js');
    out.push(['wasm', await wasm.createWasmBackend({ threads: 2 })]);
  } catch {
    // Not built here: the default backend is still compared.
  }
  const native = loadNativeBackend({});
  if (native !== null) out.push(['native', native]);
  return out;
}

test('float32: the analysis equals the full-grid float32 sum to rounding, the synthesis and the '
  + 'adjoints agree with float64', async (t) => {
  const random = new Random(43);
  const S = 4;
  const eps = 2 ** -24;
  const previous = activeBackend();
  for (const [name, backend] of await backends()) {
    if (backend !== null) useBackend(backend);
    try {
      let worst = 0;
      for (const [L, b] of [[8, 8], [13, 13], [9, 13], [16, 16]]) {
        const grid = Float32Array.from(randomArray(Float64Array, S * 4 * b * b, random));
        const paired = s2Forward(grid, S, b, L);
        const full = float32FullGridAnalysis(grid, S, b, L);
        // Both are float32 roundings of the same sum: they differ by a few eps times the sum of
        // the absolute values of the terms (each path rounds about log2(2b) + 3 times in depth).
        for (let i = 0; i < full.scale.length; i++) {
          const difference = Math.max(Math.abs(paired.re[i] - full.re[i]),
            Math.abs(paired.im[i] - full.im[i]));
          worst = Math.max(worst, difference / (eps * full.scale[i]));
        }
      }
      t.diagnostic(`${name}: max |paired - full| = ${worst.toFixed(2)} eps x sum |terms|`);
      assert.ok(worst < 16, `${name}: ${worst} eps`);

      // The synthesis paths (strided products into the even/odd half rings) against float64.
      const [L, b] = [10, 11];
      const spectrum64 = randomSpectrum(Float64Array, s2CoefficientCount(L), S, random);
      const spectrum32 = {
        re: Float32Array.from(spectrum64.re), im: Float32Array.from(spectrum64.im),
      };
      const grid64 = randomArray(Float64Array, S * 4 * b * b, random);
      const grid32 = Float32Array.from(grid64);
      const adjoint32 = s2InverseAdjoint(grid32, S, L, b);
      const adjoint64 = s2InverseAdjoint(grid64, S, L, b);
      const errors = [
        relativeError(s2Inverse(spectrum32, S, L, b), s2Inverse(spectrum64, S, L, b)),
        relativeError(s2ForwardAdjoint(spectrum32, S, b, L), s2ForwardAdjoint(spectrum64, S, b, L)),
        relativeError(adjoint32.re, adjoint64.re), relativeError(adjoint32.im, adjoint64.im),
      ];
      t.diagnostic(`${name}: synthesis and adjoints, max relative error `
        + `${Math.max(...errors).toExponential(2)}`);
      assert.ok(Math.max(...errors) < 1e-5, `${name}: ${errors}`);
    } finally {
      useBackend(previous);
      const closable = backend as unknown as { close?: () => Promise<void> } | null;
      // Its workers are unref'ed and do not keep the process alive; not awaited.
      if (closable !== null && typeof closable.close === 'function') void closable.close();
    }
  }
});
