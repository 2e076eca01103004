import { Tensor } from '../engine/tensor.js';
import { UserError } from '../util/errors.js';

/**
 * Base class of layers and models. A module owns named parameters (trainable tensors), named
 * buffers (state that is saved but not trained, such as batch-norm running statistics) and child
 * modules. `training` switches layers such as batch normalisation between batch and running
 * statistics.
 */
export abstract class Module {
  training = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Float32Array>();
  private readonly children = new Map<string, Module>();

  abstract forward(input: Tensor): Tensor;

  protected registerParameter(name: string, tensor: Tensor): Tensor {
    tensor.requiresGrad = true;
    this.ownParameters.set(name, tensor);
    return tensor;
  }

  protected registerBuffer(name: string, values: Float32Array): Float32Array {
    this.ownBuffers.set(name, values);
    return values;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  /** All parameters, depth first, named by their path ("encoder.0.weight"). */
  namedParameters(prefix = ''): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [name, tensor] of this.ownParameters) out.push([prefix + name, tensor]);
    for (const [name, child] of this.children) {
      out.push(...child.namedParameters(`${prefix}${name}.`));
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, tensor]) => tensor);
  }

  /** All buffers, named like parameters. */
  namedBuffers(prefix = ''): Array<[string, Float32Array]> {
    const out: Array<[string, Float32Array]> = [];
    for (const [name, values] of this.ownBuffers) out.push([prefix + name, values]);
    for (const [name, child] of this.children) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((sum, tensor) => sum + tensor.size, 0);
  }

  /** Sets training (true) or evaluation (false) mode here and in every child. */
  setTraining(training: boolean): this {
    this.training = training;
    for (const child of this.children.values()) child.setTraining(training);
    return this;
  }

  /** Parameters and buffers by name, for checkpoints (values are copied). */
  stateDict(): Map<string, Float32Array> {
    const state = new Map<string, Float32Array>();
    for (const [name, tensor] of this.namedParameters()) {
      state.set(name, Float32Array.from(tensor.data));
    }
    for (const [name, values] of this.namedBuffers()) state.set(name, Float32Array.from(values));
    return state;
  }

  /**
   * Loads values saved by stateDict; every name and size must match, and every value must be
   * finite. A mismatch is a UserError: it means a checkpoint of another model or a damaged file.
   */
  loadStateDict(state: Map<string, Float32Array>): void {
    const targets = new Map<string, Float32Array>();
    for (const [name, tensor] of this.namedParameters()) targets.set(name, tensor.data);
    for (const [name, values] of this.namedBuffers()) targets.set(name, values);
    for (const [name, target] of targets) {
      const source = state.get(name);
      if (source === undefined) {
        throw new UserError(
          `checkpoint has no entry "${name}"; expected a checkpoint of this model`,
        );
      }
      if (source.length !== target.length) {
        throw new UserError(`checkpoint entry "${name}" has ${source.length} values, expected `
          + `${target.length}: the checkpoint belongs to another model or configuration`);
      }
      const bad = source.findIndex((value) => !Number.isFinite(value));
      if (bad >= 0) {
        throw new UserError(`checkpoint entry "${name}" holds a non-finite value (${source[bad]}) `
          + `at index ${bad}; expected finite weights`);
      }
      target.set(source);
    }
    for (const name of state.keys()) {
      if (!targets.has(name)) {
        throw new UserError(`checkpoint entry "${name}" is not in this model; expected a `
          + 'checkpoint of the same model');
      }
    }
  }
}

/** Applies modules one after the other. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, index) => this.registerModule(String(index), layer));
  }

  forward(input: Tensor): Tensor {
    let x = input;
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }
}
