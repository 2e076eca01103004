/**
 * A small SVG line plot: one polyline with markers per series, linear axes with rounded ticks,
 * a legend at the right. Used for accuracy or mIoU against the number of training samples
 * (the paper's Figs 4, 7 and 9).
 */

export interface PlotSeries {
  name: string;
  /** (x, y) points; they are drawn sorted by x. */
  points: Array<[number, number]>;
}

export interface LinePlot {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  /** Fixed y range; by default the data range padded to round ticks. */
  yRange?: [number, number];
}

const WIDTH = 820;
const HEIGHT = 440;
const MARGIN = { left: 70, right: 290, top: 40, bottom: 60 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f'];

/** Renders the plot as a standalone SVG document (UTF-8 text). */
export function renderLinePlot(plot: LinePlot): string {
  const all = plot.series.flatMap((s) => s.points).filter(([x, y]) => isFinite(x) && isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xTicks = niceTicks(Math.min(0, ...xs), Math.max(1, ...xs));
  const yTicks = plot.yRange !== undefined
    ? niceTicks(plot.yRange[0], plot.yRange[1])
    : niceTicks(ys.length > 0 ? Math.min(...ys) : 0, ys.length > 0 ? Math.max(...ys) : 1);
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];

  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number): number => MARGIN.left + ((x - x0) / (x1 - x0 || 1)) * plotWidth;
  const py = (y: number): number => MARGIN.top + (1 - (y - y0) / (y1 - y0 || 1)) * plotHeight;
  const f = (v: number): string => v.toFixed(1);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" `
    + `viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">`
    + `${escapeXml(plot.title)}</text>`);

  for (const y of yTicks) {
    parts.push(`<line x1="${f(px(x0))}" y1="${f(py(y))}" x2="${f(px(x1))}" y2="${f(py(y))}" `
      + 'stroke="#ddd"/>');
    parts.push(`<text x="${f(px(x0) - 6)}" y="${f(py(y) + 4)}" text-anchor="end">`
      + `${tickLabel(y)}</text>`);
  }
  for (const x of xTicks) {
    parts.push(`<line x1="${f(px(x))}" y1="${f(py(y0))}" x2="${f(px(x))}" y2="${f(py(y1))}" `
      + 'stroke="#eee"/>');
    parts.push(`<text x="${f(px(x))}" y="${f(py(y0) + 18)}" text-anchor="middle">`
      + `${tickLabel(x)}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" `
    + `height="${plotHeight}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 18}" text-anchor="middle">`
    + `${escapeXml(plot.xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)" `
    + `text-anchor="middle">${escapeXml(plot.yLabel)}</text>`);

  plot.series.forEach((series, index) => {
    const colour = COLOURS[index % COLOURS.length];
    const points = series.points.filter(([x, y]) => isFinite(x) && isFinite(y))
      .sort((a, b) => a[0] - b[0]);
    if (points.length > 1) {
      const path = points.map(([x, y]) => `${f(px(x))},${f(py(y))}`).join(' ');
      parts.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    }
    for (const [x, y] of points) {
      parts.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3.5" fill="${colour}"/>`);
    }
    const ly = MARGIN.top + 10 + index * 20;
    const lx = WIDTH - MARGIN.right + 15;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${colour}" `
      + 'stroke-width="2"/>');
    parts.push(`<text x="${lx + 28}" y="${ly + 4}">${escapeXml(series.name)}</text>`);
  });

  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten, about five
 * intervals. Returns at least two ticks.
 */
export function niceTicks(low: number, high: number): number[] {
  if (!(high > low)) {
    const centre = Number.isFinite(low) ? low : 0;
    return niceTicks(centre - 1, centre + 1);
  }
  const rough = (high - low) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const first = Math.floor(low / step + 1e-9) * step;
  const last = Math.ceil(high / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = first; t <= last + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function tickLabel(value: number): string {
  if (Math.abs(value) >= 1000 && value % 1000 === 0) return `${value / 1000}k`;
  return String(value);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
