import type { StateMachine } from './node.ts';

/**
 * A small replicated key-value store: the state machine that tests and benchmarks run on Raft
 * until the cluster store takes its place on the same StateMachine interface.
 */
export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expect: string | null;
      readonly value: string;
    }
  | { readonly op: 'delete'; readonly key: string };

export type KvResult = { readonly ok: boolean; readonly value: string | null };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export class KvMachine implements StateMachine {
  private data = new Map<string, string>();

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  get size(): number {
    return this.data.size;
  }

  apply(command: Uint8Array): KvResult {
    const cmd = JSON.parse(decoder.decode(command)) as KvCommand;
    switch (cmd.op) {
      case 'put':
        this.data.set(cmd.key, cmd.value);
        return { ok: true, value: cmd.value };
      case 'cas': {
        const current = this.get(cmd.key);
        if (current !== cmd.expect) return { ok: false, value: current };
        this.data.set(cmd.key, cmd.value);
        return { ok: true, value: cmd.value };
      }
      case 'delete':
        this.data.delete(cmd.key);
        return { ok: true, value: null };
    }
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.data]));
  }

  restore(data: Uint8Array): void {
    this.data = new Map(
      data.length === 0 ? [] : (JSON.parse(decoder.decode(data)) as [string, string][]),
    );
  }
}
