// The keys that encrypt a manager's data at rest, as Swarm keeps them: one data encryption key
// (DEK) seals the Raft log and snapshots (src/raft/value-cipher.ts) and the TLS private keys,
// and is itself stored only wrapped by a key encryption key (KEK). Without autolock the KEK
// sits beside it in plain (the data is encrypted, but anyone with the disk can open it); with
// autolock the KEK is the unlock key, kept nowhere on this node, so a restarted manager stays
// locked until someone gives the key. Turning autolock on or off, or rotating the unlock key,
// only wraps the same DEK again: no data is re-encrypted.
//
// `<data-dir>/keys.json`, mode 0600: { version, dek: base64(sealed DEK), kek?: base64 }.

import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseUnlockKey } from '../ca/unlock-key.ts';
import { DataDirError, UnlockKeyError } from '../errors.ts';
import { aesGcmCipher, KEY_BYTES, ValueCipherError } from '../raft/value-cipher.ts';

const FILE = 'keys.json';
const VERSION = 1;

interface KeysFile {
  version: number;
  dek: string;
  kek?: string;
}

export type AtRestKeys =
  | { readonly state: 'unlocked'; readonly dek: Buffer }
  | { readonly state: 'locked' };

/** A new DEK, wrapped by the unlock key (autolock) or by a KEK stored beside it. */
export async function createAtRestKeys(dataDir: string, unlockKey: string | null): Promise<Buffer> {
  const dek = randomBytes(KEY_BYTES);
  await wrapAtRestKeys(dataDir, dek, unlockKey);
  return dek;
}

/** Wraps `dek` again: autolock turned on or off, or a new unlock key. */
export async function wrapAtRestKeys(
  dataDir: string,
  dek: Buffer,
  unlockKey: string | null,
): Promise<void> {
  const kek = unlockKey === null ? randomBytes(KEY_BYTES) : parseUnlockKey(unlockKey);
  const file: KeysFile = {
    version: VERSION,
    dek: aesGcmCipher(kek).seal(dek).toString('base64'),
    ...(unlockKey === null ? { kek: kek.toString('base64') } : {}),
  };
  const target = path.join(dataDir, FILE);
  await writeFile(`${target}.tmp`, JSON.stringify(file), { mode: 0o600 });
  await rename(`${target}.tmp`, target);
}

/** What the data dir holds: null when it has no keys (no swarm, or one from before them). */
export async function readAtRestKeys(dataDir: string): Promise<AtRestKeys | null> {
  const file = await readKeysFile(dataDir);
  if (file === null) return null;
  if (file.kek === undefined) return { state: 'locked' };
  return { state: 'unlocked', dek: openDek(dataDir, file, Buffer.from(file.kek, 'base64')) };
}

/** The DEK, opened with the unlock key; an UnlockKeyError when it is not the right key. */
export async function unlockAtRestKeys(dataDir: string, unlockKey: string): Promise<Buffer> {
  const kek = parseUnlockKey(unlockKey);
  const file = await readKeysFile(dataDir);
  if (file === null) throw new UnlockKeyError('this node has no locked data to unlock');
  try {
    return aesGcmCipher(kek).open(Buffer.from(file.dek, 'base64'));
  } catch (err) {
    if (!(err instanceof ValueCipherError)) throw err;
    throw new UnlockKeyError(
      'the unlock key is not the one this node is locked with (a rotated key? `orca swarm unlock-key` on another manager shows the current one)',
    );
  }
}

/** Leaving the swarm: the keys go with the data they open. */
export async function removeAtRestKeys(dataDir: string): Promise<void> {
  await rm(path.join(dataDir, FILE), { force: true });
}

/** A private key PEM as it is stored: encrypted PKCS#8 under the DEK. */
export function sealPrivateKeyPem(keyPem: string, dek: Buffer): string {
  return createPrivateKey(keyPem)
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: dek })
    .toString();
}

/** The plain PKCS#8 PEM of a key stored by sealPrivateKeyPem. */
export function openPrivateKeyPem(sealedPem: string, dek: Buffer): string {
  return createPrivateKey({ key: sealedPem, passphrase: dek })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

async function readKeysFile(dataDir: string): Promise<KeysFile | null> {
  const file = path.join(dataDir, FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<KeysFile>;
    if (parsed.version !== VERSION || typeof parsed.dek !== 'string') {
      throw new Error(`expected version ${VERSION} and a dek`);
    }
    if (parsed.kek !== undefined && typeof parsed.kek !== 'string') throw new Error('bad kek');
    return parsed as KeysFile;
  } catch (err) {
    throw new DataDirError(
      `${file} is unreadable (${(err as Error).message}); orca will not repair it`,
    );
  }
}

function openDek(dataDir: string, file: KeysFile, kek: Buffer): Buffer {
  try {
    return aesGcmCipher(kek).open(Buffer.from(file.dek, 'base64'));
  } catch (err) {
    if (!(err instanceof ValueCipherError)) throw err;
    throw new DataDirError(
      `${path.join(dataDir, FILE)}: the data key does not open with the key stored beside it; orca will not repair it`,
    );
  }
}
