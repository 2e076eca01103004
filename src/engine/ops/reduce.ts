import { result, type Tensor } from '../tensor.js';
import { broadcastTo, sumToShape } from './broadcast.js';
import { giveGrad, normaliseAxis } from './check.js';

/**
 * Sums and means over axes. Without `axes` they reduce everything to a scalar (shape []).
 */

function reducedShapes(x: Tensor, op: string, axes: number | readonly number[] | undefined):
  { kept: number[]; dropped: number[]; count: number } {
  const list = axes === undefined ? x.shape.map((_, i) => i)
    : (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normaliseAxis(op, a, x.rank));
  const set = new Set(list);
  const kept = x.shape.map((e, i) => (set.has(i) ? 1 : e));
  const dropped = x.shape.filter((_, i) => !set.has(i));
  const count = list.reduce((p, a) => p * x.shape[a], 1);
  return { kept, dropped, count };
}

/**
 * Sum over `axes` (all axes when omitted). With `keepDims` the reduced axes stay with extent 1.
 */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const { kept, dropped } = reducedShapes(x, 'sum', axes);
  const out = sumToShape(x.data, x.shape, kept);
  return result(out, keepDims ? kept : dropped, [x],
    (g) => giveGrad(x, broadcastTo(g, kept, x.shape)));
}

/**
 * Mean over `axes` (all axes when omitted). With `keepDims` the reduced axes stay with extent 1.
 */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const { kept, dropped, count } = reducedShapes(x, 'mean', axes);
  const out = sumToShape(x.data, x.shape, kept);
  const inv = 1 / Math.max(1, count);
  for (let i = 0; i < out.length; i++) out[i] *= inv;
  return result(out, keepDims ? kept : dropped, [x], (g) => {
    const gx = broadcastTo(g, kept, x.shape);
    for (let i = 0; i < gx.length; i++) gx[i] *= inv;
    giveGrad(x, gx);
  });
}
