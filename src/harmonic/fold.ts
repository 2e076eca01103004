import type { FloatArray } from '../engine/kernels/index.js';

/**
 * Even/odd folding of periodic samples on the 2b equispaced angles theta_i = pi i / b, which
 * halves the cost of a DFT done as a matrix product: cos(f theta_{2b-i}) = cos(f theta_i) and
 * sin(f theta_{2b-i}) = -sin(f theta_i), so
 *
 *   sum_i x_i cos(f theta_i) = sum_{i=0..b} u_i cos(f theta_i),      u_0 = x_0, u_b = x_b,
 *   sum_i x_i sin(f theta_i) = sum_{i=1..b-1} v_i sin(f theta_i),    u_i = x_i + x_{2b-i},
 *                                                                    v_i = x_i - x_{2b-i}.
 *
 * The even parts u (b+1 values) and odd parts v (b-1 values) of a row go to separate arrays, so
 * that the products read and write contiguous blocks. Unfolding is the transpose, for synthesis:
 * from cos sums C_i (i = 0..b) and sin sums S_i (i = 1..b-1), y_i = C_i - S_i and
 * y_{2b-i} = C_i + S_i (y_0 = C_0, y_b = C_b), which is Re sum_f c_f e^{i f theta_i} when C comes
 * from Re c and S from Im c.
 *
 * SO(3) grids fold in alpha and gamma at once, into four arrays (FoldedBlocks), so that every
 * product of the transforms reads and writes whole contiguous arrays.
 */

/** Folds one row of 2b values at src[s..]: even part to even[e..], odd part to odd[o..]. */
function foldRow(src: FloatArray, s: number, even: FloatArray, e: number,
  odd: FloatArray, o: number, b: number): void {
  const nb = 2 * b;
  even[e] = src[s];
  even[e + b] = src[s + b];
  for (let i = 1; i < b; i++) {
    const a = src[s + i];
    const c = src[s + nb - i];
    even[e + i] = a + c;
    odd[o + i - 1] = a - c;
  }
}

/** Folds `rows` consecutive rows of 2b values; row r goes to even row r and odd row r. */
export function foldRows<T extends FloatArray>(
  src: T, srcOffset: number, rows: number, b: number, even: T, odd: T,
): void {
  for (let r = 0; r < rows; r++) {
    foldRow(src, srcOffset + 2 * b * r, even, r * (b + 1), odd, r * (b - 1), b);
  }
}

/**
 * The four parts of `rings` consecutive 2b x 2b blocks [alpha_k][gamma_p] folded along both axes,
 * each array angle-major (row k of block t at row k rings + t), so that a DFT over alpha is one
 * matrix product over all blocks at once:
 *
 *   evenEven[k][t][0..b], evenOdd[k][t][0..b-2]   alpha-even rows k = 0..b (u in alpha),
 *   oddEven[q-1][t][0..b], oddOdd[q-1][t][0..b-2] alpha-odd rows q = 1..b-1 (v in alpha),
 *
 * with the gamma-even part (b+1 values) in the *Even arrays and the gamma-odd part (b-1 values)
 * in the *Odd arrays.
 */
export interface FoldedBlocks<T extends FloatArray> {
  evenEven: T;
  evenOdd: T;
  oddEven: T;
  oddOdd: T;
}

/**
 * Blocks per tile of foldBlocks and unfoldBlocks: a tile of 2b x 2b blocks is 64 kB in float32
 * at b = 8 and 256 kB at b = 16, so it stays in the second-level cache.
 */
const FOLD_TILE = 64;

/** Folds `rings` blocks of src (from srcOffset) into the four parts (see FoldedBlocks). */
export function foldBlocks<T extends FloatArray>(
  src: T, srcOffset: number, rings: number, b: number, out: FoldedBlocks<T>,
): void {
  const nb = 2 * b;
  const e = b + 1;
  const o = b - 1;
  const { evenEven, evenOdd, oddEven, oddOdd } = out;
  // In tiles of blocks, angle rows outer, as in unfoldBlocks: the targets are written in a few
  // long runs while the tile's source blocks stay in cache.
  for (let t0 = 0; t0 < rings; t0 += FOLD_TILE) {
    const t1 = Math.min(rings, t0 + FOLD_TILE);
    for (let t = t0; t < t1; t++) {
      const block = srcOffset + t * nb * nb;
      foldRow(src, block, evenEven, t * e, evenOdd, t * o, b);
      const last = b * rings + t;
      foldRow(src, block + b * nb, evenEven, last * e, evenOdd, last * o, b);
    }
    for (let q = 1; q < b; q++) {
      for (let t = t0; t < t1; t++) {
        // Rows q and 2b - q give the alpha-even row q and the alpha-odd row q; each is then
        // folded in gamma. Written out to read every sample once.
        const block = srcOffset + t * nb * nb;
        const upper = block + q * nb;
        const lower = block + (nb - q) * nb;
        const evenRow = q * rings + t;
        const oddRow = (q - 1) * rings + t;
        const plusE = evenRow * e;
        const plusO = evenRow * o;
        const minusE = oddRow * e;
        const minusO = oddRow * o;
        evenEven[plusE] = src[upper] + src[lower];
        oddEven[minusE] = src[upper] - src[lower];
        evenEven[plusE + b] = src[upper + b] + src[lower + b];
        oddEven[minusE + b] = src[upper + b] - src[lower + b];
        for (let i = 1; i < b; i++) {
          const a = src[upper + i];
          const c = src[upper + nb - i];
          const d = src[lower + i];
          const f = src[lower + nb - i];
          evenEven[plusE + i] = a + d + (c + f);
          evenOdd[plusO + i - 1] = a + d - (c + f);
          oddEven[minusE + i] = a - d + (c - f);
          oddOdd[minusO + i - 1] = a - d - (c - f);
        }
      }
    }
  }
}

/** y = unfold(C, S) of one row (see above), times `scale`, to dst[d..]. */
function unfoldRow(cos: FloatArray, c: number, sin: FloatArray, s: number,
  dst: FloatArray, d: number, b: number, scale: number): void {
  const nb = 2 * b;
  dst[d] = scale * cos[c];
  dst[d + b] = scale * cos[c + b];
  for (let i = 1; i < b; i++) {
    const x = cos[c + i];
    const y = sin[s + i - 1];
    dst[d + i] = scale * (x - y);
    dst[d + nb - i] = scale * (x + y);
  }
}

/**
 * Unfolds `rows` rows of cos sums (b+1 wide) and sin sums (b-1 wide) into rows of 2b samples at
 * dst[dstOffset + 2b r ..], multiplying row r by scales(r).
 */
export function unfoldRows<T extends FloatArray>(
  cos: T, sin: T, rows: number, b: number, dst: T, dstOffset: number,
  scales: (row: number) => number,
): void {
  for (let r = 0; r < rows; r++) {
    unfoldRow(cos, r * (b + 1), sin, r * (b - 1), dst, dstOffset + 2 * b * r, b, scales(r));
  }
}

/**
 * The transpose of foldBlocks for synthesis. From the cos sums (b+1 wide) and sin sums (b-1 wide)
 * over gamma of the alpha-even rows (`even`: rows [k][t], k = 0..b) and of the alpha-odd rows
 * (`odd`: rows [q-1][t], q = 1..b-1), angle-major as in FoldedBlocks, builds the 2b x 2b
 * blocks t of samples at dst[dstOffset + t (2b)^2 ..], block t times scales(t): in alpha,
 * y_q = C_q - S_q and y_{2b-q} = C_q + S_q with C from the even rows and S from the odd rows;
 * in gamma likewise.
 */
export function unfoldBlocks<T extends FloatArray>(
  even: { cos: T; sin: T }, odd: { cos: T; sin: T }, rings: number, b: number, dst: T,
  dstOffset: number, scales: (block: number) => number,
): void {
  const nb = 2 * b;
  const e = b + 1;
  const o = b - 1;
  const { cos: cosEven, sin: sinEven } = even;
  const { cos: cosOdd, sin: sinOdd } = odd;
  // In tiles of blocks, angle rows outer: the sources are then read in a few long runs rather
  // than as 4 (b - 1) interleaved streams, while the tile's target blocks stay in cache.
  for (let t0 = 0; t0 < rings; t0 += FOLD_TILE) {
    const t1 = Math.min(rings, t0 + FOLD_TILE);
    for (let t = t0; t < t1; t++) {
      const block = dstOffset + t * nb * nb;
      const scale = scales(t);
      const last = b * rings + t;
      unfoldRow(cosEven, t * e, sinEven, t * o, dst, block, b, scale);
      unfoldRow(cosEven, last * e, sinEven, last * o, dst, block + b * nb, b, scale);
    }
    for (let q = 1; q < b; q++) {
      for (let t = t0; t < t1; t++) {
        const block = dstOffset + t * nb * nb;
        const scale = scales(t);
        const evenRow = q * rings + t;
        const oddRow = (q - 1) * rings + t;
        const c1 = evenRow * e;
        const c2 = oddRow * e;
        const s1 = evenRow * o;
        const s2 = oddRow * o;
        const upper = block + q * nb;
        const lower = block + (nb - q) * nb;
        dst[upper] = scale * (cosEven[c1] - cosOdd[c2]);
        dst[lower] = scale * (cosEven[c1] + cosOdd[c2]);
        dst[upper + b] = scale * (cosEven[c1 + b] - cosOdd[c2 + b]);
        dst[lower + b] = scale * (cosEven[c1 + b] + cosOdd[c2 + b]);
        for (let i = 1; i < b; i++) {
          const x1 = cosEven[c1 + i];
          const x2 = cosOdd[c2 + i];
          const y1 = sinEven[s1 + i - 1];
          const y2 = sinOdd[s2 + i - 1];
          const cosMinus = x1 - x2;
          const sinMinus = y1 - y2;
          const cosPlus = x1 + x2;
          const sinPlus = y1 + y2;
          dst[upper + i] = scale * (cosMinus - sinMinus);
          dst[upper + nb - i] = scale * (cosMinus + sinMinus);
          dst[lower + i] = scale * (cosPlus - sinPlus);
          dst[lower + nb - i] = scale * (cosPlus + sinPlus);
        }
      }
    }
  }
}
