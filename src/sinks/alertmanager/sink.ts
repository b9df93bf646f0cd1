/**
 * FindingSink for Prometheus' Alertmanager (v2 API). Alertmanager then routes, groups, silences,
 * inhibits and notifies (Slack, PagerDuty, e-mail, webhooks…); none of that is redone here.
 *
 * Contract with Alertmanager, as Prometheus keeps it: every open episode is re-posted each
 * `resendInterval` with `endsAt` = now + 4 × resendInterval, so it stays firing while the detector
 * lives and resolves by itself if the detector dies; a recovery posts `endsAt` = the recovery time
 * and keeps re-posting that for `resolvedRetention` (an Alertmanager restarted meanwhile still
 * learns of it). Every URL gets every alert (an HA pair deduplicates notifications by gossip), each
 * through its own bounded queue, so one Alertmanager down never delays the other.
 *
 * Bounds: `maxAlerts` episodes tracked (past it the oldest resolved, then the oldest open, are
 * forgotten), `maxQueue` distinct alerts waiting per URL (a newer state of a queued alert replaces
 * it; past the bound the oldest is dropped). Every drop is counted in rsd_dropped_total{component="alertmanager"}.
 */
import type { Finding } from '../../model/finding.ts';
import { SEVERITY_ORDER } from '../../model/finding.ts';
import { Backoff, sleep } from '../../delivery/backoff.ts';
import { log as defaultLog, type Logger } from '../../logger.ts';
import { metrics } from '../../metrics.ts';
import type { FindingSink } from '../types.ts';
import { toAlert, type AlertLinks, type PostableAlert } from './alert.ts';

export interface AlertmanagerSinkOptions {
  /** Alertmanager base URLs (`http://alertmanager:9093`); `/api/v2/alerts` is appended unless present. */
  urls: readonly string[];
  resendIntervalMs?: number;
  resolvedRetentionMs?: number;
  timeoutMs?: number;
  maxQueue?: number;
  maxAlerts?: number;
  maxBatch?: number;
  maxRetries?: number;
  /** Extra request headers (Authorization). Never logged. */
  headers?: Record<string, string>;
  links?: AlertLinks;
  logger?: Logger;
  /** Wall clock (tests). */
  now?: () => number;
}

interface Tracked {
  finding: Finding;
  /** Wall time the recovery was posted; unset while firing. */
  resolvedAt?: number;
}

const COMPONENT = 'alertmanager';

/** Alertmanager's identity of an alert: its label set, order-independent. */
function identity(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
}

export function alertsEndpoint(url: string): string {
  const u = url.replace(/\/+$/, '');
  return u.endsWith('/api/v2/alerts') ? u : `${u}/api/v2/alerts`;
}

/** The part of a URL that is safe in a metric label or a log line (no credentials, no query). */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid url)';
  }
}

/** One Alertmanager: a queue of distinct alerts (newest state wins) and one pump. */
class Target {
  readonly endpoint: string;
  readonly label: string;
  private readonly queue = new Map<string, PostableAlert>();
  private pumping: Promise<void> | null = null;
  private closed = false;
  private readonly backoff = new Backoff({ baseMs: 500, maxMs: 10_000 });

  private readonly sink: AlertmanagerSink;

  constructor(url: string, sink: AlertmanagerSink) {
    this.sink = sink;
    this.endpoint = alertsEndpoint(url);
    this.label = safeUrl(url);
  }

  enqueue(alert: PostableAlert): void {
    const id = identity(alert.labels);
    this.queue.delete(id);
    this.queue.set(id, alert);
    while (this.queue.size > this.sink.maxQueue) {
      const oldest = this.queue.keys().next().value as string;
      this.queue.delete(oldest);
      metrics.dropped.inc({ component: COMPONENT, reason: 'queue_full' });
    }
    metrics.alertmanagerQueue.set({ url: this.label }, this.queue.size);
    this.kick();
  }

  /** Starts the pump unless it runs; one that ends with work left (queued meanwhile) starts again. */
  private kick(): void {
    if (this.pumping || this.closed) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.queue.size > 0) this.kick();
    });
  }

  get pending(): number {
    return this.queue.size + (this.pumping ? 1 : 0);
  }

  idle(): Promise<void> {
    return this.pumping ?? Promise.resolve();
  }

  close(): void {
    this.closed = true;
  }

  private async pump(): Promise<void> {
    while (this.queue.size > 0) {
      const batch: PostableAlert[] = [];
      for (const [id, alert] of this.queue) {
        batch.push(alert);
        this.queue.delete(id);
        if (batch.length >= this.sink.maxBatch) break;
      }
      metrics.alertmanagerQueue.set({ url: this.label }, this.queue.size);
      await this.send(batch);
    }
  }

  private async send(batch: PostableAlert[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.post(batch);
      if (outcome === 'ok') {
        this.backoff.reset();
        metrics.alertmanagerAlertsSent.inc({ url: this.label }, batch.length);
        return;
      }
      if (outcome === 'rejected') {
        metrics.dropped.inc({ component: COMPONENT, reason: 'rejected' }, batch.length);
        return;
      }
      if (attempt >= this.sink.maxRetries || this.closed) {
        // The next resend carries every open alert again; a dropped batch heals then.
        metrics.dropped.inc({ component: COMPONENT, reason: 'retries_exhausted' }, batch.length);
        this.sink.log.warn({ url: this.label, alerts: batch.length, attempts: attempt + 1 }, 'alertmanager unreachable: batch dropped, open alerts are re-sent on the next resend');
        return;
      }
      await sleep(this.backoff.next());
    }
  }

  private async post(batch: PostableAlert[]): Promise<'ok' | 'retry' | 'rejected'> {
    const t0 = performance.now();
    try {
      const res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.sink.headers },
        body: JSON.stringify(batch),
        signal: AbortSignal.timeout(this.sink.timeoutMs),
      });
      const body = res.ok ? '' : (await res.text()).slice(0, 300);
      if (res.ok) await res.body?.cancel();
      metrics.sinkRequests.inc({ sink: COMPONENT, status: String(res.status) });
      metrics.sinkLatency.observe({ sink: COMPONENT }, (performance.now() - t0) / 1000);
      if (res.ok) return 'ok';
      if (res.status === 429 || res.status >= 500) return 'retry';
      this.sink.log.warn({ url: this.label, status: res.status, body, alerts: batch.length }, 'alertmanager refused the alerts');
      return 'rejected';
    } catch (err) {
      metrics.sinkRequests.inc({ sink: COMPONENT, status: 'error' });
      this.sink.log.debug({ url: this.label, err: (err as Error).message }, 'alertmanager request failed');
      return 'retry';
    }
  }
}

export class AlertmanagerSink implements FindingSink {
  readonly name = 'alertmanager';
  readonly maxQueue: number;
  readonly maxBatch: number;
  readonly maxRetries: number;
  readonly timeoutMs: number;
  readonly headers: Record<string, string>;
  readonly log: Logger;
  private readonly resendMs: number;
  private readonly retentionMs: number;
  private readonly maxAlerts: number;
  private readonly links: AlertLinks;
  private readonly now: () => number;
  private readonly targets: Target[];
  private readonly tracked = new Map<string, Tracked>();
  private readonly timer: NodeJS.Timeout;

  constructor(opts: AlertmanagerSinkOptions) {
    if (opts.urls.length === 0) throw new Error('alertmanager: at least one URL is needed');
    this.resendMs = opts.resendIntervalMs ?? 60_000;
    this.retentionMs = opts.resolvedRetentionMs ?? 15 * 60_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.maxAlerts = opts.maxAlerts ?? 10_000;
    this.maxBatch = opts.maxBatch ?? 256;
    this.maxRetries = opts.maxRetries ?? 3;
    this.headers = opts.headers ?? {};
    this.links = opts.links ?? {};
    this.log = opts.logger ?? defaultLog.child({ component: COMPONENT });
    this.now = opts.now ?? Date.now;
    this.targets = opts.urls.map((u) => new Target(u, this));
    this.timer = setInterval(() => this.resend(), this.resendMs);
    this.timer.unref();
  }

  publish(finding: Finding): void {
    const key = finding.dedupe_key;
    const before = this.tracked.get(key);
    const now = this.now();
    if (finding.status === 'observed') {
      // A new severity is a new label set to Alertmanager: end the old one, or it fires on until endsAt.
      if (before && before.resolvedAt === undefined && before.finding.severity !== finding.severity) {
        this.post(toAlert({ ...before.finding, status: 'recovered', observed_at: new Date(now).toISOString() }, now, 0, this.links));
      }
      // An escalation keeps the episode's first_seen; a lower severity repeat does not downgrade it.
      if (before && before.resolvedAt === undefined && SEVERITY_ORDER[finding.severity] < SEVERITY_ORDER[before.finding.severity]) return;
      this.track(key, { finding });
    } else {
      // Recovered: end whatever label set is firing for this key (the escalated severity, if any).
      const firing = before && before.resolvedAt === undefined ? before.finding : finding;
      this.track(key, { finding: { ...firing, ...recoveryOf(finding), severity: firing.severity }, resolvedAt: now });
    }
    this.post(this.alertOf(this.tracked.get(key)!, now));
  }

  /** Episodes tracked (firing / resolved within retention). */
  counts(): { firing: number; resolved: number } {
    let resolved = 0;
    for (const t of this.tracked.values()) if (t.resolvedAt !== undefined) resolved++;
    return { firing: this.tracked.size - resolved, resolved };
  }

  async flush(deadlineMs: number): Promise<void> {
    const end = Date.now() + deadlineMs;
    while (this.targets.some((t) => t.pending > 0) && Date.now() < end) {
      await Promise.race([Promise.all(this.targets.map((t) => t.idle())), sleep(Math.max(1, end - Date.now()))]);
    }
  }

  async close(deadlineMs: number): Promise<void> {
    clearInterval(this.timer);
    await this.flush(deadlineMs);
    for (const t of this.targets) t.close();
  }

  /** Re-posts every open episode, and recoveries still within retention; forgets older recoveries. */
  resend(): void {
    const now = this.now();
    for (const [key, t] of this.tracked) {
      if (t.resolvedAt !== undefined && now - t.resolvedAt > this.retentionMs) {
        this.tracked.delete(key);
        continue;
      }
      this.post(this.alertOf(t, now));
    }
    this.updateGauges();
  }

  private alertOf(t: Tracked, now: number): PostableAlert {
    return toAlert(t.finding, now, 4 * this.resendMs, this.links);
  }

  private post(alert: PostableAlert): void {
    for (const target of this.targets) target.enqueue(alert);
  }

  private track(key: string, t: Tracked): void {
    this.tracked.delete(key);
    this.tracked.set(key, t);
    if (this.tracked.size > this.maxAlerts) this.evictOne();
    this.updateGauges();
  }

  private evictOne(): void {
    let victim: string | undefined;
    for (const [key, t] of this.tracked) {
      if (t.resolvedAt !== undefined) {
        victim = key;
        break;
      }
    }
    // No recovery to forget: the oldest open episode goes (Alertmanager resolves it at its endsAt).
    victim ??= this.tracked.keys().next().value as string;
    this.tracked.delete(victim);
    metrics.dropped.inc({ component: COMPONENT, reason: 'alerts_limit' });
  }

  private updateGauges(): void {
    const c = this.counts();
    metrics.alertmanagerAlerts.set({ state: 'firing' }, c.firing);
    metrics.alertmanagerAlerts.set({ state: 'resolved' }, c.resolved);
  }
}

/** The fields of a recovered finding that describe the recovery, laid over the firing one. */
function recoveryOf(f: Finding): Partial<Finding> {
  return { status: 'recovered', observed_at: f.observed_at, last_seen: f.last_seen, count: f.count, finding_id: f.finding_id };
}
