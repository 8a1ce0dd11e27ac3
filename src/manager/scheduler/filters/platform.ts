import type { Platform } from '../../../api/objects.ts';
import type { Filter } from '../filter.ts';
import { nodes } from '../filter.ts';

// Go and uname spell some architectures differently; nodes report uname's, images Go's.
const archAliases: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  i386: '386',
};

function normalArch(arch: string): string {
  const lower = arch.toLowerCase();
  return archAliases[lower] ?? lower;
}

function runsOn(image: Platform, node: Platform): boolean {
  return (
    (image.os === '' || image.os.toLowerCase() === node.os.toLowerCase()) &&
    (image.arch === '' || normalArch(image.arch) === normalArch(node.arch))
  );
}

/**
 * The image must have a build for the node's platform. A task whose image platforms are not
 * known passes: `node.platform.*` constraints already cover a user who pins the platform.
 */
export const platformFilter: Filter = {
  name: 'platform',
  check: (request, node) =>
    request.platforms.length === 0 ||
    request.platforms.some((p) => runsOn(p, node.node.description.platform)),
  explain: (count) => `unsupported platform on ${nodes(count)}`,
};
