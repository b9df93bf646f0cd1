/** Minimal HTTP(S) client for readiness probes and the kube helpers: needs a custom CA, which fetch() cannot take. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** PEM CA bundle for https URLs. */
  ca?: string | Buffer;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpCall(url: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(
      u,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        ...(u.protocol === 'https:' && opts.ca !== undefined ? { ca: opts.ca } : {}),
        timeout: opts.timeoutMs ?? 10_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`timeout after ${opts.timeoutMs ?? 10_000} ms: ${opts.method ?? 'GET'} ${url}`)));
    r.on('error', reject);
    if (opts.body !== undefined) r.write(opts.body);
    r.end();
  });
}

export interface HttpStream {
  status: number;
  /** Everything received so far (UTF-8). */
  text(): string;
  /** Resolves with text() once it contains `needle`; rejects on timeout or when the stream ends first. */
  waitFor(needle: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Settles when the server ends the response or the connection breaks. */
  ended: Promise<void>;
  close(): void;
}

/** A long-lived GET (e.g. pods/log?follow=true) whose body is observed while it is still open. */
export function httpStream(url: string, opts: HttpOptions = {}): Promise<HttpStream> {
  const u = new URL(url);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(
      u,
      { method: opts.method ?? 'GET', headers: opts.headers, ...(u.protocol === 'https:' && opts.ca !== undefined ? { ca: opts.ca } : {}), agent: false },
      (res) => {
        let buf = '';
        let done = false;
        const waiters = new Set<() => void>();
        const notify = (): void => {
          for (const w of [...waiters]) w();
        };
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          notify();
        });
        const ended = new Promise<void>((res2) => {
          const finish = (): void => {
            done = true;
            notify();
            res2();
          };
          res.once('end', finish);
          res.once('close', finish);
          res.once('error', finish);
        });
        resolve({
          status: res.statusCode ?? 0,
          text: () => buf,
          ended,
          close: () => r.destroy(),
          waitFor(needle, timeoutMs = 10_000) {
            const hit = (): boolean => (typeof needle === 'string' ? buf.includes(needle) : needle.test(buf));
            return new Promise((ok, fail) => {
              const check = (): void => {
                if (hit()) {
                  cleanup();
                  ok(buf);
                } else if (done) {
                  cleanup();
                  fail(new Error(`stream ended before ${String(needle)}; got: ${buf.slice(-500)}`));
                }
              };
              const timer = setTimeout(() => {
                cleanup();
                fail(new Error(`timeout after ${timeoutMs} ms waiting for ${String(needle)}; got: ${buf.slice(-500)}`));
              }, timeoutMs);
              const cleanup = (): void => {
                clearTimeout(timer);
                waiters.delete(check);
              };
              waiters.add(check);
              check();
            });
          },
        });
      },
    );
    r.on('error', reject);
    r.end();
  });
}
