import { bad } from './problems.ts';

// Docker's RAMInBytes (go-units): a decimal number, an optional space, then b or a binary
// multiple k, m, g, t, p with an optional "b" or "ib", any case; 1k is 1024. Fractions of a byte
// are truncated, as Go's int64 conversion does.

const multiples: Readonly<Record<string, number>> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** 1 PiB: more than any single host offers, and still exact as a JavaScript number. */
export const maxBytes = 1024 ** 5;

const sizeRe = /^(\d+(?:\.\d*)?|\.\d+) ?(?:(b)|([kmgtp])(b|ib)?)?$/i;

/** Parses a size such as `512M`, `1.5g`, `100kb`, `2GiB`, `4096` into bytes. */
export function parseBytes(text: string, flag: string): number {
  const m = sizeRe.exec(text);
  if (m === null) bad(`${flag}: "${text}" is not a size (examples: 512M, 1.5G)`);
  const n = Number(m[1]);
  const unit = m[3]?.toLowerCase();
  const bytes = Math.trunc(unit === undefined ? n : n * (multiples[unit] as number));
  if (bytes > maxBytes) bad(`${flag}: "${text}" is more than 1P`);
  return bytes;
}

/** The shortest exact text for a byte count (1073741824 -> "1G", 1500 -> "1500"). */
export function formatBytes(bytes: number): string {
  for (const unit of ['P', 'T', 'G', 'M', 'K'] as const) {
    const size = multiples[unit.toLowerCase()] as number;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
