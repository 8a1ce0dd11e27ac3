import { InvalidFlagsError } from '../../errors.ts';

/** Parsers used on their own fail on the first bad value. */
export function bad(problem: string): never {
  throw new InvalidFlagsError([problem]);
}

/**
 * Collects every problem of one command line. A parser that fails yields `undefined`, so the
 * value counts as absent and checking goes on with the next flag.
 */
export class Problems {
  readonly #list: string[] = [];

  add(problem: string): void {
    this.#list.push(problem);
  }

  check<T>(parse: () => T): T | undefined {
    try {
      return parse();
    } catch (err) {
      if (err instanceof InvalidFlagsError) {
        this.#list.push(...err.problems);
        return undefined;
      }
      throw err;
    }
  }

  throwIfAny(): void {
    if (this.#list.length > 0) throw new InvalidFlagsError([...this.#list]);
  }
}
