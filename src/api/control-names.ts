// The control API's names on the wire, apart from control-wire.ts: the CLI's light client needs
// them without loading gRPC and protobuf, which that module does.

/** The metadata key that carries orca's error code next to the gRPC status. */
export const ORCA_CODE_KEY = 'orca-code';

/** protos/control.proto's service, as gRPC paths start: `${CONTROL_SERVICE_PATH}Info`. */
export const CONTROL_SERVICE_PATH = '/orca.control.Control/';
