/**
 * Builds one bundle's records: resolve the target to pods, then per pod and container the logs
 * (current, then previous), the events of the window, and the metrics the pod's annotations expose.
 * Records go to `emit` one at a time (the writer gzips them to disk); nothing is collected whole.
 * A missing previous container, a pod without metrics annotations, an unreachable metrics port or a
 * vanished pod is a record in the bundle, never a failed bundle; only losing the API is.
 */
import { createInterface } from 'node:readline';
import { KubeApiError } from '../../sources/kube/api.ts';
import type { CoreEvent } from '../../sources/kube/k8s-types.ts';
import type { BundlePod, KubeReader } from './kube.ts';
import type { BundleParams } from './request.ts';

export type BundleRecord = Record<string, unknown> & { type: string };
export type Emit = (r: BundleRecord) => Promise<void>;

export interface CollectOptions {
  reader: KubeReader;
  params: BundleParams;
  bundleId: string;
  createdAt: string;
  maxMetricsPods: number;
  maxLineBytes: number;
  maxMetricsBytes: number;
  maxEvents: number;
  signal: AbortSignal;
  /** Scrapes a metrics URL (tests replace it). */
  fetchMetrics?: (url: string, timeoutMs: number, maxBytes: number, signal: AbortSignal) => Promise<string>;
  now?: () => number;
}

const TS = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (.*)$/s;

function containersOf(p: BundlePod, only: string[] | null): string[] {
  const all = [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => c.name);
  return only ? all.filter((c) => only.includes(c)) : all;
}

/** Has this container a previous instance (it restarted, or its last state is a terminated one)? */
function hasPrevious(p: BundlePod, container: string): boolean {
  const st = [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])].find((s) => s.name === container);
  if (!st) return false;
  return (st.restartCount ?? 0) > 0 || !!st.lastState?.terminated;
}

function truncate(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  return `${Buffer.from(s).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '')}…[truncated]`;
}

function eventTime(e: CoreEvent): string | undefined {
  return e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? undefined;
}

export async function defaultFetchMetrics(url: string, timeoutMs: number, maxBytes: number, signal: AbortSignal): Promise<string> {
  const t = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([t, signal]), redirect: 'error', headers: { accept: 'text/plain;version=0.0.4, */*;q=0.1' } });
  } catch (err) {
    if (t.aborted) throw new Error(`timeout after ${timeoutMs}ms`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`fetch_failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`http_status: ${res.status}`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      chunks.push(Buffer.from(c));
      n += c.byteLength;
      if (n >= maxBytes) break;
    }
  } catch {
    if (t.aborted) throw new Error(`timeout after ${timeoutMs}ms`);
    throw new Error('fetch_failed: body');
  }
  const text = Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
  return n >= maxBytes ? `${text}\n# [truncated at ${maxBytes} bytes]` : text;
}

export async function collectBundle(o: CollectOptions, emit: Emit): Promise<{ pods: number; logLines: number; events: number }> {
  const { reader, params, signal } = o;
  const now = o.now ?? Date.now;
  const iso = () => new Date(now()).toISOString();

  // ── target → pods ──
  let pods: BundlePod[] = [];
  const missing: Array<{ namespace: string; pod: string }> = [];
  let matched = 0;
  if (params.target.kind === 'selector') {
    const found = await reader.listPods(params.target.namespace, params.target.selector, params.limits.maxPods + 1, signal);
    matched = found.length;
    found.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    pods = found.slice(0, params.limits.maxPods);
  } else {
    for (const ref of params.target.pods) {
      const p = await reader.getPod(ref.namespace, ref.pod, signal);
      if (p) pods.push(p);
      else missing.push(ref);
    }
    matched = pods.length;
  }
  await emit({
    type: 'meta',
    bundleId: o.bundleId,
    createdAt: o.createdAt,
    params,
    pods: pods.map((p) => ({ namespace: p.metadata.namespace, pod: p.metadata.name })),
    ...(params.target.kind === 'selector' && matched > params.limits.maxPods ? { podsTruncated: true, maxPods: params.limits.maxPods } : {}),
  });
  for (const m of missing) await emit({ type: 'log', namespace: m.namespace, pod: m.pod, ts: iso(), skipped: true, reason: 'pod_not_found' });

  // ── logs ──
  const w = params.timeWindow;
  const logsOpt = params.include.logs;
  let budget = params.limits.maxTotalLogLines;
  let logLines = 0;
  if (logsOpt.enabled) {
    for (const p of pods) {
      const ns = p.metadata.namespace!;
      const pod = p.metadata.name!;
      for (const container of containersOf(p, logsOpt.containers)) {
        for (const previous of logsOpt.previous ? [false, true] : [false]) {
          signal.throwIfAborted();
          const base = { type: 'log', namespace: ns, pod, container, ...(previous ? { previous: true } : {}) };
          if (budget <= 0) {
            await emit({ ...base, ts: iso(), skipped: true, reason: 'max_total_log_lines' });
            continue;
          }
          if (previous && !hasPrevious(p, container)) {
            await emit({ ...base, ts: iso(), skipped: true, reason: 'no_previous_container' });
            continue;
          }
          const ac = new AbortController();
          const onAbort = () => ac.abort();
          signal.addEventListener('abort', onAbort, { once: true });
          try {
            const tail = Math.min(logsOpt.tailLines, budget);
            const body = await reader.logs({
              namespace: ns,
              pod,
              container,
              previous,
              timestamps: logsOpt.timestamps,
              ...(w.kind === 'relative' ? { sinceSeconds: w.sinceSeconds, tailLines: tail } : { sinceTime: new Date(Math.floor(w.startMs / 1000) * 1000).toISOString().replace(/\.\d+Z$/, 'Z') }),
              limitBytes: Math.min(256 * 1024 * 1024, Math.max(1, tail) * (o.maxLineBytes + 64)),
              signal: ac.signal,
            });
            const rl = createInterface({ input: body, crlfDelay: Infinity });
            let taken = 0;
            let cut = false;
            try {
              for await (const raw of rl) {
                let ts: string | null = null;
                let line = raw;
                if (logsOpt.timestamps) {
                  const m = TS.exec(raw);
                  if (m) {
                    ts = m[1]!;
                    line = m[2]!;
                  }
                }
                if (w.kind === 'absolute' && ts) {
                  const t = Date.parse(ts);
                  if (t < w.startMs) continue;
                  if (t > w.endMs) break;
                }
                if (logsOpt.excludePatterns.some((x) => line.includes(x))) continue;
                if (taken >= tail) {
                  cut = true;
                  break;
                }
                taken++;
                await emit({ ...base, ts: ts ?? iso(), line: truncate(line, o.maxLineBytes) });
              }
            } finally {
              rl.close();
              body.destroy();
            }
            budget -= taken;
            logLines += taken;
            if (cut && budget <= 0) await emit({ ...base, ts: iso(), skipped: true, reason: 'max_total_log_lines' });
          } catch (err) {
            if (signal.aborted) throw err;
            if (err instanceof KubeApiError && (err.status === 400 || err.status === 404)) {
              // The API's answer when there is no previous instance (or the container never started).
              await emit({ ...base, ts: iso(), skipped: true, reason: previous ? 'no_previous_container' : 'logs_unavailable', ...(previous ? {} : { error: err.message.slice(0, 300) }) });
              continue;
            }
            // Only losing the API fails the bundle; a kubelet's 5xx for one container is a record.
            if (!(err instanceof KubeApiError) || err.status <= 0) throw err;
            await emit({ ...base, ts: iso(), skipped: true, reason: err instanceof KubeApiError && err.forbidden ? 'forbidden' : 'read_error', error: (err as Error).message.slice(0, 300) });
          } finally {
            signal.removeEventListener('abort', onAbort);
            ac.abort();
          }
        }
      }
    }
  }

  // ── events ──
  let events = 0;
  if (params.include.events.enabled && pods.length) {
    const byNs = new Map<string, Set<string>>();
    for (const p of pods) {
      const ns = p.metadata.namespace!;
      if (!byNs.has(ns)) byNs.set(ns, new Set());
      byNs.get(ns)!.add(p.metadata.name!);
    }
    const from = w.kind === 'relative' ? now() - w.sinceSeconds * 1000 : w.startMs;
    const to = w.kind === 'relative' ? Infinity : w.endMs;
    outer: for (const [ns, names] of [...byNs].sort(([a], [b]) => a.localeCompare(b))) {
      try {
        for await (const page of reader.events(ns, signal)) {
          for (const e of page) {
            if (e.involvedObject?.kind !== 'Pod' || !names.has(e.involvedObject.name ?? '')) continue;
            const last = eventTime(e);
            const first = e.firstTimestamp ?? e.eventTime ?? last;
            const lastMs = last ? Date.parse(last) : NaN;
            const firstMs = first ? Date.parse(first) : lastMs;
            if (!Number.isFinite(lastMs) || lastMs < from || (Number.isFinite(firstMs) ? firstMs : lastMs) > to) continue;
            if (events >= o.maxEvents) {
              await emit({ type: 'event', namespace: ns, ts: iso(), skipped: true, reason: 'max_events' });
              break outer;
            }
            events++;
            await emit({
              type: 'event',
              namespace: ns,
              reason: e.reason ?? '',
              message: truncate(e.message ?? '', o.maxLineBytes),
              ts: last,
              ...(first && first !== last ? { firstTs: first } : {}),
              eventType: e.type ?? '',
              count: e.series?.count ?? e.count ?? 1,
              involvedObject: { kind: e.involvedObject.kind, namespace: e.involvedObject.namespace ?? ns, name: e.involvedObject.name, ...(e.involvedObject.fieldPath ? { fieldPath: e.involvedObject.fieldPath } : {}) },
              source: e.reportingComponent || e.source?.component || '',
            });
          }
        }
      } catch (err) {
        if (signal.aborted || !(err instanceof KubeApiError) || err.status <= 0) throw err;
        await emit({ type: 'event', namespace: ns, ts: iso(), skipped: true, reason: err.forbidden ? 'forbidden' : 'read_error', error: err.message.slice(0, 300) });
      }
    }
  }

  // ── metrics ──
  if (params.include.metrics.enabled) {
    const fetcher = o.fetchMetrics ?? defaultFetchMetrics;
    let scraped = 0;
    for (const p of pods) {
      signal.throwIfAborted();
      const ann = p.metadata.annotations ?? {};
      const ns = p.metadata.namespace!;
      const pod = p.metadata.name!;
      const port = ann['prometheus.io/port'];
      const path = ann['prometheus.io/path'] || '/metrics';
      const base = { type: 'metrics_text', namespace: ns, pod, ...(port ? { port: Number(port) } : {}), path };
      if (ann['prometheus.io/scrape'] !== 'true' || !port) {
        await emit({ ...base, ts: iso(), skipped: true, reason: 'annotation_missing' });
        continue;
      }
      if (scraped >= o.maxMetricsPods) {
        await emit({ ...base, ts: iso(), skipped: true, reason: 'max_metrics_pods' });
        continue;
      }
      scraped++;
      const portNum = Number(port);
      const scheme = ann['prometheus.io/scheme'] === 'https' ? 'https' : 'http';
      const ip = p.status?.podIP;
      if (!Number.isInteger(portNum) || portNum < 1 || portNum > 65535 || !path.startsWith('/')) {
        await emit({ ...base, ts: iso(), ok: false, error: 'bad_annotation: prometheus.io/port or prometheus.io/path' });
        continue;
      }
      if (!ip) {
        await emit({ ...base, ts: iso(), ok: false, error: 'no_pod_ip' });
        continue;
      }
      const host = ip.includes(':') ? `[${ip}]` : ip;
      try {
        const content = await fetcher(`${scheme}://${host}:${portNum}${path}`, params.limits.metricsTimeoutMs, o.maxMetricsBytes, signal);
        await emit({ ...base, ts: iso(), ok: true, content });
      } catch (err) {
        if (signal.aborted) throw err;
        await emit({ ...base, ts: iso(), ok: false, error: (err as Error).message.slice(0, 300) });
      }
    }
  }
  return { pods: pods.length, logLines, events };
}
