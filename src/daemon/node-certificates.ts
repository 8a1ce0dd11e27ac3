// This node's TLS material in `<data-dir>/certificates/`, named as Swarm names its own: the
// cluster's root CA certificate, the node's private key (0600, generated here and never sent
// anywhere) and its certificate. A manager issues its own certificate from the cluster's CA;
// joining nodes will get theirs through a CSR (issue 4). Nothing dials with them yet.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  createCsr,
  createNodeKey,
  issueNodeCertificate,
  type NodeRole,
  nodeIdentity,
  type RootCa,
} from '../ca/index.ts';

export const CERTIFICATES_DIR = 'certificates';
const CA_FILE = 'swarm-root-ca.crt';
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
  if (existing !== null && existing.caCertPem === ca.certPem && fits(existing, subject)) {
    return existing;
  }
  const key = createNodeKey();
  const certPem = await issueNodeCertificate(ca, await createCsr(key.keyPem), subject);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(path.join(dir, KEY_FILE), key.keyPem, 0o600);
  await writeAtomically(path.join(dir, CERT_FILE), certPem, 0o644);
  await writeAtomically(path.join(dir, CA_FILE), ca.certPem, 0o644);
  return { caCertPem: ca.certPem, keyPem: key.keyPem, certPem };
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
