import { constants } from 'node:os';
import { bad } from './problems.ts';

// Docker's stop signals (moby/sys signal.ParseSignal): a number, or a name with or without
// SIG, any case, including the real-time RTMIN+n / RTMAX-n. Kept as the user wrote it, as Swarm
// keeps it; the worker resolves it on its own platform.

const names = new Set(Object.keys(constants.signals).map((s) => s.replace(/^SIG/, '')));

export function parseStopSignal(text: string, flag: string): string {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return text;
  } else {
    const name = text.toUpperCase().replace(/^SIG/, '');
    const rt = /^RT(?:MIN(?:\+(\d+))?|MAX(?:-(\d+))?)$/.exec(name);
    if (names.has(name) || (rt !== null && Number(rt[1] ?? rt[2] ?? 0) <= 15)) return text;
  }
  bad(`${flag}: "${text}" is not a signal (examples: SIGTERM, SIGINT, 15)`);
}
