/**
 * Harmonic analysis on S2 and SO(3) for equisphere: coefficient indexing, Wigner-d functions,
 * batched forward/inverse transforms with their adjoints, and spectral rotation. See
 * notes/harmonic-api.md for the contract and shared/reference/transforms.md for the conventions.
 */
export * from './indexing.js';
export {
  wignerD, wignerDTable, softWignerTable, wignerDMatrix, wignerDMatrices,
} from './wigner.js';
export { s2Forward, s2Inverse, s2ForwardAdjoint, s2InverseAdjoint } from './s2-transform.js';
export { so3Forward, so3Inverse, so3ForwardAdjoint, so3InverseAdjoint } from './so3-transform.js';
export { rotateS2Spectrum, rotateSo3Spectrum } from './rotate.js';
export { clearHarmonicCaches } from './tables.js';
