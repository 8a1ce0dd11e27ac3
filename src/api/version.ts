import { readFileSync } from 'node:fs';

/** This orca's release, from package.json: what `orca --version` and `orca info` show. */
export const orcaVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
