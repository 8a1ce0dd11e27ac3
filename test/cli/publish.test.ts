import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultServiceSpec } from '../../src/api/service-defaults.ts';
import { serviceSpecFromCreate } from '../../src/cli/service-spec/create-flags.ts';
import { parsePublish, parsePublishRm } from '../../src/cli/service-spec/ports.ts';
import { serviceSpecFromUpdate } from '../../src/cli/service-spec/update-flags.ts';
import { throwsProblem } from './problems.ts';

describe('--publish (Docker short and long forms)', () => {
  it('parses the short form', () => {
    assert.deepEqual(parsePublish('8080:80'), {
      protocol: 'tcp',
      targetPort: 80,
      publishedPort: 8080,
      publishMode: 'ingress',
    });
    assert.deepEqual(parsePublish('53:53/udp').protocol, 'udp');
    assert.equal(parsePublish('80').publishedPort, 0);
  });

  it('parses the long form with orca mesh options', () => {
    assert.deepEqual(
      parsePublish('published=9000,target=8080,protocol=tcp,mode=ingress,lb=p2c,proxy-protocol'),
      {
        protocol: 'tcp',
        targetPort: 8080,
        publishedPort: 9000,
        publishMode: 'ingress',
        lb: 'p2c',
        proxyProtocol: true,
      },
    );
    assert.equal(parsePublish('target=80,mode=host').publishMode, 'host');
  });

  it('names the flag and the problem', () => {
    throwsProblem(() => parsePublish('70000:80'), /published port 70000 is not a port number/);
    throwsProblem(() => parsePublish('8080:80/sctp'), /protocol "sctp" is not tcp or udp/);
    throwsProblem(() => parsePublish('127.0.0.1:8080:80'), /cannot be bound to one IP address/);
    throwsProblem(() => parsePublish('8080-8081:80-81'), /port ranges are not supported/);
    throwsProblem(() => parsePublish('published=80'), /has no target port/);
    throwsProblem(() => parsePublish('target=80,color=red'), /unknown field "color"/);
    throwsProblem(() => parsePublish('target=80,lb=random'), /lb "random" is not one of/);
    throwsProblem(() => parsePublish('target=80,mode=host,lb=p2c'), /need mode=ingress/);
    throwsProblem(
      () => parsePublish('target=53,protocol=udp,proxy-protocol'),
      /proxy-protocol is for tcp ports only/,
    );
  });

  it('builds the endpoint of a created service, refusing a port given twice', () => {
    const spec = serviceSpecFromCreate('nginx', [], { publish: ['8080:80', '53:53/udp'] });
    assert.deepEqual(spec.endpoint, {
      mode: 'vip',
      ports: [
        { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
        { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'ingress' },
      ],
    });
    assert.equal(serviceSpecFromCreate('nginx', [], {}).endpoint, undefined);
    throwsProblem(
      () => serviceSpecFromCreate('nginx', [], { publish: ['8080:80', '8080:81'] }),
      '--publish: port 8080/tcp is published twice',
    );
    throwsProblem(
      () => serviceSpecFromCreate('nginx', [], { publish: ['8080:80'], endpointMode: 'dnsrr' }),
      /--endpoint-mode dnsrr: a port published in ingress mode needs vip/,
    );
    throwsProblem(
      () => serviceSpecFromCreate('nginx', [], { endpointMode: 'round' }),
      '--endpoint-mode: "round" is not vip or dnsrr',
    );
  });

  it('adds, replaces and removes ports on update', () => {
    const current = {
      ...defaultServiceSpec('nginx'),
      endpoint: {
        mode: 'vip' as const,
        ports: [
          {
            protocol: 'tcp' as const,
            targetPort: 80,
            publishedPort: 8080,
            publishMode: 'ingress' as const,
          },
        ],
      },
    };
    const added = serviceSpecFromUpdate(current, { publishAdd: ['8443:443', '8080:81'] });
    assert.deepEqual(
      added.endpoint?.ports.map((p) => `${p.publishedPort}:${p.targetPort}`),
      ['8080:81', '8443:443'],
    );
    const removed = serviceSpecFromUpdate(current, { publishRm: ['8080'] });
    assert.deepEqual(removed.endpoint?.ports, []);
    throwsProblem(
      () => serviceSpecFromUpdate(current, { publishRm: ['9999/udp'] }),
      '--publish-rm: the service publishes no port 9999/udp',
    );
    assert.deepEqual(parsePublishRm('published=53,protocol=udp'), {
      protocol: 'udp',
      publishedPort: 53,
    });
  });
});
