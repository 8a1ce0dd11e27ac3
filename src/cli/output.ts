/** Docker's table layout: a header row, columns left-aligned, three spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** "ready" → "Ready", as Docker shows states in tables. */
export function title(word: string): string {
  return word.length === 0 ? word : word[0]?.toUpperCase() + word.slice(1);
}

const binaryUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** go-units' BytesSize, as Docker prints memory: four significant digits, "7.775GiB". */
export function bytesSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < binaryUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toPrecision(4))}${binaryUnits[unit]}`;
}

/**
 * A heading (value null) or a field. A leading space in the key marks a field of a section; a
 * key starting with " - " is a list item printed as it is.
 */
export type Field = readonly [key: string, value: string | null];

/** Docker's `inspect --pretty` layout: "Key:" headings and aligned "Key: value" fields. */
export function fieldList(lines: readonly Field[]): string {
  const width = Math.max(...lines.filter(([, v]) => v !== null).map(([k]) => k.length)) + 2;
  return lines
    .map(([key, value]) => {
      if (value === null) return key.startsWith(' - ') ? key : `${key}:`;
      return `${`${key}:`.padEnd(width)} ${value}`.trimEnd();
    })
    .join('\n')
    .concat('\n');
}

/** Go's time.Duration String for whole milliseconds, as Docker prints delays: 5s, 1m30s, 300ms. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}
