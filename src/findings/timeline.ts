/**
 * A post-incident timeline from findings: every lifecycle step of every episode (first seen,
 * escalations, recoveries) and the correlations that grouped them, ordered by event time, as
 * Markdown for a post-mortem or JSON for tools. Pure: the `findings timeline` command reads the
 * findings, this orders and renders them.
 */
import { SEVERITY_ORDER, type Finding, type Severity } from '../model/finding.ts';

export type TimelineEventKind = 'first_seen' | 'escalated' | 'correlated' | 'recovered';

export interface TimelineEvent {
  /** Event time of the step: first_seen for the first, observed_at for the rest. */
  at: string;
  kind: TimelineEventKind;
  incident_type: string;
  severity: Severity;
  scope: string;
  summary: string;
  dedupe_key: string;
  finding_id: string;
  /** For correlations: the incident types and counts it grouped. */
  grouped?: string;
}

export interface TimelineEpisode {
  dedupe_key: string;
  incident_type: string;
  scope: string;
  first_seen: string;
  /** Unset while still open at the end of the range. */
  recovered_at?: string;
  duration_s?: number;
  severities: Severity[];
  count: number;
  correlation: boolean;
  evidence: Array<{ ts: string; line: string; pod?: string }>;
  logql: { query: string; start: string; end: string };
  finding_ids: string[];
}

export interface Timeline {
  from: string;
  to: string;
  findings: number;
  events: TimelineEvent[];
  episodes: TimelineEpisode[];
}

export function scopeOf(f: Finding): string {
  const s = f.resource_scope;
  const parts = [s.cluster, s.namespace || '_', s.workload ?? s.node ?? s.name ?? ''].filter((p) => p !== '');
  return parts.join('/');
}

const isCorrelation = (f: Finding) => f.evidence.details?.relation !== undefined && f.evidence.details?.conditions !== undefined;
const ms = (t: string) => Date.parse(t);

/** Builds the timeline; duplicates (the same finding_id twice, e.g. read from two replicas) count once. */
export function buildTimeline(input: readonly Finding[], range: { from: string; to: string }): Timeline {
  const seen = new Set<string>();
  const findings = input.filter((f) => !seen.has(f.finding_id) && seen.add(f.finding_id)).sort((a, b) => ms(a.observed_at) - ms(b.observed_at));
  const episodes = new Map<string, TimelineEpisode & { open: boolean; top: Severity }>();
  const events: TimelineEvent[] = [];
  for (const f of findings) {
    const key = `${f.dedupe_key}\u0000${f.first_seen}`;
    const base = { incident_type: f.incident_type, severity: f.severity, scope: scopeOf(f), summary: f.summary, dedupe_key: f.dedupe_key, finding_id: f.finding_id };
    let ep = episodes.get(key);
    if (f.status === 'observed') {
      if (!ep) {
        ep = {
          dedupe_key: f.dedupe_key,
          incident_type: f.incident_type,
          scope: scopeOf(f),
          first_seen: f.first_seen,
          severities: [f.severity],
          count: f.count,
          correlation: isCorrelation(f),
          evidence: f.evidence.lines.slice(0, 3).map((l) => ({ ts: l.ts, line: l.line, ...(l.pod ? { pod: l.pod } : {}) })),
          logql: { ...f.evidence.loki },
          finding_ids: [],
          open: true,
          top: f.severity,
        };
        episodes.set(key, ep);
        const grouped = isCorrelation(f) ? String(f.evidence.details!.conditions) : undefined;
        events.push({ ...base, at: f.first_seen, kind: isCorrelation(f) ? 'correlated' : 'first_seen', ...(grouped ? { grouped } : {}) });
      } else if (SEVERITY_ORDER[f.severity] > SEVERITY_ORDER[ep.top]) {
        ep.top = f.severity;
        ep.severities.push(f.severity);
        events.push({ ...base, at: f.observed_at, kind: 'escalated' });
      }
      ep.count = Math.max(ep.count, f.count);
      ep.logql.end = laterOf(ep.logql.end, f.evidence.loki.end);
    } else {
      if (!ep) continue; // its observed step is outside the range: nothing to anchor it to
      ep.open = false;
      ep.recovered_at = f.observed_at;
      ep.duration_s = Math.max(0, Math.round((ms(f.observed_at) - ms(ep.first_seen)) / 1000));
      ep.count = Math.max(ep.count, f.count);
      events.push({ ...base, severity: ep.top, at: f.observed_at, kind: 'recovered' });
    }
    ep.finding_ids.push(f.finding_id);
  }
  events.sort((a, b) => ms(a.at) - ms(b.at) || order(a.kind) - order(b.kind));
  const list = [...episodes.values()].map(({ open: _open, top: _top, ...e }) => e).sort((a, b) => ms(a.first_seen) - ms(b.first_seen));
  return { from: range.from, to: range.to, findings: findings.length, events, episodes: list };
}

const KIND_ORDER: Record<TimelineEventKind, number> = { first_seen: 0, correlated: 1, escalated: 2, recovered: 3 };
const order = (k: TimelineEventKind) => KIND_ORDER[k];
const laterOf = (a: string, b: string) => (ms(a) >= ms(b) ? a : b);

const KIND_TEXT: Record<TimelineEventKind, string> = { first_seen: 'first seen', escalated: 'escalated', correlated: 'correlated', recovered: 'recovered' };

/** Markdown cells must not break the table: pipes escaped, newlines folded. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
const code = (s: string) => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);

function duration(s: number): string {
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function renderMarkdown(t: Timeline): string {
  const out: string[] = [];
  out.push(`# Incident timeline ${t.from} – ${t.to}`, '');
  const open = t.episodes.filter((e) => !e.recovered_at).length;
  const n = (k: number, one: string) => `${k} ${one}${k === 1 ? '' : 's'}`;
  out.push(`${n(t.findings, 'finding')}, ${n(t.episodes.length, 'episode')} (${open} still open at the end of the range).`, '');
  out.push('| Time (UTC) | Event | Severity | Type | Scope | Summary |', '|---|---|---|---|---|---|');
  for (const e of t.events) {
    const what = e.kind === 'correlated' && e.grouped ? `correlated (${e.grouped})` : KIND_TEXT[e.kind];
    out.push(`| ${e.at} | ${cell(what)} | ${e.severity} | ${code(e.incident_type)} | ${cell(e.scope)} | ${cell(e.summary)} |`);
  }
  out.push('', '## Episodes', '');
  for (const e of t.episodes) {
    const end = e.recovered_at ? `recovered ${e.recovered_at} (after ${duration(e.duration_s ?? 0)})` : 'still open';
    out.push(`### ${e.incident_type} on ${e.scope}`, '');
    out.push(`- first seen ${e.first_seen}, ${end}; ${e.count} signals; severity ${e.severities.join(' → ')}${e.correlation ? '; a correlation of other findings' : ''}`);
    out.push(`- logs: ${code(e.logql.query)} from ${e.logql.start} to ${e.logql.end}`);
    out.push(`- findings: ${e.finding_ids.join(', ')}`);
    if (e.evidence.length) {
      out.push('- evidence (redacted):', '', '```');
      for (const l of e.evidence) out.push(`${l.ts} ${l.pod ? `${l.pod} ` : ''}${l.line.replace(/```/g, "'''")}`);
      out.push('```');
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
