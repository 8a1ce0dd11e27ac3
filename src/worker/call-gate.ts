// At most `width` calls in flight; the rest wait their turn, first come first served. A call
// that has not settled after `holdMs` gives its slot up (it goes on, uncounted), so one request
// the engine never answers delays the others by holdMs, not forever.

export class CallGate {
  readonly #width: number;
  readonly #holdMs: number;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(width: number, holdMs: number) {
    if (!Number.isInteger(width) || width < 1) throw new RangeError(`gate width ${width}`);
    this.#width = width;
    this.#holdMs = holdMs;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= this.#width) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#inFlight++;
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      const next = this.#waiting.shift();
      // The slot passes straight to the next caller: inFlight stays as it is.
      if (next !== undefined) next();
      else this.#inFlight--;
    };
    const timer = setTimeout(release, this.#holdMs).unref();
    try {
      return await call();
    } finally {
      release();
    }
  }
}
