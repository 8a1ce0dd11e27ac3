// The one HTTP client both systems are measured with: node:http over a keep-alive agent, JSON
// bodies, one request per call. Kept minimal so that client cost is the same for both sides.

import { Agent, request } from 'node:http';

export interface Endpoint {
  host: string;
  port: number;
}

export interface HttpResult {
  status: number;
  body: string;
}

export function keepAliveAgent(): Agent {
  // Unbounded sockets: with N concurrent clients each in-flight request gets its own connection,
  // so a client never queues behind another inside the agent.
  return new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, scheduling: 'lifo' });
}

export interface RequestOptions {
  agent: Agent;
  method?: 'GET' | 'POST';
  body?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export function httpRequest(
  endpoint: Endpoint,
  path: string,
  opts: RequestOptions,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(opts.body);
    }
    const req = request(
      {
        host: endpoint.host,
        port: endpoint.port,
        path,
        method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
        agent: opts.agent,
        headers,
        signal: opts.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    if (opts.timeoutMs !== undefined) {
      // setTimeout on the request counts socket idle time, which is what a hung server looks like.
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`timeout ${opts.timeoutMs} ms`)));
    }
    req.on('error', reject);
    req.end(opts.body);
  });
}

export async function getJson<T>(
  endpoint: Endpoint,
  path: string,
  agent: Agent,
  body?: unknown,
  timeoutMs = 2000,
): Promise<T> {
  const res = await httpRequest(endpoint, path, {
    agent,
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs,
  });
  if (res.status !== 200)
    throw new Error(`${path} answered ${res.status}: ${res.body.slice(0, 200)}`);
  return JSON.parse(res.body) as T;
}
