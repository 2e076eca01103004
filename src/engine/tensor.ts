/**
 * Tensors and reverse-mode automatic differentiation.
 *
 * A Tensor is a row-major float32 array with a shape. Operations that take tensors which require
 * gradients record, on their result, the parents and a closure that maps the result's gradient to
 * the parents' gradients (a vector-Jacobian product). `backward(loss)` runs those closures in
 * reverse topological order. Complex quantities (spectra) never appear as tensors: layers that
 * work in the spectral domain are single operations with hand-written adjoints.
 */
export type Shape = readonly number[];

/**
 * A vector-Jacobian product. `outputGrad` belongs to the operation: `backward` drops it as soon
 * as the function returns, so the function may overwrite it or hand it to a parent without a
 * copy (ops/check.ts giveGrad), which saves an array of the output's size per operation.
 */
export type BackwardFn = (outputGrad: Float32Array) => void;

let gradEnabled = true;

export class Tensor {
  readonly shape: Shape;
  readonly size: number;
  data: Float32Array;
  grad: Float32Array | null = null;
  requiresGrad: boolean;
  readonly parents: readonly Tensor[];
  private backwardFn: BackwardFn | null;

  constructor(
    data: Float32Array, shape: Shape, requiresGrad = false,
    parents: readonly Tensor[] = [], backwardFn: BackwardFn | null = null,
  ) {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new RangeError(`tensor data has ${data.length} values, shape [${shape}] needs ${size}`);
    }
    this.shape = [...shape];
    this.size = size;
    this.data = data;
    this.requiresGrad = requiresGrad;
    this.parents = parents;
    this.backwardFn = backwardFn;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Adds `g` into this tensor's gradient, allocating it on first use. */
  accumulateGrad(g: Float32Array): void {
    if (!this.requiresGrad) return;
    if (this.grad === null) {
      this.grad = Float32Array.from(g);
      return;
    }
    const grad = this.grad;
    for (let i = 0; i < grad.length; i++) grad[i] += g[i];
  }

  /** Runs this node's vector-Jacobian product (used by `backward`). */
  runBackward(): void {
    if (this.backwardFn !== null && this.grad !== null) this.backwardFn(this.grad);
  }

  /** Drops the recorded graph so that intermediate buffers can be collected. */
  detachGraph(): void {
    this.backwardFn = null;
    (this as { parents: readonly Tensor[] }).parents = [];
  }

  /** A tensor sharing this one's values, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  toString(): string {
    return `Tensor[${this.shape.join('x')}]`;
  }
}

export function shapeSize(shape: Shape): number {
  let size = 1;
  for (const extent of shape) {
    if (!Number.isInteger(extent) || extent < 0) throw new RangeError(`bad shape [${shape}]`);
    size *= extent;
  }
  return size;
}

export function zeros(shape: Shape): Tensor {
  return new Tensor(new Float32Array(shapeSize(shape)), shape);
}

export function fromArray(values: ArrayLike<number>, shape: Shape): Tensor {
  return new Tensor(Float32Array.from(values), shape);
}

/** A trainable tensor (leaf that requires gradients). */
export function parameter(values: Float32Array, shape: Shape): Tensor {
  return new Tensor(values, shape, true);
}

/** Whether operations currently record the graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradients (evaluation, inference). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * The result of an operation: records `parents` and `backwardFn` when gradients are enabled and
 * any parent requires them; otherwise a plain tensor.
 */
export function result(data: Float32Array, shape: Shape, parents: readonly Tensor[],
  backwardFn: BackwardFn): Tensor {
  const needsGrad = gradEnabled && parents.some((p) => p.requiresGrad);
  if (!needsGrad) return new Tensor(data, shape);
  return new Tensor(data, shape, true, parents, backwardFn);
}

/**
 * Reverse-mode sweep from a scalar (or from `seed` for a non-scalar output). Gradients of leaves
 * accumulate in `.grad`; the graph below `output` is released afterwards.
 */
export function backward(output: Tensor, seed?: Float32Array): void {
  if (seed === undefined && output.size !== 1) {
    throw new RangeError(`backward needs a scalar or a seed gradient, got ${output}`);
  }
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<[Tensor, number]> = [[output, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, next] = top;
    if (next === 0) {
      if (visited.has(node)) {
        stack.pop();
        continue;
      }
      visited.add(node);
    }
    if (next < node.parents.length) {
      top[1] = next + 1;
      const parent = node.parents[next];
      if (parent.requiresGrad && !visited.has(parent)) stack.push([parent, 0]);
    } else {
      stack.pop();
      order.push(node);
    }
  }

  output.accumulateGrad(seed ?? Float32Array.of(1));
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i];
    node.runBackward();
    if (node.parents.length > 0) {
      node.detachGraph();
      node.grad = null;
    }
  }
}
