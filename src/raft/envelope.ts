/**
 * Every proposal travels in an envelope naming who proposed it (a per-process proposer id) and
 * the proposer's request number, so that the member that proposed it can answer its caller
 * when the entry is applied, whichever member was leader at the time.
 *
 * Layout: u8 version, u8 proposer length, proposer bytes, f64 request number, payload.
 */
const VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Envelope {
  readonly proposer: string;
  readonly request: number;
  readonly payload: Uint8Array;
}

export function sealEnvelope(
  proposer: Uint8Array,
  request: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(2 + proposer.length + 8 + payload.length);
  out[0] = VERSION;
  out[1] = proposer.length;
  out.set(proposer, 2);
  new DataView(out.buffer).setFloat64(2 + proposer.length, request);
  out.set(payload, 2 + proposer.length + 8);
  return out;
}

export function proposerBytes(proposer: string): Uint8Array {
  const bytes = encoder.encode(proposer);
  if (bytes.length > 255) throw new Error(`proposer id ${proposer} is longer than 255 bytes`);
  return bytes;
}

export function openEnvelope(data: Uint8Array): Envelope {
  if (data[0] !== VERSION) throw new Error(`unknown proposal envelope version ${data[0]}`);
  const len = data[1] ?? 0;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    proposer: decoder.decode(data.subarray(2, 2 + len)),
    request: view.getFloat64(2 + len),
    payload: data.subarray(2 + len + 8),
  };
}
