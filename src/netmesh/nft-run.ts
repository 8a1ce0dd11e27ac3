// Loading an nftables script: one `nft -f -` transaction, in this process's network namespace
// or, through nsenter, in a task's (its virtual IPs live there).

import { spawn } from 'node:child_process';

export const NFT_TIMEOUT_MS = 15_000;

/**
 * Runs `nft -f -` with `script` on its stdin. With `namespacePid`, inside the network
 * namespace of that process (`nsenter -t PID -n`), which needs root as nft itself does.
 */
export function runNft(
  nft: string,
  script: string,
  namespacePid?: number,
  nsenter = 'nsenter',
): Promise<void> {
  const [command, args] =
    namespacePid === undefined
      ? [nft, ['-f', '-']]
      : [nsenter, ['-t', String(namespacePid), '-n', '--', nft, '-f', '-']];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: NFT_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    // EPIPE when nft dies early is reported by its exit code and stderr instead.
    child.stdin.on('error', () => {});
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new Error(firstLines(stderr.trim()) || `${command} ended with ${code ?? signal}`));
    });
    child.stdin.end(script);
  });
}

export function firstLines(text: string, max = 6): string {
  return text.split('\n').slice(0, max).join('\n');
}
