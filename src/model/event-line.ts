import type { EventInfo } from './log-record.ts';

const needsQuote = /[\s"=]/;
const fmt = (v: string) => (v === '' || needsQuote.test(v) ? JSON.stringify(v) : v);

/**
 * The line a Kubernetes event becomes, in Loki and for the detectors: logfmt in the spirit of
 * Alloy's loki.source.kubernetes_events, so `|= "FailedScheduling"` and `| logfmt` both work.
 */
export function formatEventLine(ev: EventInfo, message: string): string {
  const o = ev.involvedObject;
  const parts = [
    `type=${fmt(ev.type)}`,
    `reason=${fmt(ev.reason)}`,
    `kind=${fmt(o.kind)}`,
    `name=${fmt(o.namespace ? `${o.namespace}/${o.name}` : o.name)}`,
    `count=${ev.count}`,
  ];
  if (ev.reportingComponent) parts.push(`source=${fmt(ev.reportingComponent)}`);
  parts.push(`msg=${fmt(message)}`);
  return parts.join(' ');
}
