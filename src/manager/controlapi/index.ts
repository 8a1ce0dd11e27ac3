// The control API's service and network methods, as the daemon's ControlServer takes them
// (daemon.ts: `...serviceControl(() => swarm.controlStore(), { self: () => swarm.nodeId })`,
// `...networkControl(() => swarm.controlStore())`).

import type { ControlMethods, NetworkMethod, ServiceMethod } from '../../api/control-wire.ts';
import type { Store } from '../../store/index.ts';
import { NetworkApi } from './networks.ts';
import { ServiceApi, type ServiceApiOptions } from './services.ts';

export {
  attachNetworks,
  NetworkApi,
  type NetworkApiOptions,
  resolveNetwork,
  validateNetworkSpec,
} from './networks.ts';
export {
  resolveService,
  resolveTask,
  ServiceApi,
  type ServiceApiOptions,
  serviceStatus,
} from './services.ts';
export { validateServiceSpec } from './validate.ts';

export type ServiceControlImpl = {
  [M in ServiceMethod]: (req: ControlMethods[M]['req']) => Promise<ControlMethods[M]['res']>;
};

/** `store`: the leader's store, once a read on it is linearizable (see ServiceApiOptions). */
export function serviceControl(
  store: () => Promise<Store>,
  opts: Omit<ServiceApiOptions, 'store'> = {},
): ServiceControlImpl {
  const api = new ServiceApi({ ...opts, store });
  return {
    ServiceCreate: (req) => api.create(req.spec),
    ServiceList: async () => ({ services: await api.list() }),
    ServiceInspect: (req) => api.inspect(req.service),
    ServiceRemove: (req) => api.remove(req.service),
    ServiceScale: (req) => api.scale(req.service, req.replicas),
    ServiceUpdate: (req) => api.update(req.service, req.spec, req.version),
    ServiceRollback: (req) => api.rollback(req.service),
    TaskList: async (req) => ({ tasks: await api.tasks(req) }),
  };
}

export type NetworkControlImpl = {
  [M in NetworkMethod]: (req: ControlMethods[M]['req']) => Promise<ControlMethods[M]['res']>;
};

/** `store`: as serviceControl's, so network calls are manager-only and linearizable alike. */
export function networkControl(store: () => Promise<Store>): NetworkControlImpl {
  const api = new NetworkApi({ store });
  return {
    NetworkCreate: (req) => api.create(req.spec),
    NetworkList: async () => ({ networks: await api.list() }),
    NetworkInspect: (req) => api.inspect(req.network),
    NetworkRemove: (req) => api.remove(req.network),
  };
}
