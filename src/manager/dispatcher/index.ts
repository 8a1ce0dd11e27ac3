// The dispatcher's public surface: the leader-only session handler, its gRPC listener, and the
// log subscriptions that ride the sessions.

export { assignmentKey, assignmentSet } from './assignments.ts';
export { DEFAULT_HEARTBEAT_MS, Dispatcher, type DispatcherOptions } from './dispatcher.ts';
export {
  type CancelLogs,
  type LogRequest,
  type LogSink,
  parseLogLines,
} from './log-subscriptions.ts';
export {
  applyNodeDescriptions,
  defaultRecordingLimits,
  parseNodeDescription,
  type RecordingLimits,
  worthRecording,
} from './node-descriptions.ts';
export { type ServiceHost, serveDispatcher } from './server.ts';
export { applyStatusUpdates, isForward } from './status-updates.ts';
