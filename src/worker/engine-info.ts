// The container engine's part of the node description, from its `GET /info`: the version, and
// the daemon's labels (`dockerd --label`, daemon.json "labels"), which `engine.labels.<key>`
// constraints and spread preferences read. One request answers both.

import { request } from 'node:http';
import type { Labels } from '../api/objects.ts';

export interface EngineFacts {
  readonly version: string;
  readonly labels: Labels;
}

/** What a node without a reachable engine reports: it can still run a manager. */
export const unknownEngine: EngineFacts = { version: '', labels: {} };

/**
 * `GET /info`'s body as facts. Labels come as `key=value` strings; as Docker's
 * ConvertKVStringsToMap, a string without `=` is a key with an empty value and a later
 * duplicate wins.
 */
export function engineFacts(info: unknown): EngineFacts {
  if (typeof info !== 'object' || info === null) return unknownEngine;
  const { ServerVersion, Labels } = info as { ServerVersion?: unknown; Labels?: unknown };
  const labels: Record<string, string> = {};
  if (Array.isArray(Labels)) {
    for (const kv of Labels) {
      if (typeof kv !== 'string' || kv === '') continue;
      const eq = kv.indexOf('=');
      if (eq < 0) labels[kv] = '';
      else labels[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  }
  return { version: typeof ServerVersion === 'string' ? ServerVersion : '', labels };
}

/** The engine's facts, or unknownEngine when it does not answer within `timeoutMs`. */
export function readEngineFacts(dockerHost: string, timeoutMs = 1000): Promise<EngineFacts> {
  let target: { socketPath: string } | { host: string; port: number };
  if (dockerHost.startsWith('unix://')) {
    target = { socketPath: dockerHost.slice('unix://'.length) };
  } else {
    const m = /^(?:tcp|http):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(dockerHost);
    if (m === null) return Promise.resolve(unknownEngine);
    target = { host: m[1] as string, port: Number(m[2] ?? 2375) };
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/info', method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve(unknownEngine));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          resolve(unknownEngine);
          return;
        }
        try {
          resolve(engineFacts(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        } catch {
          resolve(unknownEngine);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(unknownEngine));
    req.end();
  });
}
