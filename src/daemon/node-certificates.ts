// This node's TLS material in `<data-dir>/certificates/`, named as Swarm names its own: the
// cluster's root CA certificate, the node's private key (0600, generated here and never sent
// anywhere) and its certificate. A manager issues its own certificate from the cluster's CA and
// keeps the CA's key beside it (0600): Raft's listener needs the certificate before the log,
// where the cluster keeps the CA, can be read; the Raft data on the same disk holds the same key.
// A node that joins gets its certificate from a manager's CA through a CSR (join.ts) and keeps
// the same files, less the CA key.
//
// On a manager both private keys are stored encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY") with the
// data key that also seals its Raft data (at-rest-keys.ts, autolock.ts), as Swarm encrypts a
// manager's TLS key: with autolock on, a stolen disk yields neither. A worker's key stays plain:
// it has no data key (Swarm's worker keeps its key unencrypted too). Reads take either form.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  caDigest,
  createCsr,
  createNodeKey,
  issueNodeCertificate,
  loadCa,
  type NodeRole,
  nodeIdentity,
  type RootCa,
} from '../ca/index.ts';
import { DataDirError } from '../errors.ts';
import { openPrivateKeyPem, sealPrivateKeyPem } from './at-rest-keys.ts';

export const CERTIFICATES_DIR = 'certificates';
const CA_FILE = 'swarm-root-ca.crt';
const CA_KEY_FILE = 'swarm-root-ca.key';
const KEY_FILE = 'swarm-node.key';
const CERT_FILE = 'swarm-node.crt';

export interface NodeCertificateFiles {
  readonly caCertPem: string;
  readonly keyPem: string;
  readonly certPem: string;
}

export interface NodeSubject {
  readonly nodeId: string;
  readonly role: NodeRole;
  readonly clusterId: string;
}

/**
 * The node's certificate files, issued now if they are missing, signed by another CA, for
 * another node or role, or expired; kept as they are otherwise (a restart does not reissue).
 * With `dek` (a manager's data key) the private keys are stored sealed with it, and a key
 * found plain is sealed now.
 */
export async function ensureNodeCertificate(
  dataDir: string,
  ca: RootCa,
  subject: NodeSubject,
  dek: Buffer | null = null,
): Promise<NodeCertificateFiles> {
  const caKeyPem = subject.role === 'manager' ? ca.keyPem : null;
  const existing = await readNodeCertificate(dataDir, dek);
  if (existing !== null && sameCa(existing.caCertPem, ca.certPem) && fits(existing, subject)) {
    if (dek !== null && !(await keysSealed(dataDir, caKeyPem !== null))) {
      await writeNodeCertificate(dataDir, existing, caKeyPem, dek);
    }
    return existing;
  }
  const key = createNodeKey();
  const certPem = await issueNodeCertificate(ca, await createCsr(key.keyPem), subject);
  const files = { caCertPem: ca.certPem, keyPem: key.keyPem, certPem };
  await writeNodeCertificate(dataDir, files, caKeyPem, dek);
  return files;
}

/**
 * Writes the node's files; `caKeyPem` only on a manager, which signs with it. With `dek` the
 * private keys are written sealed with it.
 */
export async function writeNodeCertificate(
  dataDir: string,
  files: NodeCertificateFiles,
  caKeyPem: string | null,
  dek: Buffer | null = null,
): Promise<void> {
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  const stored = (pem: string) => (dek === null ? pem : sealPrivateKeyPem(pem, dek));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(path.join(dir, KEY_FILE), stored(files.keyPem), 0o600);
  await writeAtomically(path.join(dir, CERT_FILE), files.certPem, 0o644);
  await writeAtomically(path.join(dir, CA_FILE), files.caCertPem, 0o644);
  if (caKeyPem !== null) {
    await writeAtomically(path.join(dir, CA_KEY_FILE), stored(caKeyPem), 0o600);
  }
}

/**
 * The CA a manager keeps beside its certificate, or null when there is none (a new swarm). A
 * sealed key opens with `dek`; one that does not is a DataDirError, not a reason for a new CA.
 */
export async function readManagerCa(
  dataDir: string,
  dek: Buffer | null = null,
): Promise<RootCa | null> {
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(path.join(dir, CA_FILE), 'utf8');
    keyPem = await readFile(path.join(dir, CA_KEY_FILE), 'utf8');
  } catch {
    return null;
  }
  const plainKey = openKey(path.join(dir, CA_KEY_FILE), keyPem, dek);
  try {
    return loadCa(certPem, plainKey);
  } catch {
    return null;
  }
}

/** The same certificate, however its PEM text is laid out. */
export function sameCa(a: string, b: string): boolean {
  try {
    return caDigest(a) === caDigest(b);
  } catch {
    return false;
  }
}

function fits(files: NodeCertificateFiles, subject: NodeSubject): boolean {
  try {
    const id = nodeIdentity(files.certPem, files.caCertPem);
    return (
      id.nodeId === subject.nodeId && id.role === subject.role && id.clusterId === subject.clusterId
    );
  } catch {
    return false;
  }
}

/**
 * The node's files as they are on disk (the key opened with `dek` when sealed), or null when
 * one is missing.
 */
export async function readNodeCertificate(
  dataDir: string,
  dek: Buffer | null = null,
): Promise<NodeCertificateFiles | null> {
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  let texts: string[];
  try {
    texts = await Promise.all(
      [CA_FILE, KEY_FILE, CERT_FILE].map((f) => readFile(path.join(dir, f), 'utf8')),
    );
  } catch {
    return null;
  }
  const [caCertPem = '', keyPem = '', certPem = ''] = texts;
  return { caCertPem, keyPem: openKey(path.join(dir, KEY_FILE), keyPem, dek), certPem };
}

const SEALED_HEADER = '-----BEGIN ENCRYPTED PRIVATE KEY-----';

/** A stored private key as plain PEM: opened with `dek` when it is sealed. */
function openKey(file: string, pem: string, dek: Buffer | null): string {
  if (!pem.includes(SEALED_HEADER)) return pem;
  if (dek === null) {
    throw new DataDirError(`${file} is encrypted and this node has no data key to open it`);
  }
  try {
    return openPrivateKeyPem(pem, dek);
  } catch (err) {
    throw new DataDirError(
      `${file} does not open with this node's data key (${(err as Error).message}); orca will not repair it`,
      { cause: err },
    );
  }
}

/** Whether the private keys on disk are stored sealed (the CA key only where a manager has one). */
async function keysSealed(dataDir: string, withCaKey: boolean): Promise<boolean> {
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  const files = withCaKey ? [KEY_FILE, CA_KEY_FILE] : [KEY_FILE];
  const texts = await Promise.all(
    files.map((f) => readFile(path.join(dir, f), 'utf8').catch(() => '')),
  );
  return texts.every((t) => t.includes(SEALED_HEADER));
}

/** The key is written before the certificate that names it, each through a rename. */
async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}
