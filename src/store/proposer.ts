/**
 * Where the store sends a transaction's command: the RaftNode in production (its promise
 * settles with apply's result once the command is applied on this member). Injected so the
 * store never imports the Raft driver and tests can hold, reorder or replay commands.
 */
export interface Proposer {
  propose(command: Uint8Array): Promise<unknown>;
}
