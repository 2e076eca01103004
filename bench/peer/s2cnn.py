"""S2CNN layers and models in PyTorch (torch.fft + matrix products), the benchmark peer.

Our own implementation of the s2cnn layers described in shared/reference/transforms.md sections
2 and 4 and paper.md section 4, in float32 on the CPU; gradients come from autograd.

Spectra are kept dense so that each transform is one batched matrix product over the orders
with the degree l as the row index:
  S2 spectrum         [2L-1 (m), L (l), S]            complex, zero where l < |m|
  SO(3) half spectrum [2L-1 (m), L (n >= 0), L (l), S]  complex, zero where l < max(|m|, n)
  SO(3) full spectrum [2L-1 (m), 2L-1 (n), L (l), S]
with S = batch * channels signals. Grids are [S, 2b, 2b] ([beta, alpha]) and
[S, 2b, 2b, 2b] ([beta, alpha, gamma]). SO(3) maps are real, so their spectra satisfy
F^l_{-m,-n} = (-1)^{m-n} conj(F^l_mn) (transforms.md 2.2), and the SO(3) convolutions preserve
this: the transforms compute and consume only the n >= 0 half (real FFTs over gamma, as s2cnn's
real-input and real-output kernels do), and the full spectrum is rebuilt from it only where a
spectral product needs every n. The spectral products (s2_mm, so3_mm) run per degree l as
complex matrix products, as in s2cnn.
"""

import functools
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sphere import (grid_betas, s2_near_identity_grid, s2_weights, so3_near_identity_grid,
                    so3_weights, wigner_d_table)


@functools.lru_cache(maxsize=None)
def _d_table(L, b):
    """d^l_mn(beta_j) on the SOFT rings of bandwidth b, float64 [L, M, M, 2b]."""
    return wigner_d_table(L, grid_betas(b))


def _bins(L, size):
    """FFT bins of the orders -(L-1)..L-1 in a transform of length `size`."""
    return torch.arange(-(L - 1), L) % size


@functools.lru_cache(maxsize=None)
def s2_forward_table(b, L):
    """[M, L, J]: (2b q_j) d^l_{m0}(beta_j), the S2 analysis weights."""
    d = _d_table(L, b)[:, :, L - 1, :]                          # [L, M, J]
    weighted = d * s2_weights(b)[None, None, :]
    return torch.from_numpy(weighted.transpose(1, 0, 2).astype(np.float32)).contiguous()


@functools.lru_cache(maxsize=None)
def s2_inverse_table(L, b):
    """[M, J, L]: (2l+1) d^l_{m0}(beta_j), the S2 synthesis weights."""
    d = _d_table(L, b)[:, :, L - 1, :]                          # [L, M, J]
    scaled = d * (2 * np.arange(L) + 1)[:, None, None]
    return torch.from_numpy(scaled.transpose(1, 2, 0).astype(np.float32)).contiguous()


@functools.lru_cache(maxsize=None)
def so3_forward_table(b, L):
    """[M*L, L, J]: q_j d^l_mn(beta_j) for n >= 0, the SO(3) analysis weights."""
    M = 2 * L - 1
    weighted = _d_table(L, b)[:, :, L - 1:] * so3_weights(b)[None, None, None, :]
    table = weighted.transpose(1, 2, 0, 3).reshape(M * L, L, 2 * b)
    return torch.from_numpy(table.astype(np.float32)).contiguous()


@functools.lru_cache(maxsize=None)
def so3_inverse_table(L, b):
    """[M*L, J, L]: (2l+1) d^l_mn(beta_j) for n >= 0, the SO(3) synthesis weights."""
    M = 2 * L - 1
    scaled = _d_table(L, b)[:, :, L - 1:] * (2 * np.arange(L) + 1)[:, None, None, None]
    table = scaled.transpose(1, 2, 3, 0).reshape(M * L, 2 * b, L)
    return torch.from_numpy(table.astype(np.float32)).contiguous()


def _to_real_columns(z):
    """Complex [..., S] -> real [..., 2S] (re, im interleaved), for products with real tables."""
    return torch.view_as_real(z).flatten(-2)


def _from_real_columns(x):
    """Real [..., 2S] -> complex [..., S]."""
    return torch.view_as_complex(x.unflatten(-1, (-1, 2)).contiguous())


def _full_orders(half, L):
    """Orders -(L-1)..L-1 along the last axis from the half spectrum (orders 0..) of a real FFT
    over that axis, using X(-m) = conj(X(m)) for real signals."""
    positive = half.narrow(-1, 0, L)
    negative = half.narrow(-1, 1, L - 1).flip(-1).conj()
    return torch.cat([negative, positive], dim=-1)


def s2_forward(x, L):
    """Analysis of real grids [S, 2b, 2b] onto degrees l < L: f^l_m = sum_j (2b q_j) d^l_m0(beta_j)
    sum_k f(beta_j, alpha_k) e^{-i m alpha_k}. Returns the dense spectrum [M, L, S]."""
    J = x.shape[1]
    b = J // 2
    spectrum = _full_orders(torch.fft.rfft(x, dim=-1), L)          # [S, J, M]
    columns = _to_real_columns(spectrum.permute(2, 1, 0))           # [M, J, 2S]
    return _from_real_columns(torch.bmm(s2_forward_table(b, L), columns))


def s2_inverse(f, b):
    """Synthesis of a dense S2 spectrum [M, L, S] on the bandwidth-b grid (L <= b):
    real part of sum_l (2l+1) sum_m f^l_m d^l_m0(beta) e^{i m alpha}. Returns [S, 2b, 2b].
    The spectrum need not be that of a real signal (the SO(3) -> S2 layer's is not): the inverse
    real FFT is applied to the Hermitian part (G(m) + conj(G(-m))) / 2, m >= 0, of the rings."""
    M, L, S = f.shape
    rings = _from_real_columns(torch.bmm(s2_inverse_table(L, b), _to_real_columns(f)))
    rings = rings.permute(2, 1, 0)                                   # [S, J, M]
    half = (rings + rings.flip(-1).conj()).narrow(-1, L - 1, L)      # twice the Hermitian part
    return torch.fft.irfft(F.pad(half, (0, b + 1 - L)), n=2 * b, dim=-1) * b


def so3_forward(x, L):
    """Analysis of real grids [S, 2b, 2b, 2b] onto degrees l < L: F^l_mn = sum_j q_j d^l_mn(beta_j)
    sum_{k, l'} F e^{-i m alpha_k} e^{-i n gamma_l'}. Returns the half spectrum [M, L, L, S]."""
    S, J = x.shape[0], x.shape[1]
    b = J // 2
    M = 2 * L - 1
    half = torch.fft.rfft2(x, dim=(-2, -1)).index_select(2, _bins(L, 2 * b))  # [S, J, M, b+1]
    columns = _to_real_columns(half.narrow(-1, 0, L).permute(2, 3, 1, 0))      # [M, L, J, 2S]
    product = torch.bmm(so3_forward_table(b, L), columns.reshape(M * L, J, 2 * S))
    return _from_real_columns(product).reshape(M, L, L, S)


@functools.lru_cache(maxsize=None)
def _symmetry_signs(L):
    """(-1)^(m+n) for m = -(L-1)..L-1 and n = -(L-1)..-1, shaped [M, L-1, 1, 1]."""
    orders = np.arange(-(L - 1), L)
    signs = (-1.0) ** (orders[:, None] + orders[None, :L - 1])
    return torch.from_numpy(signs.astype(np.float32))[:, :, None, None]


def so3_full(half):
    """Full spectrum [M, M, L, S] from a half spectrum [M, L, L, S] of real signals:
    F^l_{m,n} = (-1)^{m+n} conj(F^l_{-m,-n}) for n < 0."""
    L = half.shape[1]
    negative = half.narrow(1, 1, L - 1).flip(0, 1).conj() * _symmetry_signs(L)
    return torch.cat([negative, half], dim=1)


def so3_inverse(half, b):
    """Synthesis of a half spectrum [M, L, L, S] of real signals on the bandwidth-b grid
    (L <= b): sum_l (2l+1) sum_mn F^l_mn e^{i m alpha} d^l_mn(beta) e^{i n gamma}, the n < 0
    terms being the conjugates of the n > 0 ones. Returns [S, 2b, 2b, 2b]."""
    M, L, _, S = half.shape
    columns = _to_real_columns(half).reshape(M * L, L, 2 * S)
    rings = _from_real_columns(torch.bmm(so3_inverse_table(L, b), columns))   # [M*L, J, S]
    rings = rings.reshape(M, L, 2 * b, S).permute(3, 2, 0, 1)                 # [S, J, M, L]
    full = torch.zeros(S, 2 * b, 2 * b, L, dtype=rings.dtype)
    full = full.index_copy(2, _bins(L, 2 * b), rings)
    full = F.pad(full, (0, b + 1 - L))
    return torch.fft.irfft2(full, s=(2 * b, 2 * b), dim=(-2, -1)) * (2 * b) ** 2


def _kernel_phases(points, L, with_gamma):
    """Group kernel points by beta: per distinct beta, (beta, [G_beta, M(, M)] complex phases
    e^{-i n alpha} (e^{-i p gamma}) for orders -(L-1)..L-1) and the point indices."""
    orders = np.arange(-(L - 1), L)
    groups = {}
    for index, point in enumerate(points):
        groups.setdefault(round(point[0], 12), []).append(index)

    result = []
    for beta, indices in sorted(groups.items()):
        alphas = np.array([points[i][1] for i in indices])
        phase = np.exp(-1j * orders[None, :] * alphas[:, None])            # [G, M]
        if with_gamma:
            gammas = np.array([points[i][2] for i in indices])
            phase = phase[:, :, None] * np.exp(-1j * orders[None, None, :] * gammas[:, None, None])
        result.append((beta, torch.from_numpy(phase.astype(np.complex64)), indices))
    return result


class S2Convolution(nn.Module):
    """S2 -> SO(3) convolution (transforms.md 4.2): [B, Cin, 2b_in, 2b_in] -> [B, Cout, (2b_out)^3].
    out(R) = 2 b_out scaling sum_{c,i} psi[c,d,i] f_c^{(l<b_out)}(R x_i) + bias_d."""

    def __init__(self, c_in, c_out, b_in, b_out, grid):
        super().__init__()
        self.c_in, self.c_out, self.b_in, self.b_out = c_in, c_out, b_in, b_out
        self.L = min(b_in, b_out)
        self.kernel = nn.Parameter(torch.empty(c_in, c_out, len(grid)).uniform_(-1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1, 1))
        self.scaling = 1.0 / math.sqrt(len(grid) * c_in * b_out ** 4 / b_in ** 2)
        L = self.L
        self.groups = _kernel_phases(grid, L, with_gamma=False)
        # d^l_{n0}(beta) per beta group: [groups, M, L]
        d = np.stack([wigner_d_table(L, [beta])[:, :, L - 1, 0].T for beta, _, _ in self.groups])
        self.register_buffer('d_n0', torch.from_numpy(d.astype(np.float32)), persistent=False)

    def kernel_spectrum(self):
        """y^l_n[c, d] = 2 b_out scaling sum_i psi_i e^{-i n alpha_i} d^l_n0(beta_i),
        as [M, L, Cin, Cout]."""
        total = 0
        for g, (_, phase, indices) in enumerate(self.groups):
            psi = self.kernel[:, :, indices].to(torch.complex64)              # [Cin, Cout, G]
            sums = torch.einsum('cdg,gn->ncd', psi, phase)                     # [M, Cin, Cout]
            total = total + sums[:, None] * self.d_n0[g][:, :, None, None]
        return total * (2 * self.b_out * self.scaling)

    def forward(self, x):
        B = x.shape[0]
        L, M = self.L, 2 * self.L - 1
        f = s2_forward(x.reshape(B * self.c_in, 2 * self.b_in, 2 * self.b_in), L)
        f = f.reshape(M, L, B, self.c_in)
        y = self.kernel_spectrum().narrow(0, L - 1, L)                 # n >= 0
        z = torch.einsum('mlbc,nlcd->mnlbd', f, y.conj()).reshape(M, L, L, B * self.c_out)
        out = so3_inverse(z, self.b_out).reshape(B, self.c_out, *([2 * self.b_out] * 3))
        return out + self.bias


class _SO3KernelMixin:
    """Kernel spectra psi^l_np[c, d] = scaling sum_i psi_i conj(D^l_np(g_i)), with
    D^l_np(alpha, beta, gamma) = e^{i n alpha} d^l_np(beta) e^{i p gamma}."""

    def _setup_kernel(self, grid, L):
        self.groups = _kernel_phases(grid, L, with_gamma=True)
        d = np.stack([wigner_d_table(L, [beta])[..., 0] for beta, _, _ in self.groups])
        self.register_buffer('d_np', torch.from_numpy(d.astype(np.float32)), persistent=False)

    def _phase_sums(self):
        """Per beta group: sum_i psi[c, d, i] e^{-i n alpha_i} e^{-i p gamma_i} as
        [Cin, Cout, M, M]."""
        sums = []
        for _, phase, indices in self.groups:
            psi = self.kernel[:, :, indices].to(torch.complex64)
            sums.append(torch.einsum('cdg,gnp->cdnp', psi, phase))
        return sums


class SO3Convolution(nn.Module, _SO3KernelMixin):
    """SO(3) -> SO(3) convolution (transforms.md 4.3): [B, Cin, (2b_in)^3] -> [B, Cout, (2b_out)^3].
    Per degree, z^l = x^l (psi^l)^H over (p, c): one complex matrix product per l."""

    def __init__(self, c_in, c_out, b_in, b_out, grid):
        super().__init__()
        self.c_in, self.c_out, self.b_in, self.b_out = c_in, c_out, b_in, b_out
        self.L = min(b_in, b_out)
        self.kernel = nn.Parameter(torch.empty(c_in, c_out, len(grid)).uniform_(-1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1, 1))
        self.scaling = 1.0 / math.sqrt(len(grid) * c_in * (b_out / b_in) ** 3)
        self._setup_kernel(grid, self.L)

    def forward(self, x):
        B = x.shape[0]
        L, M = self.L, 2 * self.L - 1
        f = so3_full(so3_forward(x.reshape(B * self.c_in, *([2 * self.b_in] * 3)), L))
        f = f.reshape(M, M, L, B, self.c_in)
        sums = self._phase_sums()
        z = torch.zeros(M, L, L, B, self.c_out, dtype=torch.complex64)

        for l in range(L):
            w = slice(L - 1 - l, L + l)                  # orders -l..l
            h = slice(L - 1, L + l)                      # orders 0..l
            size = 2 * l + 1
            psi = sum(s[:, :, h, w] * self.d_np[g, l, h, w] for g, s in enumerate(sums))
            psi = (psi * self.scaling).permute(0, 3, 1, 2).reshape(self.c_in * size, -1)
            xl = f[w, w, l].permute(2, 0, 3, 1).reshape(B * size, self.c_in * size)  # (b,m) x (c,p)
            zl = (xl @ psi.conj()).reshape(B, size, self.c_out, l + 1)              # (b,m) x (d,n)
            z[w, :l + 1, l] = zl.permute(1, 3, 0, 2)

        out = so3_inverse(z.reshape(M, L, L, B * self.c_out), self.b_out)
        return out.reshape(B, self.c_out, *([2 * self.b_out] * 3)) + self.bias


class SO3ToS2Convolution(nn.Module, _SO3KernelMixin):
    """SO(3) -> S2 layer of the segmentation S2CNN (paper.md 4.2): out^l_m = sum_{c, n} x^l_mn
    conj(kappa^l_n), kappa^l_n = sum_m' psi^l_m'n; then an S2 synthesis at b_out and a bias."""

    def __init__(self, c_in, c_out, b_in, b_out, grid):
        super().__init__()
        self.c_in, self.c_out, self.b_in, self.b_out = c_in, c_out, b_in, b_out
        self.L = min(b_in, b_out)
        self.kernel = nn.Parameter(torch.empty(c_in, c_out, len(grid)).uniform_(-1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.scaling = 1.0 / math.sqrt(len(grid) * c_in * (b_out / b_in) ** 3)
        self._setup_kernel(grid, self.L)

    def spectrum(self, x):
        """The output's S2 coefficients out^l_m[b, d] (before the bias): [M, L, B * Cout]."""
        B = x.shape[0]
        L, M = self.L, 2 * self.L - 1
        f = so3_full(so3_forward(x.reshape(B * self.c_in, *([2 * self.b_in] * 3)), L))
        f = f.reshape(M, M, L, B, self.c_in)
        # kappa^l_n = scaling sum_g d^l_{m'n}(beta_g) (phase sums)_{m'n}, summed over m'
        kappa = sum(torch.einsum('cdmn,lmn->nlcd', s, self.d_np[g].to(torch.complex64))
                    for g, s in enumerate(self._phase_sums())) * self.scaling
        return torch.einsum('mnlbc,nlcd->mlbd', f, kappa.conj()).reshape(M, L, B * self.c_out)

    def forward(self, x):
        B = x.shape[0]
        y = s2_inverse(self.spectrum(x), self.b_out)
        return y.reshape(B, self.c_out, 2 * self.b_out, 2 * self.b_out) + self.bias


def so3_integrate(x):
    """Haar integral of SO(3) maps [B, C, 2b, 2b, 2b] -> [B, C]: sum_j q_j sum_{alpha, gamma} F."""
    b = x.shape[-1] // 2
    q = torch.from_numpy(so3_weights(b).astype(np.float32))
    return torch.einsum('bcjag,j->bc', x, q)


class SegmentationS2CNN(nn.Module):
    """The 204k segmentation S2CNN (paper.md 4.3): 1 x 100 x 100 -> 11 x 100 x 100 logits."""

    LAYERS = [  # (c_in, c_out, b_in, b_out, max_beta / pi)
        (1, 11, 50, 42, 0.1238), (11, 12, 42, 35, 0.1474), (12, 13, 35, 27, 0.1768),
        (13, 14, 27, 20, 0.2292), (14, 13, 20, 27, 0.3095), (13, 12, 27, 35, 0.2292),
        (12, 11, 35, 42, 0.1768), (11, 11, 42, 50, 0.1474),
    ]

    def __init__(self):
        super().__init__()
        layers = []
        for index, (c_in, c_out, b_in, b_out, beta) in enumerate(self.LAYERS):
            if index == 0:
                grid = s2_near_identity_grid(beta * np.pi, n_alpha=8, n_beta=3)
                layers.append(S2Convolution(c_in, c_out, b_in, b_out, grid))
            else:
                grid = so3_near_identity_grid(beta * np.pi, n_alpha=8, n_beta=3)
                kind = SO3ToS2Convolution if index == len(self.LAYERS) - 1 else SO3Convolution
                layers.append(kind(c_in, c_out, b_in, b_out, grid))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class ClassificationS2CNN(nn.Module):
    """The 156,882-parameter classification S2CNN (paper.md 4.5, the "deep" MNIST model):
    1 x 60 x 60 -> 10 logits."""

    LAYERS = [  # (c_in, c_out, b_in, b_out, max_beta / pi)
        (1, 8, 30, 30, 1 / 16), (8, 16, 30, 15, 1 / 16), (16, 16, 15, 15, 1 / 8),
        (16, 24, 15, 8, 1 / 8), (24, 24, 8, 8, 1 / 4), (24, 32, 8, 4, 1 / 4), (32, 64, 4, 2, 1 / 2),
    ]

    def __init__(self):
        super().__init__()
        layers = []
        for index, (c_in, c_out, b_in, b_out, beta) in enumerate(self.LAYERS):
            if index == 0:
                grid = s2_near_identity_grid(beta * np.pi, n_alpha=6, n_beta=1)
                layers.append(S2Convolution(c_in, c_out, b_in, b_out, grid))
            else:
                grid = so3_near_identity_grid(beta * np.pi, n_alpha=6, n_beta=1, n_gamma=6)
                layers.append(SO3Convolution(c_in, c_out, b_in, b_out, grid))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(
            nn.BatchNorm1d(64), nn.Linear(64, 64), nn.ReLU(),
            nn.BatchNorm1d(64), nn.Linear(64, 32), nn.ReLU(),
            nn.BatchNorm1d(32), nn.Linear(32, 10))

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.head(so3_integrate(x))


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())
