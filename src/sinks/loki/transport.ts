import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { metrics } from '../../metrics.ts';
import { log } from '../../logger.ts';
import type { ResolvedLokiOptions } from './options.ts';

export interface PushResponse {
  status: number;
  body: string;
  retryAfter: string | undefined;
}


/** Only the start of an error body is kept: enough to classify, bounded in memory. */
const MAX_BODY = 64 * 1024;

/**
 * POSTs a push body over a keep-alive agent. node:http(s) rather than fetch: CA and
 * skip-verify are plain agent options here, with no extra dependency.
 */
export class LokiTransport {
  private readonly agent: http.Agent;
  private readonly headers: Record<string, string>;
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly mod: typeof http | typeof https;

  constructor(o: ResolvedLokiOptions) {
    this.url = o.pushUrl;
    this.timeoutMs = o.timeoutMs;
    const isHttps = o.pushUrl.protocol === 'https:';
    this.mod = isHttps ? https : http;
    if (isHttps) {
      const ca = o.tls.caFile ? readFileSync(o.tls.caFile) : undefined;
      if (o.tls.insecureSkipVerify) {
        metrics.lokiInsecureTls.inc();
        log.warn({ component: 'loki', url: o.pushUrl.origin }, 'loki TLS certificate verification is DISABLED (insecureSkipVerify)');
      }
      this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, ...(ca ? { ca } : {}), rejectUnauthorized: !o.tls.insecureSkipVerify });
    } else {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    }
    const headers: Record<string, string> = {
      'content-type': o.format === 'json' ? 'application/json' : 'application/x-protobuf',
      'user-agent': 'robot-sre-detector',
    };
    if (o.tenant) headers['x-scope-orgid'] = o.tenant;
    if (o.basicAuth) headers.authorization = `Basic ${Buffer.from(`${o.basicAuth.username}:${o.basicAuth.password}`).toString('base64')}`;
    else if (o.bearerToken) headers.authorization = `Bearer ${o.bearerToken}`;
    this.headers = headers;
  }

  push(body: Buffer, signal?: AbortSignal): Promise<PushResponse> {
    return new Promise((resolve, reject) => {
      const req = this.mod.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-length': String(body.length) },
          timeout: this.timeoutMs,
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < MAX_BODY) {
              chunks.push(c);
              size += c.length;
            }
          });
          res.on('end', () => {
            const ra = res.headers['retry-after'];
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8', 0, Math.min(size, MAX_BODY)),
              retryAfter: Array.isArray(ra) ? ra[0] : ra,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`loki push timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
