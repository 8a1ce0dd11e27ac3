import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import * as sources from '../../src/cli/program.ts';
import { buildCliBundle, type CliBundle } from '../../tools/build-cli.ts';

const repo = resolve(import.meta.dirname, '../..');

/** Every command's help, depth first: what a user sees of the commands and their flags. */
function helpTree(cmd: Command, prefix = ''): string[] {
  const name = `${prefix}${cmd.name()}`;
  return [
    `${name}\n${cmd.helpInformation()}`,
    ...cmd.commands.flatMap((c) => helpTree(c, `${name} `)),
  ];
}

type Program = typeof sources;

describe('the CLI bundle (build/cli.cjs)', () => {
  // A copy of what the bundle is built from, so that a test can change a source under it.
  let root: string;
  let bundle: CliBundle;
  const programMtime = new Date(Date.now() - 60_000);
  const load = (): Program | null => {
    const require = createRequire(import.meta.url);
    delete require.cache[bundle.outFile];
    return require(bundle.outFile) as Program | null;
  };
  const orca = (...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'bin/orca'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, ORCA_HOST: `unix://${join(root, 'absent.sock')}` },
    });

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'orca-bundle-'));
    for (const path of [
      'bin/orca',
      'package.json',
      'tools/build-cli.ts',
      'src',
      'node_modules/commander',
    ]) {
      cpSync(join(repo, path), join(root, path), { recursive: true, preserveTimestamps: true });
    }
    // A whole-millisecond mtime, which utimes can set back exactly (see the third test).
    utimesSync(join(root, 'src/cli/program.ts'), programMtime, programMtime);
    bundle = buildCliBundle(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('holds the CLI, commander, and nothing of the daemon', () => {
    assert.ok(bundle.modules.includes('src/cli/service.ts'));
    assert.ok(bundle.modules.includes('node_modules/commander/lib/command.js'));
    assert.deepEqual(
      bundle.modules.filter((m) => /^src\/(daemon|manager|raft|store)\//.test(m)),
      [],
    );
  });

  it('builds every command of the sources with the same flags and help', async () => {
    const bundled = load();
    assert.ok(bundled !== null, 'a bundle just built is fresh');
    assert.deepEqual(bundled.cliCommandNames, sources.cliCommandNames);
    for (const name of sources.cliCommandNames) {
      const argv = ['node', 'orca', name];
      assert.deepEqual(
        helpTree(await bundled.buildProgram(argv)),
        helpTree(await sources.buildProgram(argv)),
        `orca ${name}`,
      );
    }
  });

  it('is what bin/orca runs while fresh, and the sources run once one changed', () => {
    // program.ts replaced by code that fails when loaded, with its size and mtime kept: only
    // the sources' path can fail, and the bundle cannot tell the file changed.
    const program = join(root, 'src/cli/program.ts');
    const { size } = statSync(program);
    const marker = "throw new Error('the sources were loaded');\n";
    writeFileSync(program, marker + '/'.repeat(size - marker.length));
    utimesSync(program, programMtime, programMtime);

    const fromBundle = orca('service', 'ls');
    assert.equal(fromBundle.status, 1, fromBundle.stderr);
    assert.match(
      fromBundle.stderr,
      /^orca: cannot reach the orca daemon at unix:\/\/.*absent\.sock/,
    );
    // The daemon, and help over every command, are never the bundle's.
    for (const line of [['daemon', '--help'], ['--help'], ['servic', 'ls']]) {
      assert.match(orca(...line).stderr, /the sources were loaded/, line.join(' '));
    }

    const later = new Date(programMtime.getTime() + 1000);
    utimesSync(program, later, later);
    assert.equal(load(), null, 'a source newer than the bundle makes it stale');
    const fromSources = orca('service', 'ls');
    assert.notEqual(fromSources.status, 0);
    assert.match(fromSources.stderr, /the sources were loaded/);
  });
});
