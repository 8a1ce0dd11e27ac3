// The overlay between nodes: on every node that has the engine network of an orca network, a
// VXLAN device joins that network's bridge and floods what it does not know where to send to
// every other node (head-end replication, learning where each MAC address lives from what comes
// back), so tasks on different hosts share one layer-2 segment, as on Swarm's overlay driver.
//
// Level-triggered: reconcile() takes the whole list of networks and peers and changes only
// what differs. A node whose engine's bridge is not in this network namespace (a remote engine,
// or nodes sharing one engine, whose tasks already share its bridge) has nothing to do here.

import { execFile } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import {
  bridgeName,
  OVERLAY_MTU,
  VXLAN_PORT,
  VXLAN_PREFIX,
  vniOf,
  vxlanName,
} from './vxlan-names.ts';

export interface OverlayLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface OverlayOptions {
  readonly log: OverlayLog;
  /** The commands with any leading arguments (`['ip', '-n', 'host1']` in tests). */
  readonly ip?: readonly string[];
  readonly bridge?: readonly string[];
  /** The links of this namespace; default: /sys/class/net. */
  readonly links?: () => string[];
  /** The bridge a link is a port of, or null; default: /sys/class/net/NAME/master. */
  readonly linkMaster?: (name: string) => string | null;
}

const ZERO_MAC = '00:00:00:00:00:00';

export class VxlanOverlay {
  readonly #log: OverlayLog;
  readonly #ip: readonly string[];
  readonly #bridgeCmd: readonly string[];
  readonly #links: () => string[];
  readonly #linkMaster: (name: string) => string | null;
  /** Per VXLAN device, the peers its flood list holds. */
  readonly #flood = new Map<string, Set<string>>();
  #wanted: { subnets: string[]; peers: string[] } | null = null;
  #running: Promise<void> | null = null;

  constructor(opts: OverlayOptions) {
    this.#log = opts.log;
    this.#ip = opts.ip ?? ['ip'];
    this.#bridgeCmd = opts.bridge ?? ['bridge'];
    this.#links = opts.links ?? (() => readdirSync('/sys/class/net'));
    this.#linkMaster = opts.linkMaster ?? sysfsMaster;
  }

  /**
   * Every network's subnet and every other node's data-path address; resolves once this and
   * any earlier call's changes are made (failures are logged: the next call tries again).
   */
  reconcile(subnets: readonly string[], peers: readonly string[]): Promise<void> {
    this.#wanted = { subnets: [...subnets], peers: [...new Set(peers)].sort() };
    this.#running ??= this.#drain().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#wanted !== null) {
      const { subnets, peers } = this.#wanted;
      this.#wanted = null;
      let links: Set<string>;
      try {
        links = new Set(this.#links());
      } catch (err) {
        this.#log.warn({ err }, "overlay: cannot list this namespace's links");
        continue;
      }
      const wanted = new Set<string>();
      for (const subnet of subnets) {
        const vni = vniOf(subnet);
        // No engine bridge here: the engine made no network for it on this node (yet), or it
        // is not in this namespace (a remote engine, or nodes sharing one engine's bridge).
        if (!links.has(bridgeName(vni))) continue;
        wanted.add(vxlanName(vni));
        try {
          await this.#network(vni, links, peers);
        } catch (err) {
          this.#log.warn({ err, subnet }, 'overlay: could not join the network to other nodes');
        }
      }
      // Devices of networks gone from the swarm or from this node's engine: a released port
      // would otherwise linger, and hold its VXLAN id should the network come back.
      for (const link of links) {
        if (!link.startsWith(VXLAN_PREFIX) || wanted.has(link)) continue;
        this.#flood.delete(link);
        await this.#run(this.#ip, ['link', 'del', link]).catch((err: unknown) => {
          this.#log.warn({ err, link }, 'overlay: could not remove a VXLAN device');
        });
      }
    }
  }

  async #network(vni: number, links: ReadonlySet<string>, peers: readonly string[]): Promise<void> {
    const bridge = bridgeName(vni);
    const vxlan = vxlanName(vni);
    if (!links.has(vxlan)) {
      this.#flood.delete(vxlan);
      // No `local`: the kernel sends from the address of its route to each peer.
      await this.#run(this.#ip, [
        'link',
        'add',
        vxlan,
        'type',
        'vxlan',
        'id',
        String(vni),
        'dstport',
        String(VXLAN_PORT),
      ]);
      await this.#run(this.#ip, [
        'link',
        'set',
        vxlan,
        'mtu',
        String(OVERLAY_MTU),
        'master',
        bridge,
        'up',
      ]);
      this.#log.debug({ vxlan, bridge, vni }, 'overlay: VXLAN device joined to the bridge');
    } else if (this.#linkMaster(vxlan) !== bridge) {
      // The engine made the bridge again (the network was removed and created): join it.
      await this.#run(this.#ip, ['link', 'set', vxlan, 'master', bridge, 'up']);
    }
    const flood = this.#flood.get(vxlan) ?? (await this.#floodList(vxlan));
    this.#flood.set(vxlan, flood);
    const wanted = new Set(peers);
    for (const peer of wanted) {
      if (flood.has(peer)) continue;
      await this.#run(this.#bridgeCmd, ['fdb', 'append', ZERO_MAC, 'dev', vxlan, 'dst', peer]);
      flood.add(peer);
    }
    for (const peer of [...flood]) {
      if (wanted.has(peer)) continue;
      await this.#run(this.#bridgeCmd, ['fdb', 'del', ZERO_MAC, 'dev', vxlan, 'dst', peer]);
      flood.delete(peer);
    }
  }

  /** The flood list as the kernel has it (a restarted daemon finds the device there). */
  async #floodList(vxlan: string): Promise<Set<string>> {
    const out = await this.#run(this.#bridgeCmd, ['fdb', 'show', 'dev', vxlan]);
    return floodPeers(out);
  }

  #run(command: readonly string[], args: string[]): Promise<string> {
    const [cmd = '', ...lead] = command;
    return new Promise((resolve, reject) => {
      execFile(cmd, [...lead, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
        const text = [...command, ...args].join(' ');
        if (err) reject(new Error(`${text}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout));
      });
    });
  }
}

function sysfsMaster(name: string): string | null {
  try {
    return basename(readlinkSync(`/sys/class/net/${name}/master`));
  } catch {
    return null;
  }
}

/** The peers of `bridge fdb show dev VXLAN`'s all-zero (flood) entries. */
export function floodPeers(fdb: string): Set<string> {
  const peers = new Set<string>();
  for (const line of fdb.split('\n')) {
    const m = /^00:00:00:00:00:00 dst (\S+)/.exec(line.trim());
    if (m?.[1] !== undefined) peers.add(m[1]);
  }
  return peers;
}
