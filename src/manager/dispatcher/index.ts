// The dispatcher's public surface: the leader-only session handler and its gRPC listener.

export { assignmentKey, assignmentSet } from './assignments.ts';
export { Dispatcher, type DispatcherOptions } from './dispatcher.ts';
export {
  applyNodeDescriptions,
  defaultRecordingLimits,
  parseNodeDescription,
  type RecordingLimits,
  worthRecording,
} from './node-descriptions.ts';
export { DispatcherServer } from './server.ts';
export { applyStatusUpdates, isForward } from './status-updates.ts';
