/**
 * Plain-text tables for the terminal: one header row, a rule, then the rows, columns padded to
 * their widest cell. Numbers are right-aligned, text left-aligned.
 */

export type Cell = string | number | null | undefined;

export interface TableOptions {
  /** Per-column alignment; by default numbers (and '-') right, text left. */
  align?: Array<'left' | 'right'>;
  /** Text for null or undefined cells. */
  missing?: string;
}

/** Renders `rows` under `headers` as aligned lines joined by newlines (no trailing newline). */
export function renderTable(headers: string[], rows: Cell[][], options: TableOptions = {}): string {
  const missing = options.missing ?? '-';
  const text = rows.map((row) => headers.map((_, c) => cellText(row[c], missing)));
  const widths = headers.map((header, c) =>
    Math.max(header.length, ...text.map((row) => row[c].length)));
  const align = headers.map((_, c) => options.align?.[c]
    ?? (rows.every((row) => typeof row[c] === 'number' || row[c] === null || row[c] === undefined
      || /^[-+]?[\d.]+%?$/.test(String(row[c]))) && rows.length > 0 ? 'right' : 'left'));

  const pad = (value: string, c: number): string =>
    align[c] === 'right' ? value.padStart(widths[c]) : value.padEnd(widths[c]);
  const line = (cells: string[]): string => cells.map(pad).join('  ').trimEnd();

  return [
    line(headers),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...text.map(line),
  ].join('\n');
}

function cellText(cell: Cell, missing: string): string {
  if (cell === null || cell === undefined) return missing;
  return String(cell);
}

/** A fraction in [0, 1] as a percentage with `digits` decimals ("97.25"); null -> null. */
export function percent(value: number | null | undefined, digits = 2): string | null {
  if (value === null || value === undefined) return null;
  return (100 * value).toFixed(digits);
}

/** Seconds as "12.3 s", "4 min 05 s" or "1 h 02 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** Bytes in binary units ("1.5 GiB"). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
