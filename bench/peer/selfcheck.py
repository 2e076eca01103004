"""Correctness checks of the peer's S2CNN implementation, run before timing it.

Checks: Wigner-d table against the explicit sum, transform round trips (grid -> spectrum -> grid
-> spectrum), the layers against what they compute in closed form (transforms.md 4.2, 4.3:
out(R) = scaling sum_i psi_i f(R x_i) for band-limited input), and the parameter counts of the
three benchmark models. Returns a dict of errors and counts; `ok` says whether all passed.
"""

import math

import numpy as np
import torch

import cnn
import s2cnn
from sphere import grid_alphas, grid_betas, wigner_d_explicit, wigner_d_table


def rotation(alpha, beta, gamma):
    """R = Rz(alpha) Ry(beta) Rz(gamma) (ZYZ, active)."""
    def rz(t):
        return np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])

    def ry(t):
        return np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])

    return rz(alpha) @ ry(beta) @ rz(gamma)


def point(beta, alpha):
    return np.array([math.sin(beta) * math.cos(alpha), math.sin(beta) * math.sin(alpha),
                     math.cos(beta)])


# Smooth, nearly band-limited test signals: exp(v . x) on S2 and exp(v . R e_z + u . R e_x) on SO(3)
V = np.array([0.7, -0.4, 0.5])
U = np.array([-0.3, 0.6, 0.2])


def s2_signal(b):
    x = np.array([[V @ point(beta, alpha) for alpha in grid_alphas(b)] for beta in grid_betas(b)])
    return np.exp(x)


def so3_signal_at(R):
    return math.exp(V @ R[:, 2] + U @ R[:, 0])


def so3_signal(b):
    out = np.empty((2 * b,) * 3)
    for j, beta in enumerate(grid_betas(b)):
        for k, alpha in enumerate(grid_alphas(b)):
            for m, gamma in enumerate(grid_alphas(b)):
                out[j, k, m] = so3_signal_at(rotation(alpha, beta, gamma))
    return out


def check_wigner():
    betas = [0.05, 1.0, 2.9]
    table = wigner_d_table(10, betas)
    return max(abs(table[l, m + 9, n + 9, j] - wigner_d_explicit(l, m, n, beta))
               for l in range(10) for m in range(-l, l + 1) for n in range(-l, l + 1)
               for j, beta in enumerate(betas))


def check_round_trips(b=12):
    torch.manual_seed(0)
    x = torch.randn(3, 2 * b, 2 * b)
    f = s2cnn.s2_forward(x, b)
    g = s2cnn.s2_forward(s2cnn.s2_inverse(f, b), b)
    s2_error = ((g - f).abs().max() / f.abs().max()).item()

    y = torch.randn(2, 2 * b, 2 * b, 2 * b)
    F = s2cnn.so3_forward(y, b)
    G = s2cnn.so3_forward(s2cnn.so3_inverse(F, b), b)
    so3_error = ((G - F).abs().max() / F.abs().max()).item()

    # The full spectrum from the half one against a complex FFT over both angles.
    full = s2cnn.so3_full(F)
    bins = s2cnn._bins(b, 2 * b)
    rings = torch.fft.fft2(y, dim=(-2, -1))[:, :, bins][:, :, :, bins]        # [S, J, M, M]
    d = s2cnn._d_table(b, b) * s2cnn.so3_weights(b)[None, None, None, :]      # [L, M, M, J]
    direct = np.einsum('lmnj,sjmn->mnls', d, rings.numpy().astype(np.complex128))
    full_error = np.abs(full.numpy() - direct).max() / np.abs(direct).max()
    return s2_error, max(so3_error, full_error)


def sample_points(b, count, rng):
    """`count` random grid indices (j, k, m) of the SO(3) grid of bandwidth b."""
    return [tuple(rng.integers(0, 2 * b, 3)) for _ in range(count)]


def check_s2_convolution(b_in=14, b_out=12):
    torch.manual_seed(1)
    grid = s2cnn.s2_near_identity_grid(0.3, n_alpha=5, n_beta=2)
    layer = s2cnn.S2Convolution(1, 2, b_in, b_out, grid)
    x = torch.from_numpy(s2_signal(b_in).astype(np.float32))[None, None]
    with torch.no_grad():
        out = layer(x)[0].numpy()

    rng = np.random.default_rng(2)
    psi = layer.kernel.detach().numpy()
    betas, alphas = grid_betas(b_out), grid_alphas(b_out)
    error, scale = 0.0, 0.0
    for j, k, m in sample_points(b_out, 40, rng):
        R = rotation(alphas[k], betas[j], alphas[m])
        values = np.array([math.exp(V @ (R @ point(beta, alpha))) for beta, alpha in grid])
        expected = 2 * b_out * layer.scaling * psi[0] @ values
        error = max(error, np.abs(out[:, j, k, m] - expected).max())
        scale = max(scale, np.abs(expected).max())
    return error / scale


def check_so3_convolution(b_in=10, b_out=9):
    torch.manual_seed(3)
    grid = s2cnn.so3_near_identity_grid(0.4, n_alpha=4, n_beta=2, n_gamma=3)
    layer = s2cnn.SO3Convolution(1, 2, b_in, b_out, grid)
    x = torch.from_numpy(so3_signal(b_in).astype(np.float32))[None, None]
    with torch.no_grad():
        out = layer(x)[0].numpy()

    rng = np.random.default_rng(4)
    psi = layer.kernel.detach().numpy()
    betas, alphas = grid_betas(b_out), grid_alphas(b_out)
    error, scale = 0.0, 0.0
    for j, k, m in sample_points(b_out, 40, rng):
        R = rotation(alphas[k], betas[j], alphas[m])
        values = np.array([so3_signal_at(R @ rotation(alpha, beta, gamma))
                           for beta, alpha, gamma in grid])
        expected = layer.scaling * psi[0] @ values
        error = max(error, np.abs(out[:, j, k, m] - expected).max())
        scale = max(scale, np.abs(expected).max())
    return error / scale


def evaluate_s2_spectrum(f, L, beta, alpha):
    """Real part of sum_l (2l+1) sum_m f^l_m d^l_m0(beta) e^{i m alpha} for a spectrum [M, L, S]."""
    d = wigner_d_table(L, [beta])[:, :, L - 1, 0]                        # [L, M]
    orders = np.arange(-(L - 1), L)
    basis = (2 * np.arange(L))[:, None] + 1.0
    weights = (basis * d).T * np.exp(1j * orders * alpha)[:, None]      # [M, L]
    return np.real(np.einsum('ml,mls->s', weights, f))


def check_so3_to_s2_equivariance(b_in=10, b_out=12):
    """Rotating the input by a random Q rotates the output: y'(x) = y(Q^-1 x) at random points."""
    torch.manual_seed(5)
    grid = s2cnn.so3_near_identity_grid(0.4, n_alpha=4, n_beta=2, n_gamma=3)
    layer = s2cnn.SO3ToS2Convolution(2, 3, b_in, b_out, grid)
    Q = rotation(0.9, 1.3, -2.1)
    signal = so3_signal(b_in)
    rotated = np.empty_like(signal)
    for j, beta in enumerate(grid_betas(b_in)):
        for k, alpha in enumerate(grid_alphas(b_in)):
            for m, gamma in enumerate(grid_alphas(b_in)):
                rotated[j, k, m] = so3_signal_at(Q.T @ rotation(alpha, beta, gamma))
    x = torch.from_numpy(np.stack([signal, signal ** 2, rotated, rotated ** 2]).astype(np.float32))
    with torch.no_grad():
        f = layer.spectrum(x.reshape(2, 2, *x.shape[1:])).numpy().astype(np.complex128)
    L = layer.L

    rng = np.random.default_rng(6)
    error, scale = 0.0, 0.0
    for _ in range(20):
        beta, alpha = math.acos(rng.uniform(-1, 1)), rng.uniform(0, 2 * math.pi)
        x_p = point(beta, alpha)
        back = Q.T @ x_p
        beta_back = math.acos(max(-1.0, min(1.0, back[2])))
        alpha_back = math.atan2(back[1], back[0])
        original = evaluate_s2_spectrum(f[:, :, :3], L, beta_back, alpha_back)
        turned = evaluate_s2_spectrum(f[:, :, 3:], L, beta, alpha)
        error = max(error, np.abs(original - turned).max())
        scale = max(scale, np.abs(original).max())
    return error / scale


def run():
    wigner = check_wigner()
    s2_trip, so3_trip = check_round_trips()
    s2_layer = check_s2_convolution()
    so3_layer = check_so3_convolution()
    so3_to_s2 = check_so3_to_s2_equivariance()
    counts = {
        'cnn218k': cnn.parameter_count(cnn.SegmentationCNN()),
        's2cnn204k': s2cnn.parameter_count(s2cnn.SegmentationS2CNN()),
        's2cnn157k': s2cnn.parameter_count(s2cnn.ClassificationS2CNN()),
    }
    expected_counts = {'cnn218k': 218144, 's2cnn204k': 204073, 's2cnn157k': 156882}
    ok = (wigner < 1e-12 and s2_trip < 1e-5 and so3_trip < 1e-5 and s2_layer < 1e-4
          and so3_layer < 1e-4 and so3_to_s2 < 1e-4 and counts == expected_counts)
    return {
        'ok': ok,
        'wigner_max_error': wigner,
        's2_round_trip_relative_error': s2_trip,
        'so3_round_trip_relative_error': so3_trip,
        's2_convolution_relative_error': s2_layer,
        'so3_convolution_relative_error': so3_layer,
        'so3_to_s2_equivariance_relative_error': so3_to_s2,
        'parameter_counts': counts,
    }


if __name__ == '__main__':
    print(run())
