import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { metrics, registry } from './metrics.ts';

export interface HealthProbe {
  /** null when ready, else a short reason shown on /readyz. */
  (): string | null;
}

/**
 * /healthz (the process and its event loop answer), /readyz (every component says it is ready),
 * /metrics (Prometheus text format). Nothing else is served.
 */
/** Extra GET routes by path (the query string is the handler's to read), e.g. /tap. */
export type Routes = Record<string, (req: IncomingMessage, res: ServerResponse) => void>;

export function startServer(opts: { host: string; port: number; readiness: HealthProbe[]; routes?: Routes }): Promise<Server> {
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const lagTimer = setInterval(() => {
    metrics.eventLoopLag.set(lag.percentile(99) / 1e9);
    lag.reset();
  }, 10_000);
  lagTimer.unref();
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url === '/readyz') {
      const reasons = opts.readiness.map((p) => p()).filter((r): r is string => r !== null);
      if (reasons.length) res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready:\n${reasons.map((r) => `- ${r}`).join('\n')}\n`);
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    const path = url.split('?', 1)[0]!;
    const route = opts.routes?.[path];
    if (route) {
      route(req, res);
      return;
    }
    res.writeHead(404).end();
  });
  server.on('close', () => {
    clearInterval(lagTimer);
    lag.disable();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve(server));
  });
}
