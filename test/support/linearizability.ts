// Linearizability checker for histories of the replicated key-value store.
//
// The search is Wing & Gong's, with Lowe's improvements as Porcupine
// (github.com/anishathalye/porcupine) implements them: the history is split per
// key (a register per key is P-compositional, so the whole history is
// linearizable iff every key's sub-history is), and each key is searched
// depth-first over a linked list of call/return events, memoising
// (set of linearized ops, register state) pairs so that no configuration is
// explored twice.
//
// Pure logic, no I/O: the callers record histories against a real cluster.
import { prng } from './prng.ts';

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'cas'; key: string; expect: string | null; value: string }
  | { op: 'delete'; key: string };

export type KvOutput = { value?: string | null; ok?: boolean };

export interface Operation {
  client: number;
  input: KvInput;
  /** When the client sent the request; any monotonic clock shared by all clients. */
  call: number;
  /** When the client got the answer; Infinity when the outcome is unknown. */
  return: number;
  /** null when the outcome is unknown (timeout, lost connection). */
  output: KvOutput | null;
}

export interface CheckOptions {
  /** Wall-clock budget for the whole check; past it the answer is 'unknown'. Default 60000. */
  timeoutMs?: number;
}

export type CheckResult =
  | { result: 'ok' }
  | { result: 'illegal'; key: string; detail: string }
  | { result: 'unknown'; reason: string };

const DEFAULT_TIMEOUT_MS = 60_000;
// Reading the clock on every step would dominate the inner loop.
const CLOCK_CHECK_MASK = 0x3ff;

const PUT = 0;
const GET = 1;
const CAS = 2;
const DELETE = 3;

const ILLEGAL = -1;

/** A key's sub-history, compiled into flat arrays for the search. */
interface Partition {
  key: string;
  ops: Operation[];
  /** PUT | GET | CAS | DELETE per op. */
  kind: Uint8Array;
  /**
   * States are interned: 0 is "absent", 1.. are the distinct values written to
   * this key. A read of a value nobody wrote gets ILLEGAL, which no state equals.
   */
  arg: Int32Array; // put/cas: the state written; get: the state read
  expect: Int32Array; // cas only
  /** cas: 1 succeeded, 0 failed, -1 unknown. Others: 1 known, -1 unknown. */
  outcome: Int8Array;
  callAt: Float64Array;
  /** Infinity for unknown outcomes, whatever the op recorded. */
  returnAt: Float64Array;
  stateNames: (string | null)[];
}

interface Failure {
  prefix: number[];
  state: number;
  candidates: number[];
  overdue: number;
}

type SearchOutcome = { ok: true } | { ok: false; failure: Failure } | { ok: 'timeout' };

/**
 * Checks that a history of put/get/cas/delete operations is linearizable with
 * respect to one register per key, each starting absent.
 *
 * Outcome conventions:
 * - `output === null` marks an op whose outcome is unknown; whatever its
 *   `return`, it may have taken effect at any time after `call`, or never.
 * - put and delete outputs are not inspected: a put or delete that came back
 *   took effect. A request the cluster definitely rejected should be left out of
 *   the history (recording it as unknown is also safe, only weaker).
 * - get needs `output.value` (string, or null for absent); cas needs `output.ok`.
 *
 * Malformed operations throw a TypeError rather than produce a verdict.
 */
export function checkKv(history: readonly Operation[], opts: CheckOptions = {}): CheckResult {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = performance.now() + timeoutMs;

  const byKey = new Map<string, Operation[]>();
  history.forEach((op, i) => {
    validate(op, i);
    // An unknown get changes nothing and may be linearized after everything
    // else, where any answer is acceptable; it can never be the reason a
    // history fails, so it only costs search time.
    if (op.input.op === 'get' && op.output === null) return;
    const ops = byKey.get(op.input.key);
    if (ops === undefined) byKey.set(op.input.key, [op]);
    else ops.push(op);
  });

  // Smallest partitions first: the first failure found is then the smallest
  // failing one, the easiest to read, and a small illegal key is reported even
  // if a large key would have exhausted the time budget.
  const keys = [...byKey.keys()].sort(
    (a, b) => byKey.get(a)!.length - byKey.get(b)!.length || (a < b ? -1 : a > b ? 1 : 0),
  );
  for (const key of keys) {
    const partition = compile(key, byKey.get(key)!);
    const outcome = search(partition, deadline);
    if (outcome.ok === 'timeout') {
      return {
        result: 'unknown',
        reason: `timed out after ${timeoutMs} ms while checking key ${JSON.stringify(key)} (${partition.ops.length} ops)`,
      };
    }
    if (outcome.ok === false) {
      return { result: 'illegal', key, detail: explain(partition, outcome.failure) };
    }
  }
  return { result: 'ok' };
}

function validate(op: Operation, index: number): void {
  const where = `history[${index}]`;
  if (!Number.isFinite(op.call)) throw new TypeError(`${where}: call time must be finite`);
  if (Number.isNaN(op.return) || op.return < op.call) {
    throw new TypeError(`${where}: return time must be >= call time`);
  }
  if (op.output !== null && op.return === Infinity) {
    throw new TypeError(`${where}: an op that never returned cannot have an output`);
  }
  if (op.output === null) return;
  if (op.input.op === 'get') {
    const v = op.output.value;
    if (v !== null && typeof v !== 'string') {
      throw new TypeError(`${where}: get output needs value: string | null`);
    }
  } else if (op.input.op === 'cas' && typeof op.output.ok !== 'boolean') {
    throw new TypeError(`${where}: cas output needs ok: boolean`);
  }
}

function compile(key: string, ops: Operation[]): Partition {
  const n = ops.length;
  const stateNames: (string | null)[] = [null];
  const stateIds = new Map<string, number>();
  const intern = (v: string): number => {
    let id = stateIds.get(v);
    if (id === undefined) {
      id = stateNames.length;
      stateIds.set(v, id);
      stateNames.push(v);
    }
    return id;
  };
  const lookup = (v: string | null): number => (v === null ? 0 : (stateIds.get(v) ?? ILLEGAL));

  const p: Partition = {
    key,
    ops,
    kind: new Uint8Array(n),
    arg: new Int32Array(n),
    expect: new Int32Array(n),
    outcome: new Int8Array(n),
    callAt: new Float64Array(n),
    returnAt: new Float64Array(n),
    stateNames,
  };
  // Written values first, so reads can be resolved against them afterwards.
  for (let i = 0; i < n; i++) {
    const input = ops[i]!.input;
    if (input.op === 'put' || input.op === 'cas') p.arg[i] = intern(input.value);
  }
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const input = op.input;
    const known = op.output !== null;
    p.callAt[i] = op.call;
    // An op with an unknown outcome may take effect at any point after its
    // call or never. Moving its return past every other event lets the search
    // place it anywhere after the call; "never" needs no extra branch, because
    // placing it after every other op is indistinguishable from it never
    // happening (nothing later observes it, and its own output is unchecked).
    p.returnAt[i] = known ? op.return : Infinity;
    p.outcome[i] = known ? 1 : -1;
    switch (input.op) {
      case 'put':
        p.kind[i] = PUT;
        break;
      case 'delete':
        p.kind[i] = DELETE;
        break;
      case 'get':
        p.kind[i] = GET;
        p.arg[i] = lookup(op.output!.value ?? null);
        break;
      case 'cas':
        p.kind[i] = CAS;
        p.expect[i] = lookup(input.expect);
        if (known) p.outcome[i] = op.output!.ok ? 1 : 0;
        break;
    }
  }
  return p;
}

/** The register's sequential specification: the next state, or ILLEGAL. */
function step(p: Partition, op: number, state: number): number {
  switch (p.kind[op]) {
    case PUT:
      return p.arg[op]!;
    case DELETE:
      return 0;
    case GET:
      return p.arg[op] === state ? state : ILLEGAL;
    default: {
      const matches = p.expect[op] === state;
      const outcome = p.outcome[op]!;
      if (outcome !== -1 && matches !== (outcome === 1)) return ILLEGAL;
      return matches ? p.arg[op]! : state;
    }
  }
}

interface CacheEntry {
  bits: Uint32Array;
  state: number;
}

// Event nodes: op i's call is node 2i, its return is node 2i+1, so a node's
// kind, op and partner are bit operations; the list head is node 2n.
function search(p: Partition, deadline: number): SearchOutcome {
  const n = p.ops.length;
  if (n === 0) return { ok: true };

  const nodes: number[] = [];
  for (let i = 0; i < 2 * n; i++) nodes.push(i);
  const timeOf = (node: number): number =>
    (node & 1) === 0 ? p.callAt[node >> 1]! : p.returnAt[node >> 1]!;
  // At equal timestamps calls sort before returns, so a call stamped exactly
  // when another op returned counts as concurrent with it, not after it. Clocks
  // are coarse; this can only make more histories acceptable, so equal stamps
  // never produce a false 'illegal'. Only a strictly later call is ordered.
  nodes.sort((a, b) => {
    const ta = timeOf(a);
    const tb = timeOf(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    return (a & 1) - (b & 1) || a - b;
  });

  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  let last = head;
  for (const node of nodes) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  next[last] = -1;

  const lift = (call: number): void => {
    next[prev[call]!] = next[call]!;
    prev[next[call]!] = prev[call]!;
    const ret = call | 1;
    next[prev[ret]!] = next[ret]!;
    if (next[ret] !== -1) prev[next[ret]!] = prev[ret]!;
  };
  // Re-links in the reverse order of lift; valid because lifts are undone LIFO.
  const unlift = (call: number): void => {
    const ret = call | 1;
    next[prev[ret]!] = ret;
    if (next[ret] !== -1) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    prev[next[call]!] = call;
  };

  // Zobrist hashing keeps the bitset's hash current in O(1) per step.
  const zobrist = new Uint32Array(n);
  const rand = prng(0x9e3779b9 ^ n);
  for (let i = 0; i < n; i++) zobrist[i] = (rand() * 0x100000000) >>> 0;
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  let bitsHash = 0;
  const cache = new Map<number, CacheEntry[]>();
  const remember = (state: number): boolean => {
    const h = (bitsHash ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
    const bucket = cache.get(h);
    if (bucket === undefined) {
      cache.set(h, [{ bits: bits.slice(), state }]);
      return true;
    }
    for (const e of bucket) {
      if (e.state === state && sameBits(e.bits, bits)) return false;
    }
    bucket.push({ bits: bits.slice(), state });
    return true;
  };

  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  let depth = 0;
  let state = 0;
  let failure: Failure | null = null;
  let iterations = 0;

  let entry = next[head]!;
  while (next[head] !== -1) {
    if ((++iterations & CLOCK_CHECK_MASK) === 0 && performance.now() > deadline) {
      return { ok: 'timeout' };
    }
    if ((entry & 1) === 0) {
      const op = entry >> 1;
      const after = step(p, op, state);
      if (after !== ILLEGAL) {
        bits[op >>> 5]! |= 1 << (op & 31);
        bitsHash ^= zobrist[op]!;
        if (remember(after)) {
          stackOp[depth] = op;
          stackState[depth] = state;
          depth++;
          state = after;
          lift(entry);
          entry = next[head]!;
          continue;
        }
        bits[op >>> 5]! &= ~(1 << (op & 31));
        bitsHash ^= zobrist[op]!;
      }
      entry = next[entry]!;
    } else {
      // An op returned before any pending call could extend the linearization.
      if (failure === null || depth > failure.prefix.length) {
        failure = snapshot(entry);
      }
      if (depth === 0) return { ok: false, failure };
      depth--;
      const op = stackOp[depth]!;
      state = stackState[depth]!;
      bits[op >>> 5]! &= ~(1 << (op & 31));
      bitsHash ^= zobrist[op]!;
      entry = op << 1;
      unlift(entry);
      entry = next[entry]!;
    }
  }
  return { ok: true };

  function snapshot(ret: number): Failure {
    const candidates: number[] = [];
    for (let node = next[head]!; node !== ret; node = next[node]!) {
      if ((node & 1) === 0) candidates.push(node >> 1);
    }
    return {
      prefix: Array.from(stackOp.subarray(0, depth)),
      state,
      candidates,
      overdue: ret >> 1,
    };
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const MAX_LISTED = 8;

function explain(p: Partition, f: Failure): string {
  const describe = (i: number): string => '  ' + describeOperation(p.ops[i]!);
  const lines = [
    `no linearization of the ${p.ops.length} ops on key ${JSON.stringify(p.key)}`,
    `longest linearizable prefix: ${f.prefix.length} ops` + (f.prefix.length > 0 ? ':' : ''),
  ];
  const skipped = f.prefix.length - MAX_LISTED;
  if (skipped > 0) lines.push(`  ... ${skipped} earlier`);
  for (const i of f.prefix.slice(Math.max(0, skipped))) lines.push(describe(i));
  lines.push(
    `next, in state ${JSON.stringify(p.stateNames[f.state])}, this op had to take effect but cannot:`,
  );
  lines.push(describe(f.overdue));
  const others = f.candidates.filter((i) => i !== f.overdue);
  if (others.length > 0) {
    lines.push('nor after any order of these pending ops:');
    for (const i of others.slice(0, MAX_LISTED)) lines.push(describe(i));
    if (others.length > MAX_LISTED) lines.push(`  ... ${others.length - MAX_LISTED} more`);
  }
  return lines.join('\n');
}

/** One line per op, e.g. `c2 cas(null → "a") → ok [10, 14]`. */
export function describeOperation(op: Operation): string {
  const input = op.input;
  let call: string;
  switch (input.op) {
    case 'put':
      call = `put(${JSON.stringify(input.value)})`;
      break;
    case 'get':
      call = 'get()';
      break;
    case 'cas':
      call = `cas(${JSON.stringify(input.expect)} → ${JSON.stringify(input.value)})`;
      break;
    case 'delete':
      call = 'delete()';
      break;
  }
  let result: string;
  if (op.output === null) result = '?';
  else if (input.op === 'get') result = JSON.stringify(op.output.value ?? null);
  else if (input.op === 'cas') result = op.output.ok ? 'ok' : 'failed';
  else result = 'ok';
  const end = op.output === null ? '∞)' : `${op.return}]`;
  return `c${op.client} ${call} → ${result} [${op.call}, ${end}`;
}
