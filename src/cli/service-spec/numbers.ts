import { bad } from './problems.ts';

/** A decimal whole number within [min, max]; no sign, no hex (Docker's ParseUint takes 0x10). */
export function parseWhole(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) bad(`${flag}: "${text}" is not a whole number >= ${min}`);
  const n = Number(text);
  if (n < min) bad(`${flag}: "${text}" is not a whole number >= ${min}`);
  if (n > max) bad(`${flag}: "${text}" is more than ${max}`);
  return n;
}

/** A fraction in [0, 1], as Swarm's max failure ratio. */
export function parseRatio(text: string, flag: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text) || Number(text) > 1) {
    bad(`${flag}: "${text}" is not a number from 0 to 1 (example: 0.2)`);
  }
  return Number(text);
}

/** One of a fixed set of words, exactly as Docker spells them. */
export function parseChoice<T extends string>(
  text: string,
  flag: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    bad(`${flag}: "${text}" is not one of ${choices.join(', ')}`);
  }
  return text as T;
}
