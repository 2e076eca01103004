"""The planar segmentation CNN baseline "218k" (paper.md 4.4) in PyTorch.

An encoder-decoder on the 100 x 100 equirectangular image with valid convolutions and residual
shortcuts ("--use_skips"): every encoder step but the first gets MaxPool(k, s) + 1x1 conv, every
decoder step but the last a 1x1 conv + nearest upsampling, added before the ReLU. With the skips
it has 218,144 parameters (206,698 without).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SegmentationCNN(nn.Module):
    def __init__(self, channels=(13, 15, 22, 31, 141), kernels=(5, 3, 9, 7, 3),
                 strides=(1, 1, 1, 1, 2), size=100, classes=11):
        super().__init__()
        widths = (1,) + tuple(channels)
        sizes = [size]
        for k, s in zip(kernels, strides):
            sizes.append((sizes[-1] - k) // s + 1)
        self.sizes = sizes

        self.encoder = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], kernels[i], strides[i])
            for i in range(len(kernels)))
        self.encoder_skips = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 1) for i in range(1, len(kernels)))
        self.pools = [(kernels[i], strides[i]) for i in range(1, len(kernels))]

        decoder = []
        for i in reversed(range(len(kernels))):
            # output_padding makes each decoder map match the encoder map it mirrors
            produced = (sizes[i + 1] - 1) * strides[i] + kernels[i]
            out_width = classes if i == 0 else widths[i]
            decoder.append(nn.ConvTranspose2d(widths[i + 1], out_width, kernels[i], strides[i],
                                              output_padding=sizes[i] - produced))
        self.decoder = nn.ModuleList(decoder)
        self.decoder_skips = nn.ModuleList(
            nn.Conv2d(widths[i + 1], widths[i], 1) for i in reversed(range(1, len(kernels))))

    def forward(self, x):
        x = F.relu(self.encoder[0](x))
        for conv, skip, (k, s) in zip(self.encoder[1:], self.encoder_skips, self.pools):
            x = F.relu(conv(x) + skip(F.max_pool2d(x, k, s)))
        for conv, skip in zip(self.decoder[:-1], self.decoder_skips):
            y = conv(x)
            x = F.relu(y + F.interpolate(skip(x), size=y.shape[-2:], mode='nearest'))
        return self.decoder[-1](x)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())
