"""Grids, quadrature weights and Wigner-d tables for the PyTorch peer (numpy, float64).

Conventions follow s2cnn as summarised in shared/reference/transforms.md sections 1-3: SOFT grid
with beta_j = pi (2j + 1) / (4b), alpha_k = gamma_k = 2 pi k / (2b); ZYZ Euler angles; the standard
(Edmonds) small d; normalised Haar measure. Tables are built by the Kostelec-Rockmore three-term
recursion in l (section 3.3), seeded at l0 = max(|m'|, |m|) by the closed forms of section 3.2.
"""

import math

import numpy as np


def grid_betas(b):
    """Colatitudes beta_j = pi (2j + 1) / (4b), j = 0..2b-1 (no sample on a pole)."""
    return np.pi * (2 * np.arange(2 * b) + 1) / (4 * b)


def grid_alphas(b):
    """Longitudes (and gamma angles) 2 pi k / (2b), k = 0..2b-1."""
    return 2 * np.pi * np.arange(2 * b) / (2 * b)


def soft_weights(b):
    """Kostelec-Rockmore weights w_b(j) (SOFT eq. 2.15), summing to 2 = int_0^pi sin(beta)."""
    j = np.arange(2 * b)[:, None]
    k = np.arange(b)[None, :]
    series = np.sin((2 * j + 1) * (2 * k + 1) * np.pi / (4 * b)) / (2 * k + 1)
    return (2.0 / b) * np.sin(grid_betas(b)) * series.sum(axis=1)


def so3_weights(b):
    """Haar quadrature weight of every point of ring j: w_b(j) / (2 (2b)^2), total mass 1."""
    return soft_weights(b) / (2 * (2 * b) ** 2)


def s2_weights(b):
    """Area quadrature weight of every point of ring j: 2b * so3_weights(b), total mass 1."""
    return 2 * b * so3_weights(b)


def wigner_d_table(L, betas):
    """All d^l_{m n}(beta) for l < L, |m|, |n| <= L - 1, dense: array [L, 2L-1, 2L-1, J].

    Index [l, m + L - 1, n + L - 1, j]; entries with l < max(|m|, |n|) are 0. Each degree is
    computed on its (2l+1)^2 window only: interior pairs by the three-term recursion from degrees
    l - 1 and l - 2, the border (|m| = l or |n| = l) by the closed-form seeds.
    """
    betas = np.asarray(betas, dtype=np.float64)
    J = len(betas)
    M = 2 * L - 1
    orders = np.arange(-(L - 1), L)
    cos_beta = np.cos(betas)
    half_cos = np.cos(betas / 2)
    half_sin = np.sin(betas / 2)
    table = np.zeros((L, M, M, J))

    for l in range(L):
        window = slice(L - 1 - l, L + l)
        block = table[l, window, window]
        m = orders[window][:, None, None]
        n = orders[window][None, :, None]

        if l == 1:
            block[1, 1] = cos_beta
        elif l >= 2:
            inner = slice(1, 2 * l)
            mi, ni = m[inner], n[:, inner]
            previous = table[l - 1, L - l:L + l - 1, L - l:L + l - 1]
            before = table[l - 2, L - l:L + l - 1, L - l:L + l - 1]
            root = np.sqrt((l * l - mi * mi) * (l * l - ni * ni))
            first = l * (2 * l - 1) / root * (cos_beta - mi * ni / ((l - 1) * l))
            second = l * np.sqrt(((l - 1) ** 2 - mi * mi) * ((l - 1) ** 2 - ni * ni)) / (
                (l - 1) * root)
            block[inner, inner] = first * previous - second * before

        _seed_border(block, l, half_cos, half_sin)
    return table


def _seed_border(block, l, c, s):
    """Closed forms on the border of degree l's window (transforms.md section 3.2)."""
    for i, q in enumerate(range(-l, l + 1)):
        root = math.sqrt(math.comb(2 * l, l + q))
        # m' = l and m' = -l (rows), second index q
        block[2 * l, i] = (-1) ** (l - q) * root * c ** (l + q) * s ** (l - q)
        block[0, i] = root * c ** (l - q) * s ** (l + q)
        # m = l and m = -l (columns), first index q
        block[i, 2 * l] = root * c ** (l + q) * s ** (l - q)
        block[i, 0] = (-1) ** (q + l) * root * c ** (l - q) * s ** (l + q)


def wigner_d_explicit(l, m, n, beta):
    """One d^l_{mn}(beta) by the explicit Wigner sum: a test oracle, accurate for small l only."""
    total = 0.0
    for s in range(max(0, n - m), min(l + n, l - m) + 1):
        sign = (-1) ** (m - n + s)
        numerator = math.sqrt(math.factorial(l + m) * math.factorial(l - m)
                              * math.factorial(l + n) * math.factorial(l - n))
        denominator = (math.factorial(l + n - s) * math.factorial(s)
                       * math.factorial(m - n + s) * math.factorial(l - m - s))
        total += (sign * numerator / denominator * math.cos(beta / 2) ** (2 * l + n - m - 2 * s)
                  * math.sin(beta / 2) ** (m - n + 2 * s))
    return total


def s2_near_identity_grid(max_beta, n_alpha=8, n_beta=3):
    """Kernel points (beta, alpha): rings beta = max_beta * i / n_beta, i = 1..n_beta (no centre),
    n_alpha longitudes each, beta-major (transforms.md section 4.1)."""
    betas = [max_beta * i / n_beta for i in range(1, n_beta + 1)]
    alphas = [2 * np.pi * k / n_alpha for k in range(n_alpha)]
    return [(beta, alpha) for beta in betas for alpha in alphas]


def so3_near_identity_grid(max_beta, max_gamma=2 * np.pi, n_alpha=8, n_beta=3, n_gamma=None):
    """Kernel rotations (beta, alpha, gamma): the S2 rings crossed with pre_gamma in
    linspace(-max_gamma, max_gamma, n_gamma) (both ends), gamma = pre_gamma - alpha."""
    n_gamma = n_alpha if n_gamma is None else n_gamma
    pre_gammas = np.linspace(-max_gamma, max_gamma, n_gamma)
    return [(beta, alpha, pre_gamma - alpha)
            for beta, alpha in s2_near_identity_grid(max_beta, n_alpha, n_beta)
            for pre_gamma in pre_gammas]
