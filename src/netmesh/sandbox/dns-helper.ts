// Started by the daemon inside a task's network namespace (through nsenter) for an instant: it
// binds the DNS sockets there and hands them over the IPC channel to the daemon, which answers
// on them from then on, then exits. Node cannot open a socket in another namespace itself, and
// a socket keeps the namespace it was made in for its whole life.
//
// argv: ADDRESS PORT

import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const [address = '', portText = ''] = process.argv.slice(2);
const port = Number(portText);

function fail(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.send?.({ kind: 'error', message }, undefined, {}, () => process.exit(1));
  // Without an IPC channel there is no one to tell.
  process.exit(1);
}

if (process.send === undefined) fail('no IPC channel: start this from the daemon');
const udp = createSocket('udp4');
udp.once('error', fail);
udp.bind({ address, port }, () => {
  const tcp = createServer();
  tcp.once('error', fail);
  tcp.listen({ host: address, port }, () => {
    process.send?.({ kind: 'udp' }, udp, {}, (err: Error | null) => {
      if (err) fail(err);
      process.send?.({ kind: 'tcp' }, tcp, {}, (err2: Error | null) => {
        if (err2) fail(err2);
        process.exit(0);
      });
    });
  });
});
