// A data-path thread: one MeshEngine driven by messages from createNodeMesh's threads. Warnings
// go back to the parent thread's logger, since a worker cannot share the daemon's.

import { parentPort, workerData } from 'node:worker_threads';
import { MeshEngine } from './mesh-engine.ts';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './mesh-messages.ts';

const port = parentPort!;
const setup = workerData as WorkerSetup;
const engine = new MeshEngine({
  bindAddr: setup.bindAddr,
  connectTimeoutMs: setup.connectTimeoutMs,
  udpIdleMs: setup.udpIdleMs,
  reusePort: true,
  udp: setup.udp,
  logger: {
    warn: (obj, msg) => port.postMessage({ type: 'warn', obj, msg } satisfies WorkerReply),
  },
});

port.on('message', (req: WorkerRequest) => {
  const done = (reply: WorkerReply) => port.postMessage(reply);
  const failed = (err: unknown) =>
    done({ type: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) });
  switch (req.type) {
    case 'apply':
      engine
        .apply(req.listeners)
        .then((failures) => done({ type: 'applied', id: req.id, failures: [...failures] }), failed);
      return;
    case 'stats':
      done({ type: 'stats', id: req.id, stats: engine.stats() });
      return;
    case 'close':
      engine.close().then(() => {
        done({ type: 'closed', id: req.id });
        port.close();
      }, failed);
      return;
  }
});
