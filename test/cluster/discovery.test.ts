// Service discovery on three nodes (a manager and two workers, each an orca daemon in its own
// network namespace), run twice: with the machine's engine shared by the nodes (their containers
// share one bridge per network), and with an engine of each node's own, as on separate machines,
// where only orca's VXLAN overlay joins the nodes' bridges. A client task on one node finds
// services on the other two by name through orca's DNS inside its own namespace: a vip-mode
// service answers its virtual IP, whose connections are spread over its tasks by the rules in
// the client's namespace; a dnsrr-mode service answers its tasks' own addresses; tasks.NAME
// answers the tasks in either mode; a removed service stops resolving.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DnsServer } from '../../src/netmesh/dns/index.ts';
import { waitFor } from '../support/wait.ts';
import { httpHealthCheck } from './http-health.ts';
import { netnsSkip } from './netns.ts';
import { OrcaCluster } from './orca-cluster.ts';

const IMAGE = 'orca-test/busybox:1';

/**
 * Serves its own hostname (the container's id, so each task answers differently) on 8080, and
 * under an init, so that it stops at once when told to (PID 1 would ignore SIGTERM).
 */
const hostnameServer = [
  '--init',
  IMAGE,
  'sh',
  '-c',
  'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www',
];

interface TaskJson {
  nodeId: string;
  desiredState: string;
  status: { state: string; containerId?: string };
  networks?: { network: string; addr: string }[];
}
interface ServiceJson {
  endpoint?: { virtualIps?: { network: string; addr: string }[] };
}

for (const engines of ['shared', 'per-host'] as const) {
  describe(`service discovery (${engines} engines)`, { skip: netnsSkip() }, () => {
    let upstream: DnsServer | undefined;
    let cluster: OrcaCluster;
    /** Runs in the client task's container, on node 0's engine. */
    const dockerExec = (container: string, ...cmd: string[]) =>
      cluster.docker(0, 'exec', container, ...cmd);
    /** The A records busybox's nslookup prints for `name` (asked through the container's resolver). */
    const lookup = async (container: string, name: string): Promise<string[]> => {
      const out = await dockerExec(container, 'nslookup', '-type=a', name);
      const answers = out
        .split(/\n\s*\n/)
        .slice(1)
        .join('\n');
      return [...answers.matchAll(/Address:\s*(\d+\.\d+\.\d+\.\d+)/g)]
        .map((m) => m[1] ?? '')
        .sort();
    };
    const nodeIds: string[] = [];
    let client = '';

    const running = async (service: string): Promise<TaskJson[]> => {
      const tasks = await cluster.json<TaskJson[]>(0, 'service', 'ps', service, '--format', 'json');
      return tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');
    };
    const taskAddresses = async (service: string): Promise<string[]> =>
      (await running(service)).map((t) => t.networks?.[0]?.addr ?? '').sort();

    before(async () => {
      cluster = await OrcaCluster.start({ hosts: 3, engines });
      // The nodes' resolver (their resolv.conf names the harness bridge): what orca's DNS
      // forwards every name it does not know to.
      upstream = new DnsServer();
      await upstream.start({ bindAddr: cluster.net.bridgeIp, port: 53, upstreams: [] });
      upstream.setScopes(new Map([['hosts', [cluster.net.subnet]]]));
      upstream.setRecords('hosts', new Map([['outside.example.org', ['192.0.2.7']]]));
      await cluster.init();
      await cluster.join(1, 'worker');
      await cluster.join(2, 'worker');
      for (let i = 0; i < 3; i++) nodeIds.push(await cluster.nodeId(i));
      await cluster.ok(0, 'network', 'create', 'appnet');
      const on = (i: number) => ['--network', 'appnet', '--constraint', `node.id==${nodeIds[i]}`];
      await cluster.ok(
        0,
        'service',
        'create',
        '--name',
        'web',
        '--replicas',
        '2',
        ...on(1),
        ...httpHealthCheck,
        ...hostnameServer,
      );
      await cluster.ok(
        0,
        'service',
        'create',
        '--name',
        'rr',
        '--endpoint-mode',
        'dnsrr',
        '--replicas',
        '2',
        ...on(2),
        ...hostnameServer,
      );
      await cluster.ok(
        0,
        'service',
        'create',
        '--name',
        'client',
        ...on(0),
        '--init',
        IMAGE,
        'sleep',
        '3600',
      );
      const [task] = await running('client');
      assert.ok(task?.status.containerId, 'the client task runs');
      client = task.status.containerId;
    });
    after(async () => {
      await upstream?.stop();
      await cluster?.destroy();
    });

    it('gives tasks addresses on the network and vip-mode services a virtual IP', async () => {
      const [web] = await cluster.json<ServiceJson[]>(0, 'service', 'inspect', 'web');
      const vip = web?.endpoint?.virtualIps?.[0]?.addr;
      assert.match(vip ?? '', /^10\.\d+\.\d+\.\d+$/, 'web has a VIP on appnet');
      const [rr] = await cluster.json<ServiceJson[]>(0, 'service', 'inspect', 'rr');
      assert.equal(rr?.endpoint?.virtualIps?.length ?? 0, 0, 'a dnsrr service has no VIP');
      const addresses = [...(await taskAddresses('web')), ...(await taskAddresses('rr'))];
      assert.equal(new Set(addresses).size, 4, `four distinct task addresses: ${addresses}`);
      assert.ok(!addresses.includes(vip ?? ''), 'no task has the VIP');
      // The container really has the address the manager gave its task.
      const inside = await dockerExec(client, 'ip', '-4', '-o', 'addr');
      const [own] = await taskAddresses('client');
      assert.ok(own && inside.includes(`${own}/`), `client has ${own}: ${inside}`);
    });

    it('resolves a vip-mode service on another node to its VIP and spreads connections over its tasks', async () => {
      const [web] = await cluster.json<ServiceJson[]>(0, 'service', 'inspect', 'web');
      const vip = web?.endpoint?.virtualIps?.[0]?.addr ?? '';
      const answer = await waitFor(
        async () => {
          const a = await lookup(client, 'web');
          return a.length === 1 && a[0] === vip ? a : null;
        },
        { timeoutMs: 30_000, what: `web resolving to ${vip} from the client` },
      );
      assert.deepEqual(answer, [vip]);
      const webTasks = (await running('web')).map((t) => t.status.containerId?.slice(0, 12));
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const body = await waitFor(
          () => dockerExec(client, 'wget', '-q', '-O', '-', 'http://web:8080/'),
          {
            timeoutMs: 15_000,
            what: 'an answer from web by name',
          },
        );
        seen.add(body.trim());
      }
      assert.deepEqual([...seen].sort(), webTasks.sort(), 'both tasks answered through the VIP');
      const tasks = await lookup(client, 'tasks.web');
      assert.deepEqual(tasks, await taskAddresses('web'), 'tasks.web lists the tasks');
    });

    it("resolves a dnsrr-mode service on another node to its tasks' addresses", async () => {
      const expected = await taskAddresses('rr');
      const answer = await waitFor(
        async () => {
          const a = await lookup(client, 'rr');
          return a.join() === expected.join() ? a : null;
        },
        { timeoutMs: 30_000, what: `rr resolving to ${expected} from the client` },
      );
      assert.deepEqual(answer, expected);
      const body = await dockerExec(client, 'wget', '-q', '-O', '-', 'http://rr:8080/');
      const rrTasks = (await running('rr')).map((t) => t.status.containerId?.slice(0, 12));
      assert.ok(rrTasks.includes(body.trim()), `an rr task answered: ${body}`);
    });

    it('fails no request made by name while a rolling update replaces every task behind the VIP', async () => {
      const before = (await running('web')).map((t) => t.status.containerId);
      // The client asks by name, a new connection per request, until told to stop.
      const load = dockerExec(
        client,
        'sh',
        '-c',
        'n=0; f=0; rm -f /tmp/stop; until [ -e /tmp/stop ]; do ' +
          'wget -q -O /dev/null http://web:8080/ || f=$((f+1)); n=$((n+1)); done; echo "$n $f"',
      );
      await cluster.ok(0, 'service', 'update', '--force', '--update-order', 'start-first', 'web');
      await dockerExec(client, 'touch', '/tmp/stop');
      const [requests = 0, failures = -1] = (await load).trim().split(' ').map(Number);
      const after = (await running('web')).map((t) => t.status.containerId);
      assert.ok(!after.some((id) => before.includes(id)), 'every task was replaced');
      assert.ok(requests >= 20, `the client kept asking through the update (${requests} requests)`);
      assert.equal(failures, 0, `${failures} of ${requests} requests failed`);
    });

    it("forwards any other name to the node's own resolver", async () => {
      assert.deepEqual(await lookup(client, 'outside.example.org'), ['192.0.2.7']);
    });

    it("answers in a task's namespace again once its node's daemon, killed with -9, is back", async () => {
      await cluster.kill(0);
      // The sockets in the task's namespace were the daemon's: nothing answers there now.
      await assert.rejects(lookup(client, 'rr'));
      await cluster.startDaemon(0);
      const expected = await taskAddresses('rr');
      await waitFor(async () => (await lookup(client, 'rr')).join() === expected.join(), {
        timeoutMs: 30_000,
        what: 'rr resolving from the same client task after the restart',
      });
      const [task] = await running('client');
      assert.equal(task?.status.containerId, client, 'the client task was adopted, not replaced');
      assert.match(await dockerExec(client, 'wget', '-q', '-O', '-', 'http://web:8080/'), /\S/);
    });

    it('stops resolving a removed service', async () => {
      await cluster.ok(0, 'service', 'rm', 'web');
      await waitFor(
        async () => {
          try {
            const a = await lookup(client, 'web');
            return a.length === 0;
          } catch {
            return true; // nslookup fails: no such name
          }
        },
        { timeoutMs: 30_000, what: 'web no longer resolving' },
      );
      // The other service still does.
      assert.equal((await lookup(client, 'rr')).length, 2);
    });
  });
}
