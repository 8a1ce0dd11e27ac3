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
/**
 * Small buffers of closed connections, for the next ones: allocating one is a fresh
 * ArrayBuffer each time, a visible share of what a short connection costs. Per thread (each
 * worker thread has its own module instance), and bounded.
 */
const pool: Buffer[] = [];
const MAX_POOLED = 1024;

export class ReadBuffer {
  #buf: Buffer | undefined;
  #lent = false;
  #size = SMALL;

  /** For onread.buffer: the memory of the next read. */
  readonly next = (): Buffer => {
    if (this.#buf === undefined || this.#lent || this.#buf.length !== this.#size) {
      this.#buf =
        (this.#size === SMALL ? pool.pop() : undefined) ?? Buffer.allocUnsafeSlow(this.#size);
      this.#lent = false;
    }
    return this.#buf;
  };

  /**
   * Gives the buffer back for other connections. Only once both sockets of the direction are
   * closed: then nothing reads into it and no write still points into it (a socket's 'close'
   * comes after its pending writes have completed or failed).
   */
  release(): void {
    const buf = this.#buf;
    this.#buf = undefined;
    if (buf !== undefined && buf.length === SMALL && pool.length < MAX_POOLED) pool.push(buf);
  }

  /** After the `n` bytes just read were written to `dest`. */
  written(n: number, dest: Socket): void {
    if (dest.writableLength > 0) this.#lent = true;
    if (n === this.#size && this.#size < LARGE) this.#size = LARGE;
  }
}
