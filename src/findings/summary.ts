import type { ResourceScope } from '../model/finding.ts';
import type { CompiledRule } from '../detect/compile.ts';
import { REDACTED } from '../parse/redact.ts';

/** "5m", "40s", "1h05m": short and readable. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

export function describeScope(s: ResourceScope): string {
  const where = s.workload ? `${s.namespace}/${s.workload}` : s.node && !s.pod ? `node ${s.node}` : s.pod ? `${s.namespace}/${s.pod}` : `namespace ${s.namespace}`;
  const extra: string[] = [];
  if (s.pod && s.workload && s.pod !== s.workload) extra.push(`pod ${s.pod}`);
  if (s.container) extra.push(`container ${s.container}`);
  if (s.node && (s.pod || s.workload)) extra.push(`node ${s.node}`);
  if (s.kind && s.name && !s.pod) extra.push(`${s.kind} ${s.name}`);
  return extra.length ? `${where} (${extra.join(', ')})` : where;
}

function shortTemplate(t: string): string {
  const one = t.replace(/\s+/g, ' ');
  if (one.length <= 120) return one;
  let cut = 117;
  // Never cut a redaction mark in half: "[REDAC..." reads like a broken line.
  const open = one.lastIndexOf('[', cut);
  if (open >= 0 && open + REDACTED.length > cut && one.startsWith(REDACTED, open)) cut = open;
  return `${one.slice(0, cut)}...`;
}

/** Markdown inline code that stays one span when the text holds backticks itself. */
function codeSpan(t: string): string {
  const runs = t.match(/`+/g);
  if (!runs) return `\`${t}\``;
  const fence = '`'.repeat(Math.max(...runs.map((r) => r.length)) + 1);
  return `${fence} ${t} ${fence}`;
}

export function observedSummary(rule: CompiledRule, scope: ResourceScope, count: number, firstTs: number, lastTs: number, template?: string): string {
  const what = template ? `${codeSpan(shortTemplate(template))} (${rule.title})` : rule.title;
  const span = lastTs > firstTs ? ` within ${humanDuration(lastTs - firstTs)}` : '';
  return `${count}× ${what}${span} in ${describeScope(scope)}.`;
}

export function recoveredSummary(rule: CompiledRule, scope: ResourceScope, count: number, firstTs: number, lastTs: number, endedBy?: string): string {
  if (endedBy !== undefined) {
    return `Recovered: ${rule.title} in ${describeScope(scope)} ended (${endedBy}) after ${count} occurrence${count === 1 ? '' : 's'} between ${new Date(firstTs).toISOString()} and ${new Date(lastTs).toISOString()}.`;
  }
  return `Recovered: ${rule.title} in ${describeScope(scope)}, quiet for ${humanDuration(rule.quietMs)} after ${count} occurrence${count === 1 ? '' : 's'} between ${new Date(firstTs).toISOString()} and ${new Date(lastTs).toISOString()}.`;
}
