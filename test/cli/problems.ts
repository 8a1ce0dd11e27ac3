import assert from 'node:assert/strict';
import { InvalidFlagsError } from '../../src/errors.ts';

/** Asserts that `fn` fails with ORCA_BAD_REQUEST and, among its problems, exactly `problem`. */
export function throwsProblem(fn: () => unknown, problem: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidFlagsError, `not an InvalidFlagsError: ${String(err)}`);
    assert.equal(err.code, 'ORCA_BAD_REQUEST');
    const found = err.problems.some((p) =>
      typeof problem === 'string' ? p === problem : problem.test(p),
    );
    assert.ok(found, `no problem ${String(problem)} in:\n  ${err.problems.join('\n  ')}`);
    return true;
  });
}
