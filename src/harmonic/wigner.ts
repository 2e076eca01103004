import type { EulerZYZ } from '../sphere/rotation.js';
import { gridBetas } from '../sphere/grid.js';
import { LruCache } from './cache.js';
import { so3CoefficientCount, so3CoefficientIndex } from './indexing.js';
import type { Spectrum } from './indexing.js';

/**
 * Wigner small-d functions d^l_mn(beta) = <l m| exp(-i beta J_y) |l n> in the standard
 * (Edmonds) convention, e.g. d^1_{10} = -sin(beta)/sqrt(2), d^l_00 = P_l(cos beta), and the
 * big-D of s2cnn, D^l_mn(alpha, beta, gamma) = e^{+i m alpha} d^l_mn(beta) e^{+i n gamma}
 * (transforms.md 2.1).
 *
 * Values come from the Kostelec-Rockmore three-term recursion in the degree l at fixed (m, n)
 * (transforms.md 3.3), started at l0 = max(|m|, |n|) from the closed-form seeds of 3.2 evaluated
 * in log space. All arithmetic is float64.
 */

/** Seeds below this magnitude are flushed to zero, which keeps subnormals out of the loops. */
const SEED_FLOOR_LOG = -700;

/** ln(k!) for k = 0, 1, ..., grown on demand. */
let logFactorials = new Float64Array([0]);

function logFactorial(k: number): number {
  if (k >= logFactorials.length) {
    const grown = new Float64Array(Math.max(k + 1, 2 * logFactorials.length));
    grown.set(logFactorials);
    for (let i = logFactorials.length; i < grown.length; i++) grown[i] = grown[i - 1] + Math.log(i);
    logFactorials = grown;
  }
  return logFactorials[k];
}

/** ln of the binomial coefficient C(n, k). */
function logBinomial(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/**
 * The closed-form seed d^{l0}_mn at l0 = max(|m|, |n|) (transforms.md 3.2), as
 * sign * exp(logMagnitude + a ln|cos(beta/2)| + b ln|sin(beta/2)|). Returns the constant part;
 * `a` and `b` are the exponents of cos(beta/2) and sin(beta/2).
 */
interface Seed {
  logMagnitude: number;
  sign: number;
  a: number;
  b: number;
}

function seedOf(m: number, n: number): Seed {
  const l = Math.max(Math.abs(m), Math.abs(n));
  if (Math.abs(m) >= Math.abs(n)) {
    const logMagnitude = 0.5 * logBinomial(2 * l, l + n);
    if (m === l) return { logMagnitude, sign: (l - n) % 2 === 0 ? 1 : -1, a: l + n, b: l - n };
    return { logMagnitude, sign: 1, a: l - n, b: l + n };
  }
  const logMagnitude = 0.5 * logBinomial(2 * l, l + m);
  if (n === l) return { logMagnitude, sign: 1, a: l + m, b: l - m };
  return { logMagnitude, sign: (m + l) % 2 === 0 ? 1 : -1, a: l - m, b: l + m };
}

/** Value of a seed at one beta, from ln|cos(beta/2)|, ln|sin(beta/2)| and their signs. */
function seedValue(
  seed: Seed, logCos: number, logSin: number, cosNegative: boolean, sinNegative: boolean,
): number {
  // a * ln|c| with a = 0 must give 0 even at c = 0 (ln 0 = -Infinity).
  const exponent = seed.logMagnitude + (seed.a === 0 ? 0 : seed.a * logCos)
    + (seed.b === 0 ? 0 : seed.b * logSin);
  if (!(exponent > SEED_FLOOR_LOG)) return 0;
  let sign = seed.sign;
  if (cosNegative && seed.a % 2 === 1) sign = -sign;
  if (sinNegative && seed.b % 2 === 1) sign = -sign;
  return sign * Math.exp(exponent);
}

/**
 * Coefficients of the step l -> l+1 of the recursion (transforms.md 3.3):
 *
 *   d^{l+1} = A (cos(beta) - B) d^l - C d^{l-1}
 *   A = (l+1)(2l+1) / sqrt(((l+1)^2 - m^2)((l+1)^2 - n^2))
 *   B = m n / (l (l+1))
 *   C = (l+1) sqrt((l^2 - m^2)(l^2 - n^2)) / (l sqrt(((l+1)^2 - m^2)((l+1)^2 - n^2)))
 *
 * At l = 0 (only m = n = 0) B and C are 0/0; there d^1_00 = cos(beta), i.e. B = C = 0.
 */
function stepCoefficients(l: number, m: number, n: number, out: Float64Array): void {
  const l1 = l + 1;
  const next = Math.sqrt((l1 * l1 - m * m) * (l1 * l1 - n * n));
  out[0] = (l1 * (2 * l + 1)) / next;
  out[1] = l === 0 ? 0 : (m * n) / (l * l1);
  out[2] = l === 0 ? 0 : (l1 * Math.sqrt((l * l - m * m) * (l * l - n * n))) / (l * next);
}

/** Per-beta quantities the recursion and the seeds need. */
export interface BetaTrig {
  count: number;
  cos: Float64Array;
  logCosHalf: Float64Array;
  logSinHalf: Float64Array;
  cosHalfNegative: Uint8Array;
  sinHalfNegative: Uint8Array;
}

/** Precomputes cos(beta), ln|cos(beta/2)|, ln|sin(beta/2)| and the signs for a list of betas. */
export function betaTrig(betas: ArrayLike<number>): BetaTrig {
  const count = betas.length;
  const trig: BetaTrig = {
    count,
    cos: new Float64Array(count),
    logCosHalf: new Float64Array(count),
    logSinHalf: new Float64Array(count),
    cosHalfNegative: new Uint8Array(count),
    sinHalfNegative: new Uint8Array(count),
  };
  for (let j = 0; j < count; j++) {
    const c = Math.cos(betas[j] / 2);
    const s = Math.sin(betas[j] / 2);
    trig.cos[j] = Math.cos(betas[j]);
    trig.logCosHalf[j] = Math.log(Math.abs(c));
    trig.logSinHalf[j] = Math.log(Math.abs(s));
    trig.cosHalfNegative[j] = c < 0 ? 1 : 0;
    trig.sinHalfNegative[j] = s < 0 ? 1 : 0;
  }
  return trig;
}

const scratchCoefficients = new Float64Array(3);

/**
 * Runs the recursion for one pair (m, n) over degrees l0 = max(|m|, |n|) .. L-1 at every beta of
 * `trig`, writing d^l_mn(beta_j) to out[rowStart(l) + j]. Rows of earlier degrees are read back
 * from `out`, so every row of the pair must stay in place while the pair runs.
 */
export function recurseWignerPair(
  m: number, n: number, L: number, trig: BetaTrig, out: Float64Array,
  rowStart: (l: number) => number,
): void {
  const l0 = Math.max(Math.abs(m), Math.abs(n));
  if (l0 >= L) return;
  const count = trig.count;
  const cos = trig.cos;

  // Seed row at l0.
  const seed = seedOf(m, n);
  let current = rowStart(l0);
  for (let j = 0; j < count; j++) {
    out[current + j] = seedValue(seed, trig.logCosHalf[j], trig.logSinHalf[j],
      trig.cosHalfNegative[j] === 1, trig.sinHalfNegative[j] === 1);
  }

  // First step: the d^{l0-1} term has coefficient C = 0 (one of |m|, |n| equals l0).
  if (l0 + 1 >= L) return;
  const k = scratchCoefficients;
  stepCoefficients(l0, m, n, k);
  let previous = current;
  current = rowStart(l0 + 1);
  {
    const a = k[0];
    const ab = k[0] * k[1];
    for (let j = 0; j < count; j++) out[current + j] = (a * cos[j] - ab) * out[previous + j];
  }

  // Three-term steps.
  for (let l = l0 + 1; l + 1 < L; l++) {
    stepCoefficients(l, m, n, k);
    const a = k[0];
    const ab = k[0] * k[1];
    const c = k[2];
    const next = rowStart(l + 1);
    for (let j = 0; j < count; j++) {
      out[next + j] = (a * cos[j] - ab) * out[current + j] - c * out[previous + j];
    }
    previous = current;
    current = next;
  }
}

/**
 * One value of the Wigner small-d function d^l_mn(beta) (float64, by the stable recursion; O(l)
 * work). Requires integers |m|, |n| <= l.
 */
export function wignerD(l: number, m: number, n: number, beta: number): number {
  if (!Number.isInteger(l) || !Number.isInteger(m) || !Number.isInteger(n)
    || Math.abs(m) > l || Math.abs(n) > l) {
    throw new RangeError(`wignerD: need integers |m|, |n| <= l, got l=${l} m=${m} n=${n}`);
  }
  const trig = betaTrig([beta]);
  const seed = seedOf(m, n);
  const l0 = Math.max(Math.abs(m), Math.abs(n));
  let current = seedValue(seed, trig.logCosHalf[0], trig.logSinHalf[0],
    trig.cosHalfNegative[0] === 1, trig.sinHalfNegative[0] === 1);
  let previous = 0;
  const k = new Float64Array(3);
  for (let degree = l0; degree < l; degree++) {
    stepCoefficients(degree, m, n, k);
    const next = k[0] * (trig.cos[0] - k[1]) * current - k[2] * previous;
    previous = current;
    current = next;
  }
  return current;
}

/**
 * All d^l_mn(beta_j) for degrees l < L and every beta: a Float64Array laid out
 * [so3CoefficientIndex(l, m, n)][j], i.e. value at so3CoefficientIndex(l, m, n) * betas.length + j.
 *
 * Only pairs with m >= |n| are recursed; the rest follow from d^l_mn = (-1)^{m-n} d^l_nm =
 * d^l_{-n,-m} = (-1)^{m-n} d^l_{-m,-n} (transforms.md 2.1), which are exact sign flips. O(L^3)
 * rows of betas.length values each.
 */
export function wignerDTable(L: number, betas: ArrayLike<number>): Float64Array {
  if (!Number.isInteger(L) || L < 0) throw new RangeError(`wignerDTable: bad bandwidth ${L}`);
  const count = betas.length;
  const table = new Float64Array(so3CoefficientCount(L) * count);
  const trig = betaTrig(betas);
  const k = new Float64Array(3);

  for (let m = 0; m < L; m++) {
    for (let n = -m; n <= m; n++) {
      // Row offsets of (m, n) and of its images (n, m), (-n, -m), (-m, -n) at degree l. An
      // image equal to an earlier one (or to (m, n)) is marked -1 and skipped.
      const sign = (m - n) % 2 === 0 ? 1 : -1;
      const swapped = n !== m;
      const negSwapped = -n !== m;
      const negated = !(m === 0 && n === 0) && n !== -m && n !== m;
      const seed = seedOf(m, n);
      let previous = -1;
      let current = -1;
      for (let l = m; l < L; l++) {
        const base = (l * (4 * l * l - 1)) / 3;
        const size = 2 * l + 1;
        const row = (base + (m + l) * size + n + l) * count;

        if (l === m) {
          for (let j = 0; j < count; j++) {
            table[row + j] = seedValue(seed, trig.logCosHalf[j], trig.logSinHalf[j],
              trig.cosHalfNegative[j] === 1, trig.sinHalfNegative[j] === 1);
          }
        } else {
          stepCoefficients(l - 1, m, n, k);
          const a = k[0];
          const ab = k[0] * k[1];
          const c = k[2];
          const cos = trig.cos;
          if (previous < 0) {
            for (let j = 0; j < count; j++) table[row + j] = (a * cos[j] - ab) * table[current + j];
          } else {
            for (let j = 0; j < count; j++) {
              table[row + j] = (a * cos[j] - ab) * table[current + j] - c * table[previous + j];
            }
          }
        }
        previous = current;
        current = row;

        if (swapped) copyRow(table, row, (base + (n + l) * size + m + l) * count, count, sign);
        if (negSwapped) copyRow(table, row, (base + (l - n) * size - m + l) * count, count, 1);
        if (negated) copyRow(table, row, (base + (l - m) * size - n + l) * count, count, sign);
      }
    }
  }
  return table;
}

function copyRow(
  table: Float64Array, source: number, target: number, count: number, sign: number,
): void {
  if (sign === 1) for (let j = 0; j < count; j++) table[target + j] = table[source + j];
  else for (let j = 0; j < count; j++) table[target + j] = -table[source + j];
}

const softTables = new LruCache<Float64Array>(3, 1.5e9);

/**
 * wignerDTable(b, gridBetas(b)): the Wigner-d table on the SOFT beta grid of bandwidth b (degrees
 * l < b, 2b betas), layout [so3CoefficientIndex][j]. Cached in memory (LRU over a few
 * bandwidths); the returned array is shared, so callers must not modify it.
 */
export function softWignerTable(b: number): Float64Array {
  return softTables.get(`${b}`, () => wignerDTable(b, gridBetas(b)), (t) => t.byteLength);
}

/** Drops the cached SOFT tables of softWignerTable. */
export function clearSoftWignerTables(): void {
  softTables.clear();
}

/**
 * The (2l+1) x (2l+1) matrix D^l_mn(alpha, beta, gamma) = e^{i m alpha} d^l_mn(beta) e^{i n gamma}
 * of s2cnn's convention, planar complex, row m + l, column n + l (row-major).
 */
export function wignerDMatrix(l: number, euler: EulerZYZ): Spectrum<Float64Array> {
  const all = wignerDMatrices(l + 1, euler);
  const start = so3CoefficientIndex(l, -l, -l);
  const end = start + (2 * l + 1) * (2 * l + 1);
  return { re: all.re.slice(start, end), im: all.im.slice(start, end) };
}

/**
 * D^l_mn(alpha, beta, gamma) for every degree l < L, planar complex, laid out by
 * so3CoefficientIndex(l, m, n) (each degree a row-major (2l+1)^2 block).
 */
export function wignerDMatrices(L: number, euler: EulerZYZ): Spectrum<Float64Array> {
  const d = wignerDTable(L, [euler.beta]);
  const re = new Float64Array(d.length);
  const im = new Float64Array(d.length);
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      for (let n = -l; n <= l; n++) {
        const i = so3CoefficientIndex(l, m, n);
        const phase = m * euler.alpha + n * euler.gamma;
        re[i] = d[i] * Math.cos(phase);
        im[i] = d[i] * Math.sin(phase);
      }
    }
  }
  return { re, im };
}
