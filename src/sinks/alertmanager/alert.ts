/**
 * A finding as an alert of Alertmanager's v2 API (`POST /api/v2/alerts`, body: an array of these).
 *
 * Identity: Alertmanager identifies an alert by its whole label set, so the labels hold only what is
 * stable for one episode of one dedupe key (no pod, no counts). The dedupe key itself is a label:
 * two findings that differ only in the pod of a workload-scoped rule stay one alert, two different
 * scopes never merge. Everything else (evidence, the LogQL link) goes into annotations.
 */
import type { Finding } from '../../model/finding.ts';

export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertLinks {
  /** Grafana base URL (e.g. https://grafana.example.org); an Explore link is added when set. */
  grafanaUrl?: string;
  /** UID of the Loki data source in Grafana. */
  grafanaDatasource?: string;
}

/** Alertmanager's classic label-name rule; other characters become `_` (its UTF-8 mode is optional). */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
export function labelName(key: string): string {
  if (LABEL_NAME.test(key)) return key;
  const s = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** Labels Alertmanager routes, groups, silences and inhibits on. */
export function alertLabels(f: Finding): Record<string, string> {
  const labels: Record<string, string> = {};
  // Rule labels first, so the finding's own fields win on a clash (a rule cannot rename its alert).
  for (const [k, v] of Object.entries(f.labels ?? {})) if (v !== '') labels[labelName(k)] = v;
  const s = f.resource_scope;
  Object.assign(labels, {
    alertname: f.incident_type,
    severity: f.severity,
    domain: f.domain,
    cluster: s.cluster,
    namespace: s.namespace,
    rule_id: f.rule.id,
    dedupe_key: f.dedupe_key,
  });
  if (s.workload) labels.workload = s.workload;
  if (s.node && !s.workload) labels.node = s.node;
  return labels;
}

const MAX_ANNOTATION = 4096;
const clip = (s: string) => (s.length <= MAX_ANNOTATION ? s : `${s.slice(0, MAX_ANNOTATION - 1)}…`);

/** Grafana Explore URL running the finding's LogQL over its window (Grafana ≥ 10 `panes` form). */
export function exploreUrl(f: Finding, links: AlertLinks): string | undefined {
  if (!links.grafanaUrl) return undefined;
  const uid = links.grafanaDatasource ?? 'loki';
  const pane = {
    datasource: uid,
    queries: [{ refId: 'A', expr: f.evidence.loki.query, datasource: { type: 'loki', uid } }],
    range: { from: String(Date.parse(f.evidence.loki.start)), to: String(Date.parse(f.evidence.loki.end)) },
  };
  return `${links.grafanaUrl.replace(/\/+$/, '')}/explore?schemaVersion=1&orgId=1&panes=${encodeURIComponent(JSON.stringify({ a: pane }))}`;
}

export function alertAnnotations(f: Finding, links: AlertLinks): Record<string, string> {
  const s = f.resource_scope;
  const a: Record<string, string> = {
    summary: clip(f.summary),
    // Evidence lines are redacted when the finding is built; nothing raw is added here.
    description: clip(f.evidence.lines.map((l) => `${l.ts} ${l.pod ? `${l.pod}: ` : ''}${l.line}`).join('\n')),
    logql: clip(f.evidence.loki.query),
    logql_start: f.evidence.loki.start,
    logql_end: f.evidence.loki.end,
    finding_id: f.finding_id,
    count: String(f.count),
    first_seen: f.first_seen,
    last_seen: f.last_seen,
    confidence: String(f.confidence),
  };
  if (s.pod) a.pod = s.pod;
  if (s.container) a.container = s.container;
  if (s.node) a.node = s.node;
  if (f.evidence.templates[0]) a.template = clip(f.evidence.templates[0].template);
  const runbook = Object.entries(f.labels ?? {}).find(([k]) => ['runbook_url', 'runbook'].includes(labelName(k)))?.[1];
  if (runbook) a.runbook_url = runbook;
  const explore = exploreUrl(f, links);
  if (explore) a.grafana_explore_url = explore;
  return a;
}

/**
 * The alert for a finding. A firing alert's `endsAt` is `validFor` ahead of `now` (Prometheus
 * uses 4 × its resend delay): re-posted before then while the episode is open, it stays firing;
 * if the detector dies, Alertmanager resolves it by itself when that time passes. A recovered
 * finding ends the alert at its recovery time.
 */
export function toAlert(f: Finding, now: number, validForMs: number, links: AlertLinks): PostableAlert {
  const explore = exploreUrl(f, links);
  const startsAt = f.first_seen;
  const endsAt = f.status === 'recovered' ? laterOf(f.observed_at, startsAt) : new Date(now + validForMs).toISOString();
  return {
    labels: alertLabels(f),
    annotations: alertAnnotations(f, links),
    startsAt,
    endsAt,
    ...(explore ? { generatorURL: explore } : {}),
  };
}

function laterOf(a: string, b: string): string {
  return Date.parse(a) >= Date.parse(b) ? a : b;
}
