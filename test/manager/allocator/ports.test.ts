import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PortConfig, Service } from '../../../src/api/objects.ts';
import { OrcaError } from '../../../src/errors.ts';
import {
  allocatePorts,
  dynamicPortRange,
  taskPorts,
} from '../../../src/manager/allocator/ports.ts';
import { makeService } from '../orchestrator/builders.ts';

const port = (published: number, target = 80, extra: Partial<PortConfig> = {}): PortConfig => ({
  protocol: 'tcp',
  targetPort: target,
  publishedPort: published,
  publishMode: 'ingress',
  ...extra,
});

function publishing(name: string, ports: PortConfig[]): Service {
  const s = makeService({ kind: 'replicated', replicas: 1 }, { id: name });
  return { ...s, spec: { ...s.spec, name }, endpoint: { ports } };
}

const inUse = (re: RegExp) => (err: unknown) =>
  err instanceof OrcaError && err.code === 'ORCA_PORT_IN_USE' && re.test(err.message);

describe('published port allocation', () => {
  it('keeps given ports and numbers unnumbered ingress ports from the dynamic range', () => {
    const others = [publishing('a', [port(dynamicPortRange.first)])];
    const endpoint = allocatePorts(
      { mode: 'vip', ports: [port(8080), port(0, 9000)] },
      undefined,
      others,
    );
    assert.deepEqual(
      endpoint?.ports.map((p) => p.publishedPort),
      [8080, dynamicPortRange.first + 1],
    );
    assert.equal(allocatePorts({ mode: 'vip', ports: [] }, undefined, []), undefined);
  });

  it('refuses an ingress port another service publishes, naming it', () => {
    const others = [publishing('web', [port(8080)])];
    assert.throws(
      () => allocatePorts({ mode: 'vip', ports: [port(8080, 81)] }, undefined, others),
      inUse(/port 8080\/tcp is already published by service web/),
    );
    // Another protocol is another port.
    const udp = allocatePorts(
      { mode: 'vip', ports: [port(8080, 81, { protocol: 'udp' })] },
      undefined,
      others,
    );
    assert.equal(udp?.ports[0]?.publishedPort, 8080);
  });

  it('lets host-mode ports share a number, but not with an ingress port', () => {
    const host = (n: number) => port(n, 80, { publishMode: 'host' });
    const others = [publishing('agent', [host(9100)])];
    assert.equal(
      allocatePorts({ mode: 'vip', ports: [host(9100)] }, undefined, others)?.ports[0]
        ?.publishedPort,
      9100,
    );
    assert.throws(
      () => allocatePorts({ mode: 'vip', ports: [port(9100)] }, undefined, others),
      inUse(/9100\/tcp is already published by service agent/),
    );
    assert.throws(
      () =>
        allocatePorts({ mode: 'vip', ports: [host(8080)] }, undefined, [
          publishing('web', [port(8080)]),
        ]),
      inUse(/8080\/tcp/),
    );
  });

  it('keeps the number an unnumbered port was given across updates', () => {
    const previous = { ports: [port(30123, 9000)] };
    const endpoint = allocatePorts({ mode: 'vip', ports: [port(0, 9000)] }, previous, []);
    assert.equal(endpoint?.ports[0]?.publishedPort, 30123);
  });

  it("gives tasks the container side only: an ingress port's number and balancing stay out", () => {
    assert.deepEqual(
      taskPorts({
        ports: [
          port(8080, 80, { lb: 'p2c' }),
          port(9100, 9100, { publishMode: 'host', protocol: 'udp' }),
        ],
      }),
      [
        { protocol: 'tcp', targetPort: 80, publishedPort: 0, publishMode: 'ingress' },
        { protocol: 'udp', targetPort: 9100, publishedPort: 9100, publishMode: 'host' },
      ],
    );
    assert.deepEqual(taskPorts(undefined), []);
  });
});
