/**
 * The SOFT (Driscoll-Healy, Kostelec-Rockmore) sampling grids for bandwidth b, where signals have
 * degrees l < b.
 *
 * S2:    2b x 2b points, stored [beta, alpha] (row-major, alpha fastest).
 * SO(3): (2b)^3 points, stored [beta, alpha, gamma] (gamma fastest).
 *
 *   beta_j  = pi (2j + 1) / (4b),  j = 0 .. 2b-1
 *             (no sample on a pole; beta_{2b-1-j} = pi - beta_j)
 *   alpha_k = 2 pi k / (2b),       k = 0 .. 2b-1   (gamma uses the same values)
 */

/** Colatitudes beta_j of the SOFT grid. */
export function gridBetas(bandwidth: number): Float64Array {
  const betas = new Float64Array(2 * bandwidth);
  for (let j = 0; j < 2 * bandwidth; j++) betas[j] = (Math.PI * (2 * j + 1)) / (4 * bandwidth);
  return betas;
}

/** Longitudes alpha_k (also the gamma values) of the SOFT grid. */
export function gridAlphas(bandwidth: number): Float64Array {
  const alphas = new Float64Array(2 * bandwidth);
  for (let k = 0; k < 2 * bandwidth; k++) alphas[k] = (Math.PI * k) / bandwidth;
  return alphas;
}

/**
 * SOFT quadrature weights over beta (Kostelec-Rockmore, SOFT eq. 2.15):
 *
 *   w_b(j) = (2/b) sin(beta_j) sum_{k<b} sin((2j+1)(2k+1) pi / (4b)) / (2k+1)
 *
 * They sum to 2 (the integral of sin(beta) over [0, pi]) and integrate cos(k beta) sin(beta)
 * exactly for k < 2b.
 */
export function betaQuadratureWeights(bandwidth: number): Float64Array {
  const b = bandwidth;
  const weights = new Float64Array(2 * b);
  for (let j = 0; j < 2 * b; j++) {
    let sum = 0;
    for (let k = 0; k < b; k++) {
      sum += Math.sin(((2 * j + 1) * (2 * k + 1) * Math.PI) / (4 * b)) / (2 * k + 1);
    }
    weights[j] = (2 / b) * Math.sin((Math.PI * (2 * j + 1)) / (4 * b)) * sum;
  }
  return weights;
}

/**
 * Quadrature weights q_j for the normalised Haar measure on SO(3): q_j = w_b(j) / (2 (2b)^2), so
 * that sum over all (2b)^3 grid points of q_j F = integral of F over SO(3) with total mass 1.
 */
export function so3QuadratureWeights(bandwidth: number): Float64Array {
  const w = betaQuadratureWeights(bandwidth);
  const scale = 1 / (2 * (2 * bandwidth) ** 2);
  return w.map((value) => value * scale);
}

/**
 * Per-point weights for the normalised area measure on S2 (total 1): 2b q_j, so that the sum over
 * the 2b x 2b grid of weight_j f(beta_j, alpha_k) is the mean of f over the sphere.
 */
export function s2QuadratureWeights(bandwidth: number): Float64Array {
  const q = so3QuadratureWeights(bandwidth);
  return q.map((value) => value * 2 * bandwidth);
}

/** Unit vectors x(beta_j, alpha_k) = (sin b cos a, sin b sin a, cos b), stored [j][k][xyz]. */
export function gridPoints(bandwidth: number): Float64Array {
  const betas = gridBetas(bandwidth);
  const alphas = gridAlphas(bandwidth);
  const n = 2 * bandwidth;
  const points = new Float64Array(n * n * 3);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      const o = (j * n + k) * 3;
      points[o] = Math.sin(betas[j]) * Math.cos(alphas[k]);
      points[o + 1] = Math.sin(betas[j]) * Math.sin(alphas[k]);
      points[o + 2] = Math.cos(betas[j]);
    }
  }
  return points;
}
