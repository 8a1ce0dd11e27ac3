// This node's TLS material in `<data-dir>/certificates/`, named as Swarm names its own: the
// cluster's root CA certificate, the node's private key (0600, generated here and never sent
// anywhere) and its certificate. A manager issues its own certificate from the cluster's CA and
// keeps the CA's key beside it (0600): Raft's listener needs the certificate before the log,
// where the cluster keeps the CA, can be read; the Raft data on the same disk holds the same key.
// A node that joins gets its certificate from a manager's CA through a CSR (join.ts) and keeps
// the same files, less the CA key.

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
 */
export async function ensureNodeCertificate(
  dataDir: string,
  ca: RootCa,
  subject: NodeSubject,
): Promise<NodeCertificateFiles> {
  const existing = await readNodeCertificate(dataDir);
  if (existing !== null && sameCa(existing.caCertPem, ca.certPem) && fits(existing, subject)) {
    return existing;
  }
  const key = createNodeKey();
  const certPem = await issueNodeCertificate(ca, await createCsr(key.keyPem), subject);
  const files = { caCertPem: ca.certPem, keyPem: key.keyPem, certPem };
  await writeNodeCertificate(dataDir, files, subject.role === 'manager' ? ca.keyPem : null);
  return files;
}

/** Writes the node's files; `caKeyPem` only on a manager, which signs with it. */
export async function writeNodeCertificate(
  dataDir: string,
  files: NodeCertificateFiles,
  caKeyPem: string | null,
): Promise<void> {
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(path.join(dir, KEY_FILE), files.keyPem, 0o600);
  await writeAtomically(path.join(dir, CERT_FILE), files.certPem, 0o644);
  await writeAtomically(path.join(dir, CA_FILE), files.caCertPem, 0o644);
  if (caKeyPem !== null) await writeAtomically(path.join(dir, CA_KEY_FILE), caKeyPem, 0o600);
}

/** The CA a manager keeps beside its certificate, or null when there is none (a new swarm). */
export async function readManagerCa(dataDir: string): Promise<RootCa | null> {
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  try {
    const [certPem, keyPem] = await Promise.all(
      [CA_FILE, CA_KEY_FILE].map((f) => readFile(path.join(dir, f), 'utf8')),
    );
    return loadCa(certPem ?? '', keyPem ?? '');
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

/** The node's files as they are on disk, or null when one is missing. */
export async function readNodeCertificate(dataDir: string): Promise<NodeCertificateFiles | null> {
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  try {
    const [caCertPem, keyPem, certPem] = await Promise.all(
      [CA_FILE, KEY_FILE, CERT_FILE].map((f) => readFile(path.join(dir, f), 'utf8')),
    );
    return { caCertPem: caCertPem ?? '', keyPem: keyPem ?? '', certPem: certPem ?? '' };
  } catch {
    return null;
  }
}

/** The key is written before the certificate that names it, each through a rename. */
async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}
