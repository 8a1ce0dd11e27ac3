// This node's TLS material in `<data-dir>/certificates/`, named as Swarm names its own: the
// cluster's root CA certificate, the node's private key (0600, generated here and never sent
// anywhere) and its certificate. A manager issues its own certificate from the cluster's CA and
// keeps the CA's key beside it (0600): Raft's listener needs the certificate before the log,
// where the cluster keeps the CA, can be read; the Raft data on the same disk holds the same key.
// Joining nodes will get their certificates through a CSR (issue 4).

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
  const dir = path.join(dataDir, CERTIFICATES_DIR);
  const existing = await readFiles(dir);
  if (existing !== null && sameCa(existing.caCertPem, ca.certPem) && fits(existing, subject)) {
    return existing;
  }
  const key = createNodeKey();
  const certPem = await issueNodeCertificate(ca, await createCsr(key.keyPem), subject);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(path.join(dir, KEY_FILE), key.keyPem, 0o600);
  await writeAtomically(path.join(dir, CERT_FILE), certPem, 0o644);
  await writeAtomically(path.join(dir, CA_FILE), ca.certPem, 0o644);
  if (subject.role === 'manager')
    await writeAtomically(path.join(dir, CA_KEY_FILE), ca.keyPem, 0o600);
  return { caCertPem: ca.certPem, keyPem: key.keyPem, certPem };
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

async function readFiles(dir: string): Promise<NodeCertificateFiles | null> {
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
