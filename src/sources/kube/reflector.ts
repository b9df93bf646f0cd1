import { log } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import { KubeApiError, type KubeApi } from './api.ts';
import { Backoff, sleep } from '../../delivery/backoff.ts';
import type { KubeList, ListMeta, ObjectMeta, Status } from './k8s-types.ts';
import { LineSplitter, type SplitLine } from './line-splitter.ts';

/**
 * Reflector semantics (client-go's, which peers get wrong): LIST (paged), WATCH from the list's
 * resourceVersion with bookmarks, keep the newest resourceVersion seen (events and bookmarks), resume the
 * watch from it after a close, and on 410 Gone — HTTP 410 or an ERROR event with code 410 — drop it and
 * LIST again, with backoff on failures. Consumers get the full list (replace semantics) and then events.
 */

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ReflectorHandlers<T> {
  /** A complete, consistent list: replaces what the consumer knew (first sync and every re-list). */
  replace(items: T[], resourceVersion: string): void;
  change(type: ChangeType, obj: T): void;
  /** Any sign of life on the watch: an event or a bookmark. */
  activity?(): void;
  /** A failed list/watch (after which the reflector backs off and retries). */
  error?(err: KubeApiError): void;
  /** The first successful list after errors. */
  recovered?(): void;
}

export interface ReflectorOptions<T> {
  api: KubeApi;
  /** Plural resource (RBAC name): "pods", "events". */
  resource: string;
  /** Namespace, or undefined for all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  pageSize?: number;
  /** Server-side watch lifetime; jittered ±20 % so watches do not expire together (default 300 s). */
  watchTimeoutSeconds?: number;
  /** No byte for this long on an open watch = dead connection (default watchTimeout + 60 s). */
  inactivityMs?: number;
  /** Maps wire objects to what the consumer keeps (strip fields to bound memory). */
  transform?: (obj: T) => T;
  backoff?: Backoff;
  handlers: ReflectorHandlers<T>;
}

class GoneError extends Error {}

export class Reflector<T extends { metadata: ObjectMeta }> {
  private readonly opts: ReflectorOptions<T>;
  private readonly abort = new AbortController();
  private rv: string | null = null;
  private running: Promise<void> | null = null;
  private readonly backoff: Backoff;
  private failing = false;
  private emptyWatches = 0;
  private linesSeen = 0;
  lastActivityMs = Date.now();
  synced = false;
  lastError: KubeApiError | null = null;

  constructor(opts: ReflectorOptions<T>) {
    this.opts = opts;
    // Capped at 15 s: after an API server restart the watches should be back within seconds of it.
    this.backoff = opts.backoff ?? new Backoff({ baseMs: 500, maxMs: 15_000 });
  }

  private get path(): string {
    const ns = this.opts.namespace;
    return ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/${this.opts.resource}` : `/api/v1/${this.opts.resource}`;
  }

  get resourceVersion(): string | null {
    return this.rv;
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (this.rv === null) await this.list(signal);
        const started = Date.now();
        const seen = await this.watch(signal);
        metrics.watchRestarts.inc({ resource: this.opts.resource, reason: 'closed' });
        if (seen === 0 && Date.now() - started < 1000) {
          // A watch that closes at once with nothing in it (kubernetes#104171: stale resourceVersion answered
          // with an empty 200) must not become a hot loop: back off, and after a few, re-list.
          if (++this.emptyWatches >= 3) {
            this.emptyWatches = 0;
            this.rv = null;
          }
          await sleep(this.backoff.next(), signal);
        } else {
          this.emptyWatches = 0;
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError || (err instanceof KubeApiError && err.status === 410)) {
          metrics.watchRestarts.inc({ resource: this.opts.resource, reason: 'gone' });
          log.info({ resource: this.opts.resource, namespace: this.opts.namespace }, 'watch resourceVersion expired (410 Gone): re-listing');
          this.rv = null;
          continue;
        }
        const e = err instanceof KubeApiError ? err : new KubeApiError({ status: 0, verb: 'watch', resource: this.opts.resource, ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}), message: (err as Error).message, cause: err });
        metrics.watchRestarts.inc({ resource: this.opts.resource, reason: e.forbidden ? 'forbidden' : e.status === 0 ? 'unreachable' : 'error' });
        this.lastError = e;
        this.failing = true;
        this.opts.handlers.error?.(e);
        await sleep(this.backoff.next(), signal);
      }
    }
  }

  private async list(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let meta: ListMeta | undefined;
    do {
      const page = await this.opts.api.json<KubeList<T>>({
        verb: 'list',
        resource: this.opts.resource,
        ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
        path: this.path,
        query: { limit: this.opts.pageSize ?? 500, continue: cont, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
        signal,
      });
      for (const it of page.items ?? []) items.push(this.opts.transform ? this.opts.transform(it) : it);
      meta = page.metadata;
      cont = meta?.continue || undefined;
    } while (cont);
    this.rv = meta?.resourceVersion ?? null;
    this.lastActivityMs = Date.now();
    if (this.failing) {
      this.failing = false;
      this.lastError = null;
      this.opts.handlers.recovered?.();
    }
    this.backoff.reset();
    this.synced = true;
    this.opts.handlers.replace(items, this.rv ?? '');
  }

  /** Returns the number of watch lines received. */
  private async watch(signal: AbortSignal): Promise<number> {
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
    const inactivityMs = this.opts.inactivityMs ?? (timeoutSeconds + 60) * 1000;
    const local = new AbortController();
    const onAbort = (): void => local.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let stalled = false;
    this.linesSeen = 0;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        local.abort();
      }, inactivityMs);
      timer.unref?.();
    };
    try {
      arm();
      const body = await this.opts.api.open({
        verb: 'watch',
        resource: this.opts.resource,
        ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
        path: this.path,
        query: {
          watch: 1,
          resourceVersion: this.rv ?? undefined,
          allowWatchBookmarks: true,
          timeoutSeconds,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        signal: local.signal,
      });
      if (this.failing) {
        this.failing = false;
        this.lastError = null;
        this.opts.handlers.recovered?.();
      }
      const splitter = new LineSplitter(64 * 1024 * 1024);
      const lines: SplitLine[] = [];
      for await (const chunk of body) {
        arm();
        splitter.push(chunk as Buffer, lines);
        for (const l of lines) this.onLine(l.text);
        lines.length = 0;
      }
      if (this.linesSeen > 0) this.backoff.reset();
      return this.linesSeen;
    } catch (err) {
      if (stalled && !signal.aborted) {
        metrics.watchRestarts.inc({ resource: this.opts.resource, reason: 'stalled' });
        return this.linesSeen;
      }
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      local.abort();
    }
  }

  private onLine(text: string): void {
    if (!text) return;
    let ev: { type?: string; object?: T | Status };
    try {
      ev = JSON.parse(text) as typeof ev;
    } catch {
      log.warn({ resource: this.opts.resource, bytes: text.length }, 'unparseable watch line skipped');
      return;
    }
    const obj = ev.object;
    if (!obj) return;
    this.linesSeen++;
    this.lastActivityMs = Date.now();
    this.opts.handlers.activity?.();
    if (ev.type === 'ERROR') {
      const st = obj as Status;
      if (st.code === 410) throw new GoneError(st.message ?? 'Gone');
      throw new KubeApiError({ status: st.code ?? 500, verb: 'watch', resource: this.opts.resource, ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}), apiStatus: st, message: `watch ${this.opts.resource}: ${st.message ?? st.reason ?? 'error'}` });
    }
    const rv = (obj as T).metadata?.resourceVersion;
    if (rv) this.rv = rv;
    if (ev.type === 'BOOKMARK') return;
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') {
      const item = this.opts.transform ? this.opts.transform(obj as T) : (obj as T);
      this.opts.handlers.change(ev.type, item);
    }
  }
}
