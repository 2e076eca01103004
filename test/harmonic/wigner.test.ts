import assert from 'node:assert/strict';
import { test } from 'node:test';

import { so3CoefficientCount, so3CoefficientIndex, s2CoefficientCount,
  s2CoefficientIndex } from '../../src/harmonic/indexing.js';
import {
  softWignerTable, wignerD, wignerDMatrix, wignerDTable,
} from '../../src/harmonic/wigner.js';
import { gridBetas } from '../../src/sphere/grid.js';
import {
  eulerToMatrix, matrixToEuler, multiply, randomRotation,
} from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';
import { exactWignerD } from './helpers.js';

/** Half-angle cosines and sines p/r, q/r from Pythagorean triples, from near 0 to near pi. */
const TRIPLES: Array<[number, number, number]> = [
  [4900, 99, 4901], [99, 20, 101], [4, 3, 5], [20, 21, 29], [5, 12, 13], [20, 99, 101],
  [99, 4900, 4901],
];

test('coefficient indexing is a bijection onto 0 .. count-1', () => {
  const L = 7;
  const seen = new Set<number>();
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      for (let n = -l; n <= l; n++) seen.add(so3CoefficientIndex(l, m, n));
    }
  }
  assert.equal(seen.size, so3CoefficientCount(L));
  assert.equal(Math.max(...seen), so3CoefficientCount(L) - 1);
  assert.equal(so3CoefficientCount(50), 166650);
  const s2 = new Set<number>();
  for (let l = 0; l < L; l++) for (let m = -l; m <= l; m++) s2.add(s2CoefficientIndex(l, m));
  assert.equal(s2.size, s2CoefficientCount(L));
  assert.equal(Math.max(...s2), L * L - 1);
});

test('small d matches the closed forms of degrees 1 and 2 (Edmonds convention)', () => {
  for (const beta of [0, 0.3, 1.2, 2.5, Math.PI, -0.7]) {
    const c = Math.cos(beta);
    const s = Math.sin(beta);
    const d1: Array<[number, number, number]> = [
      [1, 1, (1 + c) / 2], [1, 0, -s / Math.SQRT2], [1, -1, (1 - c) / 2],
      [0, 1, s / Math.SQRT2], [0, 0, c], [0, -1, -s / Math.SQRT2],
      [-1, 1, (1 - c) / 2], [-1, 0, s / Math.SQRT2], [-1, -1, (1 + c) / 2],
    ];
    for (const [m, n, expected] of d1) {
      assert.ok(Math.abs(wignerD(1, m, n, beta) - expected) < 1e-15, `d1_${m}${n}(${beta})`);
    }
    const r = Math.sqrt(3 / 8);
    const d2: Array<[number, number, number]> = [
      [2, 2, ((1 + c) / 2) ** 2], [2, 1, -(1 + c) * s / 2], [2, 0, r * s * s],
      [2, -1, -(1 - c) * s / 2], [2, -2, ((1 - c) / 2) ** 2], [1, 1, (2 * c - 1) * (1 + c) / 2],
      [1, 0, -Math.sqrt(3 / 2) * s * c], [1, -1, (2 * c + 1) * (1 - c) / 2],
      [0, 0, (3 * c * c - 1) / 2], [0, 2, r * s * s], [-1, 2, (1 - c) * s / 2],
    ];
    for (const [m, n, expected] of d2) {
      assert.ok(Math.abs(wignerD(2, m, n, beta) - expected) < 1e-15, `d2_${m}${n}(${beta})`);
    }
  }
});

test('d^l_00 is the Legendre polynomial P_l(cos beta) up to degree 300', (t) => {
  const betas = [0.01, 0.4, 1.3, 2.0, 3.1];
  const L = 121;
  const table = wignerDTable(L, betas);
  let worst = 0;
  betas.forEach((beta, j) => {
    const x = Math.cos(beta);
    let previous = 1;
    let current = x;
    for (let l = 0; l <= 300; l++) {
      // Bonnet: (l+1) P_{l+1} = (2l+1) x P_l - l P_{l-1}.
      const p = l === 0 ? 1 : current;
      worst = Math.max(worst, Math.abs(wignerD(l, 0, 0, beta) - p));
      if (l < L) {
        const value = table[so3CoefficientIndex(l, 0, 0) * betas.length + j];
        worst = Math.max(worst, Math.abs(value - p));
      }
      if (l >= 1) {
        const next = ((2 * l + 1) * x * current - l * previous) / (l + 1);
        previous = current;
        current = next;
      }
    }
  });
  t.diagnostic(`max |d^l_00 - P_l| = ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-13, `max error ${worst}`);
});

test('table and scalar recursion agree with the exact BigInt oracle (l <= 120, all beta)', (t) => {
  const random = new Random(11);
  const L = 121;
  const betas = TRIPLES.map(([p, q, r]) => 2 * Math.atan2(q, p));
  const table = wignerDTable(L, betas);
  let worst = 0;
  let cases = 0;
  for (const l of [0, 1, 5, 17, 40, 77, 120]) {
    const pairs: Array<[number, number]> = [[l, l], [-l, l], [l, -l + (l > 0 ? 1 : 0)], [0, 0]];
    for (let i = 0; i < 5; i++) pairs.push([random.int(2 * l + 1) - l, random.int(2 * l + 1) - l]);
    for (const [m, n] of pairs) {
      TRIPLES.forEach(([p, q, r], j) => {
        const exact = exactWignerD(l, m, n, p, q, r);
        const fromTable = table[so3CoefficientIndex(l, m, n) * betas.length + j];
        const scalar = wignerD(l, m, n, exact.beta);
        worst = Math.max(worst, Math.abs(fromTable - exact.value), Math.abs(scalar - exact.value));
        cases++;
      });
    }
  }
  t.diagnostic(`${cases} values, max abs error ${worst.toExponential(2)}`);
  assert.ok(cases > 200);
  assert.ok(worst < 1e-12, `max abs error ${worst}`);
});

test('oracle at degree 200 near the poles and at the edges of the (m, n) square', (t) => {
  let worst = 0;
  for (const [m, n] of [[200, 199], [199, -198], [3, -150], [0, 1], [-100, 37]]) {
    for (const [p, q, r] of TRIPLES) {
      const exact = exactWignerD(200, m, n, p, q, r);
      worst = Math.max(worst, Math.abs(wignerD(200, m, n, exact.beta) - exact.value));
    }
  }
  t.diagnostic(`max abs error at l = 200: ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-11, `max abs error ${worst}`);
});

test('d^l is orthogonal (sum_n d_mn d_kn = delta_mk) at degrees 150 to 200', (t) => {
  const betas = [0.004, 0.9, Math.PI / 2, 2.2, Math.PI - 0.01];
  const L = 201;
  const table = wignerDTable(L, betas);
  const count = betas.length;
  let worst = 0;
  for (const l of [150, 173, 200]) {
    for (let j = 0; j < count; j++) {
      // All rows against a few fixed rows, including the edge rows m = +-l.
      for (const k of [-l, -l + 1, -1, 0, 7, l - 2, l]) {
        for (let m = -l; m <= l; m++) {
          let sum = 0;
          for (let n = -l; n <= l; n++) {
            sum += table[so3CoefficientIndex(l, m, n) * count + j]
              * table[so3CoefficientIndex(l, k, n) * count + j];
          }
          worst = Math.max(worst, Math.abs(sum - (m === k ? 1 : 0)));
        }
      }
    }
  }
  t.diagnostic(`max deviation from the identity ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-11, `max deviation ${worst}`);
});

test('softWignerTable is the cached table on the SOFT betas', () => {
  const b = 6;
  const table = softWignerTable(b);
  assert.equal(softWignerTable(b), table);
  const direct = wignerDTable(b, gridBetas(b));
  assert.deepEqual(Array.from(table), Array.from(direct));
  const betas = gridBetas(b);
  assert.equal(table[so3CoefficientIndex(3, 1, -2) * 2 * b + 4], wignerD(3, 1, -2, betas[4]));
});

test('D is a unitary homomorphism: D(g1 g2) = D(g1) D(g2)', (t) => {
  const random = new Random(5);
  let worst = 0;
  for (let trial = 0; trial < 4; trial++) {
    const r1 = randomRotation(random);
    const r2 = randomRotation(random);
    const g1 = matrixToEuler(r1);
    const g2 = matrixToEuler(r2);
    const g12 = matrixToEuler(multiply(r1, r2));
    for (const l of [1, 2, 5, 12]) {
      const a = wignerDMatrix(l, g1);
      const b = wignerDMatrix(l, g2);
      const ab = wignerDMatrix(l, g12);
      const size = 2 * l + 1;
      for (let i = 0; i < size; i++) {
        for (let k = 0; k < size; k++) {
          let re = 0;
          let im = 0;
          let unitRe = 0;
          let unitIm = 0;
          for (let p = 0; p < size; p++) {
            const x = i * size + p;
            const y = p * size + k;
            re += a.re[x] * b.re[y] - a.im[x] * b.im[y];
            im += a.re[x] * b.im[y] + a.im[x] * b.re[y];
            // (A A^H)_ik = sum_p A_ip conj(A_kp).
            const z = k * size + p;
            unitRe += a.re[x] * a.re[z] + a.im[x] * a.im[z];
            unitIm += a.im[x] * a.re[z] - a.re[x] * a.im[z];
          }
          const e = i * size + k;
          worst = Math.max(worst, Math.abs(re - ab.re[e]), Math.abs(im - ab.im[e]),
            Math.abs(unitRe - (i === k ? 1 : 0)), Math.abs(unitIm));
        }
      }
    }
  }
  t.diagnostic(`homomorphism and unitarity max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `max error ${worst}`);

  // The opposite sign convention of the phases would break the homomorphism: check that this
  // test can tell them apart.
  const g = { alpha: 0.3, beta: 0.7, gamma: 1.1 };
  const rz = { alpha: 0.5, beta: 0, gamma: 0 };
  const composed = matrixToEuler(multiply(eulerToMatrix(rz), eulerToMatrix(g)));
  const d = wignerDMatrix(1, composed);
  const expected = wignerDMatrix(1, g);
  // D(Rz(a) g)_mn = e^{i m a} D(g)_mn, row m = 1 is index 2 * 3 + n + 1.
  const phaseRe = Math.cos(0.5);
  const phaseIm = Math.sin(0.5);
  const e = 2 * 3 + 2;
  assert.ok(Math.abs(d.re[e] - (phaseRe * expected.re[e] - phaseIm * expected.im[e])) < 1e-14);
  assert.ok(Math.abs(d.im[e] - (phaseRe * expected.im[e] + phaseIm * expected.re[e])) < 1e-14);
});

test('the b = 64 SOFT table is built in well under 2 seconds', (t) => {
  // CPU time of this process, so that other processes on the machine do not fail the test.
  const start = process.cpuUsage();
  const table = wignerDTable(64, gridBetas(64));
  const used = process.cpuUsage(start);
  const seconds = (used.user + used.system) / 1e6;
  assert.equal(table.length, so3CoefficientCount(64) * 128);
  t.diagnostic(`b = 64 table: ${seconds.toFixed(3)} s of CPU time`);
  assert.ok(seconds < 2, `took ${seconds.toFixed(2)} s`);
});
