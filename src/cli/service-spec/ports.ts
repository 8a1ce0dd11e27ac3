import type { LoadBalancing, PortConfig, PortProtocol, PublishMode } from '../../api/objects.ts';
import { bad } from './problems.ts';

// Docker's --publish: the short form [PUBLISHED:]TARGET[/PROTOCOL] or the long form of
// comma-separated key=value fields (published, target, protocol, mode). orca adds two long-form
// keys for its routing mesh: lb=round-robin|least-conn|p2c and proxy-protocol (PROXY protocol v2
// towards the task, so that it sees the client's address).

const longForm =
  'published=PORT,target=PORT[,protocol=tcp|udp][,mode=ingress|host][,lb=round-robin|least-conn|p2c][,proxy-protocol]';
const balancers: readonly LoadBalancing[] = ['round-robin', 'least-conn', 'p2c'];

function portNumber(text: string, what: string, flag: string, allowZero = false): number {
  if (!/^\d+$/.test(text)) bad(`${flag}: ${what} "${text}" is not a port number`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) {
    bad(`${flag}: ${what} ${n} is not a port number from 1 to 65535`);
  }
  return n;
}

function protocolOf(text: string, flag: string): PortProtocol {
  const lower = text.toLowerCase();
  if (lower !== 'tcp' && lower !== 'udp') bad(`${flag}: protocol "${text}" is not tcp or udp`);
  return lower;
}

function parseShort(text: string, flag: string): PortConfig {
  const [ports = '', protocolText, extra] = text.split('/');
  if (extra !== undefined) bad(`${flag}: "${text}" is not [PUBLISHED:]TARGET[/PROTOCOL]`);
  const protocol = protocolText === undefined ? 'tcp' : protocolOf(protocolText, flag);
  const parts = ports.split(':');
  if (parts.length > 2) {
    bad(
      `${flag}: "${text}": a service's ports cannot be bound to one IP address (every node listens); give PUBLISHED:TARGET`,
    );
  }
  if (parts.some((x) => x.includes('-'))) {
    bad(`${flag}: "${text}": port ranges are not supported; publish each port with its own flag`);
  }
  const target = portNumber(parts[parts.length - 1] ?? '', 'target port', flag);
  const published = parts.length === 2 ? portNumber(parts[0] ?? '', 'published port', flag) : 0;
  return { protocol, targetPort: target, publishedPort: published, publishMode: 'ingress' };
}

function parseLong(text: string, flag: string): PortConfig {
  let target: number | undefined;
  let published = 0;
  let protocol: PortProtocol = 'tcp';
  let mode: PublishMode = 'ingress';
  let lb: LoadBalancing | undefined;
  let proxyProtocol = false;
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq === -1 ? '' : field.slice(eq + 1).trim();
    switch (key) {
      case 'target':
        target = portNumber(value, 'target port', flag);
        break;
      case 'published':
        published = portNumber(value, 'published port', flag);
        break;
      case 'protocol':
        protocol = protocolOf(value, flag);
        break;
      case 'mode':
        if (value !== 'ingress' && value !== 'host') {
          bad(`${flag}: mode "${value}" is not ingress or host`);
        }
        mode = value;
        break;
      case 'lb':
        if (!(balancers as readonly string[]).includes(value)) {
          bad(`${flag}: lb "${value}" is not one of ${balancers.join(', ')}`);
        }
        lb = value as LoadBalancing;
        break;
      case 'proxy-protocol':
        if (!['', 'v2', 'true', 'false'].includes(value)) {
          bad(`${flag}: proxy-protocol "${value}" is not v2, true or false`);
        }
        proxyProtocol = value !== 'false';
        break;
      default:
        bad(`${flag}: unknown field "${key}" in "${text}" (expected ${longForm})`);
    }
  }
  if (target === undefined) bad(`${flag}: "${text}" has no target port (expected ${longForm})`);
  if (mode === 'host' && (lb !== undefined || proxyProtocol)) {
    bad(`${flag}: lb and proxy-protocol need mode=ingress: a host-mode port is not balanced`);
  }
  if (proxyProtocol && protocol === 'udp') bad(`${flag}: proxy-protocol is for tcp ports only`);
  return {
    protocol,
    targetPort: target,
    publishedPort: published,
    publishMode: mode,
    ...(lb === undefined ? {} : { lb }),
    ...(proxyProtocol ? { proxyProtocol } : {}),
  };
}

/** One `--publish` value. */
export function parsePublish(text: string, flag = '--publish'): PortConfig {
  const trimmed = text.trim();
  if (trimmed === '') bad(`${flag}: give [PUBLISHED:]TARGET[/PROTOCOL] or ${longForm}`);
  return trimmed.includes('=') ? parseLong(trimmed, flag) : parseShort(trimmed, flag);
}

/** `--publish-rm` names a port by its published number: PORT[/PROTOCOL], or the long form. */
export function parsePublishRm(
  text: string,
  flag = '--publish-rm',
): Pick<PortConfig, 'protocol' | 'publishedPort'> {
  const trimmed = text.trim();
  if (trimmed.includes('=')) {
    const port = parseLong(trimmed.includes('target=') ? trimmed : `target=1,${trimmed}`, flag);
    return { protocol: port.protocol, publishedPort: port.publishedPort };
  }
  const [number = '', protocolText, extra] = trimmed.split('/');
  if (extra !== undefined || number.includes(':')) bad(`${flag}: "${text}" is not PORT[/PROTOCOL]`);
  return {
    protocol: protocolText === undefined ? 'tcp' : protocolOf(protocolText, flag),
    publishedPort: portNumber(number, 'published port', flag),
  };
}

/** Ports in order; a published port given twice (per protocol) is an error, as in Docker. */
export function portsFrom(
  texts: readonly string[],
  flag: string,
  check: <T>(parse: () => T) => T | undefined,
  add: (problem: string) => void,
): PortConfig[] {
  const ports: PortConfig[] = [];
  for (const text of texts) {
    const port = check(() => parsePublish(text, flag));
    if (port === undefined) continue;
    if (port.publishedPort > 0 && ports.some((x) => samePublished(x, port))) {
      add(`${flag}: port ${port.publishedPort}/${port.protocol} is published twice`);
    } else ports.push(port);
  }
  return ports;
}

export function samePublished(
  a: Pick<PortConfig, 'protocol' | 'publishedPort'>,
  b: Pick<PortConfig, 'protocol' | 'publishedPort'>,
): boolean {
  return a.publishedPort === b.publishedPort && a.protocol === b.protocol;
}
