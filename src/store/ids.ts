import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
const idLength = 25;

// Random bytes drawn 4 KiB at a time: one system call per ~150 ids rather than one per id,
// which showed in profiles of a batch creating 10 000 tasks.
let pool = Buffer.alloc(0);
let at = 0;

function nextByte(): number {
  if (at === pool.length) {
    pool = randomBytes(4096);
    at = 0;
  }
  return pool[at++]!;
}

/**
 * A new object id as Swarm's: 25 characters of lowercase base 36 (about 129 bits), drawn on
 * the proposer so that apply stays deterministic.
 */
export function newId(): string {
  let out = '';
  while (out.length < idLength) {
    const b = nextByte();
    // 256 % 36 = 4: bytes from 252 up are skipped so every character is equally likely.
    if (b < 252) out += alphabet[b % 36];
  }
  return out;
}
