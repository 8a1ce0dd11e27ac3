// gRPC's message framing and the one protobuf message of the control API, shared by the
// daemon's gRPC-Web side and the CLI's client, neither of which loads @grpc/grpc-js or
// protobufjs for it: every control message is `Json { string json = 1; }`
// (protos/control.proto), so the whole of protobuf needed is one length-delimited field, and a
// frame is a flag byte, a 4-byte big-endian length and the bytes.

/** What a gRPC-Web call sends and gets (binary protobuf bodies). */
export const GRPC_WEB_CONTENT_TYPE = 'application/grpc-web+proto';

/** gRPC-Web's flag for the frame that carries the status (trailers) after the messages. */
export const TRAILER_FLAG = 0x80;

export interface Frame {
  readonly bytes: Buffer;
  /** gRPC-Web's status frame rather than a message. */
  readonly trailer: boolean;
}

/** `Json { string json = 1; }` as protobuf bytes ("" is the empty message, as proto3 writes it). */
export function encodeJsonMessage(json: string): Buffer {
  if (json === '') return Buffer.alloc(0);
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(body.length), body]);
}

/** The `json` field of a Json message; fields it does not know are skipped, as protobuf does. */
export function decodeJsonMessage(bytes: Buffer): string {
  let json = '';
  let at = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      if (b === undefined) throw new Error('truncated varint');
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        readVarint();
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const length = readVarint();
        if (at + length > bytes.length) throw new Error('truncated field');
        if (field === 1) json = bytes.toString('utf8', at, at + length);
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
  return json;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** gRPC's length-prefixed message: a compression flag (0), a 4-byte big-endian length, the bytes. */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Splits a body into frames as chunks arrive. */
export class FrameReader {
  #buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const frames: Frame[] = [];
    while (this.#buffered.length >= 5) {
      const flag = this.#buffered[0]!;
      if ((flag & 0x01) !== 0) throw new Error('compressed messages are not supported');
      const length = this.#buffered.readUInt32BE(1);
      if (this.#buffered.length < 5 + length) break;
      const bytes = this.#buffered.subarray(5, 5 + length);
      frames.push({ bytes, trailer: flag === TRAILER_FLAG });
      this.#buffered = this.#buffered.subarray(5 + length);
    }
    return frames;
  }

  get empty(): boolean {
    return this.#buffered.length === 0;
  }
}
