import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildProgram, namedCommand } from '../../src/cli/program.ts';

const names = (p: { commands: readonly { name(): string }[] }) => p.commands.map((c) => c.name());

describe('the program', () => {
  it('finds the command a line names past the root options', () => {
    assert.equal(namedCommand(['service', 'ls']), 'service');
    assert.equal(namedCommand(['-H', 'unix:///x.sock', 'node', 'ls']), 'node');
    assert.equal(namedCommand(['--host', 'unix:///x.sock', 'swarm', 'init']), 'swarm');
    assert.equal(namedCommand(['--host=unix:///x.sock', 'info']), 'info');
    assert.equal(namedCommand(['--help']), undefined);
    assert.equal(namedCommand([]), undefined);
  });

  it('loads only the named command, and every command when none is named or it is unknown', async () => {
    assert.deepEqual(names(await buildProgram(['node', 'orca', 'service', 'ls'])), ['service']);
    const all = ['swarm', 'node', 'service', 'network', 'info', 'demo'];
    assert.deepEqual(names(await buildProgram(['node', 'orca', '--help'])), all);
    assert.deepEqual(names(await buildProgram(['node', 'orca', 'servic', 'ls'])), all);
    assert.deepEqual(names(await buildProgram()), all);
  });
});
