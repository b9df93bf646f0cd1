import type { Counter } from '../../src/prometheus.ts';
import type { Finding } from '../../src/model/finding.ts';

/** A valid finding; `n` makes finding_id and dedupe_key unique. */
export function makeFinding(n: number | string, over: Partial<Finding> = {}): Finding {
  return {
    schema_version: '1.0',
    finding_id: `fid-${n}`,
    source: 'robot-sre-detector',
    domain: 'runtime',
    incident_type: 'crashloop',
    severity: 'error',
    confidence: 0.9,
    summary: `api crashlooping #${n}`,
    evidence: {
      lines: [{ ts: '2026-01-01T00:00:00Z', line: 'panic: boom', pod: 'api-1', container: 'api' }],
      templates: [{ template: 'panic: <*>', count: 3 }],
      loki: { query: '{namespace="shop"} |= "panic"', start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:05:00Z' },
    },
    resource_scope: { cluster: 'edge', namespace: 'shop', workload: 'api', workload_kind: 'Deployment', pod: 'api-1' },
    dedupe_key: `dk-${n}`,
    observed_at: new Date().toISOString(),
    rule: { id: 'crashloop', version: '1' },
    status: 'observed',
    first_seen: '2026-01-01T00:00:00Z',
    last_seen: '2026-01-01T00:05:00Z',
    count: 3,
    ...over,
  };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Current value of a counter for one label set. */
export async function counterValue(metric: Counter<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return hit?.value ?? 0;
}
