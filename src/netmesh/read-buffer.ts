// The memory one direction of a proxied connection reads into, with Node's `onread`: reused
// from read to read instead of a new allocation per read, which is most of what a 'data' event
// costs besides the event itself.
//
// A buffer may be reused only once the bytes read into it are no longer referenced. A write the
// kernel takes whole (the usual case: the peer's socket buffer has room) is done with them when
// write() returns, and the writable side then holds nothing; a write that could not complete
// keeps a reference into the buffer until it does, so the next read must go to a fresh one.

import type { Socket } from 'node:net';

/** Small while the traffic is requests and answers, so that idle connections cost little. */
const SMALL = 4 * 1024;
/** After a read fills the small buffer the connection is moving bulk data: fewer, larger reads. */
const LARGE = 64 * 1024;

export class ReadBuffer {
  #buf: Buffer | undefined;
  #lent = false;
  #size = SMALL;

  /** For onread.buffer: the memory of the next read. */
  readonly next = (): Buffer => {
    if (this.#buf === undefined || this.#lent || this.#buf.length !== this.#size) {
      this.#buf = Buffer.allocUnsafeSlow(this.#size);
      this.#lent = false;
    }
    return this.#buf;
  };

  /** After the `n` bytes just read were written to `dest`. */
  written(n: number, dest: Socket): void {
    if (dest.writableLength > 0) this.#lent = true;
    if (n === this.#size && this.#size < LARGE) this.#size = LARGE;
  }
}
