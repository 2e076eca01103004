/**
 * Unfolding of image patches into the columns of a matrix (im2col) and its adjoint (col2im), so
 * that a convolution becomes one matrix product. Plain TypeScript loops over typed arrays.
 *
 * Layout: the image is [channels, height, width] starting at `srcOffset`; the columns matrix has
 * one row per (channel, kernel row, kernel column), r = (c kh + i) kw + j, and one column per
 * output position q = oy outW + ox, stored at cols[colOffset + r ldc + q]. The value is
 * x[c, oy stride + i - padding, ox stride + j - padding], or 0 outside the image.
 */
export interface PatchGeometry {
  channels: number;
  height: number;
  width: number;
  kernelHeight: number;
  kernelWidth: number;
  stride: number;
  padding: number;
  outHeight: number;
  outWidth: number;
}

/** Writes the patches of one image into the columns matrix (see the module comment). */
export function im2col(geometry: PatchGeometry, src: Float32Array, srcOffset: number,
  cols: Float32Array, colOffset: number, ldc: number): void {
  const { channels, height, width, kernelHeight, kernelWidth, stride, padding } = geometry;
  const { outHeight, outWidth } = geometry;
  const plane = height * width;

  let row = colOffset;
  for (let c = 0; c < channels; c++) {
    const channelBase = srcOffset + c * plane;
    for (let i = 0; i < kernelHeight; i++) {
      for (let j = 0; j < kernelWidth; j++, row += ldc) {
        // First and last output columns whose input column ox stride + j - padding is inside.
        const oxStart = Math.max(0, Math.ceil((padding - j) / stride));
        const oxEnd = Math.min(outWidth, Math.floor((width - 1 + padding - j) / stride) + 1);
        for (let oy = 0; oy < outHeight; oy++) {
          const iy = oy * stride + i - padding;
          const dst = row + oy * outWidth;
          if (iy < 0 || iy >= height || oxEnd <= oxStart) {
            cols.fill(0, dst, dst + outWidth);
            continue;
          }
          const srcRow = channelBase + iy * width + j - padding;
          for (let ox = 0; ox < oxStart; ox++) cols[dst + ox] = 0;
          if (stride === 1) {
            for (let ox = oxStart; ox < oxEnd; ox++) cols[dst + ox] = src[srcRow + ox];
          } else {
            for (let ox = oxStart; ox < oxEnd; ox++) cols[dst + ox] = src[srcRow + ox * stride];
          }
          for (let ox = oxEnd; ox < outWidth; ox++) cols[dst + ox] = 0;
        }
      }
    }
  }
}

/**
 * Adjoint of im2col: adds every column entry back onto the image position it was read from
 * (entries read from the padding are dropped). `dst` is accumulated into, not overwritten.
 */
export function col2im(geometry: PatchGeometry, cols: Float32Array, colOffset: number,
  ldc: number, dst: Float32Array, dstOffset: number): void {
  const { channels, height, width, kernelHeight, kernelWidth, stride, padding } = geometry;
  const { outHeight, outWidth } = geometry;
  const plane = height * width;

  let row = colOffset;
  for (let c = 0; c < channels; c++) {
    const channelBase = dstOffset + c * plane;
    for (let i = 0; i < kernelHeight; i++) {
      for (let j = 0; j < kernelWidth; j++, row += ldc) {
        const oxStart = Math.max(0, Math.ceil((padding - j) / stride));
        const oxEnd = Math.min(outWidth, Math.floor((width - 1 + padding - j) / stride) + 1);
        for (let oy = 0; oy < outHeight; oy++) {
          const iy = oy * stride + i - padding;
          if (iy < 0 || iy >= height) continue;
          const src = row + oy * outWidth;
          const dstRow = channelBase + iy * width + j - padding;
          for (let ox = oxStart; ox < oxEnd; ox++) dst[dstRow + ox * stride] += cols[src + ox];
        }
      }
    }
  }
}
