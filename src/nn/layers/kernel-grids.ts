import { wignerDTable } from '../../harmonic/wigner.js';
import { so3CoefficientCount, so3CoefficientIndex } from '../../harmonic/indexing.js';

/**
 * Kernel grids of the S2CNN layers (transforms.md 4.1, s2cnn `s2_grid.py` / `so3_grid.py`) and the
 * tables that turn kernel weights on such a grid into kernel spectra.
 *
 * A kernel is a weighted sum of Dirac masses at the grid points. S2 grid points are tuples
 * (beta, alpha) in radians (colatitude, longitude); SO(3) grid points are ZYZ Euler angles
 * (beta, alpha, gamma). The tuple order is s2cnn's (beta first), not the order of its docstrings.
 */
export type S2KernelGrid = ReadonlyArray<readonly [beta: number, alpha: number]>;
export type So3KernelGrid = ReadonlyArray<readonly [beta: number, alpha: number, gamma: number]>;

/** Settings of an S2 near-identity grid: n_beta rings of n_alpha points around the north pole. */
export interface S2GridSettings {
  /** Colatitude of the outermost ring, radians. */
  maxBeta: number;
  nAlpha: number;
  nBeta: number;
}

/** Settings of an SO(3) near-identity grid: the S2 rings crossed with n_gamma spins. */
export interface So3GridSettings extends S2GridSettings {
  /** Spins pre_gamma run over linspace(-maxGamma, maxGamma, nGamma), radians. */
  maxGamma: number;
  nGamma: number;
}

/** s2cnn's defaults: 3 rings of 8 points up to pi/8 (24 points). */
export const S2_GRID_DEFAULTS: S2GridSettings = { maxBeta: Math.PI / 8, nAlpha: 8, nBeta: 3 };

/** s2cnn's defaults: 3 rings of 8 points up to pi/8, 8 spins over [-2pi, 2pi] (192 points). */
export const SO3_GRID_DEFAULTS: So3GridSettings = {
  maxBeta: Math.PI / 8, nAlpha: 8, nBeta: 3, maxGamma: 2 * Math.PI, nGamma: 8,
};

/** n equally spaced values from start to stop, both included (numpy's linspace). */
function linspace(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const values: number[] = [];
  for (let i = 0; i < n; i++) values.push(start + ((stop - start) * i) / (n - 1));
  return values;
}

function checkCounts(settings: S2GridSettings, label: string): void {
  for (const key of ['nAlpha', 'nBeta'] as const) {
    const value = settings[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${label}: ${key} must be a positive integer, got ${value}`);
    }
  }
}

/**
 * s2cnn's `s2_near_identity_grid`: beta_i = i maxBeta / nBeta for i = 1..nBeta (no centre tap at
 * beta = 0) and alpha_k = 2 pi k / nAlpha; points ordered beta-major as (beta, alpha).
 */
export function s2NearIdentityGrid(settings: Partial<S2GridSettings> = {}): S2KernelGrid {
  const s = { ...S2_GRID_DEFAULTS, ...settings };
  checkCounts(s, 's2NearIdentityGrid');
  const grid: Array<[number, number]> = [];
  for (let i = 1; i <= s.nBeta; i++) {
    const beta = (i * s.maxBeta) / s.nBeta;
    for (let k = 0; k < s.nAlpha; k++) grid.push([beta, (2 * Math.PI * k) / s.nAlpha]);
  }
  return grid;
}

/**
 * s2cnn's `so3_near_identity_grid`: the rings of `s2NearIdentityGrid`, and for each point every
 * pre_gamma of linspace(-maxGamma, maxGamma, nGamma) (both ends; with maxGamma = 2 pi the two ends
 * are the same rotation), with gamma = pre_gamma - alpha so that
 * R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(-alpha) Rz(pre_gamma): a tilt by beta towards
 * azimuth alpha after a spin. Points are ordered (beta, alpha, pre_gamma)-major and stored as
 * (beta, alpha, gamma).
 */
export function so3NearIdentityGrid(settings: Partial<So3GridSettings> = {}): So3KernelGrid {
  // n_gamma defaults to n_alpha, as in s2cnn.
  const nGamma = settings.nGamma ?? settings.nAlpha ?? SO3_GRID_DEFAULTS.nGamma;
  const s = { ...SO3_GRID_DEFAULTS, ...settings, nGamma };
  checkCounts(s, 'so3NearIdentityGrid');
  if (!Number.isInteger(s.nGamma) || s.nGamma < 1) {
    throw new RangeError(`so3NearIdentityGrid: nGamma must be a positive integer, got ${s.nGamma}`);
  }
  const preGammas = linspace(-s.maxGamma, s.maxGamma, s.nGamma);
  const grid: Array<[number, number, number]> = [];
  for (let i = 1; i <= s.nBeta; i++) {
    const beta = (i * s.maxBeta) / s.nBeta;
    for (let k = 0; k < s.nAlpha; k++) {
      const alpha = (2 * Math.PI * k) / s.nAlpha;
      for (const preGamma of preGammas) grid.push([beta, alpha, preGamma - alpha]);
    }
  }
  return grid;
}

/** s2cnn's `s2_equatorial_grid`: nBeta rings in linspace(pi/2 - maxBeta, pi/2 + maxBeta). */
export function s2EquatorialGrid(maxBeta = 0, nAlpha = 32, nBeta = 1): S2KernelGrid {
  const grid: Array<[number, number]> = [];
  for (const beta of linspace(Math.PI / 2 - maxBeta, Math.PI / 2 + maxBeta, nBeta)) {
    for (let k = 0; k < nAlpha; k++) grid.push([beta, (2 * Math.PI * k) / nAlpha]);
  }
  return grid;
}

/** The one-point grid {identity rotation} (s2cnn's SO3Shortcut kernel). */
export function so3IdentityGrid(): So3KernelGrid {
  return [[0, 0, 0]];
}

/** Planar complex array. */
export interface PlanarComplex {
  re: Float32Array;
  im: Float32Array;
}

/**
 * Wigner small-d at the distinct betas of a grid (its rings, in order of first appearance):
 * `table` [so3CoefficientIndex(l, n, p)][ring] = d^l_np(beta_ring) for l < degrees, `rings` the
 * number of distinct betas and `ringOf[i]` the ring of point i.
 */
export function wignerAtGridBetas(
  degrees: number, betas: readonly number[],
): { table: Float64Array; rings: number; ringOf: Int32Array } {
  const distinct: number[] = [];
  const ringOf = new Int32Array(betas.length);
  betas.forEach((beta, i) => {
    let ring = distinct.indexOf(beta);
    if (ring < 0) {
      ring = distinct.length;
      distinct.push(beta);
    }
    ringOf[i] = ring;
  });
  return { table: wignerDTable(degrees, distinct), rings: distinct.length, ringOf };
}

/**
 * Kernel table of an S2 grid for degrees l < L: T[(l, n)][i] = e^{-i n alpha_i} d^l_{n0}(beta_i)
 * = conj(D^l_{n0}(alpha_i, beta_i, 0)), rows indexed l^2 + n + l (L^2 rows), |grid| columns.
 * Kernel spectrum of weights psi: y^l_n = sum_i psi_i T[(l, n)][i] (transforms.md 4.2 step 2).
 */
export function s2KernelTable(grid: S2KernelGrid, degrees: number): PlanarComplex {
  const size = grid.length;
  const { table, rings, ringOf } = wignerAtGridBetas(degrees, grid.map((point) => point[0]));
  const re = new Float32Array(degrees * degrees * size);
  const im = new Float32Array(re.length);
  for (let l = 0; l < degrees; l++) {
    for (let n = -l; n <= l; n++) {
      const dRow = so3CoefficientIndex(l, n, 0) * rings;
      writeS2KernelRow(grid, n, table, dRow, ringOf, re, im, (l * l + n + l) * size);
    }
  }
  return { re, im };
}

/**
 * Row (l, n) of an S2 kernel table at `row` of re, im: e^{-i n alpha_i} d^l_{n0}(beta_i) for
 * every grid point i, d^l_{n0} of ring r at wigner[dRow + r] (see wignerAtGridBetas).
 */
function writeS2KernelRow(
  grid: S2KernelGrid, n: number, wigner: Float64Array, dRow: number, ringOf: Int32Array,
  re: Float32Array, im: Float32Array, row: number,
): void {
  for (let i = 0; i < grid.length; i++) {
    const d = wigner[dRow + ringOf[i]];
    const phase = -n * grid[i][1];
    re[row + i] = d * Math.cos(phase);
    im[row + i] = d * Math.sin(phase);
  }
}

/**
 * Kernel table of an SO(3) grid for degrees l < L: T[(l, n, p)][i] = conj(D^l_np(g_i))
 * = e^{-i n alpha_i} d^l_np(beta_i) e^{-i p gamma_i}, rows in SO(3) coefficient order
 * (so3CoefficientCount(L) rows), |grid| columns. Kernel spectrum:
 * y^l_np = sum_i psi_i T[(l,n,p)][i] (transforms.md 4.3 step 2).
 */
export function so3KernelTable(grid: So3KernelGrid, degrees: number): PlanarComplex {
  const size = grid.length;
  const { table, rings, ringOf } = wignerAtGridBetas(degrees, grid.map((point) => point[0]));
  const re = new Float32Array(so3CoefficientCount(degrees) * size);
  const im = new Float32Array(re.length);
  for (let l = 0; l < degrees; l++) {
    for (let n = -l; n <= l; n++) {
      for (let p = -l; p <= l; p++) {
        const coefficient = so3CoefficientIndex(l, n, p);
        const row = coefficient * size;
        for (let i = 0; i < size; i++) {
          const d = table[coefficient * rings + ringOf[i]];
          const phase = -n * grid[i][1] - p * grid[i][2];
          re[row + i] = d * Math.cos(phase);
          im[row + i] = d * Math.sin(phase);
        }
      }
    }
  }
  return { re, im };
}

/**
 * Number of rows (l, n, p) with n >= 0 of SO(3) kernel tables for degrees l < L:
 * sum_{l<L} (l+1)(2l+1). Degree l's rows start at so3HalfRowCount(l), ordered n-major.
 */
export function so3HalfRowCount(degrees: number): number {
  let rows = 0;
  for (let l = 0; l < degrees; l++) rows += (l + 1) * (2 * l + 1);
  return rows;
}

/**
 * The SO(3) kernel table in factored form. conj(D^l_np(g_i)) = d^l_np(beta_i) e^{-i (n alpha_i +
 * p gamma_i)}, and a near-identity grid has only a few distinct betas (its rings), so the kernel
 * spectrum of weights psi is
 *   y^l_np = sum_r d^l_np(beta_r) E_r[n, p],
 *   E_r[n, p] = sum_{i in ring r} psi_i e^{-i (n alpha_i + p gamma_i)},
 * where E does not depend on the degree: rings x (2L-1) L phase sums instead of a product with
 * the whole table (which has about (4/3) L^3 rows).
 */
export interface So3RingTable {
  readonly degrees: number;
  /** Number of distinct betas. */
  readonly rings: number;
  /** Grid point indices sorted by ring (stable). */
  readonly order: Int32Array;
  /** Ring r holds the sorted points ringStart[r] .. ringStart[r + 1] - 1. */
  readonly ringStart: Int32Array;
  /**
   * e^{-i (n alpha_i + p gamma_i)} at row n (2L-1) + p + L-1 (0 <= n < L, |p| < L) and column j
   * for the sorted point i = order[j]; |grid| columns.
   */
  readonly phase: PlanarComplex;
  /** d^l_np(beta_r) at [so3CoefficientIndex(l, n, p) rings + r]. */
  readonly wigner: Float64Array;
}

/** The factored SO(3) kernel table of a grid for degrees l < L (see So3RingTable). */
export function so3RingTable(grid: So3KernelGrid, degrees: number): So3RingTable {
  const size = grid.length;
  const { table, rings, ringOf } = wignerAtGridBetas(degrees, grid.map((point) => point[0]));
  const ringStart = new Int32Array(rings + 1);
  for (let i = 0; i < size; i++) ringStart[ringOf[i] + 1]++;
  for (let r = 0; r < rings; r++) ringStart[r + 1] += ringStart[r];
  const order = new Int32Array(size);
  const next = ringStart.slice(0, rings);
  for (let i = 0; i < size; i++) order[next[ringOf[i]]++] = i;

  const orders = 2 * degrees - 1;
  const re = new Float32Array(degrees * orders * size);
  const im = new Float32Array(re.length);
  for (let n = 0; n < degrees; n++) {
    for (let p = -(degrees - 1); p < degrees; p++) {
      const row = (n * orders + p + degrees - 1) * size;
      for (let j = 0; j < size; j++) {
        const point = grid[order[j]];
        const phase = -n * point[1] - p * point[2];
        re[row + j] = Math.cos(phase);
        im[row + j] = Math.sin(phase);
      }
    }
  }
  return { degrees, rings, order, ringStart, phase: { re, im }, wigner: table };
}

/**
 * The rows n >= 0 of `s2KernelTable`: T[(l, n)][i] = e^{-i n alpha_i} d^l_{n0}(beta_i) for
 * 0 <= n <= l, row l (l+1) / 2 + n (L (L+1) / 2 rows). The S2 kernel spectrum of real weights has
 * y^l_{-n} = (-1)^n conj(y^l_n), so these rows determine it.
 */
export function s2HalfKernelTable(grid: S2KernelGrid, degrees: number): PlanarComplex {
  const size = grid.length;
  const { table, rings, ringOf } = wignerAtGridBetas(degrees, grid.map((point) => point[0]));
  const re = new Float32Array(((degrees * (degrees + 1)) / 2) * size);
  const im = new Float32Array(re.length);
  for (let l = 0; l < degrees; l++) {
    for (let n = 0; n <= l; n++) {
      const dRow = so3CoefficientIndex(l, n, 0) * rings;
      writeS2KernelRow(grid, n, table, dRow, ringOf, re, im, ((l * (l + 1)) / 2 + n) * size);
    }
  }
  return { re, im };
}

/**
 * Kernel table of the SO3ToS2 layer (paper.md 4.2) for degrees l < L:
 * K[(l, p)][i] = sum_{n=-l..l} conj(D^l_np(g_i)), rows l^2 + p + l (L^2 rows), |grid| columns, so
 * that kappa^l_p = sum_i psi_i K[(l, p)][i] = sum_n y^l_np is the kernel spectrum summed over its
 * left index.
 */
export function so3ToS2KernelTable(grid: So3KernelGrid, degrees: number): PlanarComplex {
  const size = grid.length;
  const { table, rings, ringOf } = wignerAtGridBetas(degrees, grid.map((point) => point[0]));
  const re = new Float32Array(degrees * degrees * size);
  const im = new Float32Array(re.length);
  for (let l = 0; l < degrees; l++) {
    for (let p = -l; p <= l; p++) {
      const row = (l * l + p + l) * size;
      for (let i = 0; i < size; i++) {
        let sumRe = 0;
        let sumIm = 0;
        for (let n = -l; n <= l; n++) {
          const d = table[so3CoefficientIndex(l, n, p) * rings + ringOf[i]];
          const phase = -n * grid[i][1] - p * grid[i][2];
          sumRe += d * Math.cos(phase);
          sumIm += d * Math.sin(phase);
        }
        re[row + i] = sumRe;
        im[row + i] = sumIm;
      }
    }
  }
  return { re, im };
}
