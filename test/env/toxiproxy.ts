/**
 * A real Toxiproxy (github.com/Shopify/toxiproxy/v2, built by test/env) for network faults on
 * loopback: a TCP proxy per upstream, whose connections a test can slow down, throttle, reset, stall
 * or cut, while both ends are the real servers and the real product code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaries, requireBinary } from './binaries.ts';
import { ensureOrThrow } from './ensure.ts';
import { freePort } from './ports.ts';
import { managedProcess } from './process.ts';

export type ToxicType = 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';

export interface Toxic {
  name: string;
  type: ToxicType;
  /** downstream = data from the upstream server to the client (default); upstream = client → server. */
  stream?: 'upstream' | 'downstream';
  toxicity?: number;
  /** latency: { latency (ms), jitter }; bandwidth: { rate (KB/s) }; timeout: { timeout (ms, 0 = forever) }; reset_peer: { timeout }; limit_data: { bytes }. */
  attributes: Record<string, number>;
}

export interface Proxy {
  name: string;
  /** host:port clients connect to. */
  listen: string;
  /** The URL prefix for an HTTP upstream, e.g. http://127.0.0.1:PORT. */
  url(scheme?: string): string;
  addToxic(t: Toxic): Promise<void>;
  removeToxic(name: string): Promise<void>;
  /** Disabled: the listener closes and every open connection is cut (a partition). */
  setEnabled(enabled: boolean): Promise<void>;
}

export interface ToxiproxyHandle {
  apiUrl: string;
  createProxy(name: string, upstream: string): Promise<Proxy>;
  /** Removes every toxic and re-enables every proxy. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function api(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  const text = await res.text();
  if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export async function startToxiproxy(): Promise<ToxiproxyHandle> {
  if (!binaries().toxiproxy.path) await ensureOrThrow('toxiproxy');
  const bin = requireBinary(binaries().toxiproxy);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'rsd-toxiproxy-'));
  const apiUrl = `http://127.0.0.1:${port}`;
  const proc = managedProcess({
    name: 'toxiproxy',
    command: bin,
    args: ['-host', '127.0.0.1', '-port', String(port)],
    logFile: join(dir, 'toxiproxy.log'),
    cwd: dir,
    ready: { url: `${apiUrl}/version` },
    readyTimeoutMs: 15_000,
    stopTimeoutMs: 5_000,
  });
  await proc.start();
  return {
    apiUrl,
    async createProxy(name, upstream) {
      const listenPort = await freePort();
      const listen = `127.0.0.1:${listenPort}`;
      await api(apiUrl, 'POST', '/proxies', { name, listen, upstream, enabled: true });
      return {
        name,
        listen,
        url: (scheme = 'http') => `${scheme}://${listen}`,
        addToxic: async (t) => void (await api(apiUrl, 'POST', `/proxies/${name}/toxics`, { stream: 'downstream', toxicity: 1, ...t })),
        removeToxic: async (toxic) => void (await api(apiUrl, 'DELETE', `/proxies/${name}/toxics/${toxic}`)),
        setEnabled: async (enabled) => void (await api(apiUrl, 'POST', `/proxies/${name}`, { enabled })),
      };
    },
    reset: async () => void (await api(apiUrl, 'POST', '/reset')),
    async stop() {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
