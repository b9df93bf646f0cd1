/**
 * A real Prometheus Alertmanager (github.com/prometheus/alertmanager, built by test/env), alone or
 * as an HA pair gossiping on loopback, routing to a webhook receiver the test runs: what arrives
 * there is what Slack, PagerDuty or e-mail would have been sent.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaries, requireBinary } from './binaries.ts';
import { ensureOrThrow } from './ensure.ts';
import { freePort } from './ports.ts';
import { managedProcess, type ManagedProcess } from './process.ts';

/** One webhook notification (Alertmanager's webhook payload, version 4), as received. */
export interface WebhookNotification {
  receivedAt: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupKey: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: Array<{ status: 'firing' | 'resolved'; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; generatorURL: string; fingerprint: string }>;
}

export interface Webhook {
  url: string;
  received: WebhookNotification[];
  /** Resolves with the first notification (at or after index `from`) that `pred` accepts. */
  waitFor(pred: (n: WebhookNotification) => boolean, timeoutMs: number, from?: number): Promise<WebhookNotification>;
  close(): Promise<void>;
}

export async function startWebhook(): Promise<Webhook> {
  const received: WebhookNotification[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        received.push({ receivedAt: Date.now(), ...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<WebhookNotification, 'receivedAt'>) });
      } catch {
        // A body that is not JSON fails the waiting test by never matching.
      }
      res.writeHead(200).end();
      for (const w of waiters) w();
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    waitFor(pred, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.slice(from).find(pred);
          if (!hit) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching webhook notification within ${timeoutMs} ms; got ${JSON.stringify(received.map((n) => [n.status, n.groupLabels]))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface AlertmanagerOptions {
  webhookUrl: string;
  /** Route grouping (default: alertname, namespace). */
  groupBy?: string[];
  /** Default 1s / 1s / 1h: notifications come quickly, and a repeat is never mistaken for a new one. */
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
  /** 2 = an HA pair gossiping on loopback. */
  replicas?: 1 | 2;
}

export interface AlertmanagerHandle {
  /** Base URL of each replica (http://127.0.0.1:PORT). */
  urls: string[];
  processes: ManagedProcess[];
  /** GET /api/v2/alerts of replica i (default 0). */
  alerts(i?: number): Promise<Array<{ labels: Record<string, string>; status: { state: string; silencedBy: string[] }; endsAt: string }>>;
  /** Creates a silence through the API; returns its id. */
  silence(matchers: Record<string, string>, forMs: number, i?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<AlertmanagerHandle> {
  if (!binaries().alertmanager.path) await ensureOrThrow('alertmanager');
  const bin = requireBinary(binaries().alertmanager);
  const dir = await mkdtemp(join(tmpdir(), 'rsd-alertmanager-'));
  const config = join(dir, 'alertmanager.yml');
  await writeFile(
    config,
    [
      'route:',
      '  receiver: hook',
      `  group_by: [${(opts.groupBy ?? ['alertname', 'namespace']).join(', ')}]`,
      `  group_wait: ${opts.groupWait ?? '1s'}`,
      `  group_interval: ${opts.groupInterval ?? '1s'}`,
      `  repeat_interval: ${opts.repeatInterval ?? '1h'}`,
      'receivers:',
      '  - name: hook',
      '    webhook_configs:',
      `      - url: ${opts.webhookUrl}`,
      '        send_resolved: true',
      '',
    ].join('\n'),
  );
  const n = opts.replicas ?? 1;
  const webPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const clusterPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const processes = webPorts.map((port, i) => {
    const cluster =
      n === 1
        ? ['--cluster.listen-address=']
        : [
            `--cluster.listen-address=127.0.0.1:${clusterPorts[i]}`,
            `--cluster.advertise-address=127.0.0.1:${clusterPorts[i]}`,
            ...clusterPorts.filter((_, j) => j !== i).map((p) => `--cluster.peer=127.0.0.1:${p}`),
            // Replica i waits i × peer-timeout before notifying, unless the other's log says it did.
            '--cluster.peer-timeout=5s',
            '--cluster.gossip-interval=50ms',
            '--cluster.pushpull-interval=1s',
            '--cluster.settle-timeout=2s',
          ];
    return managedProcess({
      name: `alertmanager-${i}`,
      command: bin,
      args: [`--config.file=${config}`, `--storage.path=${join(dir, `data-${i}`)}`, `--web.listen-address=127.0.0.1:${port}`, ...cluster],
      logFile: join(dir, `alertmanager-${i}.log`),
      cwd: dir,
      ready: { url: `http://127.0.0.1:${port}/-/ready` },
      readyTimeoutMs: 30_000,
      stopTimeoutMs: 5_000,
    });
  });
  await Promise.all(processes.map((p) => p.start()));
  const urls = webPorts.map((p) => `http://127.0.0.1:${p}`);
  const api = async (i: number, method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${urls[i]}${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
    const text = await res.text();
    if (!res.ok) throw new Error(`alertmanager ${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  return {
    urls,
    processes,
    alerts: async (i = 0) => (await api(i, 'GET', '/api/v2/alerts')) as Awaited<ReturnType<AlertmanagerHandle['alerts']>>,
    async silence(matchers, forMs, i = 0) {
      const now = Date.now();
      const r = (await api(i, 'POST', '/api/v2/silences', {
        matchers: Object.entries(matchers).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
        startsAt: new Date(now - 1000).toISOString(),
        endsAt: new Date(now + forMs).toISOString(),
        createdBy: 'robot-sre-detector tests',
        comment: 'maintenance',
      })) as { silenceID: string };
      return r.silenceID;
    },
    async stop() {
      await Promise.all(processes.map((p) => p.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
