import { Tensor } from '../../engine/tensor.js';
import { Random } from '../../util/random.js';
import { Module } from '../module.js';
import { so3IdentityGrid } from './kernel-grids.js';
import { SO3Convolution } from './so3-conv.js';

/**
 * Residual shortcut between SO(3) feature maps (s2cnn `SO3Shortcut`, transforms.md 4.3): the
 * identity when channels and bandwidth are unchanged, otherwise an SO3Convolution whose kernel
 * grid is the single identity rotation (a channel mixer with a bandwidth change).
 * Input [N, C_in, (2b_in)^3] -> [N, C_out, (2b_out)^3].
 */
export class SO3Shortcut extends Module {
  readonly convolution: SO3Convolution | null;

  constructor(
    inChannels: number, outChannels: number, bandwidthIn: number, bandwidthOut: number,
    random: Random,
  ) {
    super();
    const identity = inChannels === outChannels && bandwidthIn === bandwidthOut;
    this.convolution = identity ? null : this.registerModule('convolution',
      new SO3Convolution(inChannels, outChannels, bandwidthIn, bandwidthOut, so3IdentityGrid(),
        random));
  }

  forward(input: Tensor): Tensor {
    return this.convolution === null ? input : this.convolution.forward(input);
  }
}
