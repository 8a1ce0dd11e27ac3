// The routing mesh's daemon settings, apart from the data paths themselves so that the CLI can
// check the flags without loading them.

export const meshDataPaths = ['node', 'nftables'] as const;
export type MeshDataPathKind = (typeof meshDataPaths)[number];

export interface MeshSettings {
  /** Where published ingress ports listen. */
  readonly bindAddr: string;
  readonly kind: MeshDataPathKind;
  /** Threads of the Node data path. */
  readonly threads: number;
}
