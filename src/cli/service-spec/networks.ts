import type { NetworkAttachment } from '../../api/objects.ts';
import { bad, type Problems } from './problems.ts';
import type { Draft } from './shared-flags.ts';

// Docker's --network for services: a network name (or id), or the long form of comma-separated
// key=value fields, `name=front,alias=web-front`. The CLI sends what was typed; the manager
// resolves names to ids, so a network unknown there is reported by the manager.

const aliasRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Options the engine takes for other drivers or for `docker run`, not for orca's networks. */
const notForOrca = ['driver-opt', 'ip', 'ip6', 'link-local-ip', 'mac-address', 'gw-priority'];

export function parseNetworkFlag(text: string, flag: string): Draft<NetworkAttachment> {
  if (!text.includes('=')) {
    if (text === '' || text.includes(',')) {
      bad(`${flag}: "${text}" is not a network name or name=NETWORK[,alias=ALIAS]`);
    }
    return { target: text };
  }
  let target: string | undefined;
  const aliases: string[] = [];
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq === -1 ? '' : field.slice(eq + 1).trim();
    if (key === 'name' || key === 'target') {
      if (value === '') bad(`${flag}: "${text}": name= needs a network name`);
      target = value;
    } else if (key === 'alias') {
      if (!aliasRe.test(value)) {
        bad(
          `${flag}: "${text}": alias "${value}" is not a name (letters, digits, _ . -, starting with a letter or digit)`,
        );
      }
      if (!aliases.includes(value)) aliases.push(value);
    } else if (notForOrca.includes(key)) {
      bad(`${flag}: "${text}": ${key} is not supported by orca's overlay networks`);
    } else {
      bad(`${flag}: "${text}": unknown field "${key}" (expected name=NETWORK[,alias=ALIAS])`);
    }
  }
  if (target === undefined) bad(`${flag}: "${text}" names no network (add name=NETWORK)`);
  return aliases.length === 0 ? { target } : { target, aliases };
}

/** Attachments in order; the same network twice is an error, as the engine would refuse it. */
export function networksFrom(
  values: readonly string[],
  flag: string,
  p: Problems,
): Draft<NetworkAttachment>[] {
  const out: Draft<NetworkAttachment>[] = [];
  for (const text of values) {
    const n = p.check(() => parseNetworkFlag(text, flag));
    if (n === undefined) continue;
    if (out.some((x) => x.target === n.target))
      p.add(`${flag}: network ${n.target} is given twice`);
    else out.push(n);
  }
  return out;
}
