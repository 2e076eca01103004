import type { FloatArray } from '../../src/engine/kernels/index.js';
import { s2CoefficientCount, s2CoefficientIndex, so3CoefficientCount,
  so3CoefficientIndex } from '../../src/harmonic/indexing.js';
import type { Spectrum } from '../../src/harmonic/indexing.js';
import { wignerD } from '../../src/harmonic/wigner.js';
import type { Random } from '../../src/util/random.js';

/** Shared helpers of the harmonic tests (no tests of its own). */

export type ArrayType = Float32ArrayConstructor | Float64ArrayConstructor;

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

export function maxAbs(a: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]));
  return worst;
}

export function randomArray<T extends FloatArray>(type: { new (n: number): T }, n: number,
  random: Random): T {
  const out = new type(n);
  for (let i = 0; i < n; i++) out[i] = random.normal();
  return out;
}

/** A random complex spectrum (no symmetry) of `count` coefficients for S signals. */
export function randomSpectrum<T extends FloatArray>(type: { new (n: number): T }, count: number,
  S: number, random: Random): Spectrum<T> {
  return { re: randomArray(type, count * S, random), im: randomArray(type, count * S, random) };
}

/** Random S2 spectrum of a real signal: f^l_{-m} = (-1)^m conj(f^l_m). */
export function realS2Spectrum<T extends FloatArray>(type: { new (n: number): T }, L: number,
  S: number, random: Random): Spectrum<T> {
  const re = new type(s2CoefficientCount(L) * S);
  const im = new type(s2CoefficientCount(L) * S);
  for (let l = 0; l < L; l++) {
    for (let m = 0; m <= l; m++) {
      const sign = m % 2 === 0 ? 1 : -1;
      for (let s = 0; s < S; s++) {
        const a = s2CoefficientIndex(l, m) * S + s;
        const b = s2CoefficientIndex(l, -m) * S + s;
        re[a] = random.normal();
        im[a] = m === 0 ? 0 : random.normal();
        re[b] = sign * re[a];
        im[b] = -sign * im[a];
      }
    }
  }
  return { re, im };
}

/** Random SO(3) spectrum of a real signal: F^l_{-m,-n} = (-1)^{m-n} conj(F^l_mn). */
export function realSo3Spectrum<T extends FloatArray>(type: { new (n: number): T }, L: number,
  S: number, random: Random): Spectrum<T> {
  const re = new type(so3CoefficientCount(L) * S);
  const im = new type(so3CoefficientCount(L) * S);
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      for (let n = -l; n <= l; n++) {
        const sign = (m - n) % 2 === 0 ? 1 : -1;
        for (let s = 0; s < S; s++) {
          const a = so3CoefficientIndex(l, m, n) * S + s;
          const b = so3CoefficientIndex(l, -m, -n) * S + s;
          if (b < a) continue;
          re[a] = random.normal();
          im[a] = a === b ? 0 : random.normal();
          re[b] = sign * re[a];
          im[b] = -sign * im[a];
        }
      }
    }
  }
  return { re, im };
}

/** Sum_i re(a_i conj(b_i)) of two planar complex vectors: the real inner product. */
export function realInner(a: Spectrum<FloatArray>, b: Spectrum<FloatArray>): number {
  let sum = 0;
  for (let i = 0; i < a.re.length; i++) sum += a.re[i] * b.re[i] + a.im[i] * b.im[i];
  return sum;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Complex value of sum_{l<L} (2l+1) sum_m f^l_m d^l_{m0}(beta) e^{i m alpha} for signal s, by the
 * scalar Wigner function (slow, independent of the tables and transforms).
 */
export function evaluateS2(spectrum: Spectrum<FloatArray>, S: number, s: number, L: number,
  beta: number, alpha: number): [number, number] {
  let re = 0;
  let im = 0;
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      const i = s2CoefficientIndex(l, m) * S + s;
      const d = (2 * l + 1) * wignerD(l, m, 0, beta);
      const c = Math.cos(m * alpha);
      const sn = Math.sin(m * alpha);
      re += d * (spectrum.re[i] * c - spectrum.im[i] * sn);
      im += d * (spectrum.re[i] * sn + spectrum.im[i] * c);
    }
  }
  return [re, im];
}

/** Complex value of sum_{l<L} (2l+1) sum_mn F^l_mn D^l_mn(alpha, beta, gamma) for signal s. */
export function evaluateSo3(spectrum: Spectrum<FloatArray>, S: number, s: number, L: number,
  alpha: number, beta: number, gamma: number): [number, number] {
  let re = 0;
  let im = 0;
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      for (let n = -l; n <= l; n++) {
        const i = so3CoefficientIndex(l, m, n) * S + s;
        const d = (2 * l + 1) * wignerD(l, m, n, beta);
        const c = Math.cos(m * alpha + n * gamma);
        const sn = Math.sin(m * alpha + n * gamma);
        re += d * (spectrum.re[i] * c - spectrum.im[i] * sn);
        im += d * (spectrum.re[i] * sn + spectrum.im[i] * c);
      }
    }
  }
  return [re, im];
}

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** Integer square root (floor) of a non-negative BigInt, by Newton's method. */
function isqrt(x: bigint): bigint {
  if (x < 2n) return x;
  let r = 1n << BigInt(Math.ceil(bitLength(x) / 2));
  for (;;) {
    const next = (r + x / r) >> 1n;
    if (next >= r) return r;
    r = next;
  }
}

const factorials: bigint[] = [1n];
function factorial(k: number): bigint {
  while (factorials.length <= k) {
    factorials.push(factorials[factorials.length - 1] * BigInt(factorials.length));
  }
  return factorials[k];
}

/**
 * Exact oracle for d^l_mn(beta) at an angle whose half-angle has rational cosine p/r and sine
 * q/r (a Pythagorean triple, p^2 + q^2 = r^2): the explicit Wigner sum (transforms.md 3.1) in
 * BigInt arithmetic. With a, b, c, e the four factorial arguments (a + b + c + e = 2l),
 *
 *   d = sqrt((l+m)!(l-m)!(l+n)!(l-n)!) / ((2l)! r^{2l}) sum_s (-1)^{m-n+s} (2l)!/(a! b! c! e!)
 *       p^{2l+n-m-2s} q^{m-n+2s},
 *
 * so the sum is an exact integer N and d = sign(N) sqrt(F N^2 / ((2l)! r^{2l})^2), rounded once.
 * Returns the angle beta = 2 atan2(q, p) with the value.
 */
export function exactWignerD(l: number, m: number, n: number, p: number, q: number,
  r: number): { beta: number; value: number } {
  const twoL = 2 * l;
  let sum = 0n;
  for (let s = Math.max(0, n - m); s <= Math.min(l + n, l - m); s++) {
    const a = l + n - s;
    const c = m - n + s;
    const e = l - m - s;
    const multinomial = factorial(twoL)
      / (factorial(a) * factorial(s) * factorial(c) * factorial(e));
    const term = multinomial * BigInt(p) ** BigInt(twoL + n - m - 2 * s)
      * BigInt(q) ** BigInt(m - n + 2 * s);
    sum += (m - n + s) % 2 === 0 ? term : -term;
  }
  const beta = 2 * Math.atan2(q, p);
  if (sum === 0n) return { beta, value: 0 };
  const f = factorial(l + m) * factorial(l - m) * factorial(l + n) * factorial(l - n);
  const numerator = f * sum * sum;
  const denominator = (factorial(twoL) * BigInt(r) ** BigInt(twoL)) ** 2n;

  // d^2 = numerator / denominator; scale by 4^K so that the quotient has about 110 bits.
  const K = Math.max(0, Math.ceil((110 - (bitLength(numerator) - bitLength(denominator))) / 2));
  const root = isqrt((numerator << BigInt(2 * K)) / denominator);
  const magnitude = Number(root) * 2 ** -Math.floor(K / 2) * 2 ** -Math.ceil(K / 2);
  return { beta, value: sum < 0n ? -magnitude : magnitude };
}
