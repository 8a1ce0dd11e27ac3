// Autolock on the CLI, as Docker's: `swarm unlock` (the key read from the terminal without echo,
// or from a pipe), `swarm unlock-key [-q] [--rotate]`, the `--autolock` flag of `swarm init`
// and `swarm update`, and the text that shows a new key.

import type { Command } from 'commander';
import { OrcaError } from '../errors.ts';
import { hostOf } from './common.ts';
import { callDaemon } from './control-client.ts';
import { bad } from './service-spec/problems.ts';

/** `--autolock`, `--autolock=true|false`: the values Docker's (Go's) boolean flags take. */
export function parseAutolock(value: string | boolean | undefined): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  return bad(`--autolock: "${value}" is not true or false`);
}

/** What Docker prints for an unlock key: where it is needed, and to keep it safe. */
export function unlockInstructions(key: string): string {
  return (
    'To unlock a swarm manager after it restarts, run the `orca swarm unlock`\n' +
    `command and provide the following key:\n\n    ${key}\n\n` +
    'Please remember to store this key in a password manager, since without it you\n' +
    'will not be able to restart the manager.\n'
  );
}

/** The cluster's unlock key; Docker's error while autolock is off. */
export async function currentUnlockKey(host: string, rotate = false): Promise<string> {
  const { unlockKey } = await callDaemon(host, 'SwarmUnlockKey', { rotate });
  if (unlockKey === '') throw new OrcaError('ORCA_SWARM_NOT_AUTOLOCKED', 'no unlock key is set');
  return unlockKey;
}

export function addSwarmLockCommands(swarm: Command): void {
  swarm
    .command('unlock')
    .description('unlock a manager that restarted with autolock on: reads the unlock key')
    .addHelpText(
      'after',
      `
The key is read from the terminal without echo, or from standard input when it is not a
terminal (the first line).

Examples:
  orca swarm unlock
  orca swarm unlock < unlock-key.txt
  ssh manager-1 orca swarm unlock-key -q | orca swarm unlock`,
    )
    .action(async (_o: unknown, cmd: Command) => {
      const host = hostOf(cmd);
      // As Docker: the state first, so that nobody types a key for nothing.
      const info = await callDaemon(host, 'Info', {});
      if (info.swarm === 'inactive') {
        throw new OrcaError('ORCA_SWARM_INACTIVE', 'this node is not part of a swarm');
      }
      if (info.swarm !== 'locked') {
        throw new OrcaError('ORCA_SWARM_NOT_LOCKED', 'swarm is not locked');
      }
      const unlockKey = await readUnlockKey();
      await callDaemon(host, 'SwarmUnlock', { unlockKey });
    });

  swarm
    .command('unlock-key')
    .description('print the key that unlocks a restarted manager (autolock)')
    .option('-q, --quiet', 'print the key only')
    .option('--rotate', 'replace the key: every manager wraps its data key with the new one')
    .addHelpText(
      'after',
      `
Keep the previous key until every manager is running again after a rotation: a manager that
was down while it happened opens with the old key, then takes the new one.

Examples:
  orca swarm unlock-key
  orca swarm unlock-key -q
  orca swarm unlock-key --rotate`,
    )
    .action(async (o: { quiet?: boolean; rotate?: boolean }, cmd: Command) => {
      const key = await currentUnlockKey(hostOf(cmd), o.rotate === true);
      if (o.quiet === true) {
        process.stdout.write(`${key}\n`);
        return;
      }
      if (o.rotate === true) process.stdout.write('Successfully rotated manager unlock key.\n\n');
      process.stdout.write(unlockInstructions(key));
    });
}

/**
 * The key as Docker reads it: from a terminal with a prompt on stderr and without echo; from
 * anything else, its first line.
 */
async function readUnlockKey(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return (await firstLine(stdin)).trim();
  process.stderr.write('Please enter unlock key: ');
  stdin.setRawMode(true);
  try {
    return (await typedLine(stdin)).trim();
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

function firstLine(stream: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (line: string) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', reject);
      stream.destroy();
      resolve(line);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) done(text.slice(0, nl));
    };
    const onEnd = () => done(text);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', reject);
  });
}

/** Keys typed in raw mode until Enter: backspace edits, Ctrl-C gives up, nothing is echoed. */
function typedLine(stream: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (fn: () => void) => {
      stream.off('data', onData);
      fn();
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish(() => resolve(text));
          return;
        }
        if (ch === '\u0003') {
          finish(() => reject(new OrcaError('ORCA_INTERRUPTED', 'interrupted')));
          return;
        }
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stream.on('data', onData);
  });
}
