import { bad } from './problems.ts';

// Docker's NanoCPUs: a decimal number of CPUs, stored in units of 1e-9 CPU. Converted digit by
// digit so that 0.1 is exactly 100000000, which floating point multiplication does not promise.

/** More CPUs than any machine orca will meet; keeps nanoCPUs an exact JavaScript integer. */
export const maxCpus = 4096;

/** Parses `1.5` into 1_500_000_000 nanoCPUs. */
export function parseCpus(text: string, flag: string): number {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text);
  if (m === null || (m[1] === '' && (m[2] ?? '') === '')) {
    bad(`${flag}: "${text}" is not a number of CPUs (examples: 0.5, 2)`);
  }
  const whole = m[1] || '0';
  const frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length > 9) bad(`${flag}: "${text}" is more precise than 0.000000001 CPU`);
  const nano = BigInt(whole) * 1_000_000_000n + BigInt(frac.padEnd(9, '0') || '0');
  if (nano > BigInt(maxCpus) * 1_000_000_000n)
    bad(`${flag}: "${text}" is more than ${maxCpus} CPUs`);
  return Number(nano);
}

/** 1_500_000_000 -> "1.5". */
export function formatCpus(nanoCpus: number): string {
  const whole = Math.floor(nanoCpus / 1e9);
  const frac = String(nanoCpus % 1e9)
    .padStart(9, '0')
    .replace(/0+$/, '');
  return frac === '' ? String(whole) : `${whole}.${frac}`;
}
