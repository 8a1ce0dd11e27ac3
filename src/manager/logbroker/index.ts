// The log broker's public surface: `service logs` served from the workers over their sessions.

export { LogBroker, type LogBrokerOptions, type LogSessions } from './broker.ts';
